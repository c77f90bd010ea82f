"""`simengine track VIEWS [--out FILE] [--quick] [--oracle] [--frames N] [--restart]`.

Tracks the object in a multi-view video (``views.h5`` of ``simengine render``) with Dynamic 3D Gaussians
(`simengine.gaussians.track`): Gaussians seeded from frame 0's fused RGB-D point cloud (open3d), fitted on frame
0, then followed frame by frame. VIEWS is a ``views.h5`` file or the folder holding one. Writes FILE (default
``tracked.h5`` beside the views), rewritten after every frame: rerunning the same command resumes from the last
finished frame (``--restart`` starts afresh). When the video carries its ground-truth Gaussians, prints the
tracking error (`simengine.gaussians.score`) and writes it to ``FILE``'s stem + ``_error.json``; ``simengine
compare --pred FILE --truth VIEWS`` adds the plot and report.
"""
from __future__ import annotations

import json
import os

HELP = "track a multi-view video's object with dynamic 3D Gaussians and score it against the ground truth"


def add_arguments(parser):
    parser.add_argument("views", help="views.h5 of `simengine render`, or its folder")
    parser.add_argument("--out", default=None, help="tracked-Gaussians file (default: tracked.h5 beside the views)")
    parser.add_argument("--quick", action="store_true",
                        help="fewer iterations (frame 0: 100, later frames: 20; default 300 and 30)")
    parser.add_argument("--init-iters", type=int, default=None, help="Adam iterations on frame 0")
    parser.add_argument("--iters", type=int, default=None, help="Adam iterations per later frame")
    parser.add_argument("--voxel", type=float, default=None,
                        help="seeding voxel size (m; default 1.5 x the pixel footprint at the object)")
    parser.add_argument("--max-gaussians", type=int, default=None, help="at most this many seeds (default 3000)")
    parser.add_argument("--oracle", action="store_true",
                        help="seed from the ground-truth frame-0 Gaussians (separates seeding from tracking error)")
    parser.add_argument("--frames", type=int, default=None, help="track only the first N frames")
    parser.add_argument("--restart", action="store_true", help="discard an existing --out instead of resuming")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default $SIMENGINE_THREADS "
                        "or every core)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def resolve_views(path: str) -> str:
    from simengine.errors import InputError

    path = os.fspath(path)
    if os.path.isdir(path):
        path = os.path.join(path, "views.h5")
    if not os.path.isfile(path):
        raise InputError(f"views {path}: no such file (give a views.h5 of `simengine render` or its folder)")
    return path


def score_file(tracked_path: str, views) -> dict | None:
    """Tracking error of a tracked-Gaussians file against ``views``' ground truth (None when it has none)."""
    from simengine.gaussians.score import summarise, tracking_error
    from simengine.gaussians.track import load_tracked

    if not getattr(views, "has_ground_truth", True):
        return None
    tracked = load_tracked(tracked_path)
    gt = views.ground_truth
    oracle = bool(tracked["metadata"].get("oracle"))
    result = tracking_error(tracked["position"], gt["position"], gt["rotation"], oracle=oracle,
                            match=tracked.get("seed_index") if oracle else None)
    summary = summarise(result)
    summary["oracle"] = oracle
    return summary


def main(args) -> int:
    import torch

    from simengine.errors import InputError
    from simengine.gaussians.track import QUICK, TrackConfig, load_tracked, track_views
    from simengine.gaussians.video import read_views
    from simengine.runtime import default_threads

    views_path = resolve_views(args.views)
    out = args.out or os.path.join(os.path.dirname(os.path.abspath(views_path)), "tracked.h5")
    if os.path.exists(out):
        if args.restart:
            load_tracked(out)  # only ever delete a tracked-Gaussians file
            os.remove(out)
    torch.set_num_threads(default_threads("cpu", args.threads))
    settings = dict(QUICK) if args.quick else {}
    for name in ("init_iters", "iters", "voxel", "max_gaussians"):
        if getattr(args, name) is not None:
            settings[name] = getattr(args, name)
    views = read_views(views_path)
    if args.oracle and not views.has_ground_truth:
        raise InputError(f"--oracle: {views_path} has no ground-truth Gaussians")
    track_views(views, out, TrackConfig(**settings), oracle=args.oracle, frames=args.frames,
                progress=not args.quiet, source=os.path.abspath(views_path))
    print(f"wrote {out}")
    summary = score_file(out, views)
    if summary is not None:
        path = os.path.splitext(out)[0] + "_error.json"
        with open(path, "w") as f:
            json.dump(summary, f, indent=1)
        ep = summary["episode"]
        print(f"tracking error over {summary['frames']} frames: mean {ep['mean_mm']:.2f} mm, median "
              f"{ep['median_mm']:.2f} mm, last frame mean {ep['final_mean_mm']:.2f} mm; within 5/10/20 mm: "
              f"{ep['within_5mm']:.1%} / {ep['within_10mm']:.1%} / {ep['within_20mm']:.1%} "
              f"(seeds {summary['seed_mean_mm']:.2f} mm from the simulated Gaussians); wrote {path}")
    return 0
