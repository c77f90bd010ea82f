"""`generate_dataset`: seeding contract, worker-count independence, resume after SIGKILL, failures."""
import glob
import os
import signal
import subprocess
import sys
import time

import h5py
import numpy as np
import pytest

from simengine.errors import InputError, SimulationError
from simengine.generate import generate_dataset
from simengine.generate.script import load_scene_script
from simengine.io import load_dataset, read_metadata, validate_dataset

# A random walk: the scene draws its parameters and noise from the rng it is given, logs the seed
# entropy [seed, split_index, index] of every make_scene call, and fails or sleeps on request.
WALK = '''
import os, time
import numpy as np
from simengine import Trajectory
from simengine.errors import SimulationError

RUN = dict(steps=24, record_every=3)

class Walk:
    def __init__(self, rng):
        self.rng, self.sigma = rng, float(rng.uniform(0.005, 0.02))
        self.key = ",".join(map(str, rng.bit_generator.seed_seq.entropy))
        if os.environ.get("WALK_LOG"):
            with open(os.environ["WALK_LOG"], "a") as f:
                f.write(self.key + "\\n")

    def run(self, steps, record_every):
        time.sleep(float(os.environ.get("WALK_SLEEP", "0")))
        if self.key in os.environ.get("WALK_FAIL", "").split(";"):
            raise SimulationError("walker left the box at step 7, t = 0.21, particle 3")
        x, frames = self.rng.random((12, 2)), []
        for step in range(steps):
            if step % record_every == 0:
                frames.append(x.copy())
            x = x + self.rng.normal(0.0, self.sigma, x.shape)
        if os.environ.get("WALK_NAN") == self.key:
            frames[-1][5, 0] = np.nan
        return Trajectory(np.array(frames), np.arange(12) % 2, dt=0.03,
                          extras={"velocity": np.gradient(np.array(frames), axis=0)},
                          metadata={"solver": "walk", "solver_version": "1", "write_every": record_every,
                                    "sigma": self.sigma})

def make_scene(rng):
    return Walk(rng)
'''
SMALL = {"train": 4, "valid": 2, "test": 1}


def calls(script):
    log = script.parent / "calls.log"
    return log.read_text().split() if log.exists() else []


def arrays(root):
    return {(s, i): (t.position, t.particle_type, t.velocity) for s in ("train", "valid", "test")
            if os.path.exists(os.path.join(root, f"{s}.h5")) for i, t in enumerate(load_dataset(root, s))}


def assert_same_arrays(a, b):
    assert a.keys() == b.keys()
    for key in a:
        for x, y in zip(a[key], b[key]):
            assert x.dtype == y.dtype and x.tobytes() == y.tobytes(), key


def test_seeding_contract_and_worker_independence(script, tmp_path):
    one = generate_dataset(script, tmp_path / "w1", SMALL, workers=1, seed=5, progress=False)
    generate_dataset(script, tmp_path / "w2", SMALL, workers=2, seed=5, progress=False)
    assert_same_arrays(arrays(tmp_path / "w1"), arrays(tmp_path / "w2"))  # byte-identical
    # trajectory i of split s is make_scene(default_rng(SeedSequence([seed, s, i]))) run alone
    module = load_scene_script(script)
    rng = np.random.default_rng(np.random.SeedSequence([5, 1, 1]))
    direct = module.make_scene(rng).run(**module.RUN)
    np.testing.assert_array_equal(load_dataset(tmp_path / "w1", "valid")[1].position, direct.position)
    assert one["seed"] == 5 and one["solver"] == "walk" and one["num_trajs_valid"] == 2
    assert len(one["varying_parameters"]["train"]) == 4 and one["scene_script"] == str(script)
    assert validate_dataset(tmp_path / "w1").ok and not os.path.exists(tmp_path / "w1" / ".shards")
    other = generate_dataset(script, tmp_path / "s6", {"train": 1}, workers=1, seed=6, progress=False)
    assert other["sigma"] != one["varying_parameters"]["train"][0]["sigma"]  # one trajectory: shared


