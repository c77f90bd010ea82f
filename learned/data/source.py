"""Reading a LagrangeBench-layout dataset for learning: trajectories, metadata, statistics.

A dataset folder holds ``train.h5``, ``valid.h5``, ``test.h5`` (one group per trajectory) and
``metadata.json``. `DatasetInfo` summarises what a model needs to know before training on it: the
dimension, the keys every trajectory has, the particle types, the box, and the normalisation
statistics (velocities and accelerations in *frame units*, i.e. position differences between
consecutive recorded frames, as in GNS and LagrangeBench).
"""
from __future__ import annotations

import json
import os
import warnings
from dataclasses import dataclass, field

import numpy as np

from simengine.errors import DatasetError, InputError
from simengine.io import read_group

SPLITS = ("train", "valid", "test")


@dataclass
class DatasetInfo:
    """What a model needs to know about a dataset (see `describe`)."""

    path: str
    dim: int
    keys: tuple                 # optional keys present in every trajectory of the split
    particle_types: tuple       # sorted distinct particle types
    num_particles_max: int
    num_frames_min: int
    dt: float
    bounds: np.ndarray | None   # (D, 2) lower/upper or None
    periodic: np.ndarray        # (D,) bool
    radius: float | None        # default_connectivity_radius
    stats: dict = field(default_factory=dict)  # vel_mean/vel_std/acc_mean/acc_std, (D,) each
    metadata: dict = field(default_factory=dict)


def read_metadata(root: str) -> dict:
    """``metadata.json`` of a dataset folder (checked and normalised by `simengine.io`); for a bare
    h5 file, the ``metadata`` attribute a one-trajectory file carries (else an empty dict)."""
    from simengine.io import read_metadata as read_dataset_metadata

    if os.path.isfile(root):
        import h5py

        try:
            with h5py.File(root, "r") as f:
                return json.loads(f.attrs["metadata"]) if "metadata" in f.attrs else {}
        except OSError as exc:
            raise DatasetError(f"{root}: not a readable HDF5 file ({exc})") from exc
    return read_dataset_metadata(root)


def split_path(root: str, split: str) -> str:
    """The h5 file of ``split`` in a dataset folder (or ``root`` itself when it is an h5 file)."""
    if os.path.isfile(root):
        return root
    if split not in SPLITS:
        raise InputError(f"split = {split!r} is not one of {SPLITS}")
    path = os.path.join(root, f"{split}.h5")
    if not os.path.exists(path):
        found = sorted(f for f in os.listdir(root) if f.endswith(".h5")) if os.path.isdir(root) else []
        raise DatasetError(f"{root}: no {split}.h5 (found {found})")
    return path


def load_split(root: str, split: str, limit: int | None = None) -> list:
    """The trajectories of a split (all, or the first ``limit``) as `Trajectory` objects, read through
    `simengine.io.load_dataset`; ``metadata["name"]`` is each one's group name. ``root`` may also be
    a single h5 file (a split file, or one trajectory written by `Trajectory.save`)."""
    if os.path.isfile(root):
        return _load_file(root, limit)
    from simengine.io import load_dataset

    split_path(root, split)
    dataset = load_dataset(root, split)
    trajectories = []
    for i in range(len(dataset) if limit is None else min(limit, len(dataset))):
        traj = dataset[i]
        traj.metadata["name"] = dataset.keys[i]
        trajectories.append(traj)
    if not trajectories:
        raise DatasetError(f"{dataset.path}: holds no trajectory groups")
    return trajectories


def _load_file(path: str, limit=None) -> list:
    import h5py

    meta = read_metadata(path)
    try:
        with h5py.File(path, "r") as f:
            names = sorted(f.keys())[:limit]
            if not names:
                raise DatasetError(f"{path}: holds no trajectory groups")
            out = []
            for name in names:
                group_meta = {**meta, **json.loads(f[name].attrs.get("metadata", "{}"))}
                dt = float(f[name].attrs.get("dt", meta.get("dt", 1.0)))
                traj = read_group(f[name], path=path, dt=dt, metadata=group_meta)
                traj.metadata["name"] = name
                out.append(traj)
            return out
    except OSError as exc:
        raise DatasetError(f"{path}: not a readable HDF5 file ({exc})") from exc


def describe(root: str, split: str = "train", trajectories=None) -> DatasetInfo:
    """Summarise a dataset split into a `DatasetInfo` (loads the split unless given)."""
    meta = read_metadata(root)
    trajectories = trajectories if trajectories is not None else load_split(root, split)
    dims = {t.dim for t in trajectories}
    if len(dims) != 1:
        raise DatasetError(f"{root}/{split}: trajectories of different dimensions {sorted(dims)}")
    dim = dims.pop()
    if "dim" in meta and int(meta["dim"]) != dim:
        raise DatasetError(f"{root}: metadata dim = {meta['dim']} but the positions have dimension {dim}")
    keys = set(trajectories[0].extras)
    for traj in trajectories[1:]:
        keys &= set(traj.extras)
    types = sorted({int(v) for t in trajectories for v in np.unique(t.particle_type)})
    bounds = np.asarray(meta["bounds"], dtype=np.float64) if meta.get("bounds") is not None else None
    if bounds is not None and bounds.shape != (dim, 2):
        raise DatasetError(f"{root}: metadata bounds has shape {bounds.shape}, expected ({dim}, 2)")
    periodic = np.zeros(dim, dtype=bool)
    if "periodic_boundary_conditions" in meta:
        periodic = np.asarray(meta["periodic_boundary_conditions"], dtype=bool).reshape(-1)[:dim]
    stat_keys = ("vel_mean", "vel_std", "acc_mean", "acc_std")
    if all(k in meta for k in stat_keys):
        stats = {k: np.broadcast_to(np.asarray(meta[k], dtype=np.float64), (dim,)).copy() for k in stat_keys}
    else:
        stats = _missing_statistics(root, split, trajectories)
    radius = meta.get("default_connectivity_radius")
    return DatasetInfo(
        path=str(root), dim=dim, keys=tuple(sorted(keys)), particle_types=tuple(types),
        num_particles_max=max(t.num_particles for t in trajectories),
        num_frames_min=min(t.num_frames for t in trajectories),
        dt=float(trajectories[0].dt),
        bounds=bounds, periodic=periodic, radius=None if radius is None else float(radius),
        stats=stats, metadata=meta)


def _missing_statistics(root, split, trajectories) -> dict:
    """Statistics for a dataset whose metadata.json lacks them: computed over the train split by
    `simengine.io.compute_statistics` and stored there when the folder is writable."""
    from simengine.io import compute_statistics

    if os.path.isdir(root) and os.path.exists(os.path.join(root, "train.h5")):
        writable = os.access(os.path.join(root, "metadata.json"), os.W_OK)
        stats = compute_statistics(root, store=writable)
        if not writable:
            warnings.warn(f"{root}: metadata.json has no vel/acc statistics and is read-only; computed "
                          f"them in memory", stacklevel=3)
    else:
        stats = compute_statistics(trajectories)
    return {k: np.asarray(v, dtype=np.float64) for k, v in stats.items()}
