"""Dynamic 3D Gaussian tracking of multi-view videos (RGB + masks), as GS-Dynamics tracks its real objects.

References: Luiten, Kopanas, Leibe, Ramanan, "Dynamic 3D Gaussians: Tracking by Persistent Dynamic View
Synthesis", 3DV 2024 (https://arxiv.org/abs/2308.09713); Zhang et al., "Dynamic 3D Gaussian Tracking for
Graph-Based Neural Dynamics Modeling" (GS-Dynamics), CoRL 2024 (https://arxiv.org/abs/2410.18912).

Procedure:

1. **Seed** N Gaussians from frame 0: the views' RGB-D images fused into a coloured point cloud
   (`simengine.gaussians.fusion.fuse_rgbd`, voxel ``voxel`` m), or, in ``oracle`` mode, the ground-truth
   Gaussians' frame-0 centres (`Views.ground_truth`), which separates seeding error from tracking error. Initial
   scale: the mean distance to the 3 nearest seeds (isotropic), opacity 0.7, colour the point's colour.
2. **Frame 0**: fit every parameter (centres, rotations, log-scales, opacity and colour logits) with Adam for
   ``init_iters`` iterations on the image and mask losses; no densification.
3. **Frame t >= 1**: opacity, scale and colour frozen; centres and rotations start from constant-velocity
   extrapolation ``μ_t = 2 μ_{t-1} − μ_{t-2}``, ``q_t = normalise(2 q_{t-1} − q_{t-2})`` (Luiten et al.) and
   are optimised with Adam for ``iters`` iterations on

       L = w_im [0.8 L1(I, Î) + 0.2 (1 − SSIM(I, Î))] + w_mask L1(A, M)
           + w_rigid Σ_ij w_ij |R_i,t-1 R_i,t⁻¹ (μ_j,t − μ_i,t) − (μ_j,t-1 − μ_i,t-1)| / (N k)
           + w_rot Σ_ij w_ij |q_j,t q_j,t-1⁻¹ − q_i,t q_i,t-1⁻¹| / (N k)
           + w_iso Σ_ij w_ij | |μ_j,t − μ_i,t| − |μ_j,0 − μ_i,0| | / (N k)

   over the k nearest neighbours j of every Gaussian i at frame 0, ``w_ij = exp(−λ d_ij²)`` (d at frame 0).
   GS-Dynamics' weights (image 50, mask 200, rigid 200, rotation 4, isometry 1000, k = 20, λ = 2000 m⁻²) divided
   by 50 are the defaults. SSIM uses an 11x11 Gaussian window (σ 1.5 px).

Iteration counts fit a CPU (`TrackConfig`): GS-Dynamics runs 10k iterations on frame 0 and 2k per later frame on
a GPU; here 300 and 30 (``--quick``: 100 and 20). Tuned on a synthetic rope (4 views of 128x128, ~6 mm motion per
frame; one pixel is ~5 mm at 0.8 m) and on `scenes/rope_pull.py`: with 15 iterations per frame the tracks lag
behind a rope moving 7-9 mm per frame (mean error ~10 mm), with 30 they follow it to 0.5-2.4 mm. Per frame the
Adam step of the centres starts at 3 mm (``lr_means``) and decays exponentially to 0.3 of that (``lr_decay``);
frame 0 moves centres by at most 0.5 mm per step, as its seeds already lie on the surface.

Output: a `simengine.io.Trajectory` file (``position`` (T, N, 3) float32, ``rotation`` (T, N, 4) wxyz,
``particle_type`` ELASTIC for every Gaussian), with the frozen per-Gaussian ``scale`` (N, 3), ``opacity`` (N,),
``color`` (N, 3) in the file's ``gaussians`` group and metadata naming the views file, the seeding mode and the
settings. The file is rewritten (atomically) after
every frame, so a stopped run resumes from the last finished frame; a non-finite loss stops the run with a
`SimulationError` naming the frame, and the frames already tracked stay in the file.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass

import numpy as np
import torch

from simengine.errors import DatasetError, InputError, SimulationError, check_range
from simengine.gaussians.render import quaternion_to_matrix, render_views

__all__ = ["TrackConfig", "MemoryViews", "track", "track_views", "load_tracked", "ssim", "seed_from_views",
           "neighbours", "QUICK"]


@dataclass
class TrackConfig:
    """Tracking settings (see the module docstring). Learning rates are per Adam step, in the parameter's unit."""

    init_iters: int = 300          # frame 0: all parameters
    iters: int = 30                # per later frame: centres and rotations
    voxel: float | None = None     # seeding voxel (m); default: 1.5 x the pixel footprint at the object
    max_gaussians: int = 3000      # random subset of the seeds beyond this
    k: int = 20                    # neighbours of the rigidity, rotation and isometry losses
    lambda_w: float = 2000.0       # neighbour weights exp(-lambda d^2), d in m
    w_image: float = 1.0
    w_mask: float = 4.0
    w_rigid: float = 4.0
    w_rot: float = 0.08
    w_iso: float = 20.0
    lr_means: float = 3e-3         # m per step
    lr_quats: float = 5e-3
    lr_scales: float = 1e-2        # log-scale
    lr_opacities: float = 5e-2     # logit
    lr_colors: float = 2.5e-2      # logit
    lr_means_init: float = 5e-4    # frame 0 centres
    lr_decay: float = 0.3          # per frame, learning rates decay exponentially to this fraction at the last step
    seed: int = 0

    def check(self):
        for name in ("init_iters", "iters", "k", "max_gaussians"):
            check_range(name, getattr(self, name), 0 if "iters" in name else 1, None)
        if self.voxel is not None:
            check_range("voxel", self.voxel, 0.0, None, low_open=True)
        for name, value in asdict(self).items():
            if (name.startswith("w_") or name.startswith("lr_") or name == "lambda_w"):
                check_range(name, value, 0.0, None)
        return self