def test_resume_after_sigkill(script, tmp_path, monkeypatch):
    out = tmp_path / "killed"
    env = {**os.environ, "WALK_SLEEP": "0.3"}
    cmd = [sys.executable, "-m", "simengine", "generate", str(script), "--out", str(out), "--train", "8",
           "--valid", "0", "--test", "0", "--workers", "1", "--seed", "0", "--quiet"]
    proc = subprocess.Popen(cmd, env=env, start_new_session=True, stderr=subprocess.PIPE)
    shard_dir = out / ".shards" / "train"
    deadline = time.monotonic() + 120
    while len(glob.glob(str(shard_dir / "*.h5"))) < 3 and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    finished = {p: os.stat(p).st_mtime_ns for p in glob.glob(str(shard_dir / "*.h5"))}
    assert 3 <= len(finished) < 8, proc.stderr.read()
    assert not os.path.exists(out / "train.h5") and not os.path.exists(out / "metadata.json")
    for path in finished:  # what is there is whole
        with h5py.File(path) as f:
            assert f["00000/position"].shape == (8, 12, 2)

    before = len(calls(script))
    generate_dataset(script, out, {"train": 8}, workers=2, seed=0, keep_shards=True, progress=False)
    rerun = calls(script)[before:]
    done_before = {f"0,0,{int(os.path.basename(p)[:5])}" for p in finished}
    assert sorted(rerun + sorted(done_before)) == sorted(f"0,0,{i}" for i in range(8))  # only the missing
    assert {p: os.stat(p).st_mtime_ns for p in finished} == finished  # finished shards untouched
    assert not glob.glob(str(out / "**" / ".*.tmp"), recursive=True)

    generate_dataset(script, tmp_path / "clean", {"train": 8}, workers=1, seed=0, progress=False)
    assert_same_arrays(arrays(out), arrays(tmp_path / "clean"))
    before = len(calls(script))  # complete: a third run does nothing
    generate_dataset(script, out, {"train": 8}, workers=1, seed=0, progress=False)
    assert len(calls(script)) == before


def test_failure_names_the_trajectory_and_keeps_finished_work(script, tmp_path, monkeypatch):
    monkeypatch.setenv("WALK_FAIL", "0,0,2")
    with pytest.raises(SimulationError, match=r"train\[2\] \(seed 0, SeedSequence\(\[0, 0, 2\]\)\).*walker left "
                                              r"the box at step 7.*2 finished trajectories are kept"):
        generate_dataset(script, tmp_path / "d", SMALL, workers=1, seed=0, progress=False)
    assert sorted(os.listdir(tmp_path / "d" / ".shards" / "train")) == ["00000.h5", "00001.h5"]
    assert not os.path.exists(tmp_path / "d" / "train.h5")

    monkeypatch.setenv("WALK_FAIL", "0,2,0")  # the test split fails, in a worker process
    with pytest.raises(SimulationError, match=r"test\[0\].*SeedSequence\(\[0, 2, 0\]\)"):
        generate_dataset(script, tmp_path / "d", SMALL, workers=2, seed=0, progress=False)
    monkeypatch.delenv("WALK_FAIL")
    before = len(calls(script))
    generate_dataset(script, tmp_path / "d", SMALL, workers=1, seed=0, progress=False)
    assert "0,0,0" not in calls(script)[before:] and "0,2,0" in calls(script)[before:]


def test_non_finite_output_stops_the_job(script, tmp_path, monkeypatch):
    monkeypatch.setenv("WALK_NAN", "0,0,1")
    with pytest.raises(SimulationError, match=r"train\[1\].*non-finite position at frame 7 \(t = 0.21\), particle 5"):
        generate_dataset(script, tmp_path / "d", {"train": 3}, workers=1, seed=0, progress=False)


def test_extending_a_dataset_reuses_it_and_other_jobs_are_refused(script, tmp_path):
    out = tmp_path / "d"
    generate_dataset(script, out, {"train": 2, "valid": 1}, workers=1, seed=0, progress=False)
    before = len(calls(script))
    meta = generate_dataset(script, out, {"train": 3, "valid": 1}, workers=1, seed=0, progress=False)
    assert calls(script)[before:] == ["0,0,2"] and meta["num_trajs_train"] == 3
    with pytest.raises(InputError, match="another scene script, RUN, seed or device.*--overwrite"):
        generate_dataset(script, out, {"train": 1}, workers=1, seed=1, progress=False)
    meta = generate_dataset(script, out, {"train": 1}, workers=1, seed=1, overwrite=True, progress=False)
    assert meta["seed"] == 1 and sorted(os.listdir(out)) == ["metadata.json", "train.h5"]


def test_bad_input(script, tmp_path):
    with pytest.raises(InputError, match="split = 'training'"):
        generate_dataset(script, tmp_path / "d", {"training": 2})
    with pytest.raises(InputError, match="number of train trajectories = -1"):
        generate_dataset(script, tmp_path / "d", {"train": -1})
    with pytest.raises(InputError, match="workers = 0"):
        generate_dataset(script, tmp_path / "d", {"train": 1}, workers=0)
    with pytest.raises(InputError, match="every split count is 0"):
        generate_dataset(script, tmp_path / "d", {"train": 0})
    bad = tmp_path / "bad.py"
    bad.write_text("def make_scene(rng):\n    return None\n")
    with pytest.raises(InputError, match="defines no dict RUN"):
        generate_dataset(bad, tmp_path / "d", {"train": 1})
    bad.write_text("RUN = {}\nclass S:\n    def run(self):\n        return 1\ndef make_scene(rng):\n    return S()\n")
    with pytest.raises(InputError, match=r"train\[0\].*returned int, not a simengine Trajectory"):
        generate_dataset(bad, tmp_path / "d2", {"train": 1}, workers=1, progress=False)


