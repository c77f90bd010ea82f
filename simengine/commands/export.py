"""`simengine export DIR --format gns [--out OUT]`: write a dataset in another code's layout.

``gns`` (the PyTorch GNS of Kumar & Vantassel, github geoelements/gns) reads a folder of
``train.npz``, ``valid.npz``, ``test.npz`` and ``metadata.json``:

* each ``.npz`` holds one entry per trajectory (here ``trajectory_00000``, ... after the group names), a
  pickled object array ``(positions (T, N, D) float32, particle_type (N,) int)``, which gns loads with
  ``np.load(path, allow_pickle=True)`` (``gns/data_loader.py``); positions and types are copied exactly;
* ``metadata.json`` holds what gns reads: ``bounds``, ``sequence_length`` (the shortest exported
  trajectory: gns rolls every test trajectory out to it), ``default_connectivity_radius``, ``dim``,
  ``dt`` (the frame interval), ``vel_mean``, ``vel_std``, ``acc_mean``, ``acc_std`` (per frame, not divided by
  dt: gns's convention and LagrangeBench's), plus simengine's ``"simengine_output": "export"`` record
  (gns ignores extra keys).

gns embeds particle types 0..8 (``NUM_PARTICLE_TYPES = 9``) and holds type 3 (``KINEMATIC_PARTICLE_ID``)
to the ground truth: a dataset with types outside 0..8 is refused naming them; walls of simengine's
types 1, 2 and 15 (kinematic here) and rigid bodies of type 3 (dynamic here) are exported with their
ids and reported, since gns treats them otherwise.

The output folder is claimed with `simengine.io.outputs.claim_output_dir` (kind "export"): never a
dataset, run or other command's output; a folder holding another exported dataset (another source, or a
gns dataset simengine did not write) is replaced only with ``--overwrite``. Every file is written
atomically, ``metadata.json`` last.
"""
from __future__ import annotations

import json
import os
import sys

import numpy as np

from simengine.errors import InputError
from simengine.registry import Registry

HELP = "write a dataset in another code's layout (gns: .npz + metadata.json)"
FORMATS = Registry("format")


def add_arguments(parser):
    parser.add_argument("dataset", help="dataset folder (metadata.json + train/valid/test.h5)")
    parser.add_argument("--format", default="gns", help=f"target layout, one of {FORMATS.names()} (default gns)")
    parser.add_argument("--out", default=None, help="output folder (default: DATASET_<format> beside the dataset)")
    parser.add_argument("--splits", nargs="+", default=None, choices=("train", "valid", "test"),
                        help="splits to export (default: every split the dataset has)")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace another exported dataset in --out (never a simengine dataset or run)")


class GnsFormat:
    """The gns layout (see the module docstring)."""

    name = "gns"
    num_types = 9  # gns/train.py NUM_PARTICLE_TYPES: types 0..8 are embedded
    kinematic_type = 3  # gns/train.py KINEMATIC_PARTICLE_ID

    @staticmethod
    def files(splits) -> list:
        return [f"{s}.npz" for s in splits] + ["metadata.json"]

    def check_types(self, root, types_by_split: dict) -> list:
        """InputError for types outside 0..8; warnings for types gns treats differently from simengine."""
        from simengine.io import KINEMATIC_TYPES
        from simengine.io.types import ParticleType

        def names(ts):
            return ", ".join(f"{t} {ParticleType(t).name.lower() if t in set(ParticleType) else '?'}" for t in ts)

        bad = {s: sorted(t for t in ts if not 0 <= t < self.num_types) for s, ts in types_by_split.items()}
        bad = {s: ts for s, ts in bad.items() if ts}
        if bad:
            where = "; ".join(f"{s}.h5: {names(ts)}" for s, ts in bad.items())
            raise InputError(f"{root}: particle types outside what gns supports ({where}); gns embeds types "
                             f"0..{self.num_types - 1} (NUM_PARTICLE_TYPES = {self.num_types})")
        every = sorted(set().union(*types_by_split.values()))
        warnings = []
        walls = [t for t in every if t in {int(k) for k in KINEMATIC_TYPES}]
        if walls:
            warnings.append(f"types {names(walls)} are kinematic in simengine, but gns predicts them: it holds only "
                            f"type {self.kinematic_type} (KINEMATIC_PARTICLE_ID) to the ground truth")
        if self.kinematic_type in every:
            warnings.append(f"type {self.kinematic_type} (rigid_body) moves by physics in simengine, but gns holds "
                            "it to the ground truth (its KINEMATIC_PARTICLE_ID)")
        return warnings

    def write_split(self, path: str, trajectories) -> None:
        from simengine.io import atomic_path

        entries = {}
        for name, position, ptype in trajectories:
            item = np.empty(2, dtype=object)  # a ragged (positions, types) pair, as gns's converters write it
            item[0], item[1] = np.asarray(position, np.float32), np.asarray(ptype, np.int64)
            entries[f"trajectory_{name}"] = item
        with atomic_path(path) as tmp, open(tmp, "wb") as f:  # a file object: numpy adds no ".npz" suffix
            np.savez_compressed(f, **entries)

    def metadata(self, meta: dict, stats: dict, lengths: list) -> dict:
        return {"bounds": meta["bounds"], "sequence_length": int(min(lengths)),
                "default_connectivity_radius": meta["default_connectivity_radius"], "dim": meta["dim"],
                "dt": float(meta["dt"]) * int(meta.get("write_every", 1)),
                **{k: stats[k] for k in ("vel_mean", "vel_std", "acc_mean", "acc_std")}}


