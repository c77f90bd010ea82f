"""`metadata.json` of a dataset folder: reading (tolerant of LagrangeBench/GNS variants), writing
(atomic), and deriving it from the trajectories themselves.

LagrangeBench reads ``dim, dt, write_every, dx, bounds (D, 2), periodic_boundary_conditions (D,),
default_connectivity_radius, num_particles_max, vel_mean, vel_std, acc_mean, acc_std`` (all
per-dimension lists of length D); ``dt`` is the *solver* step, a recorded frame is ``dt * write_every``.

A solver tells the dataset about itself through its trajectories' ``metadata``; these keys are read
(all optional):

    write_every                  solver steps per recorded frame (default 1; then dt = Trajectory.dt)
    bounds                       (D, 2) [[low, high], ...] domain (default: the positions' range)
    periodic_boundary_conditions | periodic     bool or (D,) bools (default: none periodic)
    default_connectivity_radius  neighbour radius for graph models (default: 1.45 dx, 2 digits)
    grid_dx                      a grid-based solver's cell size (MPM); copied as it is, never used as dx
    t_end | duration             simulated time (default: (T - 1) * Trajectory.dt)
    solver, solver_version | version     copied as they are

Every other key is a scene parameter: identical in all trajectories -> a top-level key; differing ->
``varying_parameters[split][i]``.

``dx`` means what it means to LagrangeBench: the initial **particle spacing**, from which it derives its
kinetic-energy scale ``dx**D`` (and, on its own datasets, a connectivity radius of about 1.45 dx). It is
measured, per dataset, from the data: the mean over every particle of the first frame of every trajectory
of the distance to its nearest neighbour (`mean_nearest_neighbour_distance`). On a lattice that is the
lattice spacing; for jittered particles (each moved uniformly within its own lattice cell) it is about
0.64 of the lattice spacing in 2D and 3D. A trajectory's own ``dx`` / ``particle_spacing`` is used only
when nothing can be measured (a single particle); ``overrides`` win over everything.

``default_connectivity_radius`` is the project's choice: a trajectory's own (MPM scenes write 1.45 x
``grid_dx``, two digits, which is 2.9 dx for the default 2^D particles per cell on a lattice and about
4.5 dx with jitter), else 1.45 dx like LagrangeBench's datasets.

Datasets written before ``grid_dx`` existed stored the MPM grid cell as ``dx``: `legacy_grid_dx` finds
them (`simengine inspect` flags them) and `simengine.io.migrate.migrate_metadata` (`simengine migrate`) rewrites their
metadata.json atomically, leaving the trajectories untouched.
"""
from __future__ import annotations

import json
import os

import numpy as np

from simengine.errors import DatasetError, InputError, check_range
from simengine.io.trajectory import _jsonable, atomic_path

SPLITS = ("train", "valid", "test")
METADATA_FILE = "metadata.json"
# Keys this module derives; a trajectory's own metadata never overwrites them at the top level.
DERIVED_KEYS = {
    "dim", "dx", "dt", "write_every", "t_end", "bounds", "default_connectivity_radius", "particle_spacing",
    "num_particles_max", "periodic_boundary_conditions", "vel_mean", "vel_std", "acc_mean", "acc_std",
    *(f"num_trajs_{s}" for s in SPLITS), *(f"sequence_length_{s}" for s in SPLITS),
}


def read_metadata(root, normalize: bool = True) -> dict:
    """Read ``root/metadata.json`` of a dataset folder, or the metadata of a bare h5 file.

    With ``normalize`` (default) the values are checked and LagrangeBench/GNS variants are filled in:
    a missing ``dim`` is read from the data, ``periodic_boundary_conditions`` becomes D bools
    (GNS-converted sets store 3 for 2D data; a missing one means none), ``write_every`` defaults to 1.
    Raises `DatasetError` naming the file and the field.

    When ``root`` is an h5 file (a split file, or one trajectory written by `Trajectory.save`), its
    ``metadata`` attribute is returned as stored (JSON, not normalised), or {} when it has none.
    """
    if os.path.isfile(root):
        return _h5_metadata(os.fspath(root))
    path = os.path.join(os.fspath(root), METADATA_FILE)
    if not os.path.isfile(path):
        raise DatasetError(f"{path}: missing (a dataset folder holds metadata.json and train/valid/test.h5)")
    try:
        with open(path) as f:
            meta = json.load(f)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DatasetError(f"{path}: not valid JSON ({exc})") from exc
    if not isinstance(meta, dict):
        raise DatasetError(f"{path}: must hold a JSON object, got {type(meta).__name__}")
    return normalize_metadata(meta, root) if normalize else meta


