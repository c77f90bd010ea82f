"""Datasets in the LagrangeBench layout (Toshev et al., "LagrangeBench", NeurIPS 2023 D&B track).

A dataset is a folder::

    metadata.json            see `simengine.io.metadata`
    train.h5 valid.h5 test.h5
        "00000"/position       float32 (T, N, D), gzip
        "00000"/particle_type  int32 (N,)
        "00000"/<optional>     velocity, mass, material_id, F, C, stress, ... (`OPTIONAL_KEYS`)
        "00000".attrs          metadata (JSON of the trajectory's own metadata), dt (frame spacing)

LagrangeBench's reader needs only ``position`` and ``particle_type`` and ignores the rest, so our
folders load there, and theirs (no attributes, no optional keys) load here.
Every file is written atomically (temp file + rename): a crash never leaves half a file behind.
"""
from __future__ import annotations

import json
import os
import warnings
from collections.abc import Sequence

import numpy as np

from simengine.errors import DatasetError, InputError
from simengine.io.metadata import SPLITS, MetadataBuilder, read_metadata, write_metadata
from simengine.io.statistics import STAT_KEYS, StatisticsAccumulator
from simengine.io.trajectory import Trajectory, _jsonable, atomic_path, read_group, write_group

# Other spellings of the two required keys met in converted datasets.
KEY_ALIASES = {"positions": "position", "particle_types": "particle_type"}


def split_path(root, split: str) -> str:
    if split not in SPLITS:
        raise InputError(f"split = {split!r} is not one of {list(SPLITS)}")
    return os.path.join(os.fspath(root), f"{split}.h5")


def open_h5(path: str):
    """Open an HDF5 file for reading; a missing, truncated or foreign file raises `DatasetError`."""
    import h5py

    if not os.path.isfile(path):
        raise DatasetError(f"{path}: missing")
    try:
        return h5py.File(path, "r")
    except OSError as exc:
        raise DatasetError(f"{path}: not a readable HDF5 file ({exc})") from exc


class _Aliased:
    """An h5py group seen with `KEY_ALIASES` renamed to the canonical keys (read-only)."""

    def __init__(self, group):
        self.group, self.name = group, group.name
        self._map = {KEY_ALIASES.get(k, k): k for k in group.keys()}

    def __contains__(self, key):
        return key in self._map

    def __getitem__(self, key):
        return self.group[self._map[key]]

    def keys(self):
        return self._map.keys()


class Dataset(Sequence):
    """One split of a dataset folder, read lazily: ``len(ds)``, ``ds[i] -> Trajectory``, iteration.

    The file is opened per access, so a `Dataset` can be handed to DataLoader worker processes.
    ``ds.position(i, frames)`` reads only a window of frames, (len(frames), N, D) float32.
    """

    def __init__(self, root, split: str = "train", metadata: dict | None = None):
        self.root, self.split = os.fspath(root), split
        self.path = split_path(root, split)
        self._metadata = metadata
        with open_h5(self.path) as f:
            self.keys = sorted(f.keys())

    @property
    def metadata(self) -> dict:
        if self._metadata is None:
            self._metadata = read_metadata(self.root)
        return self._metadata

    def __len__(self) -> int:
        return len(self.keys)

    def __getitem__(self, index):
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        key = self.keys[index]
        with open_h5(self.path) as f:
            group = f[key]
            traj_meta, dt = self._group_attrs(group)
            return read_group(_Aliased(group), path=self.path, dt=dt, metadata=traj_meta)

    def position(self, index: int, frames=slice(None)) -> np.ndarray:
        key = self.keys[index]
        with open_h5(self.path) as f:
            group = _Aliased(f[key])
            if "position" not in group:
                raise DatasetError(f"{self.path}: trajectory '/{key}' has no key 'position'")
            try:
                return np.asarray(group["position"][frames], dtype=np.float32)
            except OSError as exc:
                raise DatasetError(f"{self.path}: key /{key}/position is corrupt or truncated ({exc})") from exc

    def _group_attrs(self, group):
        try:
            traj_meta = json.loads(group.attrs["metadata"]) if "metadata" in group.attrs else {}
        except (json.JSONDecodeError, TypeError) as exc:
            raise DatasetError(f"{self.path}: attribute {group.name}.metadata is not valid JSON ({exc})") from exc
        if "dt" in group.attrs:
            return traj_meta, float(group.attrs["dt"])
        meta = self.metadata
        return traj_meta, float(meta.get("dt") or 1.0) * int(meta.get("write_every", 1))

    def __repr__(self):
        return f"Dataset({self.root!r}, split={self.split!r}, {len(self)} trajectories)"


