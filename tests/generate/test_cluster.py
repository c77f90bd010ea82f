"""Generation on a Dask cluster (a scheduler and two workers on 127.0.0.1, started here by PID), shard ranges
for SLURM array jobs, and the errors of a cluster that cannot be used."""
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from simengine.errors import InputError
from simengine.generate import generate_dataset
from tests.generate.test_generate import arrays, assert_same_arrays

pytest.importorskip("distributed")
SPLITS = {"train": 5, "valid": 2, "test": 1}
BIN = os.path.dirname(sys.executable)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """(scheduler file, [worker processes], the workers' log of make_scene calls) for the module; everything
    stopped in teardown. The workers' scenes sleep 0.3 s each, so a job can be interrupted."""
    folder = tmp_path_factory.mktemp("dask")
    log = folder / "worker_calls.log"
    env = {**os.environ, "DASK_DISTRIBUTED__WORKER__DAEMON": "False", "WALK_LOG": str(log), "WALK_SLEEP": "0.3"}
    sched_file = str(folder / "scheduler.json")
    procs = [subprocess.Popen([os.path.join(BIN, "dask"), "scheduler", "--host", "127.0.0.1", "--port", "0",
                               "--no-dashboard", "--scheduler-file", sched_file], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]
    deadline = time.monotonic() + 60
    while not os.path.exists(sched_file) and time.monotonic() < deadline:
        time.sleep(0.1)
    workers = [subprocess.Popen([os.path.join(BIN, "dask"), "worker", "--scheduler-file", sched_file, "--nthreads",
                                 "1", "--nworkers", "1", "--no-dashboard", "--host", "127.0.0.1"], env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for _ in range(2)]
    from dask.distributed import Client

    with Client(scheduler_file=sched_file, timeout=30) as client:
        client.wait_for_workers(2, timeout=60)
    yield sched_file, workers, log
    for proc in workers + procs:  # a test may replace a worker it killed
        if proc.poll() is None:
            proc.kill()
        proc.wait()


def start_and_wait_for_two_shards(script, out, seed, sched_file):
    """`simengine generate` on the cluster in its own process group, returned once two shards are written."""
    cmd = [sys.executable, "-m", "simengine", "generate", str(script), "--out", str(out), "--train", "5", "--valid",
           "2", "--test", "1", "--seed", str(seed), "--scheduler-file", sched_file, "--quiet"]
    proc = subprocess.Popen(cmd, start_new_session=True, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None and len(list(out.glob(".shards/*/*.h5"))) < 2:
        time.sleep(0.05)
    return proc


def test_a_cluster_makes_the_same_dataset_as_local_workers(script, tmp_path, cluster):
    sched_file, _, _ = cluster
    start = time.monotonic()
    meta = generate_dataset(script, tmp_path / "dask", SPLITS, seed=3, scheduler_file=sched_file, progress=False)
    elapsed = time.monotonic() - start
    generate_dataset(script, tmp_path / "local", SPLITS, workers=1, seed=3, progress=False)
    assert_same_arrays(arrays(tmp_path / "dask"), arrays(tmp_path / "local"))
    assert meta["num_trajs_train"] == 5 and elapsed < 60


def test_a_killed_client_resumes_with_only_the_missing_shards(script, tmp_path, cluster):
    sched_file, _, log = cluster
    out = tmp_path / "resumed"
    proc = start_and_wait_for_two_shards(script, out, 3, sched_file)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    time.sleep(1.0)  # tasks already running on the workers may still finish their shards
    finished = {p: p.stat().st_mtime_ns for p in out.glob(".shards/*/*.h5")}
    assert 2 <= len(finished) < 8
    before = len(log.read_text().split())
    generate_dataset(script, out, SPLITS, seed=3, scheduler_file=sched_file, keep_shards=True, progress=False)
    assert len(log.read_text().split()) - before == 8 - len(finished)  # only the missing ones
    assert {p: p.stat().st_mtime_ns for p in finished} == finished  # and the finished shards untouched
    generate_dataset(script, tmp_path / "local", SPLITS, workers=1, seed=3, progress=False)
    assert_same_arrays(arrays(out), arrays(tmp_path / "local"))


def test_shard_ranges_and_assembly_equal_a_single_run(script, tmp_path):
    out = tmp_path / "ranges"
    for start, stop in ((0, 3), (3, 6), (6, 8)):  # as three SLURM array tasks would
        done = generate_dataset(script, out, SPLITS, workers=1, seed=4, shard_range=(start, stop), progress=False)
        assert len(done["shards_done"]) == stop - start and done["shards_total"] == 8
    assert not (out / "train.h5").exists()
    meta = generate_dataset(script, out, SPLITS, seed=4, assemble_only=True, progress=False)
    generate_dataset(script, tmp_path / "single", SPLITS, workers=1, seed=4, progress=False)
    assert_same_arrays(arrays(out), arrays(tmp_path / "single"))
    assert meta["num_trajs_valid"] == 2
    with pytest.raises(InputError, match=r"shard range = 6:9 is outside the allowed range 0:8"):
        generate_dataset(script, tmp_path / "bad", SPLITS, seed=4, shard_range=(6, 9), progress=False)
    with pytest.raises(InputError, match=r"--assemble-only: 8 of 8 trajectories have no shard"):
        generate_dataset(script, tmp_path / "empty", SPLITS, seed=4, assemble_only=True, progress=False)


def test_an_unreachable_scheduler_is_named_with_the_time_waited(script, tmp_path, monkeypatch):
    from simengine.generate import cluster

    monkeypatch.setattr(cluster, "CONNECT_TIMEOUT", 2.0)
    with pytest.raises(InputError, match=r"cannot reach the Dask scheduler at tcp://127.0.0.1:1 after \d+ s"):
        cluster.connect("tcp://127.0.0.1:1", timeout=2)
    (tmp_path / "s.json").write_text(json.dumps({"address": "tcp://127.0.0.1:1"}))
    with pytest.raises(InputError, match="cannot reach the Dask scheduler"):
        generate_dataset(script, tmp_path / "d", {"train": 1}, scheduler_file=str(tmp_path / "s.json"),
                         progress=False)


def test_a_killed_worker_and_client_resume_with_only_the_missing_shards(script, tmp_path, cluster):
    """One worker and the client die mid-job; the same command on the surviving worker (and a new one) simulates
    only the missing trajectories, no partial shard is ever visible, and the dataset equals a local run."""
    sched_file, workers, log = cluster
    out = tmp_path / "worker-killed"
    proc = start_and_wait_for_two_shards(script, out, 5, sched_file)
    workers[1].kill()  # a worker dies in the middle of a trajectory...
    workers[1].wait()
    os.killpg(proc.pid, signal.SIGKILL)  # ...and so does the client
    proc.wait()
    time.sleep(1.0)
    from simengine import Trajectory

    finished = {p: p.stat().st_mtime_ns for p in out.glob(".shards/*/*.h5")}
    assert 2 <= len(finished) < 8
    for path in finished:  # every shard that is visible is whole (a dying worker leaves at most a hidden .tmp)
        assert Trajectory.load(str(path)).num_frames == 8
    env = {**os.environ, "DASK_DISTRIBUTED__WORKER__DAEMON": "False", "WALK_LOG": str(log), "WALK_SLEEP": "0.3"}
    workers[1] = subprocess.Popen([os.path.join(BIN, "dask"), "worker", "--scheduler-file", sched_file, "--nthreads",
                                   "1", "--nworkers", "1", "--no-dashboard", "--host", "127.0.0.1"], env=env,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    before = len(log.read_text().split())
    generate_dataset(script, out, SPLITS, seed=5, scheduler_file=sched_file, keep_shards=True, progress=False)
    assert len(log.read_text().split()) - before == 8 - len(finished)
    assert {p: p.stat().st_mtime_ns for p in finished} == finished
    generate_dataset(script, tmp_path / "local", SPLITS, workers=1, seed=5, progress=False)
    assert_same_arrays(arrays(out), arrays(tmp_path / "local"))


def test_a_worker_with_another_simengine_version_is_named(script, tmp_path, cluster, monkeypatch):
    import simengine

    sched_file, _, _ = cluster
    monkeypatch.setattr(simengine, "__version__", "0.0.0-client")  # the workers run the installed version
    with pytest.raises(InputError, match=r"Dask worker tcp://127\.0\.0\.1:\d+ \(host \S+\) runs simengine .*this "
                                         r"client .*runs 0\.0\.0-client"):
        generate_dataset(script, tmp_path / "v", SPLITS, seed=3, scheduler_file=sched_file, progress=False)


def test_shard_ranges_running_at_once_from_the_command_line(script, tmp_path, monkeypatch):
    """Three array tasks started together on one folder (as SLURM starts them), then --assemble-only."""
    monkeypatch.setenv("WALK_SLEEP", "0.2")
    out = tmp_path / "array"
    base = [sys.executable, "-m", "simengine", "generate", str(script), "--out", str(out), "--train", "5",
            "--valid", "2", "--test", "1", "--seed", "6", "--quiet"]
    procs = [subprocess.Popen(base + ["--shard-range", r], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for r in ("0:3", "3:6", "6:8")]
    for proc in procs:
        stdout, stderr = proc.communicate(timeout=120)
        assert proc.returncode == 0, stderr
        assert "run with --assemble-only" in stdout
    assert len(list(out.glob(".shards/*/*.h5"))) == 8 and not (out / "metadata.json").exists()
    done = subprocess.run(base + ["--assemble-only"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    generate_dataset(script, tmp_path / "single", SPLITS, workers=1, seed=6, progress=False)
    assert_same_arrays(arrays(out), arrays(tmp_path / "single"))
    bad = subprocess.run(base + ["--shard-range", "3:2"], capture_output=True, text=True, timeout=60)
    assert bad.returncode != 0 and "Traceback" not in bad.stderr and "shard range = 3:2" in bad.stderr


def test_a_worker_that_cannot_write_the_output_is_named_with_host_and_path(tmp_path, cluster):
    from dask.distributed import Client

    from simengine.generate.cluster import check_workers

    sched_file, _, _ = cluster
    (tmp_path / "a-file").write_text("not a folder")
    shards = str(tmp_path / "a-file" / ".shards")
    with Client(scheduler_file=sched_file, timeout=30) as client:
        with pytest.raises(InputError, match=r"Dask worker tcp://127\.0\.0\.1:\d+ on host \S+ cannot write the "
                                             r"output folder .*a-file/\.shards \((NotADirectoryError|FileExistsError)"):
            check_workers(client, shards)
