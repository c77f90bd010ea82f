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
from simengine.io.statistics import STAT_KEYS, StatisticsAccumulator, side_lengths, trajectory_statistics
from simengine.io.trajectory import Trajectory, _jsonable, atomic_path, read_group, write_group

# Other spellings of the two required keys met in converted datasets.
KEY_ALIASES = {"positions": "position", "particle_types": "particle_type"}


def split_path(root, split: str, must_exist: bool = True) -> str:
    """The h5 file of ``split`` in a dataset folder, or ``root`` itself when it is an h5 file.

    With ``must_exist`` (default) a missing split file raises `DatasetError` naming the folder and the
    split files it does hold; ``must_exist=False`` gives the path of a file still to be written or
    tested. An unknown split name raises `InputError`.
    """
    root = os.fspath(root)
    if os.path.isfile(root):
        return root
    if split not in SPLITS:
        raise InputError(f"split = {split!r} is not one of {list(SPLITS)}")
    path = os.path.join(root, f"{split}.h5")
    if must_exist and not os.path.exists(path):
        found = sorted(f for f in os.listdir(root) if f.endswith(".h5")) if os.path.isdir(root) else []
        raise DatasetError(f"{root}: no {split}.h5 (found {found})")
    return path


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
        self.path = split_path(root, split, must_exist=False)  # a missing file: open_h5 names it
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


def load_split(root, split: str = "train", limit: int | None = None) -> list:
    """The trajectories of a split (all, or the first ``limit``) as `Trajectory` objects in memory;
    ``metadata["name"]`` is each one's group name.

    ``root`` is a dataset folder (read through `load_dataset`; each trajectory's metadata is its group's
    own), or a single h5 file (a split file, or one trajectory written by `Trajectory.save`; each
    trajectory's metadata is the file's ``metadata`` attribute updated with its group's). A missing split
    file or one without trajectories raises `DatasetError`.
    """
    if os.path.isfile(os.fspath(root)):
        return _load_file(os.fspath(root), limit)
    split_path(root, split)  # DatasetError naming the split files the folder holds
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
    """The trajectories (groups) of one h5 file, see `load_split`."""
    meta = read_metadata(path)
    with open_h5(path) as f:
        names = sorted(f.keys())[:limit]
        if not names:
            raise DatasetError(f"{path}: holds no trajectory groups")
        out = []
        for name in names:
            group = f[name]
            try:
                group_meta = {**meta, **json.loads(group.attrs.get("metadata", "{}"))}
            except (json.JSONDecodeError, TypeError) as exc:
                raise DatasetError(f"{path}: attribute {group.name}.metadata is not valid JSON ({exc})") from exc
            dt = float(group.attrs.get("dt", meta.get("dt", 1.0)))
            traj = read_group(_Aliased(group), path=path, dt=dt, metadata=group_meta)
            traj.metadata["name"] = name
            out.append(traj)
        return out


def compute_statistics(source, splits=("train",), *, periodic=None, bounds=None, store=True) -> dict:
    """vel_mean, vel_std, acc_mean, acc_std (lists of D floats, position units per frame); see
    `simengine.io.statistics` for the definitions (LagrangeBench's).

    Args:
        source: a dataset folder, or an iterable of `Trajectory`.
        splits: which splits of a folder to use (LagrangeBench's training code uses train).
        periodic, bounds: (D,) bools and (D, 2) bounds for the minimum image; taken from the folder's
            metadata.json when `source` is a folder, otherwise from the first trajectory's metadata.
        store: for a folder whose metadata.json lacks any of the four keys, write them in (atomically).
    """
    if not isinstance(source, (str, os.PathLike)):
        return trajectory_statistics(source, periodic=periodic, bounds=bounds)
    meta = read_metadata(source)
    acc = StatisticsAccumulator(meta["periodic_boundary_conditions"], side_lengths(meta.get("bounds")))
    for split in splits:
        for traj in Dataset(source, split, metadata=meta):
            acc.add(traj.position, traj.particle_type)
    stats = acc.result()
    if store and any(key not in meta for key in STAT_KEYS):
        raw = read_metadata(source, normalize=False)
        write_metadata(source, {**raw, **stats, "statistics_splits": list(splits)})
    return stats


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
        with atomic_path(split_path(root, split, must_exist=False)) as tmp, h5py.File(tmp, "w") as out:
            for index, item in enumerate(splits[split]):
                traj = _write_item(out, f"{index:05d}", item)
                builder.add(split, traj)
                if statistics and split == "train":
                    if stats is None:
                        stats = StatisticsAccumulator(builder.periodic, side_lengths(builder.bounds))
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


__all__ = ["Dataset", "load_dataset", "load_split", "write_dataset", "compute_statistics", "read_metadata",
           "write_metadata", "SPLITS", "STAT_KEYS", "split_path"]
