"""Reading a LagrangeBench-layout dataset for learning: trajectories, metadata, statistics.

Files are read by `simengine.io` (`load_split`, `read_metadata`, `split_path`, `compute_statistics`, also
importable from here); this module adds `describe`, the summary a model is built from.

A dataset folder holds ``train.h5``, ``valid.h5``, ``test.h5`` (one group per trajectory) and
``metadata.json``. `dataset_identity` fingerprints a dataset (path and sha256 of its metadata) so a run can
tell when it is resumed on other data; `check_finite` refuses trajectories with NaN or infinite values
before a model trains on them. `DatasetInfo` summarises what a model needs to know before training on it: the
dimension, the keys every trajectory has, the particle types, the box, and the normalisation
statistics (velocities and accelerations in *frame units*, i.e. position differences between
consecutive recorded frames, as in GNS and LagrangeBench).
"""
from __future__ import annotations

import hashlib
import json
import os
import warnings
from dataclasses import dataclass, field

import numpy as np

from simengine.errors import DatasetError

# Datasets are read through simengine.io only; these names are re-exported for learned's callers.
from simengine.io import SPLITS, compute_statistics, load_split, read_metadata, split_path  # noqa: F401


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
    if os.path.isdir(root) and os.path.exists(os.path.join(root, "train.h5")):
        writable = os.access(os.path.join(root, "metadata.json"), os.W_OK)
        stats = compute_statistics(root, store=writable)
        if not writable:
            warnings.warn(f"{root}: metadata.json has no vel/acc statistics and is read-only; computed "
                          f"them in memory", stacklevel=3)
    else:
        stats = compute_statistics(trajectories)
    return {k: np.asarray(v, dtype=np.float64) for k, v in stats.items()}


def dataset_identity(root: str) -> dict:
    """``{"path": absolute path, "metadata_sha256": sha256}`` of a dataset: the hash of its metadata.json
    (of the file's ``metadata`` attribute, as sorted JSON, for a bare h5 file). Two copies of one dataset
    have the same hash; regenerated or other data (other counts, statistics, scene parameters) another."""
    root = os.fspath(root)
    path = os.path.join(root, "metadata.json")
    if os.path.isdir(root) and os.path.isfile(path):
        with open(path, "rb") as f:
            digest = hashlib.sha256(f.read()).hexdigest()
    else:
        text = json.dumps(read_metadata(root), sort_keys=True, default=str)
        digest = hashlib.sha256(text.encode()).hexdigest()
    return {"path": os.path.abspath(root), "metadata_sha256": digest}


def check_finite(root: str, split: str, trajectories, keys=(), include_position: bool = True) -> None:
    """Raise `DatasetError` at the first NaN or infinite value in ``position`` (unless not
    ``include_position``) or a float key of ``keys``.

    The message names the file, the trajectory (its group name), the key, the frame and the particle
    (where the key has those axes) and how many values are non-finite in that array.
    """
    from learned.data.windows import key_layout

    try:
        where = split_path(root, split)
    except Exception:
        where = f"{root}/{split}"
    for t, traj in enumerate(trajectories):
        name = traj.metadata.get("name", t)
        arrays = [("position", traj.position, "TN")] if include_position else []
        for key in keys:
            value = traj.extras.get(key)
            if value is None:
                continue
            value = np.asarray(value)
            if value.dtype.kind in "fc":
                try:
                    layout = key_layout(key)
                except Exception:
                    layout = "other"
                arrays.append((key, value, layout))
        for key, value, layout in arrays:
            finite = np.isfinite(value)
            if finite.all():
                continue
            index = tuple(int(i) for i in np.argwhere(~finite)[0])
            first = value[index]
            if layout == "TN":
                at = f"frame {index[0]}, particle {index[1]}" if len(index) >= 2 else f"frame {index[0]}"
            elif layout in ("N", "node"):
                at = f"particle {index[0]}"
            elif layout == "T":
                at = f"frame {index[0]}"
            else:
                at = f"index {list(index)}"
            count = int((~finite).sum())
            raise DatasetError(f"{where}: trajectory {name!r} has a non-finite {key} ({first}) at {at} "
                               f"({count} non-finite value{'s' if count > 1 else ''} in its {key}); fix or drop "
                               f"the trajectory before training")
