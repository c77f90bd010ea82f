"""Batch generation of a dataset from a scene script, in worker processes, resumable.

Layout while running::

    OUT/.shards/job.json            what decides the data (script hash, RUN, seed, device)
    OUT/.shards/<split>/<i>.h5      one finished trajectory each, written atomically
    OUT/train.h5 valid.h5 test.h5   merged from the shards at the end (atomically, each)
    OUT/metadata.json               written last: its presence marks a complete dataset

Trajectory i of split s is simulated with ``default_rng(SeedSequence([seed, s_index, i]))``
(train 0, valid 1, test 2), so the data depend neither on the number of workers nor on the order
they finish in. Killed at any moment and run again, a job redoes only the missing shards.
"""
from __future__ import annotations

import contextlib
import glob
import json
import os
import shutil
import sys

import numpy as np

from simengine.errors import DatasetError, InputError, SimulationError, check_range
from simengine.generate.script import DEVICE_ENV, THREADS_ENV, Task, load_scene_script, run_task, script_fingerprint
from simengine.generate.workers import CallFailed, run_calls
from simengine.io.dataset import open_h5, write_dataset
from simengine.io.metadata import SPLITS, read_metadata
from simengine.io.outputs import claim_output_dir
from simengine.io.trajectory import _jsonable, atomic_path

SPLIT_INDEX = {name: i for i, name in enumerate(SPLITS)}  # part of every trajectory's seed: never reorder


