"""Check a dataset folder completely and summarise it (what `simengine inspect` prints).

Every array of every trajectory is read (so a truncated file, a flipped byte caught by the
Fletcher-32 checksum or a bad gzip chunk shows up), shapes are checked against each other and
against metadata.json, and LagrangeBench's needs are checked: the keys it reads from metadata.json,
one ``sequence_length`` per split (it reads only "00000"'s length), per-dimension statistics.
Problems that make the data wrong are errors; gaps that only limit its use are warnings.
"""
from __future__ import annotations

import glob
import json
import os
from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from simengine.errors import DatasetError
from simengine.io.dataset import KEY_ALIASES, open_h5, split_path
from simengine.io.metadata import SPLITS, read_metadata
from simengine.io.statistics import STAT_KEYS
from simengine.io.trajectory import OPTIONAL_KEYS

LAGRANGEBENCH_KEYS = ("dim", "dt", "dx", "write_every", "bounds", "periodic_boundary_conditions",
                      "default_connectivity_radius", "num_particles_max", *STAT_KEYS)
MAX_ERRORS_PER_FILE = 20


@dataclass
class SplitSummary:
    num_trajs: int = 0
    frames: list = field(default_factory=list)  # T per trajectory
    particles: list = field(default_factory=list)  # N per trajectory
    dim: int | None = None
    particle_types: Counter = field(default_factory=Counter)  # type id -> particles (all trajectories)
    materials: Counter = field(default_factory=Counter)  # material_id -> particles
    position_min: np.ndarray | None = None
    position_max: np.ndarray | None = None
    keys: set = field(default_factory=set)  # optional keys present in any trajectory


@dataclass
class DatasetReport:
    root: str
    metadata: dict = field(default_factory=dict)
    splits: dict = field(default_factory=dict)  # split -> SplitSummary
    errors: list = field(default_factory=list)
    warnings: list = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors

    def raise_for_errors(self) -> None:
        if self.errors:
            more = f" (and {len(self.errors) - 1} more)" if len(self.errors) > 1 else ""
            raise DatasetError(self.errors[0] + more)


def validate_dataset(root) -> DatasetReport:
    """Validate `root` and return a `DatasetReport`; it never raises for a bad dataset."""
    root = os.fspath(root)
    report = DatasetReport(root)
    if not os.path.isdir(root):
        report.errors.append(f"{root}: not a folder")
        return report
    try:
        report.metadata = meta = read_metadata(root)
    except DatasetError as exc:
        report.errors.append(str(exc))
        return report
    for key in LAGRANGEBENCH_KEYS:
        if meta.get(key) is None:
            hint = " (simengine.io.compute_statistics adds it)" if key in STAT_KEYS else ""
            report.warnings.append(f"metadata.json has no {key!r}, which LagrangeBench reads{hint}")
    for leftover in glob.glob(os.path.join(root, ".*.tmp")):
        report.warnings.append(f"{leftover}: temporary file left by an interrupted write (safe to delete)")
    present = [s for s in SPLITS if os.path.exists(split_path(root, s, must_exist=False))]
    if not present:
        report.errors.append(f"{root}: no split file (train.h5, valid.h5, test.h5)")
    elif "train" not in present:
        report.warnings.append(f"{root}: no train.h5")
    for split in present:
        report.splits[split] = _check_split(split_path(root, split), split, meta, report)
    return report