FORMATS.add("gns", GnsFormat())


def read_gns_split(path: str) -> list:
    """[(name, positions (T, N, D), particle_type (N,))] of an exported ``.npz``, read as gns reads it."""
    with np.load(path, allow_pickle=True) as data:
        return [(key.removeprefix("trajectory_"), item[0], item[1]) for key, item in data.items()]


def _particle_types(root, splits) -> dict:
    from simengine.io.dataset import open_h5, split_path

    out = {}
    for split in splits:
        with open_h5(split_path(root, split)) as f:
            out[split] = {int(t) for key in f for t in np.unique(f[key]["particle_type"][()])}
    return out


def _claim(out: str, fmt, splits, source: str, overwrite: bool) -> str:
    from simengine.io.outputs import OUTPUT_KEY, claim_output_dir

    out = claim_output_dir(out, "export", fmt.files(splits), overwrite=overwrite, command="simengine export")
    present = [name for name in (*fmt.files(("train", "valid", "test")),) if os.path.exists(os.path.join(out, name))]
    if not present or overwrite:
        return out
    previous = None
    try:
        with open(os.path.join(out, "metadata.json")) as f:
            record = json.load(f)
        if record.get(OUTPUT_KEY) == "export":
            previous = record.get("simengine_export", {}).get("source")
    except (OSError, ValueError, AttributeError):
        pass
    if previous != source:
        what = f"an export of {previous}" if previous else "a dataset simengine did not export"
        raise InputError(f"--out {out} holds another exported dataset ({what}: {', '.join(present)}); pass "
                         "--overwrite to replace it, or choose another folder")
    return out


def export_dataset(root, out=None, fmt: str = "gns", splits=None, overwrite: bool = False) -> dict:
    """Export dataset folder ``root`` to ``out`` in layout ``fmt``; returns {"out", "metadata", "warnings"}."""
    import simengine
    from simengine.io import compute_statistics, load_dataset, read_metadata, split_path, write_metadata
    from simengine.io.outputs import OUTPUT_KEY

    root = os.fspath(root)
    form = FORMATS.get(fmt)
    if not os.path.isdir(root):
        raise InputError(f"{root} is not a dataset folder (metadata.json + train/valid/test.h5)")
    meta = read_metadata(root)
    have = [s for s in ("train", "valid", "test") if os.path.exists(split_path(root, s, must_exist=False))]
    splits = have if splits is None else list(dict.fromkeys(splits))
    missing = [s for s in splits if s not in have]
    if missing or not splits:
        raise InputError(f"{root} has no {', '.join(f'{s}.h5' for s in missing) or 'split file'} (it has {have})")
    for key in ("bounds", "default_connectivity_radius", "dim", "dt"):
        if meta.get(key) is None:
            raise InputError(f"{root}/metadata.json has no {key!r}, which {form.name} needs")
    warnings = form.check_types(root, _particle_types(root, splits))
    source = os.path.abspath(root)
    out = os.fspath(out) if out is not None else os.path.normpath(root) + f"_{form.name}"
    if os.path.abspath(out) == source:
        raise InputError(f"--out {out} is the dataset itself; choose another folder")
    out = _claim(out, form, splits, source, overwrite)
    stats = {k: meta[k] for k in ("vel_mean", "vel_std", "acc_mean", "acc_std") if k in meta}
    if len(stats) < 4:
        stats = compute_statistics(root, splits=("train",) if "train" in have else tuple(have), store=False)
    lengths = []
    for split in splits:
        ds = load_dataset(root, split)
        items = []
        for i in range(len(ds)):
            traj = ds[i]
            lengths.append(traj.num_frames)
            items.append((ds.keys[i], traj.position, traj.particle_type))
        form.write_split(os.path.join(out, f"{split}.npz"), items)
    record = form.metadata(meta, stats, lengths)
    record[OUTPUT_KEY] = "export"
    record["simengine_export"] = {"format": form.name, "source": source, "splits": splits,
                                  "simengine": simengine.__version__, "dx": meta.get("dx")}
    write_metadata(out, record)
    return {"out": out, "metadata": record, "warnings": warnings}


def main(args) -> int:
    result = export_dataset(args.dataset, args.out, args.format, args.splits, args.overwrite)
    for line in result["warnings"]:
        print(f"simengine export: warning: {line}", file=sys.stderr)
    meta = result["metadata"]
    print(f"wrote {result['out']} ({args.format}): {', '.join(s + '.npz' for s in meta['simengine_export']['splits'])}"
          f" and metadata.json; sequence_length {meta['sequence_length']}, connectivity radius "
          f"{meta['default_connectivity_radius']}")
    return 0
