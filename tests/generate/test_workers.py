"""`simengine.generate.workers`: calls in spawned processes that survive native crashes, and what `generate` and
`run` make of a crash (the scene, the seed and the signal named; one retry; the other trajectories kept)."""
import ctypes
import glob
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from simengine.errors import SimulationError
from simengine.generate import generate_dataset
from simengine.generate.workers import CallFailed, WorkerCrashed, describe_exit, run_calls, run_isolated


def segfault():
    ctypes.string_at(0)  # reads address 0: SIGSEGV in native code


def square_or_crash(x, marker=None):
    if marker is not None and not os.path.exists(marker):
        open(marker, "w").close()
        segfault()
    if x < 0:
        segfault()
    if x == 13:
        raise ValueError("thirteen")
    return x * x


def test_results_and_errors_come_back():
    done = {}
    assert run_calls([(square_or_crash, (i,)) for i in range(5)], 2, on_done=done.__setitem__) == []
    assert done == {i: i * i for i in range(5)}
    with pytest.raises(CallFailed) as info:
        run_calls([(square_or_crash, (13,))], 1)
    assert isinstance(info.value.error, ValueError) and "thirteen" in info.value.traceback
    with pytest.raises(ValueError, match="thirteen"):
        run_isolated(square_or_crash, 13)
    assert run_isolated(square_or_crash, 4) == 16


def test_a_crash_is_retried_once_then_reported_while_the_others_finish(tmp_path):
    done, retried = {}, []
    calls = [(square_or_crash, (2, str(tmp_path / "once"))), (square_or_crash, (-1,)), (square_or_crash, (3,))]
    crashes = run_calls(calls, 2, on_done=done.__setitem__, on_retry=lambda i, why: retried.append((i, why)))
    assert done == {0: 4, 2: 9}  # the first crashed once and succeeded on its retry
    assert sorted(i for i, _ in retried) == [0, 1] and crashes == [(1, describe_exit(-signal.SIGSEGV))]
    assert "SIGSEGV" in crashes[0][1] and "signal 11" in crashes[0][1]
    with pytest.raises(WorkerCrashed, match="died by signal 11 .SIGSEGV"):
        run_isolated(square_or_crash, -1)


CRASHY = '''
import ctypes, os
import numpy as np
from simengine import Trajectory

RUN = dict(frames=3)

class Scene:
    def __init__(self, rng):
        entropy = rng.bit_generator.seed_seq.entropy
        self.key = ",".join(map(str, entropy)) if isinstance(entropy, (list, tuple)) else str(entropy)
        self.x = rng.random((4, 2))

    def run(self, frames):
        if self.key in os.environ.get("CRASH_KEYS", "").split(";"):
            ctypes.string_at(0)
        if os.environ.get("SLEEP"):
            import time
            time.sleep(float(os.environ["SLEEP"]))
        return Trajectory(np.stack([self.x] * frames), np.zeros(4), dt=0.1, metadata={"solver": "still"})

def make_scene(rng):
    return Scene(rng)
'''


@pytest.fixture
def crashy(tmp_path):
    path = tmp_path / "crashy.py"
    path.write_text(CRASHY)
    return path


@pytest.mark.parametrize("workers", [1, 2])
def test_generate_reports_a_crashing_trajectory_and_keeps_the_others(crashy, tmp_path, monkeypatch, workers):
    monkeypatch.setenv("CRASH_KEYS", "0,0,1")
    out = tmp_path / f"d{workers}"
    with pytest.raises(SimulationError) as info:
        generate_dataset(crashy, out, {"train": 4}, workers=workers, seed=0, progress=False)
    message = str(info.value)
    assert "1 trajectory of crashy.py failed: train[1] (seed 0, SeedSequence([0, 0, 1]))" in message
    assert "died by signal 11 (SIGSEGV" in message and "twice" in message and "3 finished" in message
    assert sorted(os.listdir(out / ".shards" / "train")) == ["00000.h5", "00002.h5", "00003.h5"]
    failed = json.loads((out / ".shards" / "failed.json").read_text())["failed"]
    assert failed == [{"split": "train", "index": 1, "seed": 0, "reason": failed[0]["reason"]}]
    assert not (out / "train.h5").exists()
    monkeypatch.delenv("CRASH_KEYS")
    meta = generate_dataset(crashy, out, {"train": 4}, workers=workers, seed=0, progress=False)  # resumes
    assert meta["num_trajs_train"] == 4 and not (out / ".shards").exists()


def test_run_command_names_script_seed_and_signal(crashy, tmp_path, monkeypatch):
    monkeypatch.setenv("CRASH_KEYS", "7")  # default_rng(7): SeedSequence entropy 7
    proc = subprocess.run([sys.executable, "-m", "simengine", "run", str(crashy), "--seed", "7", "--out",
                           str(tmp_path / "r"), "--no-preview"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert lines[-1].startswith("simengine run: error: ") and "crashy.py (seed 7)" in lines[-1]
    assert "died by signal 11 (SIGSEGV" in lines[-1] and "Traceback" not in proc.stderr
    assert not (tmp_path / "r").exists()


def _children(pid):
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as f:
        return f.read().split()[2] != "Z"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="uses ps and /proc")
def test_workers_exit_when_the_generate_process_is_killed(crashy, tmp_path):
    env = {**os.environ, "SLEEP": "60"}
    proc = subprocess.Popen([sys.executable, "-m", "simengine", "generate", str(crashy), "--out", str(tmp_path / "k"),
                             "--train", "4", "--valid", "0", "--test", "0", "--workers", "2", "--quiet"], env=env,
                            start_new_session=True)
    deadline = time.monotonic() + 60
    workers = []
    while time.monotonic() < deadline and len(workers) < 2:
        time.sleep(0.2)
        workers = [p for p in _children(proc.pid) if "multiprocessing" in open(f"/proc/{p}/cmdline").read()
                   and "spawn_main" in open(f"/proc/{p}/cmdline").read()]
    assert len(workers) == 2, _children(proc.pid)
    os.kill(proc.pid, signal.SIGKILL)  # the parent alone, as an OOM killer or `kill -9 PID` would
    proc.wait()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and any(_alive(p) for p in workers):
        time.sleep(0.1)
    alive = [p for p in workers if _alive(p)]
    for p in alive:
        os.kill(p, signal.SIGKILL)
    assert not alive, "workers outlived the killed generate process"
    assert not glob.glob(str(tmp_path / "k" / "*.h5"))
