"""`simengine compare RUN --data DIR --split test`, or `simengine compare --pred A --truth B`.

Writes ``metrics.json``, ``error_vs_step.png``, side-by-side GIFs and ``report.html`` into
``RUN/compare`` (or ``--out``). A and B are dataset folders (read at ``--split``) or h5 files; RUN is
any folder holding ``RUN/rollout/<split>.h5`` (what `simengine rollout` writes).

The comparison is chosen by the ground truth's simulator (metadata key ``"simulator"``, `COMPARISONS`):
particle datasets (MPM, N-body, and datasets naming no simulator, e.g. LagrangeBench's) get position
errors, Chamfer/Sinkhorn and kinetic energy (`simengine.report.write_comparison`); MD datasets add
structure, dynamics and energy (`simengine.metrics.md.write_md_comparison`). Datasets written before
the ``"simulator"`` key existed are recognised by their legacy keys (`simulator_of`).
"""
from __future__ import annotations

import os

from simengine.errors import InputError
from simengine.registry import Registry


def add_arguments(parser):
    parser.add_argument("run", nargs="?", default=None, help="run folder whose RUN/rollout/<split>.h5 to compare")
    parser.add_argument("--data", default=None, help="ground-truth dataset folder (with RUN)")
    parser.add_argument("--split", default="test", choices=("train", "valid", "test"))
    parser.add_argument("--pred", default=None, help="predicted trajectories: dataset folder or h5 file")
    parser.add_argument("--truth", default=None, help="ground-truth trajectories: dataset folder or h5 file")
    parser.add_argument("--out", default=None,
                        help="output folder (default RUN/compare, or PRED_compare beside --pred)")
    parser.add_argument("--start", type=int, default=None,
                        help="first predicted frame (default: the prediction's rollout_start)")
    parser.add_argument("--gifs", type=int, default=2, help="side-by-side animations to write (default 2)")
    parser.add_argument("--stride", type=int, default=1,
                        help="LagrangeBench's metrics stride: Sinkhorn and kinetic energy on rollout frames 0, s, "
                             "2s, ... (default 1, its inference setting; it validates during training with 10)")
    parser.add_argument("--max-points", type=int, default=512,
                        help="particles used by the Chamfer distance (512)")
    parser.add_argument("--sinkhorn-points", type=int, default=None,
                        help="estimate Sinkhorn on this many random particles (faster; not LagrangeBench's value, "
                             "stated in the report); default: every particle")
    parser.add_argument("--epsilon", type=float, default=None, help="Sinkhorn ε (default 0.05 x mean cost)")
    parser.add_argument("--baselines", nargs="+", default=["constant_velocity"],
                        help="trivial predictions scored beside the model: constant_velocity (default), "
                             "constant_position (the deformable-object papers' baseline)")
    parser.add_argument("--emd-points", type=int, default=None,
                        help="also the exact earth mover's distance on this many random particles (Hungarian, "
                             "O(n^3): a few hundred)")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace files in --out that simengine did not write (never a dataset or a run)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.add_argument("--tracking", action="store_true",
                        help="--pred is a tracked-Gaussians file of `simengine track`, --truth its views.h5 (or "
                             "folder): report the tracking error (found automatically for such files)")


# simulator (dataset metadata "simulator") -> comparison(preds, truths, out, args, pred_src, truth_src) -> exit status
COMPARISONS = Registry("simulator")


@COMPARISONS.register("mpm")
@COMPARISONS.register("nbody")
@COMPARISONS.register("deformables")
@COMPARISONS.register("fem")
def compare_particles(preds, truths, out, args, pred_src, truth_src) -> int:
    """Position MSE at horizons, Chamfer, Sinkhorn, kinetic energy, GIFs (`simengine.report`)."""
    from simengine.report import write_comparison

    if args.start is None and any("rollout_start" not in p.metadata for p in preds):
        raise InputError(f"{pred_src} does not record where its rollout starts; pass --start FRAME")
    geometry = dataset_geometry(truth_src, truths)
    metrics = write_comparison(preds, truths, out, title=_title(pred_src, truth_src, args), start=args.start,
                               gifs=args.gifs, stride=args.stride, max_points=args.max_points,
                               sinkhorn_points=args.sinkhorn_points, baselines=tuple(args.baselines),
                               emd_points=args.emd_points, epsilon=args.epsilon, progress=not args.quiet, **geometry)
    summary = metrics["summary"]
    bases = [b for b in summary if b != "prediction"]

    def line(label, value):
        others = "   ".join(f"{b.replace('_', ' ')} {value(summary[b]):.3e}" for b in bases)
        print(f"{label}: prediction {value(summary['prediction']):.3e}   {others}")
    for h in summary["prediction"]["mse"]:
        line(f"MSE{h:>4}", lambda s, h=h: s["mse"][h])
    for key, label in (("sinkhorn", f"Sinkhorn (stride {args.stride})"), ("kinetic_energy_mse",
                                                                          f"e_kin MSE (stride {args.stride})"),
                       ("emd", "EMD")):
        if key in summary["prediction"]:
            line(label, lambda s, key=key: s[key])
    if metrics["diverged"]:
        print(f"diverged: {metrics['diverged']}")
    print(f"wrote {out}/metrics.json and {out}/report.html")
    return 0