#: the settings of ``simengine track --quick``: a third of the frame-0 and two thirds of the per-frame iterations
QUICK = dict(init_iters=100, iters=20)


class MemoryViews:
    """Multi-view frames held in memory, with the interface of `simengine.gaussians.video.Views`.

    Args:
        cameras: V `Camera`s of one size.
        rgb: (T, V, H, W, 3), alpha: (T, V, H, W), depth: (T, V, H, W) arrays (float32).
        dt: time between frames (s).
        ground_truth: optional dict ``position`` (T, N, 3), ``rotation`` (T, N, 4), ``scale``, ``opacity``,
            ``color``: the Gaussians that were rendered.
    """

    def __init__(self, cameras, rgb, alpha, depth, dt=1.0, ground_truth=None, metadata=None):
        self.cameras = list(cameras)
        self.rgb, self.alpha, self.depth = (np.asarray(a, dtype=np.float32) for a in (rgb, alpha, depth))
        self.dt = float(dt)
        self.ground_truth = ground_truth
        self.metadata = dict(metadata or {})

    @property
    def num_frames(self) -> int:
        return len(self.rgb)

    def frame(self, t: int) -> dict:
        return {"rgb": self.rgb[t], "alpha": self.alpha[t], "depth": self.depth[t]}


# ---- losses -----------------------------------------------------------------------------------------------
def _blur_matrix(n, size, sigma, dtype, device):
    """(n, n) banded matrix of a normalised 1D Gaussian window (zero padding): x @ M blurs along that axis."""
    x = torch.arange(size, dtype=dtype, device=device) - (size - 1) / 2
    g = torch.exp(-x * x / (2 * sigma * sigma))
    g = g / g.sum()
    i = torch.arange(n, device=device)
    d = i[None, :] - i[:, None] + size // 2  # M[a, b] = g[b - a + size // 2]
    return torch.where((d >= 0) & (d < size), g[d.clamp(0, size - 1)], torch.zeros((), dtype=dtype, device=device))


def ssim(a: torch.Tensor, b: torch.Tensor, size: int = 11, sigma: float = 1.5) -> torch.Tensor:
    """Mean SSIM (Wang et al. 2004) of images ``a``, ``b`` (B, C, H, W) in [0, 1] with a Gaussian window
    (zero-padded, as 3DGS and Dynamic 3D Gaussians compute it); C1 = 0.01², C2 = 0.03².

    The separable blur is two matrix products with banded matrices (faster than a depthwise convolution on CPU).
    """
    H, W = a.shape[-2:]
    mw = _blur_matrix(W, size, sigma, a.dtype, a.device)
    mh = _blur_matrix(H, size, sigma, a.dtype, a.device)
    stack = torch.stack([a, b, a * a, b * b, a * b])
    mu_a, mu_b, aa, bb, ab = (mh.T @ (stack @ mw)).unbind(0)
    saa = aa - mu_a * mu_a
    sbb = bb - mu_b * mu_b
    sab = ab - mu_a * mu_b
    c1, c2 = 0.01 ** 2, 0.03 ** 2
    s = ((2 * mu_a * mu_b + c1) * (2 * sab + c2)) / ((mu_a * mu_a + mu_b * mu_b + c1) * (saa + sbb + c2))
    return s.mean()


