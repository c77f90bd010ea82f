"""One trajectory in memory, and its HDF5 group in the LagrangeBench layout.

A group holds ``position`` float32 (T, N, D) (gzip) and ``particle_type`` int32 (N,), plus any of the
optional keys below. A trajectory saved alone (`Trajectory.save`) is a one-group file with the
metadata as a JSON attribute, so `Trajectory.load` restores it exactly.
"""
from __future__ import annotations

import contextlib
import json
import os
import tempfile
from dataclasses import dataclass, field

import numpy as np

from simengine.errors import DatasetError, InputError

# Optional per-trajectory keys: name -> leading shape ("T" per frame, "N" per particle, "-" free).
OPTIONAL_KEYS = {
    "velocity": "TN", "mass": "N", "material_id": "N", "material_params": "N", "F": "TN", "C": "TN",
    "stress": "TN", "cells": "-", "mesh_pos": "-", "node_type": "-", "action": "T", "cell": "-",
    "species": "N", "time": "T", "orbital_elements": "T", "target_displacement": "TN",
    "target_velocity": "TN", "rotation": "TN",
}


@dataclass
class Trajectory:
    """A recorded simulation.

    Attributes:
        position: (T, N, D) float32 particle positions at the recorded frames.
        particle_type: (N,) int32, see `simengine.io.types.ParticleType`.
        dt: time between two recorded frames (solver dt x write_every).
        extras: optional arrays keyed by `OPTIONAL_KEYS` names (e.g. ``velocity`` (T, N, D)).
        metadata: JSON-serialisable description (solver, version, scene parameters, bounds, ...).
    """

    position: np.ndarray
    particle_type: np.ndarray
    dt: float = 1.0
    extras: dict = field(default_factory=dict)
    metadata: dict = field(default_factory=dict)

    def __post_init__(self):
        self.position = np.asarray(self.position, dtype=np.float32)
        self.particle_type = np.asarray(self.particle_type, dtype=np.int32)
        if self.position.ndim != 3:
            raise InputError(f"position must have shape (T, N, D), got {self.position.shape}")
        if self.particle_type.shape != (self.position.shape[1],):
            raise InputError(
                f"particle_type must have shape (N,) = ({self.position.shape[1]},), got {self.particle_type.shape}")
        for key, value in self.extras.items():
            if key not in OPTIONAL_KEYS:
                raise InputError(f"unknown trajectory key {key!r}; allowed: {sorted(OPTIONAL_KEYS)}")
            self.extras[key] = np.asarray(value)

    @property
    def num_frames(self) -> int:
        return self.position.shape[0]

    @property
    def num_particles(self) -> int:
        return self.position.shape[1]

    @property
    def dim(self) -> int:
        return self.position.shape[2]

    def __getattr__(self, name):
        # traj.velocity, traj.mass, ... for the optional keys that are present.
        extras = self.__dict__.get("extras", {})
        if name in extras:
            return extras[name]
        raise AttributeError(f"Trajectory has no attribute or stored key {name!r}")

    def save(self, path: str | os.PathLike) -> str:
        """Write this trajectory alone to an ``.h5`` file, atomically."""
        import h5py

        path = os.fspath(path)
        with atomic_path(path) as tmp:
            with h5py.File(tmp, "w") as f:
                group = f.create_group("00000")
                write_group(group, self)
                f.attrs["metadata"] = json.dumps(_jsonable(self.metadata))
                # frame spacing kept apart (a solver's metadata may hold its own step "dt"), on the
                # group as in a dataset split file
                group.attrs["dt"] = f.attrs["dt"] = float(self.dt)
        return path

    @classmethod
    def load(cls, path: str | os.PathLike, key: str = "00000") -> "Trajectory":
        """Read a trajectory written by `save` (or one group of a split file)."""
        import h5py

        path = os.fspath(path)
        try:
            with h5py.File(path, "r") as f:
                meta = json.loads(f.attrs.get("metadata", "{}"))
                if key not in f:
                    raise DatasetError(f"{path}: no trajectory group {key!r} (found {list(f.keys())[:5]})")
                dt = float(f[key].attrs.get("dt", f.attrs.get("dt", meta.get("dt", 1.0))))
                return read_group(f[key], path=path, dt=dt, metadata=meta)
        except OSError as exc:
            raise DatasetError(f"{path}: not a readable HDF5 file ({exc})") from exc


def write_group(group, traj: Trajectory) -> None:
    """Write `traj`'s arrays into an open h5py group (position gzip-compressed).

    Every non-scalar array carries a Fletcher-32 checksum, so a flipped byte anywhere (compressed or
    not) is reported on reading instead of returning wrong numbers; HDF5 readers apply it transparently.
    """
    group.create_dataset("position", data=traj.position.astype(np.float32), compression="gzip",
                         fletcher32=True)
    group.create_dataset("particle_type", data=traj.particle_type.astype(np.int32), fletcher32=True)
    for key, value in traj.extras.items():
        value = np.asarray(value)
        big = value.size > 1024 and value.dtype.kind in "fiu"
        group.create_dataset(key, data=value, compression="gzip" if big else None,
                             fletcher32=value.ndim > 0 and value.dtype.kind in "fiub")


def read_group(group, path: str = "?", dt: float = 1.0, metadata: dict | None = None) -> Trajectory:
    """Read one h5py group into a `Trajectory`; a missing or unreadable key names the file and key."""
    def need(key):
        if key not in group:
            raise DatasetError(f"{path}: trajectory {group.name!r} has no key {key!r}")
        try:
            return group[key][()]
        except Exception as exc:  # truncated or corrupt chunk
            raise DatasetError(f"{path}: key {group.name}/{key} is corrupt or truncated ({exc})") from exc

    position = need("position")
    particle_type = need("particle_type")
    extras = {}
    for key in group.keys():
        if key in OPTIONAL_KEYS:
            try:
                extras[key] = group[key][()]
            except Exception as exc:
                raise DatasetError(f"{path}: key {group.name}/{key} is corrupt or truncated ({exc})") from exc
    return Trajectory(position, particle_type, dt=dt, extras=extras, metadata=dict(metadata or {}))


@contextlib.contextmanager
def atomic_path(path: str):
    """Yield a temporary path beside `path`; on success rename it over `path` (atomic on POSIX).

    On any error the temporary file is removed and `path` keeps what it had.
    """
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", suffix=".tmp", dir=directory)
    os.close(fd)
    try:
        yield tmp
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600; give the file the usual permissions
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.remove(tmp)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _umask()  # read once, at import: os.umask can only be read by setting it


def _jsonable(obj):
    """Convert numpy scalars/arrays and tuples inside `obj` to plain JSON types."""
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, np.generic):
        return obj.item()
    return obj
