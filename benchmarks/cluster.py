"""Dataset generation on a Dask cluster against local worker processes, measured in one run.

Starts a Dask scheduler and workers on 127.0.0.1 (one thread each, as `simengine generate --workers N` runs
one single-threaded scene per process), times the cluster's start-up (processes launched until every worker
has registered), then generates the same ``scenes/sand_collapse.py`` job (the demo's scene) four ways:
local ``--workers 1`` and ``2``, Dask with 1 and 2 workers, and prints trajectories per minute. The four
datasets are checked to be byte-identical.

    python benchmarks/cluster.py [--trajectories 8]
"""
from __future__ import annotations

import argparse
import hashlib
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCENE = os.path.join(HERE, "scenes", "sand_collapse.py")
BIN = os.path.dirname(sys.executable)


def start_cluster(folder: str, workers: int):
    """(scheduler file, processes, seconds until every worker registered)."""
    from dask.distributed import Client

    env = {**os.environ, "DASK_DISTRIBUTED__WORKER__DAEMON": "False", "SIMENGINE_THREADS": "1"}
    sched_file = os.path.join(folder, "scheduler.json")
    start = time.perf_counter()
    procs = [subprocess.Popen([os.path.join(BIN, "dask"), "scheduler", "--host", "127.0.0.1", "--port", "0",
                               "--no-dashboard", "--scheduler-file", sched_file], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]
    procs += [subprocess.Popen([os.path.join(BIN, "dask"), "worker", "--scheduler-file", sched_file, "--nthreads",
                                "1", "--nworkers", "1", "--no-dashboard", "--host", "127.0.0.1"], env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for _ in range(workers)]
    while not os.path.exists(sched_file):
        time.sleep(0.05)
    with Client(scheduler_file=sched_file, timeout=60) as client:
        client.wait_for_workers(workers, timeout=120)
    return sched_file, procs, time.perf_counter() - start


def digest(folder: str) -> str:
    h = hashlib.sha256()
    for split in ("train", "valid", "test"):
        path = os.path.join(folder, f"{split}.h5")
        if os.path.exists(path):
            import h5py
            import numpy as np

            with h5py.File(path, "r") as f:
                def visit(name, obj):
                    if isinstance(obj, h5py.Dataset):
                        h.update(name.encode())
                        h.update(np.ascontiguousarray(obj[()]).tobytes())
                f.visititems(visit)
    return h.hexdigest()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trajectories", type=int, default=8)
    args = parser.parse_args()
    from simengine.generate import generate_dataset

    splits = {"train": args.trajectories}
    rows, digests = [], set()
    with tempfile.TemporaryDirectory() as tmp:
        for workers in (1, 2):
            start = time.perf_counter()
            generate_dataset(SCENE, os.path.join(tmp, f"local{workers}"), splits, workers=workers, seed=0,
                             progress=False)
            rows.append((f"local processes, --workers {workers}", None, time.perf_counter() - start))
            digests.add(digest(os.path.join(tmp, f"local{workers}")))
        for workers in (1, 2):
            folder = os.path.join(tmp, f"dask{workers}")
            os.makedirs(folder)
            sched_file, procs, startup = start_cluster(folder, workers)
            try:
                start = time.perf_counter()
                generate_dataset(SCENE, os.path.join(tmp, f"data-dask{workers}"), splits, seed=0,
                                 scheduler_file=sched_file, progress=False)
                rows.append((f"Dask, {workers} worker{'s' if workers > 1 else ''} on 127.0.0.1", startup,
                             time.perf_counter() - start))
                digests.add(digest(os.path.join(tmp, f"data-dask{workers}")))
            finally:
                for proc in procs:
                    proc.kill()
                    proc.wait()
    print(f"{args.trajectories} trajectories of scenes/sand_collapse.py, {os.cpu_count()} cores")
    print(f"{'how':40s} {'start-up s':>10s} {'job s':>8s} {'traj/min':>9s}")
    for how, startup, seconds in rows:
        shown = f"{startup:10.1f}" if startup is not None else f"{'-':>10s}"
        print(f"{how:40s} {shown} {seconds:8.1f} {60 * args.trajectories / seconds:9.1f}")
    print("datasets byte-identical:", "yes" if len(digests) == 1 else f"NO ({len(digests)} different)")


if __name__ == "__main__":
    main()