def generate_dataset(script_path, out, splits=None, workers: int = 2, seed: int = 0, device=None, *,
                     keep_shards: bool = False, overwrite: bool = False, progress: bool = True, scheduler=None,
                     scheduler_file=None, shard_range=None, assemble_only: bool = False) -> dict:
    """Simulate ``splits`` (e.g. {"train": 20, "valid": 4, "test": 4}) trajectories of a scene script
    into the dataset folder `out`; return its metadata.

    Args:
        workers: parallel processes (spawned; each runs one thread when more than one).
        seed: non-negative; with the same device, the same seed gives identical arrays.
        device: passed to ``make_scene(rng, device=...)`` when it takes it, and as $SIMENGINE_DEVICE.
        keep_shards: keep OUT/.shards after a successful merge (otherwise removed).
        overwrite: discard shards or a dataset that an earlier job with other settings left in `out`.
        scheduler / scheduler_file: run on a Dask distributed cluster (`simengine.generate.cluster`) instead of
            local workers; `out` must be on storage every worker shares.
        shard_range: (start, stop): only trajectories start <= k < stop of the job (numbered train, valid, test
            in order) are simulated and no dataset is assembled (e.g. one SLURM array task each); returns
            ``{"shards_done": [...], "shards_total": n}``.
        assemble_only: simulate nothing; assemble the dataset from the shards that earlier runs left (every one
            must be there).
    """
    splits = dict(splits or {"train": 20, "valid": 4, "test": 4})
    for name, count in splits.items():
        if name not in SPLIT_INDEX:
            raise InputError(f"split = {name!r} is not one of {list(SPLITS)}")
        check_range(f"number of {name} trajectories", count, 0)
    splits = {name: int(count) for name, count in splits.items() if count > 0}
    if not splits:
        raise InputError("no trajectories asked for: every split count is 0")
    check_range("workers", workers, 1)
    if not isinstance(seed, (int, np.integer)):
        raise InputError(f"seed = {seed!r} must be a non-negative integer")
    check_range("seed", int(seed), 0)
    seed = int(seed)
    script_path = os.path.abspath(os.fspath(script_path))
    module = load_scene_script(script_path)
    fingerprint = script_fingerprint(module, seed, device)
    out = os.fspath(out)
    shard_root = os.path.join(out, ".shards")
    if shard_range is not None:
        total = sum(splits.values())
        start, stop = (int(v) for v in shard_range)
        if not 0 <= start < stop <= total:
            raise InputError(f"shard range = {start}:{stop} is outside the allowed range 0:{total} (the job has "
                             f"{total} trajectories: start < stop)")
        shard_range = (start, stop)
    if shard_range is not None and overwrite:
        raise InputError("--overwrite cannot be combined with --shard-range: the ranges run at the same time and "
                         "would discard each other's shards; empty the folder once before submitting them")
    claim_output_dir(out, "dataset", overwrite=overwrite, command="simengine generate")
    if shard_range is None:  # ranges running at once must not remove each other's writes in progress
        _remove_temporaries(out, shard_root)

    if _is_complete(out, fingerprint, splits):
        _say(progress, f"{out}: complete dataset from the same job already present; nothing to do")
        if shard_range is not None:
            return {"shards_done": [], "shards_total": sum(splits.values())}
        if not keep_shards:  # a run killed while removing merged shards
            shutil.rmtree(shard_root, ignore_errors=True)
        return read_metadata(out)
    _claim(out, shard_root, fingerprint, overwrite)
    _adopt_finished(out, shard_root, fingerprint, splits)
    job = {"fingerprint": fingerprint, "scene_script": script_path, "seed": seed, "device": device}
    os.makedirs(shard_root, exist_ok=True)
    with atomic_path(os.path.join(shard_root, "job.json")) as tmp, open(tmp, "w") as f:
        json.dump(job, f)

    tasks = [Task(name, SPLIT_INDEX[name], i, seed, _shard_path(shard_root, name, i))
             for name, count in splits.items() for i in range(count)]
    if assemble_only:
        missing = [t for t in tasks if not _shard_ok(t.shard)]
        if missing:
            names = ", ".join(f"{t.split}[{t.index}]" for t in missing[:5]) + (" ..." if len(missing) > 5 else "")
            raise InputError(f"--assemble-only: {len(missing)} of {len(tasks)} trajectories have no shard in "
                             f"{shard_root} ({names}); run the shard ranges that make them first")
    else:
        selected = tasks if shard_range is None else tasks[shard_range[0]:shard_range[1]]
        todo = [t for t in selected if not _shard_ok(t.shard)]
        if len(todo) < len(selected):
            _say(progress, f"resuming: {len(selected) - len(todo)} of {len(selected)} trajectories already done")
        if scheduler is not None or scheduler_file is not None:
            _run_on_cluster(script_path, todo, device, progress, shard_root, scheduler, scheduler_file)
        else:
            _run(script_path, todo, workers, device, progress, shard_root)
        if shard_range is not None:
            return {"shards_done": [f"{t.split}[{t.index}]" for t in selected], "shards_total": len(tasks)}

    overrides = {"scene_script": script_path, "scene_script_sha256": module.__simengine_sha256__,
                 "seed": seed, "seeding": "numpy.random.SeedSequence([seed, split_index, index]), "
                 "split_index train=0 valid=1 test=2", "run": _jsonable(module.RUN),
                 "device": device, "job_fingerprint": fingerprint}
    meta = write_dataset(out, {n: [_shard_path(shard_root, n, i) for i in range(c)] for n, c in splits.items()},
                         overrides)
    if not keep_shards:
        shutil.rmtree(shard_root, ignore_errors=True)
    return meta


def _run(script_path, todo, workers, device, progress, shard_root):
    """Simulate `todo` in worker processes. A Python error stops the job (running trajectories finish and
    are kept) and is raised naming the trajectory; a worker killed by a signal is retried once in a fresh
    process, then recorded in ``.shards/failed.json`` while the other trajectories go on; the job then
    raises naming every failed trajectory and its signal."""
    if not todo:
        return
    workers = min(workers, len(todo))
    script = os.path.basename(script_path)

    def retry(index, reason):
        print(f"simengine generate: trajectory {todo[index].label} of {script}: the worker {reason}; "
              "retrying it once in a fresh process", file=sys.stderr)

    def run(calls, on_done):  # a crash is reported after its retry: "twice"
        crashes = run_calls(calls, workers, retries=1, on_done=on_done, on_retry=retry)
        return [(i, f"{reason}, twice") for i, reason in crashes]

    with _worker_environment(device, single_thread=workers > 1):
        _simulate(script_path, todo, device, workers > 1, progress, shard_root, run)


