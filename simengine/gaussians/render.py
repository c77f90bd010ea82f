"""Differentiable EWA splatting of 3D Gaussians in pure torch (CPU or CUDA, by the tensors' device).

References: Zwicker, Pfister, van Baar, Gross, "EWA Splatting", IEEE TVCG 2002; Kerbl, Kopanas, Leimkühler,
Drettakis, "3D Gaussian Splatting for Real-Time Radiance Field Rendering", SIGGRAPH 2023
(https://arxiv.org/abs/2308.04079).

Model. Gaussian i has a centre ``μ_i``, a rotation ``R_i`` (unit quaternion ``(w, x, y, z)``), per-axis standard
deviations ``s_i`` (metres), an opacity ``o_i`` and a colour ``c_i``:

- 3D covariance ``Σ_i = R_i S_i S_iᵀ R_iᵀ``, ``S_i = diag(s_i)``;
- a camera ``x_c = W x + t`` (`simengine.gaussians.camera.Camera`, OpenCV convention) maps the centre to
  ``(x, y, z)`` and the pixel ``u = fx x / z + cx``, ``v = fy y / z + cy``;
- the projected (2D, pixels²) covariance is the local affine approximation ``Σ'_i = J W Σ_i Wᵀ Jᵀ + δ I`` with
  ``J = [[fx/z, 0, -fx x/z²], [0, fy/z, -fy y/z²]]`` (x/z and y/z clamped to 1.3x the field of view as 3DGS
  does). ``δ`` (``dilation``, default 0.3 px²) is the low-pass filter of 3DGS/EWA: it keeps Gaussians smaller
  than a pixel from aliasing; ``dilation=0`` gives the exact projection (used by the tests);
- at pixel centre ``p`` (pixel (i, j) has its centre at (i + 0.5, j + 0.5)), with ``d = p − (u, v)``:
  ``α_i(p) = min(0.99, o_i exp(−½ dᵀ Σ'_i⁻¹ d))``;
- front-to-back compositing in order of the centres' camera depth ``z``:
  ``C(p) = Σ_i c_i α_i Π_{j<i} (1 − α_j) + (1 − A(p)) · background``, ``A(p) = 1 − Π_i (1 − α_i)`` (``alpha``),
  ``D(p) = Σ_i z_i(p) α_i Π_{j<i} (1 − α_j) / A(p)`` (``depth``, 0 where A < 1e-4), where ``z_i(p)`` is the
  camera depth of the point of Gaussian i's largest density on the ray through the pixel centre: with the ray
  ``x = t r`` (camera frame, ``r_z = 1``), centre ``m`` and precision ``P = (W Σ_i Wᵀ)⁻¹``,
  ``z_i(p) = rᵀ P m / rᵀ P r``, clamped to ``z_i ± 3 max(s_i)``. A flat Gaussian thus gives the depth of its
  plane at every pixel it covers, so the depth of a tilted surface of flat Gaussians is exact, where the centres'
  ``z_i`` alone would be biased towards the camera by up to a pixel's footprint (the front Gaussians of each
  pixel dominate the composite).

Gaussians whose centre lies closer than ``near`` (default 0.01 m) to the camera plane are culled.

Algorithm (pure torch, no compiled extension; timed by ``benchmarks/gaussians.py``, not compared against fixed
11x11 patches): each visible Gaussian covers the pixel rectangle that
bounds its 3σ ellipse (half-widths ``3 √Σ'_xx`` and ``3 √Σ'_yy``, clipped to the image); the (Gaussian, pixel)
pairs of all views are generated in depth order, stably sorted by pixel, and each pixel's transmittance
``Π_{j<i}(1 − α_j)`` is the exponential of an exclusive segmented cumulative sum of ``log(1 − α)`` (summed in
float64, so that long segments keep their precision); colours, depths and weights are accumulated with one
``index_add``. Autograd differentiates all of it (means, quaternions, scales, opacities, colours). Measured
(``benchmarks/gaussians.py``, AMD EPYC, float32): 2k Gaussians x 4 views x 128², forward + backward 0.32-0.59 s
with 1 thread at a load average of ~2 on 2 cores (target 1.5 s); 2.9 s at a load average of 12; 2 threads were
slower than 1 on that shared machine (1.2-1.7 s).

An optional ``backend="gsplat"`` passes CUDA tensors to gsplat's ``rasterization`` (same conventions: wxyz
quaternions, 0.3 px² ``eps2d``, expected depth). It is never required and is **untested on this project's
CPU-only machines**; the default backend is the torch one everywhere.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from simengine.errors import InputError

__all__ = ["render", "render_views", "quaternion_to_matrix"]

MAX_ALPHA = 0.99
SIGMA_EXTENT = 3.0
DEPTH_MIN_ALPHA = 1e-4


def quaternion_to_matrix(quats: torch.Tensor) -> torch.Tensor:
    """(N, 4) quaternions (w, x, y, z), normalised here -> (N, 3, 3) rotation matrices."""
    q = quats / quats.norm(dim=-1, keepdim=True)
    w, x, y, z = q.unbind(-1)
    return torch.stack([
        1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y),
        2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x),
        2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y),
    ], -1).reshape(q.shape[:-1] + (3, 3))


def _check_inputs(means, quats, scales, opacities, colors):
    if not isinstance(means, torch.Tensor) or means.ndim != 2 or means.shape[1] != 3:
        raise InputError(f"means must be a (N, 3) tensor, got {getattr(means, 'shape', type(means))}")
    n = means.shape[0]
    if n == 0:
        raise InputError("means: no Gaussians to render (N = 0)")
    expected = {"quats": (quats, (n, 4)), "scales": (scales, (n, 3)), "opacities": (opacities, (n,)),
                "colors": (colors, (n, 3))}
    for name, (value, shape) in expected.items():
        if not isinstance(value, torch.Tensor) or tuple(value.shape) != shape:
            raise InputError(f"{name} must be a tensor of shape {shape} (N = {n} from means), got "
                             f"{tuple(getattr(value, 'shape', ())) or type(value).__name__}")
        if value.device != means.device:
            raise InputError(f"{name} is on {value.device}, means on {means.device}: put them on one device")
    with torch.no_grad():
        for name, value in (("means", means), ("quats", quats), ("scales", scales), ("opacities", opacities),
                            ("colors", colors)):
            if not bool(torch.isfinite(value).all()):
                i = int((~torch.isfinite(value)).reshape(n, -1).any(1).nonzero()[0, 0])
                raise InputError(f"{name}: Gaussian {i} has a non-finite value {value[i].tolist()}")
        if bool((scales <= 0).any()):
            i = int((scales <= 0).any(1).nonzero()[0, 0])
            raise InputError(f"scales: Gaussian {i} has scale {scales[i].tolist()}; scales (standard deviations, m) "
                             "must be > 0")
        if bool((quats.norm(dim=1) == 0).any()):
            i = int((quats.norm(dim=1) == 0).nonzero()[0, 0])
            raise InputError(f"quats: Gaussian {i} has a zero quaternion")
        bad = (opacities <= 0) | (opacities > 1)
        if bool(bad.any()):
            i = int(bad.nonzero()[0, 0])
            raise InputError(f"opacities: Gaussian {i} has opacity {float(opacities[i])}; allowed range (0, 1]")
        bad = ((colors < -1e-6) | (colors > 1 + 1e-6)).any(1)
        if bool(bad.any()):
            i = int(bad.nonzero()[0, 0])
            raise InputError(f"colors: Gaussian {i} has colour {colors[i].tolist()}; allowed range [0, 1]")


def _camera_tensors(cameras, device, dtype):
    if not cameras:
        raise InputError("cameras: need at least one camera")
    width, height = cameras[0].width, cameras[0].height
    for cam in cameras:
        if (cam.width, cam.height) != (width, height):
            raise InputError(f"camera {cam.name!r}: image size {cam.width}x{cam.height} differs from camera "
                             f"{cameras[0].name!r}'s {width}x{height}; render_views needs one size")
    E = torch.as_tensor(np.stack([c.world_to_camera for c in cameras]), dtype=dtype, device=device)
    K = torch.as_tensor(np.stack([c.K for c in cameras]), dtype=dtype, device=device)
    return E, K, width, height


def _project(means, quats, scales, E, K, width, height, dilation):
    """Per (view, Gaussian): pixel centre (V, N, 2), depth z (V, N), 2D covariance (V, N, 2, 2), camera-frame
    centre (V, N, 3) and precision (V, N, 3, 3)."""
    W, t = E[:, :3, :3], E[:, :3, 3]
    pc = torch.einsum("vij,nj->vni", W, means) + t[:, None, :]
    x, y, z = pc.unbind(-1)
    fx, fy, cx, cy = K[:, 0, 0, None], K[:, 1, 1, None], K[:, 0, 2, None], K[:, 1, 2, None]
    zs = torch.where(z > 1e-6, z, torch.ones_like(z))  # behind-camera entries are culled; keep them finite
    u = fx * x / zs + cx
    v = fy * y / zs + cy
    # 3DGS clamps the Jacobian's x/z, y/z to 1.3x the field of view (far off-screen Gaussians stay bounded)
    limx = 1.3 * torch.maximum(cx, width - cx) / fx
    limy = 1.3 * torch.maximum(cy, height - cy) / fy
    tx = torch.maximum(torch.minimum(x / zs, limx), -limx)
    ty = torch.maximum(torch.minimum(y / zs, limy), -limy)
    zero = torch.zeros_like(zs)
    J = torch.stack([torch.stack([fx / zs, zero, -fx * tx / zs], -1),
                     torch.stack([zero, fy / zs, -fy * ty / zs], -1)], -2)  # (V, N, 2, 3)
    rotation = quaternion_to_matrix(quats)
    M = rotation * scales[:, None, :]  # (N, 3, 3): Σ = M Mᵀ
    A = J @ (W[:, None] @ M[None])  # (V, N, 2, 3)
    cov = A @ A.transpose(-1, -2)
    if dilation:
        cov = cov + dilation * torch.eye(2, dtype=cov.dtype, device=cov.device)
    half = W[:, None] @ (rotation / scales[:, None, :])[None]  # (V, N, 3, 3): Σ_c⁻¹ = W R S⁻² Rᵀ Wᵀ = H Hᵀ
    return torch.stack([u, v], -1), z, cov, pc, half @ half.transpose(-1, -2)


def render_views(means, quats, scales, opacities, colors, cameras, *, background=None, dilation: float = 0.3,
                 near: float = 0.01, backend: str = "torch") -> dict:
    """Render N Gaussians through V cameras of one image size (see the module docstring for the model).

    Args:
        means: (N, 3) centres (m), world frame.
        quats: (N, 4) rotations as quaternions (w, x, y, z); normalised here.
        scales: (N, 3) positive standard deviations along the Gaussian's axes (m, not log).
        opacities: (N,) in (0, 1].
        colors: (N, 3) RGB in [0, 1].
        cameras: list of V `simengine.gaussians.camera.Camera` with one (width, height).
        background: None (black), or an RGB (3,) tensor/sequence composited behind.
        dilation: low-pass filter added to the 2D covariance (px²); 0 disables it.
        near: Gaussians with camera depth z <= near (m) are culled.
        backend: "torch" (default) or "gsplat" (CUDA tensors and an importable gsplat only; untested here).

    Returns:
        dict of tensors on ``means``' device and dtype: ``rgb`` (V, H, W, 3), ``alpha`` (V, H, W),
        ``depth`` (V, H, W) (alpha-weighted mean of each Gaussian's densest-point depth on the pixel's ray, / alpha;
        0 where alpha < 1e-4).

    Raises:
        InputError: shape mismatch, non-finite values, non-positive scale, opacity outside (0, 1], colour
            outside [0, 1], cameras of different sizes, or a camera that sees none of the Gaussians.
    """
    _check_inputs(means, quats, scales, opacities, colors)
    if not dilation >= 0:
        raise InputError(f"dilation = {dilation!r} is outside the allowed range [0, inf)")
    if not near > 0:
        raise InputError(f"near = {near!r} is outside the allowed range (0, inf)")
    cameras = list(cameras)
    device, dtype = means.device, means.dtype
    E, K, width, height = _camera_tensors(cameras, device, dtype)
    bg = None
    if background is not None:
        bg = torch.as_tensor(background, dtype=dtype, device=device).reshape(-1)
        if bg.shape != (3,):
            raise InputError(f"background must be an RGB triple, got shape {tuple(bg.shape)}")
    if backend == "gsplat":
        return _render_gsplat(means, quats, scales, opacities, colors, cameras, E, K, width, height, bg,
                              dilation, near)
    if backend != "torch":
        raise InputError(f"backend = {backend!r}; allowed: 'torch', 'gsplat'")
    V, N = len(cameras), means.shape[0]
    uv, z, cov, pc, precision = _project(means, quats, scales, E, K, width, height, dilation)
    a, b, c = cov[..., 0, 0], cov[..., 0, 1], cov[..., 1, 1]
    det = a * c - b * b
    with torch.no_grad():
        rx, ry = SIGMA_EXTENT * a.sqrt(), SIGMA_EXTENT * c.sqrt()
        # pixel i is covered when its centre i + 0.5 lies within [u - rx, u + rx]
        x0 = torch.ceil(uv[..., 0] - rx - 0.5).clamp(min=0)
        x1 = torch.floor(uv[..., 0] + rx - 0.5).clamp(max=width - 1)
        y0 = torch.ceil(uv[..., 1] - ry - 0.5).clamp(min=0)
        y1 = torch.floor(uv[..., 1] + ry - 0.5).clamp(max=height - 1)
        visible = (z > near) & (x1 >= x0) & (y1 >= y0) & (det > 0) & torch.isfinite(x0 + x1 + y0 + y1)
        seen = visible.any(1)
        if not bool(seen.all()):
            cam = cameras[int((~seen).nonzero()[0, 0])]
            raise InputError(f"camera {cam.name!r} sees none of the {N} Gaussians (all behind its near plane "
                             f"z <= {near} m or outside its {width}x{height} image)")
        # items (view, Gaussian) in front-to-back order within each view
        key = z.detach().double().masked_fill(~visible, math.inf)
        order = torch.argsort(key, dim=1)  # (V, N)
        counts_vn = torch.gather(visible, 1, order).sum(1)
        item = (order + torch.arange(V, device=device)[:, None] * N).reshape(-1)
        keep = torch.arange(N, device=device)[None, :] < counts_vn[:, None]
        item = item[keep.reshape(-1)]  # flat (view * N + gaussian), sorted by view then depth
        ix0, iy0 = x0.reshape(-1)[item].long(), y0.reshape(-1)[item].long()
        w = (x1.reshape(-1)[item].long() - ix0 + 1)
        h = (y1.reshape(-1)[item].long() - iy0 + 1)
        npix = w * h
        P = int(npix.sum())
        pair_item = torch.repeat_interleave(torch.arange(item.numel(), device=device), npix)
        start = torch.cumsum(npix, 0) - npix
        off = torch.arange(P, device=device) - start[pair_item]
        wi = w[pair_item]
        px = ix0[pair_item] + off % wi
        py = iy0[pair_item] + torch.div(off, wi, rounding_mode="floor")
        view = torch.div(item, N, rounding_mode="floor")[pair_item]
        pix = (view * height + py) * width + px
        pix, perm = torch.sort(pix, stable=True)  # per pixel, front to back
        pair_item = pair_item[perm]
        px, py = px[perm], py[perm]
        flat = item[pair_item]  # (P,) view * N + gaussian
        new = torch.ones_like(pix, dtype=torch.bool)
        new[1:] = pix[1:] != pix[:-1]
        seg = torch.cumsum(new, 0) - 1
        seg_start = new.nonzero().squeeze(1)
    # per (view, Gaussian) parameters gathered once per pair: u, v, conic (3), z, opacity, colour (3), the ray
    # depth's terms: P m (3), the precision's 6 entries (xx, xy, xz, yy, yz, zz), the clamp half-width
    inv = torch.stack([c / det, -b / det, a / det], -1)
    zc = z.unsqueeze(-1)
    pm = (precision @ pc.unsqueeze(-1)).squeeze(-1)
    upper = precision[..., [0, 0, 0, 1, 1, 2], [0, 1, 2, 1, 2, 2]]
    reach = SIGMA_EXTENT * scales.max(1).values[None, :, None].expand(V, N, 1)
    per_item = torch.cat([uv, inv, zc, opacities[None, :, None].expand(V, N, 1), colors[None].expand(V, N, 3),
                          pm, upper, reach], -1).reshape(V * N, 20)
    g = per_item[flat]  # (P, 20)
    dx = px.to(dtype) + 0.5 - g[:, 0]
    dy = py.to(dtype) + 0.5 - g[:, 1]
    # depth of the densest point of the Gaussian on the pixel's ray x = t (rx, ry, 1)
    pair_view = torch.div(flat, N, rounding_mode="floor")
    fx, fy, cx, cy = K[pair_view, 0, 0], K[pair_view, 1, 1], K[pair_view, 0, 2], K[pair_view, 1, 2]
    rx = (px.to(dtype) + 0.5 - cx) / fx
    ry = (py.to(dtype) + 0.5 - cy) / fy
    numerator = rx * g[:, 10] + ry * g[:, 11] + g[:, 12]
    denominator = (g[:, 13] * rx * rx + 2 * g[:, 14] * rx * ry + 2 * g[:, 15] * rx + g[:, 16] * ry * ry
                   + 2 * g[:, 17] * ry + g[:, 18])
    ray_depth = torch.minimum(torch.maximum(numerator / denominator, g[:, 5] - g[:, 19]), g[:, 5] + g[:, 19])
    power = -0.5 * (g[:, 2] * dx * dx + 2 * g[:, 3] * dx * dy + g[:, 4] * dy * dy)
    alpha = torch.clamp(g[:, 6] * torch.exp(power), max=MAX_ALPHA)
    log_t = torch.log1p(-alpha).double()
    cs = torch.cumsum(log_t, 0) - log_t  # exclusive running sum over all pairs
    transmittance = torch.exp(cs - cs[seg_start][seg]).to(dtype)
    weight = alpha * transmittance
    acc = torch.zeros(V * height * width, 5, dtype=dtype, device=device)
    acc = acc.index_add(0, pix, torch.cat([g[:, 7:10], ray_depth[:, None], torch.ones_like(g[:, 5:6])], 1)
                        * weight[:, None])
    acc = acc.reshape(V, height, width, 5)
    rgb, alpha_img = acc[..., :3], acc[..., 4]
    if bg is not None:
        rgb = rgb + (1 - alpha_img)[..., None] * bg
    has = alpha_img > DEPTH_MIN_ALPHA
    depth = torch.where(has, acc[..., 3] / torch.where(has, alpha_img, torch.ones_like(alpha_img)),
                        torch.zeros_like(alpha_img))
    return {"rgb": rgb, "alpha": alpha_img, "depth": depth}


def render(means, quats, scales, opacities, colors, camera, *, background=None, dilation: float = 0.3,
           near: float = 0.01, backend: str = "torch") -> dict:
    """Render N Gaussians through one camera: ``rgb`` (H, W, 3), ``alpha`` (H, W), ``depth`` (H, W).

    Same arguments and model as `render_views` (a single `Camera` instead of a list).
    """
    out = render_views(means, quats, scales, opacities, colors, [camera], background=background,
                       dilation=dilation, near=near, backend=backend)
    return {k: v[0] for k, v in out.items()}


def _render_gsplat(means, quats, scales, opacities, colors, cameras, E, K, width, height, bg, dilation, near):
    """gsplat's CUDA rasteriser with this module's conventions. Untested on this project's CPU-only machines."""
    try:
        from gsplat import rasterization
    except ImportError as exc:
        raise InputError(f"backend = 'gsplat' but gsplat cannot be imported ({exc}); use backend='torch'") from exc
    if not means.is_cuda:
        raise InputError(f"backend = 'gsplat' needs CUDA tensors, got means on {means.device}; use backend='torch'")
    backgrounds = None if bg is None else bg[None].expand(len(cameras), 3)
    out, alphas, _ = rasterization(means, quats, scales, opacities, colors, E, K, width, height,
                                   near_plane=near, eps2d=dilation, render_mode="RGB+ED", backgrounds=backgrounds)
    alpha = alphas[..., 0]
    depth = torch.where(alpha > DEPTH_MIN_ALPHA, out[..., 3], torch.zeros_like(alpha))
    return {"rgb": out[..., :3], "alpha": alpha, "depth": depth}
