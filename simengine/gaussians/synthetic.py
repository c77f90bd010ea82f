"""A synthetic multi-view video with exact ground truth: a striped rope of Gaussians that translates and bends,
rendered by `render_views`. Used by the tracking tests and `benchmarks/gaussians.py`, where a simulated episode
would cost more than the tracker being measured."""

from __future__ import annotations

import math

import numpy as np

__all__ = ["synthetic_rope", "synthetic_rope_views", "depth_seeds"]


def synthetic_rope(frames: int, n: int = 120, length: float = 0.5, step: float = 0.003, bend: float = 0.003):
    """A ``length`` m rope of ``n`` Gaussians lying on y = 8 mm that translates (``step`` per frame in x, half of it
    in z, 2 mm in y) and bends in the xz plane (sagitta ``bend`` more per frame).

    Returns centres (T, n, 3), rotations (T, n, 4) (w, x, y, z; the Gaussian's x axis along the tangent), scales
    (n, 3) (4 mm), opacities (n,) (0.9) and striped colours (n, 3) (a 4 cm period, 8 random colours).
    """
    rng = np.random.default_rng(0)
    s = np.linspace(0.0, length, n)
    colors = rng.uniform(0.1, 0.9, (8, 3))[(s / 0.04).astype(int) % 8]
    pos, rot = [], []
    for t in range(frames):
        x = s - length / 2 + step * t
        z = bend * t * np.sin(math.pi * s / length) + 0.5 * step * t
        y = np.full_like(s, 0.008) + 0.002 * t
        pos.append(np.stack([x, y, z], 1))
        slope = np.arctan2(bend * t * math.pi / length * np.cos(math.pi * s / length), 1.0)
        half = -slope / 2  # rotation about +y by -slope takes x to the tangent (cos, 0, sin)
        rot.append(np.stack([np.cos(half), 0 * half, np.sin(half), 0 * half], 1))
    return np.array(pos), np.array(rot), np.full((n, 3), 0.004), np.full(n, 0.9), colors


def synthetic_rope_views(frames: int, size: int = 128, count: int = 4, **rope):
    """`synthetic_rope` filmed by ``count`` orbit cameras 0.8 m away: a `MemoryViews` with its ground truth."""
    import torch

    from simengine.gaussians.camera import orbit_cameras
    from simengine.gaussians.render import render_views
    from simengine.gaussians.track import MemoryViews

    pos, rot, scales, opac, colors = synthetic_rope(frames, **rope)
    cams = orbit_cameras((0.0, 0.0, 0.0), 0.8, count=count, width=size, height=size)
    images = []
    with torch.no_grad():
        for t in range(frames):
            out = render_views(*(torch.tensor(a) for a in (pos[t], rot[t], scales, opac, colors)), cams)
            images.append([out[k].numpy() for k in ("rgb", "alpha", "depth")])
    rgb, alpha, depth = (np.array(a) for a in zip(*images))
    gt = {"position": pos, "rotation": rot, "scale": scales, "opacity": opac, "color": colors}
    return MemoryViews(cams, rgb, alpha, depth, dt=1 / 30, ground_truth=gt, metadata={"scene": "synthetic rope"})


def depth_seeds(views, voxel: float, frame: int = 0):
    """Seeds without open3d: the pixels with alpha > 0.5 of every view's depth map unprojected, colours
    un-premultiplied, averaged per ``voxel`` (m). Returns (points (M, 3), colours (M, 3))."""
    f = views.frame(frame)
    pts, cols = [], []
    for v, cam in enumerate(views.cameras):
        depth = np.where(f["alpha"][v] > 0.5, f["depth"][v], 0.0)
        pts.append(cam.unproject(depth))
        j, i = np.nonzero(depth > 0)
        cols.append(f["rgb"][v][j, i] / f["alpha"][v][j, i, None])
    pts, cols = np.concatenate(pts), np.clip(np.concatenate(cols), 0, 1)
    _, inv = np.unique(np.floor(pts / voxel).astype(np.int64), axis=0, return_inverse=True)
    inv = inv.ravel()
    count = np.bincount(inv)

    def mean(a):
        return np.stack([np.bincount(inv, a[:, c]) / count for c in range(3)], 1)
    return mean(pts), mean(cols)