def _simulate(script_path, todo, device, single_thread, progress, shard_root, run):
    """Simulate ``todo`` through ``run(calls, on_done) -> [(index, crash reason), ...]`` (local processes or a
    cluster) with one progress bar; a trajectory that raises stops the job naming it, crashed ones are recorded
    in ``.shards/failed.json`` (cleared first: it lists the failures of the latest run only)."""
    from tqdm import tqdm

    with contextlib.suppress(FileNotFoundError):
        os.remove(os.path.join(shard_root, "failed.json"))
    calls = [(run_task, (script_path, task, device, single_thread)) for task in todo]
    with tqdm(total=len(todo), desc="generate", unit="traj", disable=not progress, file=sys.stderr) as bar:
        try:
            crashes = run(calls, lambda _i, _r: bar.update())
        except CallFailed as failed:
            _raise_failure(todo[failed.index], failed, shard_root)
    if crashes:
        _record_crashes(script_path, todo, crashes, shard_root)


def _record_crashes(script_path, todo, crashes, shard_root):
    """List the trajectories whose workers died in ``.shards/failed.json`` and raise naming them."""
    script = os.path.basename(script_path)
    failed = [{"split": todo[i].split, "index": todo[i].index, "seed": todo[i].seed, "reason": reason}
              for i, reason in crashes]
    with atomic_path(os.path.join(shard_root, "failed.json")) as tmp, open(tmp, "w") as f:
        json.dump({"scene_script": script_path, "failed": failed}, f, indent=1)
    kept = len(glob.glob(os.path.join(shard_root, "*", "*.h5")))
    names = "; ".join(f"{todo[i].label}: the worker {reason}" for i, reason in crashes)
    raise SimulationError(
        f"{len(crashes)} {'trajectory' if len(crashes) == 1 else 'trajectories'} of {script} failed: {names} "
        "-- a crash in native code, not a blow-up "
        f"(listed in {os.path.join(shard_root, 'failed.json')}); {kept} finished trajectories are kept in "
        f"{shard_root}, run the same command again to retry the failed ones")


def _run_on_cluster(script_path, todo, device, progress, shard_root, scheduler, scheduler_file):
    """`_run` on a Dask cluster (`simengine.generate.cluster`): the same failure and crash reporting."""
    from simengine.generate.cluster import check_workers, connect, run_on_cluster

    if not todo:
        return
    client = connect(scheduler, scheduler_file)
    try:
        count = check_workers(client, shard_root)
        _say(progress, f"Dask cluster at {client.scheduler.address}: {count} workers")
        _simulate(script_path, todo, device, True, progress, shard_root,
                  lambda calls, on_done: run_on_cluster(client, calls, on_done=on_done))
    finally:
        client.close()


def _raise_failure(task, failed, shard_root):
    """Re-raise a worker's exception with the split, index and seed in the message."""
    exc = failed.error
    if not isinstance(exc, (SimulationError, InputError, DatasetError)):  # a bug: show where it happened
        print(failed.traceback.rstrip(), file=sys.stderr)
    kind = type(exc) if isinstance(exc, (SimulationError, InputError, DatasetError)) else SimulationError
    kept = len(glob.glob(os.path.join(shard_root, "*", "*.h5")))
    raise kind(f"trajectory {task.label} failed: {type(exc).__name__}: {exc} -- the job stopped; "
               f"{kept} finished trajectories are kept in {shard_root}, run the same command again to "
               "resume") from exc


@contextlib.contextmanager
def _worker_environment(device, single_thread: bool):
    """Environment inherited by spawned workers (set before they import numpy/torch/warp)."""
    values = {DEVICE_ENV: None if device is None else str(device)}
    if single_thread:
        values.update({THREADS_ENV: "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
                       "OPENBLAS_NUM_THREADS": "1"})
    saved = {k: os.environ.get(k) for k in values}
    try:
        for k, v in values.items():
            if v is not None:
                os.environ[k] = v
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _shard_path(shard_root, split, index) -> str:
    return os.path.join(shard_root, split, f"{index:05d}.h5")