@COMPARISONS.register("md")
def compare_md(preds, truths, out, args, pred_src, truth_src) -> int:
    """Positions plus g(r), VACF, MSD, temperature and energy drift (`simengine.metrics.md`)."""
    from simengine.metrics.md import write_md_comparison

    metrics = write_md_comparison(preds, truths, out, title=_title(pred_src, truth_src, args), start=args.start,
                                  progress=not args.quiet)
    print(metrics["text"])
    print(f"wrote {out}/metrics.json and {out}/report.html")
    return 0


def dataset_geometry(source, truths) -> dict:
    """dx (particle spacing), box and periodic axes of the ground truth, from its metadata.json (or an h5
    file's metadata), else its first trajectory's metadata. Warns (stderr) when dx is an old dataset's
    MPM grid cell."""
    import sys

    import numpy as np

    from simengine.io import read_metadata
    from simengine.io.metadata import legacy_grid_dx

    has_meta = os.path.isfile(source) or os.path.exists(os.path.join(source, "metadata.json"))
    meta = read_metadata(source) if has_meta else {}
    meta = {**(truths[0].metadata if truths else {}), **meta}
    if legacy_grid_dx(meta):
        print(f"simengine compare: warning: {source}: dx = {meta['dx']} is the MPM grid cell (a dataset written "
              "before grid_dx), not the particle spacing: kinetic energies are scaled by it until you run "
              f"`simengine migrate {source}`", file=sys.stderr)
    out = {"dx": float(meta["dx"]) if meta.get("dx") else None, "box": None, "periodic": None}
    periodic = meta.get("periodic_boundary_conditions")
    if periodic is not None and np.ndim(periodic) > 0 and any(periodic) and meta.get("bounds") is not None:
        bounds = np.asarray(meta["bounds"], dtype=np.float64)
        out["box"] = (bounds[:, 1] - bounds[:, 0]).tolist()
        out["periodic"] = [bool(p) for p in periodic][: len(out["box"])]
    return out


def is_tracking(pred_src) -> bool:
    """Whether ``pred_src`` is a tracked-Gaussians file of `simengine track` (metadata kind tracked_gaussians)."""
    import json

    if not (os.path.isfile(pred_src) and pred_src.endswith((".h5", ".hdf5"))):
        return False
    try:
        import h5py

        with h5py.File(pred_src, "r") as f:
            return "gaussians" in f and json.loads(f.attrs.get("metadata", "{}")).get("kind") == "tracked_gaussians"
    except (OSError, ValueError):
        return False


def compare_tracking(pred_src, truth_src, out) -> int:
    """Tracking error of tracked Gaussians against a video's simulated Gaussians (`simengine.gaussians.score`):
    per-frame mean and median (mm) and fractions within 5/10/20 mm in ``metrics.json``, plotted in
    ``tracking_error.png``."""
    import json

    from simengine.commands.track import resolve_views, score_file
    from simengine.gaussians.score import THRESHOLDS_MM
    from simengine.gaussians.video import read_views

    views = read_views(resolve_views(truth_src))
    summary = score_file(pred_src, views)
    if summary is None:
        raise InputError(f"--truth {truth_src} has no ground-truth Gaussians to score the tracking against")
    with open(os.path.join(out, "metrics.json"), "w") as f:
        json.dump({"kind": "tracking", "prediction": pred_src, "truth": truth_src, **summary}, f, indent=1)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax, bx) = plt.subplots(1, 2, figsize=(10, 3.6))
    t = range(summary["frames"])
    ax.plot(t, summary["mean_mm"], label="mean")
    ax.plot(t, summary["median_mm"], label="median")
    ax.set(xlabel="frame", ylabel="tracking error (mm)", title="tracked vs simulated Gaussian centres")
    ax.legend()
    for th in THRESHOLDS_MM:
        bx.plot(t, summary["within"][f"{th:g}mm"], label=f"within {th:g} mm")
    bx.set(xlabel="frame", ylabel="fraction of Gaussians", ylim=(0, 1.02))
    bx.legend()
    fig.tight_layout()
    fig.savefig(os.path.join(out, "tracking_error.png"), dpi=110)
    plt.close(fig)
    ep = summary["episode"]
    print(f"tracking error ({summary['frames']} frames{', oracle seeds' if summary['oracle'] else ''}): mean "
          f"{ep['mean_mm']:.2f} mm, median {ep['median_mm']:.2f} mm; within 5/10/20 mm {ep['within_5mm']:.1%} / "
          f"{ep['within_10mm']:.1%} / {ep['within_20mm']:.1%}")
    print(f"wrote {out}/metrics.json and {out}/tracking_error.png")
    return 0