def _check_split(path: str, split: str, meta: dict, report: DatasetReport) -> SplitSummary:
    summary, errors = SplitSummary(dim=meta.get("dim")), []
    try:
        f = open_h5(path)
    except DatasetError as exc:
        report.errors.append(str(exc))
        return summary
    with f:
        names = sorted(f.keys())
        if not names:
            errors.append(f"{path}: holds no trajectory")
        elif names[0] != "00000":
            report.warnings.append(f"{path}: first trajectory is {names[0]!r}; LagrangeBench reads '00000'")
        for name in names:
            if len(errors) >= MAX_ERRORS_PER_FILE:
                errors.append(f"{path}: stopped after {MAX_ERRORS_PER_FILE} errors")
                break
            _check_group(path, f[name], meta, summary, errors, report.warnings)
    summary.num_trajs = len(names)
    if len(set(summary.frames)) > 1:
        report.warnings.append(f"{path}: trajectories have different lengths {sorted(set(summary.frames))}; "
                               "LagrangeBench assumes all have the length of '00000'")
    expected = meta.get(f"num_trajs_{split}")
    if expected is not None and expected != len(names):
        errors.append(f"{path}: holds {len(names)} trajectories, metadata.json num_trajs_{split} = {expected}")
    expected = meta.get(f"sequence_length_{split}")
    if expected is not None and summary.frames and expected != summary.frames[0]:
        errors.append(f"{path}: '00000' has {summary.frames[0]} frames, metadata.json "
                      f"sequence_length_{split} = {expected}")
    nmax = meta.get("num_particles_max")
    if nmax is not None and summary.particles and max(summary.particles) > nmax:
        errors.append(f"{path}: a trajectory has {max(summary.particles)} particles > metadata.json "
                      f"num_particles_max = {nmax}")
    report.errors.extend(errors)
    return summary


def _check_group(path, group, meta, summary, errors, warnings):
    where = f"{path}: {group.name}"
    keys = {KEY_ALIASES.get(k, k): k for k in group.keys()}

    def read(key):
        try:
            return group[keys[key]][()]
        except Exception as exc:  # truncated, checksum mismatch, bad gzip chunk
            errors.append(f"{where}/{key} is corrupt or truncated ({exc})")
            return None

    for key in ("position", "particle_type"):
        if key not in keys:
            errors.append(f"{where} has no key {key!r}")
            return
    pos, ptype = read("position"), read("particle_type")
    if pos is None or ptype is None:
        return
    dim = meta.get("dim")
    if pos.ndim != 3 or pos.dtype.kind != "f" or (dim is not None and pos.shape[2] != dim):
        errors.append(f"{where}/position has shape {pos.shape} dtype {pos.dtype}; needs float (T, N, dim={dim})")
        return
    T, N, _ = pos.shape
    if ptype.shape != (N,) or ptype.dtype.kind not in "iu":
        errors.append(f"{where}/particle_type has shape {ptype.shape} dtype {ptype.dtype}; needs int ({N},)")
        return
    bad = np.argwhere(~np.isfinite(pos))
    if len(bad):
        t, i, _ = bad[0]
        errors.append(f"{where}/position is not finite at frame {t}, particle {i} ({len(bad)} values)")
        return
    if "metadata" in group.attrs:
        try:
            json.loads(group.attrs["metadata"])
        except (json.JSONDecodeError, TypeError) as exc:
            errors.append(f"{where}: attribute 'metadata' is not valid JSON ({exc})")
    for key in sorted(set(keys) - {"position", "particle_type"}):
        if key not in OPTIONAL_KEYS:
            if len(warnings) < 50:
                warnings.append(f"{where}/{key}: unknown key, ignored by the loader")
            continue
        value = read(key)
        if value is None:
            continue
        lead = {"TN": (T, N), "N": (N,), "T": (T,)}.get(OPTIONAL_KEYS[key], ())
        if value.shape[: len(lead)] != lead:
            errors.append(f"{where}/{key} has shape {value.shape}; its leading axes must be {lead}")
        summary.keys.add(key)
        if key == "material_id":
            summary.materials.update(np.asarray(value).ravel().tolist())
    summary.frames.append(T)
    summary.particles.append(N)
    summary.particle_types.update(ptype.tolist())
    lo, hi = pos.min((0, 1)), pos.max((0, 1))
    summary.position_min = lo if summary.position_min is None else np.minimum(summary.position_min, lo)
    summary.position_max = hi if summary.position_max is None else np.maximum(summary.position_max, hi)
