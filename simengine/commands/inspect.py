"""`simengine inspect DIR`: validate a dataset and print a summary (exit 1 if it is corrupt).

Besides corruption it warns about what keeps a dataset from working in LagrangeBench or gns as it is:
an old MPM dataset whose ``dx`` is the grid cell (fix: `simengine migrate DIR`), a ``dx`` more than 10 %
off the measured particle spacing, trajectories with different particle counts (LagrangeBench then
needs its padding loader), particle types outside the 0..8 that LagrangeBench and gns embed.

``simengine inspect SOURCE --export-ply FRAME --out FILE.ply`` instead writes one frame of one trajectory as a
point cloud that point-cloud viewers open (binary PLY, written with open3d; colours by particle type,
`TYPE_COLOURS`; 2D positions get z = 0). SOURCE is a dataset folder (``--split``, ``--trajectory``), a
trajectory ``.h5`` file or a `simengine run` folder; FRAME may be negative (-1 = the last).
"""
import json
import sys

import numpy as np


def add_arguments(parser):
    parser.add_argument("dataset", help="dataset folder (metadata.json + train/valid/test.h5)")
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")
    parser.add_argument("--export-ply", type=int, default=None, metavar="FRAME",
                        help="write frame FRAME of a trajectory as a .ply point cloud (needs --out) instead")
    parser.add_argument("--out", default=None, help="the .ply file of --export-ply")
    parser.add_argument("--split", default=None, choices=("train", "valid", "test"),
                        help="--export-ply: dataset split (default: the first of train, valid, test present)")
    parser.add_argument("--trajectory", default=None, help="--export-ply: trajectory group (default: the first)")
    parser.add_argument("--overwrite", action="store_true", help="--export-ply: replace an existing --out file")


def main(args) -> int:
    from simengine.io import validate_dataset

    if getattr(args, "export_ply", None) is not None:
        return export_ply(args)

    report = validate_dataset(args.dataset)
    if report.ok and "train" in report.splits and "vel_mean" not in report.metadata:
        from simengine.errors import DatasetError
        from simengine.io import compute_statistics

        try:  # show them anyway; inspect only reads, so they are not stored
            stats = compute_statistics(args.dataset, store=False)
            report.metadata.update(stats, statistics_splits=["train (computed now, not in metadata.json)"])
        except DatasetError as exc:
            report.warnings.append(str(exc))
    if report.ok:
        interop_warnings(args.dataset, report)
    print(json.dumps(as_dict(report), indent=1) if args.json else format_report(report))
    for message in report.errors:
        print(f"error: {message}", file=sys.stderr)
    if report.errors:
        print(f"simengine inspect: {args.dataset} is not a valid dataset ({len(report.errors)} errors)",
              file=sys.stderr)
        return 1
    return 0


#: RGB in [0, 1] of each particle type in exported point clouds (`simengine.io.types.ParticleType` values)
TYPE_COLOURS = {0: (0.12, 0.47, 0.71), 1: (0.5, 0.5, 0.5), 2: (0.35, 0.35, 0.35), 3: (0.55, 0.34, 0.29),
                4: (0.17, 0.63, 0.17), 5: (0.86, 0.72, 0.45), 6: (0.89, 0.47, 0.76), 7: (0.85, 0.92, 0.98),
                8: (0.58, 0.40, 0.74), 9: (1.0, 0.84, 0.0), 10: (0.0, 0.0, 0.0), 11: (0.09, 0.75, 0.81),
                12: (0.84, 0.15, 0.16), 13: (0.12, 0.47, 0.71), 14: (1.0, 0.5, 0.05), 15: (0.2, 0.2, 0.2)}
OTHER_COLOUR = (0.74, 0.74, 0.13)


def export_ply(args) -> int:
    """``--export-ply FRAME --out FILE.ply`` (see the module docstring)."""
    from simengine.commands.render import resolve_trajectory
    from simengine.errors import InputError
    from simengine.gaussians.fusion import write_ply
    from simengine.io.outputs import claim_output_file

    if not args.out:
        raise InputError("--export-ply needs --out FILE.ply")
    if not args.out.lower().endswith(".ply"):
        raise InputError(f"--out {args.out}: the file name must end in .ply")
    traj, source, _ = resolve_trajectory(args.dataset, args.split, args.trajectory)
    frame = args.export_ply
    if not -traj.num_frames <= frame < traj.num_frames:
        raise InputError(f"--export-ply {frame} is outside the trajectory's frames [{-traj.num_frames}, "
                         f"{traj.num_frames}) ({source})")
    claim_output_file(args.out, overwrite=args.overwrite)
    points = np.zeros((traj.num_particles, 3))
    points[:, :traj.dim] = traj.position[frame]
    colours = np.array([TYPE_COLOURS.get(int(t), OTHER_COLOUR) for t in traj.particle_type]).reshape(-1, 3)
    write_ply(args.out, points, colours)
    print(f"{source}: frame {frame % traj.num_frames} ({traj.num_particles} particles) -> {args.out}")
    return 0


#: particle types LagrangeBench (NodeType.SIZE) and gns (NUM_PARTICLE_TYPES) embed: 0 .. 8
EMBEDDED_TYPES = 9
DX_TOLERANCE = 0.10