def _quat_mul(a, b):
    aw, ax, ay, az = a.unbind(-1)
    bw, bx, by, bz = b.unbind(-1)
    return torch.stack([aw * bw - ax * bx - ay * by - az * bz, aw * bx + ax * bw + ay * bz - az * by,
                        aw * by - ax * bz + ay * bw + az * bx, aw * bz + ax * by - ay * bx + az * bw], -1)


def _quat_inv(q):
    return q * torch.tensor([1.0, -1.0, -1.0, -1.0], dtype=q.dtype, device=q.device)


def _normalise(q):
    return q / q.norm(dim=-1, keepdim=True)


def neighbours(points: np.ndarray, k: int, lambda_w: float):
    """k nearest neighbours of every point (itself excluded) and weights exp(-lambda d^2): ((N, k), (N, k), (N, k))
    as (index, weight, distance)."""
    from scipy.spatial import cKDTree

    k = min(k, len(points) - 1)
    dist, idx = cKDTree(points).query(points, k + 1)
    dist, idx = dist[:, 1:], idx[:, 1:]
    return idx, np.exp(-lambda_w * dist ** 2), dist


def _background(views):
    bg = (getattr(views, "metadata", None) or {}).get("background")
    return None if bg is None or not np.any(np.asarray(bg, dtype=np.float64)) else np.asarray(bg, np.float64)


def _image_loss(out, target_rgb, target_alpha, cfg):
    pred = out["rgb"].permute(0, 3, 1, 2)
    tgt = target_rgb.permute(0, 3, 1, 2)
    image = 0.8 * (pred - tgt).abs().mean() + 0.2 * (1 - ssim(pred, tgt))
    mask = (out["alpha"] - target_alpha).abs().mean()
    return cfg.w_image * image + cfg.w_mask * mask


# ---- seeding ----------------------------------------------------------------------------------------------
def seed_from_views(views, *, voxel: float | None = None, oracle: bool = False):
    """Seed points and colours from frame 0: ``fuse_rgbd`` of the views (or the ground-truth centres in oracle mode).

    Returns ((M, 3) points, (M, 3) colours in [0, 1], voxel used (m)).
    """
    cams = views.cameras
    if voxel is None:
        # 1.5 x the footprint of a pixel at the median depth of frame 0
        f0 = views.frame(0)
        depth = np.asarray(f0["depth"])
        valid = depth[depth > 0]
        if valid.size == 0:
            raise InputError("frame 0: the depth maps of every view have no valid pixel; nothing to seed from")
        voxel = 1.5 * cams[0].pixel_footprint(float(np.median(valid)))
    if oracle:
        gt = views.ground_truth
        if gt is None:
            raise InputError("oracle seeding needs the views' ground-truth Gaussians; this views file has none")
        return np.asarray(gt["position"][0], np.float64), np.asarray(gt["color"], np.float64), float(voxel)
    from simengine.gaussians.fusion import fuse_rgbd

    points, colors = fuse_rgbd(views.frame(0), cams, voxel=voxel)
    return np.asarray(points, np.float64), np.asarray(colors, np.float64), float(voxel)


# ---- the tracked-Gaussians file ---------------------------------------------------------------------------
def _save(path, positions, rotations, frozen, metadata, dt):
    import h5py

    from simengine.io import Trajectory, atomic_path, write_group
    from simengine.io.types import ParticleType

    extras = {"rotation": np.asarray(rotations, np.float32)}
    traj = Trajectory(np.asarray(positions, np.float32), np.full(positions.shape[1], int(ParticleType.ELASTIC)),
                      dt=dt, extras=extras, metadata=metadata)
    with atomic_path(os.fspath(path)) as tmp:
        with h5py.File(tmp, "w") as f:
            group = f.create_group("00000")
            write_group(group, traj)
            group.attrs["dt"] = f.attrs["dt"] = float(dt)
            f.attrs["metadata"] = json.dumps(metadata)
            g = f.create_group("gaussians")
            for key, value in frozen.items():
                g.create_dataset(key, data=np.asarray(value, np.int64 if key == "seed_index" else np.float32))