def load_dataset(root, split: str = "train") -> Dataset:
    """The lazy `Dataset` of one split (``list(load_dataset(d, "test"))`` for all in memory)."""
    return Dataset(root, split)


def write_dataset(root, splits: dict, metadata: dict | None = None, *, statistics: bool = True) -> dict:
    """Write a dataset folder; return its metadata.

    Args:
        root: output folder (created).
        splits: {"train": [...], "valid": [...], "test": [...]}; each item is a `Trajectory` or the
            path of a one-trajectory file written by `Trajectory.save` (copied without decoding).
        metadata: extra keys for metadata.json (scene script, seed, ...); they win over derived ones.
        statistics: add vel/acc statistics over the train split (needs >= 3 frames).

    The split files are written first, each atomically; metadata.json last, so its presence marks a
    complete dataset. A stale metadata.json is removed before anything else is written.
    """
    import h5py

    unknown = set(splits) - set(SPLITS)
    if unknown:
        raise InputError(f"split names {sorted(unknown)} are not among {list(SPLITS)}")
    root = os.fspath(root)
    os.makedirs(root, exist_ok=True)
    if os.path.exists(os.path.join(root, "metadata.json")):
        os.remove(os.path.join(root, "metadata.json"))
    builder, stats = MetadataBuilder(metadata), None
    for split in SPLITS:
        if split not in splits:
            continue
        if not splits[split]:
            raise InputError(f"split {split!r} has no trajectories")
        with atomic_path(split_path(root, split)) as tmp, h5py.File(tmp, "w") as out:
            for index, item in enumerate(splits[split]):
                traj = _write_item(out, f"{index:05d}", item)
                builder.add(split, traj)
                if statistics and split == "train":
                    if stats is None:
                        stats = StatisticsAccumulator(builder.periodic, _sides(builder.bounds))
                    stats.add(traj.position, traj.particle_type)
    meta = builder.build()
    if stats is not None:
        try:
            meta.update({k: v for k, v in stats.result().items() if k not in (metadata or {})})
            meta.setdefault("statistics_splits", ["train"])
        except DatasetError as exc:  # e.g. two-frame trajectories: a dataset, but no accelerations
            warnings.warn(f"{root}: no vel/acc statistics written: {exc}")
    write_metadata(root, meta)
    return meta


def _write_item(out, name: str, item) -> Trajectory:
    """Write one trajectory (object or one-trajectory file) as group `name`; return it."""
    if isinstance(item, Trajectory):
        group = out.create_group(name)
        write_group(group, item)
        group.attrs["metadata"] = json.dumps(_jsonable(item.metadata))
        group.attrs["dt"] = float(item.dt)
        return item
    if not isinstance(item, (str, os.PathLike)):
        raise InputError(f"a split holds Trajectory objects or trajectory file paths, got {type(item).__name__}")
    path = os.fspath(item)
    traj = Trajectory.load(path)  # checks every key is readable before it is copied
    with open_h5(path) as src:
        out.copy(src["00000"], out, name=name)
    out[name].attrs["metadata"] = json.dumps(_jsonable(traj.metadata))
    out[name].attrs["dt"] = float(traj.dt)
    return traj


def _sides(bounds):
    b = np.asarray(bounds, dtype=np.float64)
    return b[:, 1] - b[:, 0]


__all__ = ["Dataset", "load_dataset", "write_dataset", "read_metadata", "write_metadata", "SPLITS",
           "STAT_KEYS", "split_path"]