def _title(pred_src, truth_src, args) -> str:
    return f"{pred_src} vs {truth_src} ({args.split})"


def simulator_of(meta: dict):
    """The simulator a dataset's metadata names: its ``"simulator"``, else inferred from legacy keys
    (``kind: md`` -> md, ``solver: mls-mpm`` -> mpm, ``solver: simengine.nbody...`` -> nbody); None when
    it names none (e.g. a LagrangeBench dataset)."""
    if meta.get("simulator") is not None:
        return meta["simulator"]
    if meta.get("kind") == "md":
        return "md"
    solver = meta.get("solver")
    if solver == "mls-mpm":
        return "mpm"
    if isinstance(solver, str) and solver.startswith("simengine.nbody"):
        return "nbody"
    return None


def dataset_simulator(source, split: str, truths) -> tuple:
    """(simulator or None, where it was read) for the ground truth at ``source``: its metadata.json (or
    an h5 file's metadata attribute), else the first trajectory's own metadata."""
    from simengine.io import read_metadata, split_path

    places = []
    where = source if os.path.isfile(source) else os.path.join(source, "metadata.json")
    if os.path.exists(where):  # a metadata.json that is there must be valid: no report on broken metadata
        read_metadata(source)
        places.append((where, read_metadata(source, normalize=False)))
    if truths:
        name = truths[0].metadata.get("name", "00000")
        places.append((f"{split_path(source, split, must_exist=False)} trajectory {name!r}", truths[0].metadata))
    for where, meta in places:  # an explicit "simulator" anywhere wins over legacy keys
        if meta.get("simulator") is not None:
            return meta["simulator"], where
    for where, meta in places:
        if simulator_of(meta) is not None:
            return simulator_of(meta), where
    return None, None


def comparison_for(simulator, where):
    """The registered comparison of ``simulator``; the particle one when it is None."""
    if simulator is None:
        return compare_particles
    if simulator not in COMPARISONS:
        raise InputError(f"simulator = {simulator!r} in {where} is not one of {COMPARISONS.names()}")
    return COMPARISONS.get(simulator)


def main(args) -> int:
    from simengine.errors import check_range
    from simengine.io import load_split
    from simengine.io.outputs import claim_output_dir

    check_range("--gifs", args.gifs, 0, None)
    check_range("--stride", args.stride, 1, None)
    check_range("--max-points", args.max_points, 2, None)
    if args.sinkhorn_points is not None:
        check_range("--sinkhorn-points", args.sinkhorn_points, 2, None)
    if args.start is not None:
        check_range("--start", args.start, 0, None)

    if args.run is not None:
        if args.data is None or args.pred or args.truth:
            raise InputError("compare RUN needs --data DIR (and no --pred/--truth)")
        pred_src = os.path.join(args.run, "rollout")
        if not os.path.exists(os.path.join(pred_src, f"{args.split}.h5")):
            raise InputError(f"no rollout at {pred_src}/{args.split}.h5; run `simengine rollout {args.run} "
                             f"--data {args.data} --split {args.split}` first")
        truth_src, out = args.data, args.out or os.path.join(args.run, "compare")
    else:
        if not (args.pred and args.truth):
            raise InputError("give RUN --data DIR, or both --pred A and --truth B")
        pred_src, truth_src = args.pred, args.truth
        out = args.out or (os.path.normpath(pred_src) + "_compare" if os.path.isdir(pred_src)
                           else os.path.splitext(pred_src)[0] + "_compare")
    for field, source in (("--pred" if args.run is None else "RUN/rollout", pred_src),
                          ("--truth" if args.run is None else "--data", truth_src)):
        if not os.path.exists(source):
            raise InputError(f"{field} {source} does not exist (give a dataset folder or an h5 file)")
    if args.run is None and (args.tracking or is_tracking(pred_src)):
        out = claim_output_dir(out, "compare", ["metrics.json", "tracking_error.png"], overwrite=args.overwrite,
                               command="simengine compare")
        return compare_tracking(pred_src, truth_src, out)
    preds, truths = load_split(pred_src, args.split), load_split(truth_src, args.split)
    compare = comparison_for(*dataset_simulator(truth_src, args.split, truths))
    out = claim_output_dir(out, "compare", ["metrics.json", "report.html", "error_vs_step.png"],
                           overwrite=args.overwrite, command="simengine compare")
    return compare(preds, truths, out, args, pred_src, truth_src)