def load_tracked(path) -> dict:
    """Read a tracked-Gaussians file: ``position`` (T, N, 3), ``rotation`` (T, N, 4), ``scale`` (N, 3),
    ``opacity`` (N,), ``color`` (N, 3), ``metadata`` dict, ``dt``, and ``seed_index`` (N,) (which of the M seed
    points each Gaussian came from; in oracle mode the ground-truth Gaussian it started at) when stored."""
    import h5py

    path = os.fspath(path)
    try:
        with h5py.File(path, "r") as f:
            if "00000" not in f or "gaussians" not in f:
                raise DatasetError(f"{path}: not a tracked-Gaussians file (needs groups '00000' and 'gaussians')")
            grp, gs = f["00000"], f["gaussians"]
            for key in ("position", "rotation"):
                if key not in grp:
                    raise DatasetError(f"{path}: tracked trajectory has no key {key!r}")
            out = {"position": grp["position"][()], "rotation": grp["rotation"][()],
                   "metadata": json.loads(f.attrs.get("metadata", "{}")), "dt": float(f.attrs.get("dt", 1.0))}
            for key in ("scale", "opacity", "color"):
                if key not in gs:
                    raise DatasetError(f"{path}: group 'gaussians' has no key {key!r}")
                out[key] = gs[key][()]
            if "seed_index" in gs:
                out["seed_index"] = gs["seed_index"][()]
            return out
    except OSError as exc:
        raise DatasetError(f"{path}: not a readable HDF5 file ({exc})") from exc


# ---- tracking ---------------------------------------------------------------------------------------------
def _frame_tensors(views, t, dtype):
    fr = views.frame(t)
    rgb = torch.as_tensor(np.asarray(fr["rgb"]), dtype=dtype)
    alpha = torch.as_tensor(np.asarray(fr["alpha"]), dtype=dtype)
    V = len(views.cameras)
    if rgb.ndim != 4 or rgb.shape[0] != V or rgb.shape[-1] != 3 or alpha.shape != rgb.shape[:3]:
        raise InputError(f"frame {t}: rgb {tuple(rgb.shape)} / alpha {tuple(alpha.shape)} do not match {V} views "
                         "of (H, W, 3) / (H, W)")
    h, w = views.cameras[0].height, views.cameras[0].width
    if rgb.shape[1:3] != (h, w):
        raise InputError(f"frame {t}: images are {rgb.shape[2]}x{rgb.shape[1]}, the cameras {w}x{h}")
    return rgb, alpha


def _logit(p):
    p = np.clip(p, 1e-4, 1 - 1e-4)
    return np.log(p / (1 - p))


def _nonfinite(t, it, loss, path, done):
    kept = f"frames 0..{done - 1} are kept in {path}" if done else "no frame was finished"
    return SimulationError(f"tracking frame {t}: the loss became non-finite ({loss}) at iteration {it}; {kept}")


def _fit_frame0(views, points, colors, cfg, dtype, progress):
    from tqdm.auto import tqdm

    rng = np.random.default_rng(cfg.seed)
    keep = np.arange(len(points))
    if len(points) > cfg.max_gaussians:
        keep = np.sort(rng.choice(len(points), cfg.max_gaussians, replace=False))
        points, colors = points[keep], colors[keep]
    if len(points) < 4:
        raise InputError(f"frame 0: only {len(points)} seed points; need at least 4 to track")
    _, _, dist = neighbours(points, 3, cfg.lambda_w)
    scale0 = np.clip(dist.mean(1), 1e-4, None)
    params = {
        "means": torch.tensor(points, dtype=dtype, requires_grad=True),
        "quats": torch.tensor(np.tile([1.0, 0.0, 0.0, 0.0], (len(points), 1)), dtype=dtype, requires_grad=True),
        "log_scales": torch.tensor(np.log(np.repeat(scale0[:, None], 3, 1)), dtype=dtype, requires_grad=True),
        "logit_opacities": torch.tensor(np.full(len(points), _logit(0.7)), dtype=dtype, requires_grad=True),
        "logit_colors": torch.tensor(_logit(np.clip(colors, 0, 1)), dtype=dtype, requires_grad=True),
    }
    opt = torch.optim.Adam([{"params": [params["means"]], "lr": cfg.lr_means_init},
                            {"params": [params["quats"]], "lr": cfg.lr_quats},
                            {"params": [params["log_scales"]], "lr": cfg.lr_scales},
                            {"params": [params["logit_opacities"]], "lr": cfg.lr_opacities},
                            {"params": [params["logit_colors"]], "lr": cfg.lr_colors}])
    rgb, alpha = _frame_tensors(views, 0, dtype)
    bar = tqdm(range(cfg.init_iters), desc="track frame 0", unit="it", leave=False, disable=not progress)
    for it in bar:
        opt.zero_grad()
        out = render_views(params["means"], params["quats"], params["log_scales"].exp(),
                           torch.sigmoid(params["logit_opacities"]), torch.sigmoid(params["logit_colors"]),
                           views.cameras, background=_background(views))
        loss = _image_loss(out, rgb, alpha, cfg)
        if not torch.isfinite(loss):
            raise _nonfinite(0, it, loss.item(), "(nothing written)", 0)
        loss.backward()
        opt.step()
    with torch.no_grad():
        return {"means": params["means"].detach().clone(), "quats": _normalise(params["quats"].detach()),
                "scales": params["log_scales"].exp().detach(), "opacities": torch.sigmoid(params["logit_opacities"]),
                "colors": torch.sigmoid(params["logit_colors"]).detach(), "seed_index": keep}


