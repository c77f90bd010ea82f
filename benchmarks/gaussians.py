"""Gaussian splatting on CPU: forward+backward time of the torch EWA renderer, and tracking seconds per frame.

1. Renderer (`simengine.gaussians.render.render_views`): 2,000 random Gaussians (centres uniform in a 0.3 m cube,
   random rotations, std 6 mm, opacity 0.8, random colours) through 4 orbit cameras at 0.8 m, 128 x 128 pixels
   each, float32; forward, then backward of the sum of rgb, alpha and depth. Median (and min) of ``--repeats``
   timed runs after one warm-up, for each thread count in ``--threads`` (torch.set_num_threads).
2. Tracking (`simengine.gaussians.track`): a synthetic rope (120 Gaussians along a bending, translating 0.5 m
   curve, striped colours) rendered through 4 views of 128 x 128; seeds from frame 0's depth maps; frame 0 fit
   and per-frame tracking with the default iteration counts (300 and 30) or ``--quick`` (100 and 20); seconds
   per tracked frame (after frame 0) and for frame 0, and the tracking error.

    .venv/bin/python benchmarks/gaussians.py [--quick] [--repeats 5] [--threads 1 2] [--no-track]

Target (issue 14): forward+backward under 1.5 s on an idle 2-core machine. The machine's load average is printed:
on a shared machine, times are upper bounds.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import torch  # noqa: E402

from simengine.gaussians.camera import orbit_cameras  # noqa: E402
from simengine.gaussians.render import render_views  # noqa: E402
from simengine.runtime import cpu_name  # noqa: E402


def bench_render(threads, repeats, n=2000, size=128, views=4):
    torch.set_num_threads(threads)
    rng = np.random.default_rng(0)
    cams = orbit_cameras((0.0, 0.1, 0.0), 0.8, count=views, width=size, height=size)
    leaves = [torch.tensor(rng.uniform(-0.15, 0.15, (n, 3)) + [0.0, 0.1, 0.0], dtype=torch.float32),
              torch.tensor(rng.normal(size=(n, 4)), dtype=torch.float32), torch.full((n, 3), 0.006),
              torch.full((n,), 0.8), torch.tensor(rng.uniform(0, 1, (n, 3)), dtype=torch.float32)]
    for t in leaves:
        t.requires_grad_(True)
    fwd, bwd = [], []
    for r in range(repeats + 1):
        for t in leaves:
            t.grad = None
        t0 = time.perf_counter()
        out = render_views(*leaves, cams)
        t1 = time.perf_counter()
        (out["rgb"].sum() + out["alpha"].sum() + out["depth"].sum()).backward()
        t2 = time.perf_counter()
        if r:
            fwd.append(t1 - t0)
            bwd.append(t2 - t1)
    total = [a + b for a, b in zip(fwd, bwd)]
    return statistics.median(fwd), statistics.median(bwd), statistics.median(total), min(total)


def bench_track(threads, quick, frames=6):
    from simengine.gaussians.score import tracking_error
    from simengine.gaussians.track import QUICK, TrackConfig, load_tracked, track_views

    torch.set_num_threads(threads)
    from simengine.gaussians.synthetic import depth_seeds, synthetic_rope_views

    views = synthetic_rope_views(frames)
    pts, cols = depth_seeds(views, 1.5 * views.cameras[0].pixel_footprint(0.8))
    cfg = TrackConfig(**(QUICK if quick else {}))
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "t.h5")
        t0 = time.perf_counter()
        track_views(views, path, cfg, points=pts, colors=cols, progress=False, frames=1)
        t1 = time.perf_counter()
        track_views(views, path, cfg, points=pts, colors=cols, progress=False)
        t2 = time.perf_counter()
        tracked = load_tracked(path)
    err = tracking_error(tracked["position"], views.ground_truth["position"], views.ground_truth["rotation"])
    return len(pts), cfg, t1 - t0, (t2 - t1) / (frames - 1), err["mean_mm"]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--quick", action="store_true", help="tracking with QUICK iteration counts, 3 repeats")
    parser.add_argument("--no-track", action="store_true")
    args = parser.parse_args()
    repeats = 3 if args.quick else args.repeats
    print(f"cpu: {cpu_name()}; torch {torch.__version__}; load average {os.getloadavg()[0]:.2f} "
          f"(1 min) on {os.cpu_count()} cores")
    print("renderer: 2,000 Gaussians x 4 views x 128x128, float32, forward + backward")
    for th in args.threads:
        f, b, tot, best = bench_render(th, repeats)
        print(f"  threads {th}: forward {f:.3f} s  backward {b:.3f} s  total {tot:.3f} s (median of {repeats}; "
              f"best {best:.3f} s)  target < 1.5 s")
    if not args.no_track:
        th = min(args.threads)
        n, cfg, t0, per, err = bench_track(th, args.quick)
        print(f"tracking (synthetic rope, {n} seeds, 4 views x 128x128, threads {th}, iterations {cfg.init_iters} "
              f"on frame 0 and {cfg.iters} per frame): frame 0 {t0:.1f} s, {per:.2f} s per later frame; mean error "
              f"per frame {np.round(err, 2).tolist()} mm")
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