def _h5_metadata(path: str) -> dict:
    """The ``metadata`` attribute (JSON) of an h5 file, or {}; `DatasetError` naming the file otherwise."""
    import h5py

    try:
        with h5py.File(path, "r") as f:
            meta = json.loads(f.attrs["metadata"]) if "metadata" in f.attrs else {}
    except OSError as exc:
        raise DatasetError(f"{path}: not a readable HDF5 file ({exc})") from exc
    except (json.JSONDecodeError, TypeError) as exc:
        raise DatasetError(f"{path}: attribute 'metadata' is not valid JSON ({exc})") from exc
    if not isinstance(meta, dict):
        raise DatasetError(f"{path}: attribute 'metadata' must hold a JSON object, got {type(meta).__name__}")
    return meta


def normalize_metadata(meta: dict, root=None) -> dict:
    """A checked copy of `meta` with defaults filled in (see `read_metadata`)."""
    meta = dict(meta)
    where = os.path.join(os.fspath(root), METADATA_FILE) if root is not None else METADATA_FILE
    if "dim" not in meta and root is not None:
        meta["dim"] = _dim_from_data(root)
    try:
        dim = meta.get("dim")
        if dim not in (1, 2, 3):
            raise InputError(f"dim = {dim!r} is not one of 1, 2, 3")
        if meta.get("dt") is not None:
            check_range("dt", float(meta["dt"]), 0.0, None, low_open=True)
        meta["write_every"] = int(meta.get("write_every", 1))
        check_range("write_every", meta["write_every"], 1)
        pbc = meta.get("periodic_boundary_conditions", False)
        pbc = [bool(pbc)] * dim if np.ndim(pbc) == 0 else [bool(p) for p in pbc]
        if len(pbc) < dim:
            raise InputError(f"periodic_boundary_conditions = {pbc} has {len(pbc)} entries, needs dim = {dim}")
        meta["periodic_boundary_conditions"] = pbc[:dim]
        if meta.get("bounds") is not None:
            meta["bounds"] = check_bounds(meta["bounds"], dim)
        elif any(pbc):
            raise InputError("bounds are missing but periodic_boundary_conditions has a periodic dimension")
        for key in ("vel_mean", "vel_std", "acc_mean", "acc_std"):
            if key in meta and (np.shape(meta[key]) != (dim,) or not np.all(np.isfinite(meta[key]))):
                raise InputError(f"{key} = {meta[key]!r} must be {dim} finite numbers (one per dimension)")
    except (InputError, TypeError, ValueError) as exc:
        raise DatasetError(f"{where}: {exc}") from exc
    return meta


def check_bounds(bounds, dim: int) -> list:
    """(D, 2) [[low, high], ...] with low < high, as a list; InputError otherwise."""
    b = np.asarray(bounds, dtype=np.float64)
    if b.shape != (dim, 2) or not np.all(np.isfinite(b)) or np.any(b[:, 0] >= b[:, 1]):
        raise InputError(f"bounds = {np.asarray(bounds).tolist()} must be {dim} pairs [low, high] with low < high")
    return b.tolist()


def write_metadata(root, meta: dict) -> str:
    """Write ``root/metadata.json`` atomically (temp file + rename)."""
    path = os.path.join(os.fspath(root), METADATA_FILE)
    lines = [f" {json.dumps(k)}: {json.dumps(v)}" for k, v in _jsonable(meta).items()]
    with atomic_path(path) as tmp, open(tmp, "w") as f:
        f.write("{\n" + ",\n".join(lines) + "\n}\n")  # one key per line, values compact
    return path


def _dim_from_data(root) -> int:
    import h5py

    for split in SPLITS:
        path = os.path.join(os.fspath(root), f"{split}.h5")
        if os.path.isfile(path):
            try:
                with h5py.File(path, "r") as f:
                    first = f[sorted(f.keys())[0]]
                    key = "position" if "position" in first else "positions"
                    return int(first[key].shape[-1])
            except Exception as exc:
                raise DatasetError(f"{path}: cannot read the dimension of the first trajectory ({exc})") from exc
    raise DatasetError(f"{root}: metadata.json has no 'dim' and no split file to read it from")