def _track_frame(views, t, prev, prev2, init_means, nb, cfg, frozen, dtype, path, done):
    idx, w = nb
    means = (2 * prev["means"] - prev2["means"]).clone().requires_grad_(True)
    quats = _normalise(2 * prev["quats"] - prev2["quats"]).clone().requires_grad_(True)
    opt = torch.optim.Adam([{"params": [means], "lr": cfg.lr_means}, {"params": [quats], "lr": cfg.lr_quats}])
    rgb, alpha = _frame_tensors(views, t, dtype)
    prev_offset = prev["means"][idx] - prev["means"][:, None]  # (N, k, 3)
    prev_inv = _quat_inv(prev["quats"])
    init_dist = (init_means[idx] - init_means[:, None]).norm(dim=-1)
    wsum = w.numel()
    bg = _background(views)
    base = [g["lr"] for g in opt.param_groups]
    for it in range(cfg.iters):
        for g, lr in zip(opt.param_groups, base):
            g["lr"] = lr * cfg.lr_decay ** (it / max(cfg.iters - 1, 1))
        opt.zero_grad()
        out = render_views(means, quats, frozen["scales"], frozen["opacities"], frozen["colors"], views.cameras,
                           background=bg)
        loss = _image_loss(out, rgb, alpha, cfg)
        q = _normalise(quats)
        rel = _quat_mul(q, prev_inv)  # rotation from frame t-1 to t, per Gaussian
        offset = means[idx] - means[:, None]
        R = quaternion_to_matrix(rel)  # (N, 3, 3)
        back = torch.einsum("nji,nkj->nki", R, offset)  # R^T offset: the offset in frame t-1's orientation
        rigid = (((back - prev_offset) ** 2).sum(-1) + 1e-20).sqrt().mul(w).sum() / wsum
        rot = (((rel[idx] - rel[:, None]) ** 2).sum(-1) + 1e-20).sqrt().mul(w).sum() / wsum
        iso = ((offset.norm(dim=-1) - init_dist).abs() * w).sum() / wsum
        loss = loss + cfg.w_rigid * rigid + cfg.w_rot * rot + cfg.w_iso * iso
        if not torch.isfinite(loss):
            raise _nonfinite(t, it, loss.item(), path, done)
        loss.backward()
        opt.step()
    with torch.no_grad():
        if not (torch.isfinite(means).all() and torch.isfinite(quats).all()):
            raise _nonfinite(t, cfg.iters, "non-finite parameters", path, done)
        return {"means": means.detach(), "quats": _normalise(quats.detach())}