def interop_warnings(root, report) -> None:
    """Add LagrangeBench/gns warnings to ``report`` (see the module docstring); stores the measured
    spacing as ``report.metadata["measured_dx"]``."""
    from simengine.io.metadata import legacy_grid_dx
    from simengine.io.migrate import measured_spacing

    meta = report.metadata
    measured = measured_spacing(root)
    meta["measured_dx"] = measured
    dx = meta.get("dx")
    if legacy_grid_dx(meta):
        spacing = "not measurable" if measured is None else f"{measured:.6g}"
        report.warnings.append(
            f"dx = {dx:.6g} in metadata.json is the MPM grid cell (a dataset written before grid_dx), not the "
            f"particle spacing ({spacing} measured): LagrangeBench's kinetic energy (dx^D) and any radius "
            f"set from dx are off; run `simengine migrate {root}` (rewrites metadata.json only)")
    elif dx and measured and abs(dx - measured) > DX_TOLERANCE * measured:
        report.warnings.append(f"dx = {dx:.6g} in metadata.json differs from the measured particle spacing "
                               f"{measured:.6g} (mean nearest-neighbour distance of the first frames) by "
                               f"{abs(dx / measured - 1):.0%}")
    counts = sorted({n for s in report.splits.values() for n in s.particles})
    if len(counts) > 1:
        report.warnings.append(
            f"trajectories have {counts[0]}..{counts[-1]} particles: LagrangeBench's default loader fails on them "
            f"(\"vmap got inconsistent sizes\"); use its padding loader: neighbors.backend = \"matscipy\" (it pads "
            f"to num_particles_max = {meta.get('num_particles_max')} from metadata.json)")
    types = sorted({int(t) for s in report.splits.values() for t in s.particle_types})
    outside = [t for t in types if not 0 <= t < EMBEDDED_TYPES]
    if outside:
        report.warnings.append(f"particle types {outside} ({', '.join(_type_name(t) for t in outside)}) are outside "
                               f"0..{EMBEDDED_TYPES - 1}, the types LagrangeBench and gns embed")


def _type_name(value: int) -> str:
    from simengine.io.types import ParticleType

    try:
        return ParticleType(value).name.lower()
    except ValueError:
        return "?"


def _span(values) -> str:
    lo, hi = min(values), max(values)
    return str(lo) if lo == hi else f"{lo}..{hi}"


def _vec(values) -> str:
    return "[" + ", ".join(f"{v:.4g}" for v in np.ravel(values)) + "]"


def format_report(report) -> str:
    meta, lines = report.metadata, [f"dataset {report.root}"]
    if meta:
        frame = meta["dt"] * meta["write_every"] if meta.get("dt") else None
        lines.append(f"  dim {meta.get('dim')}, dt {meta.get('dt')} x write_every {meta.get('write_every')} "
                     f"= {frame} per frame, t_end {meta.get('t_end')}, dx {meta.get('dx')}"
                     + (f" (measured particle spacing {meta['measured_dx']:.6g})" if meta.get("measured_dx") else "")
                     + (f", grid_dx {meta['grid_dx']}" if meta.get("grid_dx") is not None else ""))
        lines.append(f"  bounds {meta.get('bounds')}, periodic {meta.get('periodic_boundary_conditions')}, "
                     f"connectivity radius {meta.get('default_connectivity_radius')}")
        for key in ("solver", "solver_version", "scene_script", "seed"):
            if key in meta:
                lines.append(f"  {key}: {meta[key]}")
        for kind in ("vel", "acc"):
            if f"{kind}_mean" in meta:
                lines.append(f"  {kind} mean {_vec(meta[f'{kind}_mean'])} std {_vec(meta[f'{kind}_std'])} "
                             f"(per frame, over {', '.join(meta.get('statistics_splits', ['?']))})")
    for split, s in report.splits.items():
        if not s.frames:
            lines.append(f"  {split}: {s.num_trajs} trajectories (none readable)")
            continue
        lines.append(f"  {split}: {s.num_trajs} trajectories, T {_span(s.frames)}, N {_span(s.particles)}, "
                     f"D {s.dim}")
        types = ", ".join(f"{t} {_type_name(t)}: {n}" for t, n in sorted(s.particle_types.items()))
        lines.append(f"    particle types (particles summed over trajectories) {types}")
        if s.materials:
            lines.append("    materials " + ", ".join(f"{m}: {n}" for m, n in sorted(s.materials.items())))
        lines.append(f"    positions from {_vec(s.position_min)} to {_vec(s.position_max)}")
        lines.append(f"    optional keys: {', '.join(sorted(s.keys)) or 'none'}")
    lines += [f"  warning: {w}" for w in report.warnings]
    lines.append("  OK" if report.ok else f"  INVALID: {len(report.errors)} errors")
    return "\n".join(lines)


def as_dict(report) -> dict:
    splits = {name: {"num_trajs": s.num_trajs, "frames": s.frames, "particles": s.particles, "dim": s.dim,
                     "particle_types": {str(k): v for k, v in s.particle_types.items()},
                     "materials": {str(k): v for k, v in s.materials.items()},
                     "position_min": None if s.position_min is None else s.position_min.tolist(),
                     "position_max": None if s.position_max is None else s.position_max.tolist(),
                     "keys": sorted(s.keys)} for name, s in report.splits.items()}
    return {"root": report.root, "ok": report.ok, "errors": report.errors, "warnings": report.warnings,
            "metadata": report.metadata, "splits": splits}