class MetadataBuilder:
    """Derives a dataset's metadata from its trajectories, one at a time (`add`), then `build`.

    ``overrides`` (e.g. scene script and seed) win over everything derived.
    """

    def __init__(self, overrides: dict | None = None):
        self.overrides = dict(overrides or {})
        self.first = None  # (trajectory metadata, frame dt, T) of the first trajectory
        self.dim = None
        self.lengths = {}  # split -> [T per trajectory]
        self.num_particles_max = 0
        self.low = self.high = None
        self.params = {}  # split -> [trajectory metadata (JSON types)]
        self.spacing = SpacingAccumulator()

    def add(self, split: str, traj) -> None:
        if self.dim is None:
            self.dim = traj.dim
            self.first = (dict(traj.metadata), float(traj.dt), traj.num_frames)
        elif traj.dim != self.dim:
            raise InputError(f"{split} trajectory {len(self.lengths.get(split, []))} has dim = {traj.dim}, "
                             f"the dataset has dim = {self.dim}")
        self.lengths.setdefault(split, []).append(traj.num_frames)
        self.spacing.add(traj.position[0])
        self.num_particles_max = max(self.num_particles_max, traj.num_particles)
        lo, hi = traj.position.min((0, 1)), traj.position.max((0, 1))
        self.low = lo if self.low is None else np.minimum(self.low, lo)
        self.high = hi if self.high is None else np.maximum(self.high, hi)
        self.params.setdefault(split, []).append(_jsonable(traj.metadata))

    @property
    def periodic(self) -> list:
        value = self.overrides.get("periodic_boundary_conditions",
                                   self._solver("periodic_boundary_conditions", "periodic"))
        value = False if value is None else value
        return [bool(value)] * self.dim if np.ndim(value) == 0 else [bool(v) for v in value][: self.dim]

    @property
    def bounds(self) -> list:
        given = self.overrides.get("bounds", self._solver("bounds"))
        if given is not None:
            return check_bounds(given, self.dim)
        if any(self.periodic):
            raise InputError("periodic_boundary_conditions has a periodic dimension but no trajectory metadata "
                             "gives bounds (D, 2) [[low, high], ...]")
        return np.stack([self.low, self.high], axis=1).astype(np.float64).tolist()

    def _solver(self, *names):
        meta = self.first[0] if self.first else {}
        return next((meta[n] for n in names if meta.get(n) is not None), None)

    def build(self) -> dict:
        if self.first is None:
            raise InputError("a dataset needs at least one trajectory")
        meta0, frame_dt, frames = self.first
        write_every = int(self._solver("write_every") or 1)
        check_range("write_every", write_every, 1)
        dx = self.spacing.result()
        if dx is None:  # nothing to measure (single particles): the solver's word, if any
            dx = self._solver("particle_spacing", "dx")
        radius = self._solver("default_connectivity_radius", "connectivity_radius")
        if radius is None and dx is not None:
            radius = float(f"{1.45 * dx:.2g}")  # LagrangeBench's choice: about 1.5 dx, two digits
        meta = {
            "dim": self.dim, "dx": dx, "dt": frame_dt / write_every, "write_every": write_every,
            "t_end": self._solver("t_end", "duration") or (frames - 1) * frame_dt,
            "bounds": self.bounds, "periodic_boundary_conditions": self.periodic,
            "default_connectivity_radius": radius, "num_particles_max": self.num_particles_max,
        }
        for split in SPLITS:
            if split in self.lengths:
                meta[f"sequence_length_{split}"] = self.lengths[split][0]
                meta[f"num_trajs_{split}"] = len(self.lengths[split])
        meta.update(self._scene_parameters())
        if self._solver("solver_version", "version") is not None:
            meta["solver_version"] = self._solver("solver_version", "version")
        meta.update(self.overrides)
        return meta

    def _scene_parameters(self) -> dict:
        """Trajectory metadata: shared values at the top level, differing ones per trajectory."""
        every = [p for split in SPLITS for p in self.params.get(split, [])]
        keys = [k for k in dict.fromkeys(k for p in every for k in p) if k not in DERIVED_KEYS]
        dumps = {k: {json.dumps(p.get(k), sort_keys=True) for p in every} for k in keys}
        shared = {k: every[0].get(k) for k in keys if len(dumps[k]) == 1}
        varying = [k for k in keys if len(dumps[k]) > 1]
        if varying:
            shared["varying_parameters"] = {
                split: [{k: p.get(k) for k in varying} for p in self.params[split]] for split in self.params}
        return shared


def nearest_neighbour_distances(points) -> np.ndarray:
    """Distance from each of the points (N, D) to its nearest other point, (N,) float64 (empty for N < 2)."""
    points = np.asarray(points, dtype=np.float64)
    if len(points) < 2:
        return np.zeros(0)
    from scipy.spatial import cKDTree

    dist, _ = cKDTree(points).query(points, k=2)
    return dist[:, 1]


def mean_nearest_neighbour_distance(points):
    """Mean distance from each particle (N, D) to its nearest neighbour: the particle spacing of one
    frame (None for fewer than 2 particles)."""
    d = nearest_neighbour_distances(points)
    return float(d.mean()) if len(d) else None


class SpacingAccumulator:
    """The dataset's ``dx``: mean nearest-neighbour distance over the particles of every first frame."""

    def __init__(self):
        self.total, self.count = 0.0, 0

    def add(self, first_frame) -> None:
        d = nearest_neighbour_distances(first_frame)
        self.total += float(d.sum())
        self.count += len(d)

    def result(self):
        return self.total / self.count if self.count else None


def is_mpm(meta: dict) -> bool:
    return meta.get("simulator") == "mpm" or meta.get("solver") == "mls-mpm"


def legacy_grid_dx(meta: dict) -> bool:
    """True for an MPM dataset written before ``grid_dx`` existed, whose ``dx`` is the grid cell."""
    return is_mpm(meta) and "grid_dx" not in meta and meta.get("dx") is not None
