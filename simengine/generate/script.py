"""Scene scripts: load one by path and run one trajectory of it (the code a worker process runs).

A scene script defines ``make_scene(rng) -> scene`` with ``scene.run(**RUN) -> Trajectory`` and a
module-level dict ``RUN``. If ``make_scene`` accepts a ``device`` keyword it gets the requested device;
otherwise a scene can read the environment variables below.

Environment hints set for the simulation (a Scene may read them; nothing requires it):
    SIMENGINE_THREADS   "1" when several worker processes share the cores: use one thread each.
    SIMENGINE_DEVICE    the ``--device`` asked for ("cpu", "cuda", ...), when one was given.
"""
from __future__ import annotations

import hashlib
import importlib.util
import inspect
import json
import os
import sys
import time
from dataclasses import dataclass

import numpy as np

from simengine.errors import InputError, SimulationError
from simengine.runtime import DEVICE_ENV, THREADS_ENV  # noqa: F401 - re-exported for scene scripts

_loaded = {}  # absolute path -> module, per process


SPLIT_INDEX = {"train": 0, "valid": 1, "test": 2}  # the split's place in an episode's seed sequence


def episode_rng(seed: int, split_index: int, index: int) -> np.random.Generator:
    """The rng `simengine generate` gives trajectory ``index`` of split ``split_index`` (train 0, valid 1, test 2):
    ``default_rng(SeedSequence([seed, split_index, index]))``. A scene script's ``make_scene`` called with it
    rebuilds that episode's scene exactly."""
    return np.random.default_rng(np.random.SeedSequence([seed, split_index, index]))


@dataclass(frozen=True)
class Task:
    """Trajectory `index` of `split`; its rng is ``default_rng(SeedSequence([seed, split_index, index]))``."""

    split: str
    split_index: int
    index: int
    seed: int
    shard: str  # where the finished trajectory goes (written atomically)

    @property
    def label(self) -> str:
        return (f"{self.split}[{self.index}] (seed {self.seed}, "
                f"SeedSequence([{self.seed}, {self.split_index}, {self.index}]))")


def load_scene_script(path):
    """Import a scene script by path (once per process); check it follows the protocol."""
    path = os.path.abspath(os.fspath(path))
    if path in _loaded:
        return _loaded[path]
    if not os.path.isfile(path):
        raise InputError(f"scene script = {path!r} does not exist")
    digest = hashlib.sha256(open(path, "rb").read()).hexdigest()
    name = f"_simengine_scene_{digest[:16]}"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.path.insert(0, os.path.dirname(path))  # as `python script.py` would: siblings import
    try:
        sys.modules[name] = module
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(os.path.dirname(path))
    if not callable(getattr(module, "make_scene", None)):
        raise InputError(f"scene script {path} defines no function make_scene(rng)")
    if not isinstance(getattr(module, "RUN", None), dict):
        raise InputError(f"scene script {path} defines no dict RUN (the keyword arguments of scene.run)")
    module.__simengine_sha256__ = digest
    _loaded[path] = module
    return module


def script_fingerprint(module, seed: int, device) -> str:
    """What decides the data: script text, RUN, seed and device (not the number of trajectories)."""
    run = json.dumps(module.RUN, sort_keys=True, default=repr)
    key = f"{module.__simengine_sha256__}|{run}|{seed}|{device}"
    return hashlib.sha256(key.encode()).hexdigest()[:24]


def run_scene_script(module, rng, device=None, run_overrides=None, progress: bool | None = None):
    """``make_scene(rng[, device=...]).run(**RUN)`` of a loaded scene script, checked: `InputError` naming the
    script when make_scene returns no scene (`simengine.simulator.check_scene`), when RUN names a keyword that
    ``scene.run`` does not take, or when the result is not a `Trajectory`; `SimulationError` naming frame, time
    and particle for a non-finite result. ``progress`` is passed when ``scene.run`` takes it."""
    from simengine.io.trajectory import Trajectory
    from simengine.simulator import check_scene

    script = os.path.basename(getattr(module, "__file__", None) or "scene script")
    wants_device = device is not None and "device" in inspect.signature(module.make_scene).parameters
    scene = check_scene(module.make_scene(rng, device=device) if wants_device else module.make_scene(rng), script)
    run_args = {**module.RUN, **(run_overrides or {})}
    parameters = inspect.signature(scene.run).parameters
    if progress is not None and "progress" in parameters:
        run_args.setdefault("progress", progress)
    takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values())
    unknown = [k for k in run_args if k not in parameters]
    if unknown and not takes_any:
        allowed = [n for n, p in parameters.items() if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
        raise InputError(f"{script}: RUN has {unknown[0]!r}, which {type(scene).__name__}.run does not take; "
                         f"allowed: {allowed}")
    traj = scene.run(**run_args)
    if not isinstance(traj, Trajectory):
        raise InputError(f"{script}: make_scene(rng).run(**RUN) returned {type(traj).__name__}, not a simengine "
                         "Trajectory")
    check_finite(traj)
    return traj


def run_task(script_path: str, task: Task, device=None, single_thread: bool = False):
    """Simulate one trajectory and save it to ``task.shard``; return (split, index, seconds).

    Raises the scene's own `SimulationError`/`InputError` and those of `run_scene_script`.
    """
    start = time.perf_counter()
    module = load_scene_script(script_path)
    if single_thread and "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(1)
    rng = episode_rng(task.seed, task.split_index, task.index)
    traj = run_scene_script(module, rng, device, progress=False)  # generate shows one bar over trajectories
    traj.save(task.shard)
    return task.split, task.index, time.perf_counter() - start


def check_finite(traj) -> None:
    """SimulationError naming key, frame, time and particle of the first non-finite value."""
    arrays = {"position": traj.position, **traj.extras}
    for key, value in arrays.items():
        value = np.asarray(value)
        if value.dtype.kind != "f" or np.isfinite(value).all():
            continue
        where = np.argwhere(~np.isfinite(value))[0]
        per_frame = key == "position" or (value.ndim >= 2 and value.shape[0] == traj.num_frames)
        at = (f"frame {where[0]} (t = {where[0] * traj.dt:g}), particle {where[1]}"
              if per_frame and len(where) >= 2 else f"index {tuple(int(w) for w in where)}")
        raise SimulationError(f"the simulation produced a non-finite {key} at {at}; no NaN goes into a dataset")
