"""End to end: simulate a deformables episode, film it, track it with dynamic 3D Gaussians, score the tracks.

    .venv/bin/python benchmarks/tracking.py --scene rope|cloth|plush [--quick] [--out DIR] [--seed 0]
                                           [--frames N] [--every k] [--figure PNG]

Steps (each the `simengine` command of the same name, run in this process):

1. ``simengine run scenes/<scene>.py`` (rope_pull, cloth_lift, plush_drag) -> ``DIR/run/trajectory.h5``;
2. ``simengine render DIR/run --every k --frames N`` -> ``DIR/views/views.h5`` (4 orbit views of 128x128, the
   simulated Gaussians skinned to the particles, their ground truth stored with the video);
3. ``simengine track DIR/views`` -> ``DIR/views/tracked.h5`` (seeded from frame 0's fused RGB-D point cloud);
4. ``simengine compare --pred tracked.h5 --truth views`` -> tracking error per frame (mean, median, within 5/10/20
   mm) and its plot in ``DIR/views/tracked_compare``;
5. a figure (``--figure``, default ``DIR/tracking_<scene>.png``): for the last tracked frame, each view as
   rendered from the simulation beside the same view rendered from the tracked Gaussians.

Defaults: 30 frames at every 2nd recorded frame (2 s of the episode at 15 frames/s), default tracking
iterations (300 on frame 0, 30 per frame). ``--quick``: 16 frames, 100 and 20 iterations. A finished step is
not redone when its output exists (tracking resumes per frame); ``--fresh`` starts over.
Threads: $SIMENGINE_THREADS (or every core).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

SCENES = {"rope": "rope_pull.py", "cloth": "cloth_lift.py", "plush": "plush_drag.py"}


def figure(views_path, tracked_path, out_png, frame=None, title=""):
    """Each view at ``frame`` (default the last tracked one): rendered simulation (top) over tracked reconstruction
    (bottom), on white."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np
    import torch

    from simengine.gaussians.render import render_views
    from simengine.gaussians.track import load_tracked
    from simengine.gaussians.video import read_views

    views = read_views(views_path)
    tr = load_tracked(tracked_path)
    t = tr["position"].shape[0] - 1 if frame is None else frame
    with torch.no_grad():
        rec = render_views(*(torch.as_tensor(np.asarray(a), dtype=torch.float32) for a in (
            tr["position"][t], tr["rotation"][t], tr["scale"], tr["opacity"], tr["color"])), views.cameras)
    fr = views.frame(t)
    V = len(views.cameras)
    fig, axes = plt.subplots(2, V, figsize=(2.4 * V, 5.2))
    for v in range(V):
        for row, (rgb, alpha, label) in enumerate((
                (fr["rgb"][v], fr["alpha"][v], "simulated"),
                (rec["rgb"][v].numpy(), rec["alpha"][v].numpy(), "tracked"))):
            img = np.clip(rgb + (1 - alpha[..., None]), 0, 1)  # composite over white
            ax = axes[row, v]
            ax.imshow(img)
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_title(f"{label}, {views.cameras[v].name}", fontsize=8)
    fig.suptitle(f"{title} frame {t}", fontsize=9)
    fig.tight_layout()
    fig.savefig(out_png, dpi=110)
    plt.close(fig)
    return out_png


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scene", choices=sorted(SCENES), default="rope")
    parser.add_argument("--quick", action="store_true", help="16 frames, half the tracking iterations")
    parser.add_argument("--out", default=None, help="work folder (default runs/tracking_<scene>)")
    parser.add_argument("--seed", type=int, default=0, help="scene seed")
    parser.add_argument("--frames", type=int, default=None, help="frames to film and track (default 30; quick 16)")
    parser.add_argument("--every", type=int, default=2, help="film every k-th recorded frame (default 2)")
    parser.add_argument("--oracle", action="store_true", help="seed from the ground-truth Gaussians")
    parser.add_argument("--figure", default=None, help="figure path (default DIR/tracking_<scene>.png)")
    parser.add_argument("--fresh", action="store_true", help="delete DIR first")
    args = parser.parse_args()

    from simengine.cli import main as cli

    out = args.out or os.path.join(ROOT, "runs", f"tracking_{args.scene}")
    if args.fresh and os.path.isdir(out):
        shutil.rmtree(out)
    os.makedirs(out, exist_ok=True)
    frames = args.frames or (16 if args.quick else 30)
    run_dir, views_dir = os.path.join(out, "run"), os.path.join(out, "views")
    tracked = os.path.join(views_dir, "tracked_oracle.h5" if args.oracle else "tracked.h5")
    clock = {}

    def step(name, argv, done):
        t0 = time.perf_counter()
        if not os.path.exists(done):
            print(f"$ simengine {' '.join(argv)}", flush=True)
            code = cli(argv)
            if code:
                sys.exit(code)
        clock[name] = time.perf_counter() - t0

    step("simulate", ["run", os.path.join(ROOT, "scenes", SCENES[args.scene]), "--out", run_dir, "--seed",
                      str(args.seed), "--no-preview"], os.path.join(run_dir, "trajectory.h5"))
    step("render", ["render", run_dir, "--out", views_dir, "--every", str(args.every), "--frames", str(frames),
                    "--no-movie", "--quiet"], os.path.join(views_dir, "views.h5"))
    track_argv = ["track", views_dir, "--out", tracked, "--quiet"] + (["--quick"] if args.quick else [])
    step("track", track_argv + (["--oracle"] if args.oracle else []), os.path.join(out, "never"))
    compare_dir = os.path.splitext(tracked)[0] + "_compare"
    step("compare", ["compare", "--pred", tracked, "--truth", views_dir, "--out", compare_dir],
         os.path.join(out, "never"))
    png = figure(os.path.join(views_dir, "views.h5"), tracked,
                 args.figure or os.path.join(out, f"tracking_{args.scene}.png"), title=f"{args.scene}:")
    with open(os.path.join(compare_dir, "metrics.json")) as f:
        metrics = json.load(f)
    ep = metrics["episode"]
    settings = "quick" if args.quick else "default"
    print(f"{args.scene}: {metrics['frames']} frames (every {args.every}), {settings} tracking"
          f"{', oracle seeds' if args.oracle else ''}: mean {ep['mean_mm']:.2f} mm, median {ep['median_mm']:.2f} mm, "
          f"last frame {ep['final_mean_mm']:.2f} mm; within 5/10/20 mm {ep['within_5mm']:.1%} / "
          f"{ep['within_10mm']:.1%} / {ep['within_20mm']:.1%}; seeds {metrics['seed_mean_mm']:.2f} mm off")
    print("seconds: " + ", ".join(f"{k} {v:.0f}" for k, v in clock.items()) + f"; figure {png}")


if __name__ == "__main__":
    main()