def test_cli(script, tmp_path, capsys):
    from simengine.cli import main

    out = tmp_path / "cli"
    assert main(["generate", str(script), "--out", str(out), "--train", "2", "--valid", "1", "--test", "0",
                 "--workers", "1", "--seed", "3", "--keep-shards", "--quiet"]) == 0
    assert "train 2, valid 1 trajectories" in capsys.readouterr().out
    assert read_metadata(out)["seed"] == 3 and len(os.listdir(out / ".shards" / "train")) == 2
    os.environ["WALK_FAIL"] = "3,0,0"
    try:
        assert main(["generate", str(script), "--out", str(tmp_path / "x"), "--train", "1", "--workers", "1",
                     "--quiet"]) == 0  # seed 0: 3,0,0 is not in this job
        assert main(["generate", str(script), "--out", str(tmp_path / "y"), "--train", "1", "--seed", "3",
                     "--valid", "0", "--test", "0", "--workers", "1", "--quiet"]) == 1
    finally:
        del os.environ["WALK_FAIL"]
    assert "train[0] (seed 3" in capsys.readouterr().err


SAND_2D = '''
import os
from simengine import Scene, materials, shapes

RUN = dict(duration=0.02, record_every=5, progress=False)

def make_scene(rng):
    threads = int(os.environ.get("SIMENGINE_THREADS", "0")) or None
    scene = Scene(dim=2, domain=(1.0, 1.0), grid_res=16, seed=int(rng.integers(2**31)), threads=threads)
    lower = (rng.uniform(0.2, 0.5), rng.uniform(0.3, 0.5))
    scene.add_body(shapes.Box(lower=lower, size=(0.25, 0.2)),
                   materials.Sand(friction_angle=float(rng.uniform(25, 40))), density=1600.0)
    return scene
'''


def test_real_mpm_scene(tmp_path):
    pytest.importorskip("simengine.mpm.scene")
    script = tmp_path / "sand_2d.py"
    script.write_text(SAND_2D)
    splits = {"train": 2, "valid": 1}
    generate_dataset(script, tmp_path / "w1", splits, workers=1, seed=0, progress=False)  # compiles in-process
    meta = generate_dataset(script, tmp_path / "w2", splits, workers=2, seed=0, progress=False)
    assert_same_arrays(arrays(tmp_path / "w2"), arrays(tmp_path / "w1"))  # 2 workers x 1 thread = 1 x 2 threads
    assert validate_dataset(tmp_path / "w2").ok
    # dx is the particle spacing (2^2 particles per 1/16 cell on a lattice: 1/32), the grid cell is grid_dx;
    # the connectivity radius stays the project's 1.45 grid_dx
    assert meta["solver"] == "mls-mpm" and meta["dim"] == 2 and meta["dx"] == pytest.approx(1 / 32, rel=1e-6)
    assert meta["grid_dx"] == pytest.approx(1 / 16) and meta["default_connectivity_radius"] == pytest.approx(0.091)
    assert meta["bounds"] == [[0.0, 1.0], [0.0, 1.0]] and meta["write_every"] == 5
    traj = load_dataset(tmp_path / "w2", "train")[0]
    assert meta["dt"] == pytest.approx(traj.dt / 5) and set(traj.particle_type.tolist()) == {5}  # sand
    # 20 ms after release the block is still in free fall: frame accelerations are g (frame dt)^2
    np.testing.assert_allclose(meta["acc_mean"], [0.0, -9.81 * traj.dt**2], rtol=1e-3, atol=1e-9)


def test_generate_never_replaces_split_files_it_did_not_write(script, tmp_path):
    out = tmp_path / "foreign"
    out.mkdir()
    (out / "train.h5").write_bytes(b"someone else's data")
    with pytest.raises(InputError, match=r"already has train.h5, which no simengine generate job wrote"):
        generate_dataset(script, out, {"train": 1}, workers=1, seed=0, progress=False)
    assert (out / "train.h5").read_bytes() == b"someone else's data" and not calls(script)
    meta = generate_dataset(script, out, {"train": 1}, workers=1, seed=0, overwrite=True, progress=False)
    assert meta["num_trajs_train"] == 1  # asked to: replaced
    (tmp_path / "file").write_text("x")
    with pytest.raises(InputError, match="is an existing file"):
        generate_dataset(script, tmp_path / "file", {"train": 1}, workers=1, progress=False)