def track_views(views, out_path, config: TrackConfig | None = None, *, oracle: bool = False, frames: int | None = None,
                points=None, colors=None, progress: bool = True, resume: bool = True, source: str | None = None,
                dtype=torch.float32) -> str:
    """Track ``views`` (a `Views` or `MemoryViews`) frame by frame, writing ``out_path`` after every frame.

    Args:
        views: multi-view frames with ``cameras``, ``num_frames``, ``dt``, ``frame(t)`` (and ``ground_truth`` for
            oracle seeding).
        out_path: the tracked-Gaussians ``.h5`` file (see the module docstring); resumed when it exists.
        config: `TrackConfig` (default settings when None).
        oracle: seed from the ground-truth frame-0 Gaussian centres instead of the fused RGB-D point cloud.
        frames: track only the first ``frames`` frames (default all).
        points, colors: (M, 3) seed points and colours, overriding the seeding (tests, custom fusion).
        resume: continue an existing ``out_path`` (False: start afresh).
        source: the views file's path, recorded in the metadata.

    Returns:
        ``out_path``.
    """
    from tqdm.auto import tqdm

    cfg = (config or TrackConfig()).check()
    out_path = os.fspath(out_path)
    T = views.num_frames if frames is None else int(check_range("frames", frames, 1, views.num_frames))
    settings = {k: v for k, v in asdict(cfg).items()}
    meta = {"kind": "tracked_gaussians", "method": "dynamic_3d_gaussians", "views": source, "oracle": bool(oracle),
            "settings": settings, "frames_total": T, "views_metadata": _plain(getattr(views, "metadata", {}))}
    torch.manual_seed(cfg.seed)
    if resume and os.path.exists(out_path):
        done = load_tracked(out_path)
        old = done["metadata"]
        if old.get("oracle") != bool(oracle) or old.get("views") != source:
            raise InputError(f"{out_path}: exists from another run (views {old.get('views')!r}, oracle "
                             f"{old.get('oracle')}); pass a new output path or --restart")
        pos, rot = list(done["position"]), list(done["rotation"])
        frozen = {"scales": torch.as_tensor(done["scale"], dtype=dtype),
                  "opacities": torch.as_tensor(done["opacity"], dtype=dtype),
                  "colors": torch.as_tensor(done["color"], dtype=dtype)}
        seed_index = done.get("seed_index")
        meta["voxel"] = old.get("voxel")
        meta["seed_points"] = old.get("seed_points")
    else:
        if points is None:
            points, colors, voxel = seed_from_views(views, voxel=cfg.voxel, oracle=oracle)
        else:
            voxel = cfg.voxel
        points, colors = np.asarray(points, np.float64), np.asarray(colors, np.float64)
        if points.ndim != 2 or points.shape[1] != 3 or colors.shape != points.shape:
            raise InputError(f"seed points {points.shape} and colours {colors.shape} must both be (M, 3)")
        meta["voxel"], meta["seed_points"] = voxel, int(len(points))
        fit = _fit_frame0(views, points, colors, cfg, dtype, progress)
        frozen = {k: fit[k] for k in ("scales", "opacities", "colors")}
        seed_index = fit["seed_index"]
        pos, rot = [fit["means"].numpy()], [fit["quats"].numpy()]
        meta["tracked_frames"] = 1
        _save(out_path, np.stack(pos), np.stack(rot), _frozen_arrays(frozen, seed_index), meta, views.dt)
    frozen_np = _frozen_arrays(frozen, seed_index)
    init_means = torch.as_tensor(pos[0], dtype=dtype)
    idx, w, _ = neighbours(pos[0].astype(np.float64), cfg.k, cfg.lambda_w)
    nb = (torch.as_tensor(idx), torch.as_tensor(w, dtype=dtype))
    bar = tqdm(range(len(pos), T), desc="track", unit="frame", disable=not progress, initial=len(pos), total=T)
    for t in bar:
        prev = {"means": torch.as_tensor(pos[-1], dtype=dtype), "quats": torch.as_tensor(rot[-1], dtype=dtype)}
        prev2 = {"means": torch.as_tensor(pos[-2] if len(pos) > 1 else pos[-1], dtype=dtype),
                 "quats": torch.as_tensor(rot[-2] if len(rot) > 1 else rot[-1], dtype=dtype)}
        new = _track_frame(views, t, prev, prev2, init_means, nb, cfg, frozen, dtype, out_path, len(pos))
        pos.append(new["means"].numpy())
        rot.append(new["quats"].numpy())
        meta["tracked_frames"] = len(pos)
        _save(out_path, np.stack(pos), np.stack(rot), frozen_np, meta, views.dt)
    return out_path


def track(views_path, out_path, config: TrackConfig | None = None, **kwargs) -> str:
    """`track_views` on a views file of `simengine render` (read by `simengine.gaussians.video.read_views`)."""
    from simengine.gaussians.video import read_views

    views = read_views(views_path)
    return track_views(views, out_path, config, source=os.path.abspath(os.fspath(views_path)), **kwargs)


def _frozen_arrays(frozen, seed_index=None):
    out = {"scale": frozen["scales"].detach().numpy(), "opacity": frozen["opacities"].detach().numpy(),
           "color": frozen["colors"].detach().numpy()}
    if seed_index is not None:
        out["seed_index"] = np.asarray(seed_index, np.int64)
    return out


def _plain(obj):
    try:
        return json.loads(json.dumps(obj, default=lambda o: o.tolist() if hasattr(o, "tolist") else str(o)))
    except (TypeError, ValueError):
        return {}