def _shard_ok(path) -> bool:
    """A shard exists whole (atomic writes) unless damaged afterwards; a damaged one is redone."""
    if not os.path.exists(path):
        return False
    try:
        with open_h5(path) as f:
            return "00000/position" in f and "00000/particle_type" in f
    except DatasetError:
        os.remove(path)
        return False


def _remove_temporaries(out, shard_root):
    """Temporary files of writes interrupted by a kill (never renamed into place)."""
    for tmp in glob.glob(os.path.join(out, ".*.tmp")) + glob.glob(os.path.join(shard_root, "**", ".*.tmp"),
                                                                    recursive=True):
        os.remove(tmp)


def _dataset_fingerprint(out):
    try:
        return read_metadata(out, normalize=False).get("job_fingerprint")
    except DatasetError:
        return None


def _is_complete(out, fingerprint, splits) -> bool:
    if _dataset_fingerprint(out) != fingerprint:
        return False
    meta = read_metadata(out, normalize=False)
    return all(meta.get(f"num_trajs_{n}") == c and os.path.exists(os.path.join(out, f"{n}.h5"))
               for n, c in splits.items()) and all(f"num_trajs_{n}" not in meta or n in splits for n in SPLITS)


def _claim(out, shard_root, fingerprint, overwrite):
    """Refuse to mix data of different jobs in one folder, unless told to discard the old."""
    job_file = os.path.join(shard_root, "job.json")
    old_shards = None
    if os.path.exists(job_file):
        try:
            old_shards = json.load(open(job_file)).get("fingerprint")
        except (OSError, json.JSONDecodeError):
            old_shards = "unreadable"
    old_data = _dataset_fingerprint(out)
    dataset_files = [name for name in (*[f"{s}.h5" for s in SPLITS], "metadata.json")
                     if os.path.exists(os.path.join(out, name))]
    if dataset_files and old_data is None and not overwrite:  # not written by a generate job
        raise InputError(f"{out} already has {', '.join(dataset_files)}, which no simengine generate job wrote "
                         "(no job fingerprint in metadata.json); use another --out, or --overwrite to replace them")
    if dataset_files and old_data is None:
        old_data = "foreign"
    conflict = [what for what, old in (("shards", old_shards), ("a dataset", old_data))
                if old is not None and old != fingerprint]
    if conflict and not overwrite:
        raise InputError(f"{out} holds {' and '.join(conflict)} from a job with another scene script, RUN, "
                         f"seed or device; use another --out, or --overwrite to discard them")
    if old_shards is not None and old_shards != fingerprint:
        shutil.rmtree(shard_root)
    if old_data is not None and old_data != fingerprint:
        for name in (*[f"{s}.h5" for s in SPLITS], "metadata.json"):
            with contextlib.suppress(FileNotFoundError):
                os.remove(os.path.join(out, name))


def _adopt_finished(out, shard_root, fingerprint, splits):
    """Turn trajectories of a finished dataset of the same job back into shards (to extend it)."""
    import h5py

    if _dataset_fingerprint(out) != fingerprint:
        return
    for name, count in splits.items():
        path = os.path.join(out, f"{name}.h5")
        if not os.path.exists(path):
            continue
        with open_h5(path) as src:
            for key in sorted(src.keys())[:count]:
                shard = _shard_path(shard_root, name, int(key))
                if os.path.exists(shard):
                    continue
                group = src[key]
                with atomic_path(shard) as tmp, h5py.File(tmp, "w") as dst:  # Trajectory.save's layout
                    src.copy(group, dst, name="00000")
                    dst.attrs["metadata"] = group.attrs.get("metadata", "{}")
                    dst.attrs["dt"] = float(group.attrs["dt"])


def _say(progress, message):
    if progress:
        print(message, file=sys.stderr)
