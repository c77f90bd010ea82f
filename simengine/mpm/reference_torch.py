"""A small pure-torch MLS-MPM step, written from the equations, to check the Warp solver against.

Vectorised over particles (gather / ``index_add_`` scatter over the 3^d stencil); float64 by choice.
Same algorithm as `simengine.mpm` (Hu et al. 2018 MLS-MPM, APIC, quadratic B-splines, Kirchhoff
stress ``tau``; F updated with the new C, then the return mapping), independent implementation:
principal-space formulas with ``torch.linalg.svd``, no shared code with the kernels. Domain walls
(axis-aligned, ``pad`` node layers) are included; colliders are not.

    new = reference_step(state, particles, dx=1/32, dt=1e-4, nodes=(33, 33), gravity=(0, -9.81))

``state``: x, v (N, d); C, F (N, d, d); plastic (N,). ``particles``: mass, volume, E, nu (N,),
model (N,) long (index into `kernels.mpm.MODELS`), params (N, 4).
"""
from __future__ import annotations

import itertools
import math

import torch

MODELS = ("fixed_corotated", "neo_hookean", "fluid", "herschel_bulkley", "drucker_prager", "von_mises", "snow",
          "mu_i")
MU_I_NEWTON = 60  # Newton steps on the mu(I) stress equation (monotone from above; converged well before)


def _lame(E, nu):
    return E / (2 * (1 + nu)), E * nu / ((1 + nu) * (1 - 2 * nu))


def _rotation_svd(F):
    """F = U diag(s) V^T with det U = det V = +1 (reflection moved into the last singular value)."""
    U, s, Vh = torch.linalg.svd(F)
    V = Vh.transpose(-1, -2)
    d = F.shape[-1]
    last = torch.arange(d) == d - 1
    sign_u = torch.where((torch.linalg.det(U) < 0)[:, None] & last, -1.0, 1.0).to(F.dtype)  # (N, d), out of place
    sign_v = torch.where((torch.linalg.det(V) < 0)[:, None] & last, -1.0, 1.0).to(F.dtype)
    return U * sign_u[:, None, :], s * sign_u * sign_v, V * sign_v[:, None, :]


def _eye(F):
    return torch.eye(F.shape[-1], dtype=F.dtype).expand_as(F)


def _corotated(F, mu, lam):
    U, _, V = _rotation_svd(F)
    R = U @ V.transpose(-1, -2)
    J = torch.linalg.det(F)
    return 2 * mu[:, None, None] * (F - R) @ F.transpose(-1, -2) + (lam * (J - 1) * J)[:, None, None] * _eye(F)


def _hencky(F, E, nu):
    mu, lam = _lame(E, nu)
    U, s, _ = _rotation_svd(F)
    eps = torch.log(s.clamp_min(1e-4))
    principal = 2 * mu[:, None] * eps + (lam * eps.sum(-1))[:, None]
    return U @ torch.diag_embed(principal) @ U.transpose(-1, -2)


def stress(model, F, C, plastic, E, nu, params):
    mu, lam = _lame(E, nu)
    J = torch.linalg.det(F)
    if model == "fixed_corotated":
        return _corotated(F, mu, lam)
    if model == "neo_hookean":
        return mu[:, None, None] * (F @ F.transpose(-1, -2) - _eye(F)) + (lam * torch.log(J))[:, None, None] * _eye(F)
    if model == "fluid":
        bulk = E / (3 * (1 - 2 * nu))
        D = 0.5 * (C + C.transpose(-1, -2))
        dev = D - D.diagonal(dim1=-2, dim2=-1).sum(-1)[:, None, None] / F.shape[-1] * _eye(F)
        return (bulk * J * (J - 1))[:, None, None] * _eye(F) + 2 * (params[:, 0] * J)[:, None, None] * dev
    if model == "snow":
        h = torch.exp(params[:, 2] * (1 - plastic)).clamp(0.1, None).minimum(params[:, 3])
        return _corotated(F, mu * h, lam * h)
    return _hencky(F, E, nu)  # herschel_bulkley, drucker_prager, von_mises, mu_i


def _from_strain(U, eps, V):
    return U @ torch.diag_embed(torch.exp(eps)) @ V.transpose(-1, -2)


def project(model, F, plastic, E, nu, params, dt):
    """Return mapping of the trial F: (F, plastic)."""
    d = F.shape[-1]
    if model in ("fixed_corotated", "neo_hookean"):
        return F, plastic
    if model == "fluid":
        J = torch.linalg.det(F).clamp_min(1e-4)
        return J[:, None, None] ** (1.0 / d) * _eye(F), plastic
    U, s, V = _rotation_svd(F)
    if model == "snow":
        clamped = torch.minimum(torch.maximum(s, 1 - params[:, :1]), 1 + params[:, 1:2])
        ratio = (s / clamped).prod(-1)
        out = U @ torch.diag_embed(clamped) @ V.transpose(-1, -2)
        keep = ratio == 1
        return torch.where(keep[:, None, None], F, out), plastic * ratio
    mu, lam = _lame(E, nu)
    eps = torch.log(s.clamp_min(1e-4))
    tr = eps.sum(-1)
    dev = eps - tr[:, None] / d
    norm = dev.norm(dim=-1)
    safe = norm.clamp_min(1e-30)[:, None]
    if model == "von_mises":
        dgamma = norm - math.sqrt(2 / 3) * params[:, 0] / (2 * mu)
        new = _from_strain(U, eps - dgamma[:, None] / safe * dev, V)
        return torch.where((dgamma > 0)[:, None, None], new, F), plastic
    if model == "drucker_prager":
        sin_phi = torch.sin(params[:, 0] * math.pi / 180)
        # 3D: the Mohr-Coulomb compression meridian; 2D: the in-plane Mohr circle, radius = sin(phi) p
        alpha = math.sqrt(2 / 3) * 2 * sin_phi / (3 - sin_phi) if d == 3 else sin_phi / math.sqrt(2)
        dgamma = norm + (d * lam + 2 * mu) / (2 * mu) * tr * alpha
        new = _from_strain(U, eps - dgamma[:, None] / safe * dev, V)
        out = torch.where((dgamma > 0)[:, None, None], new, F)
        return torch.where((tr >= 0)[:, None, None], U @ V.transpose(-1, -2), out), plastic
    if model == "mu_i":
        return _mu_i(U, eps, V, F, plastic, mu, lam, params, dt)
    if model == "herschel_bulkley":
        s_trial, s_yield = 2 * mu * norm, math.sqrt(2 / 3) * params[:, 0]
        lo, hi = s_yield.clone(), s_trial.clone()
        for _ in range(30):  # s + 2 mu dt ((s - s_y) / k)^(1/n) = s_trial
            mid = 0.5 * (lo + hi)
            rate = ((mid - s_yield).clamp_min(0) / params[:, 1]) ** (1 / params[:, 2])
            above = mid + 2 * mu * dt * rate > s_trial
            hi, lo = torch.where(above, mid, hi), torch.where(above, lo, mid)
        shrink = (s_trial - 0.5 * (lo + hi)) / (2 * mu)
        new = _from_strain(U, eps - shrink[:, None] / safe * dev, V)
        return torch.where((s_trial > s_yield)[:, None, None], new, F), plastic
    raise ValueError(f"unknown model {model!r}")


def _mu_i(U, eps, V, F, plastic, mu, lam, params, dt):
    """mu(I) (Jop et al. 2006) with a disconnected state: ``plastic`` is the dilation J_d >= 1 beyond the
    packed state. The new shear stress t = |dev tau| / sqrt(2) solves g(t) = t - p mu(I(t)) = 0 with
    I = gdot d sqrt(rho_s / p) and gdot = (t_trial - t) / (G dt), by Newton's method from t_trial (g is
    increasing and convex in t, so the iterates decrease monotonically to the root)."""
    d = eps.shape[-1]
    stored = torch.log(plastic.clamp_min(1.0))
    vol = eps.sum(-1) + stored
    connected = vol < 0
    eps = eps + (stored / d)[:, None]
    dev = eps - (vol / d)[:, None]
    pressure = (-(lam + 2 * mu / d) * vol).clamp_min(1e-300)
    t_trial = math.sqrt(2) * mu * dev.norm(dim=-1)
    mu_s, mu_2, i_0, grain = torch.tan(params[:, 0] * math.pi / 180), params[:, 1], params[:, 2], params[:, 3]
    per_rate = grain / torch.sqrt(pressure) / (mu * dt)  # dI / d(t_trial - t)
    flowing = connected & (t_trial > mu_s * pressure)
    t = t_trial
    for _ in range(MU_I_NEWTON):
        inertial = (t_trial - t) * per_rate
        friction = mu_s + (mu_2 - mu_s) * inertial / (i_0 + inertial)
        slope = 1 + pressure * (mu_2 - mu_s) * i_0 / (i_0 + inertial) ** 2 * per_rate
        t = torch.where(flowing, t - (t - pressure * friction) / slope, t_trial)
    ratio = torch.where(flowing, t / t_trial.clamp_min(1e-300), torch.ones_like(t))
    mean = (vol / d)[:, None]
    packed = _from_strain(U, mean + ratio[:, None] * dev, V)
    keep = connected & ~flowing & (stored == 0)
    out = torch.where(keep[:, None, None], F, packed)
    out = torch.where(connected[:, None, None], out, U @ V.transpose(-1, -2))
    return out, torch.where(connected, torch.ones_like(plastic), torch.exp(vol))


def _by_model(fn, model_ids, *args):
    """Apply ``fn(model_name, *args[mask])`` per model present; reassemble."""
    out = None
    for idx, name in enumerate(MODELS):
        mask = model_ids == idx
        if not mask.any():
            continue
        result = fn(name, *[a[mask] if torch.is_tensor(a) and a.dim() > 0 else a for a in args])
        result = result if isinstance(result, tuple) else (result,)
        if out is None:
            out = [torch.zeros((len(model_ids),) + r.shape[1:], dtype=r.dtype) for r in result]
        for o, r in zip(out, result):
            o[mask] = r
    return out


def reference_step(state, particles, *, dx, dt, nodes, gravity, pad=3, boundary="separate", friction=0.0):
    x, v, C, F, plastic = (state[k] for k in ("x", "v", "C", "F", "plastic"))
    m, vol, E, nu, params = (particles[k] for k in ("mass", "volume", "E", "nu", "params"))
    n, d = x.shape
    nodes = torch.tensor(nodes)
    strides = torch.tensor([int(torch.prod(nodes[a + 1:])) for a in range(d)])
    (tau,) = _by_model(stress, particles["model"], F, C, plastic, E, nu, params)
    affine = -dt * vol[:, None, None] * 4 / dx**2 * tau + m[:, None, None] * C
    base = torch.floor(x / dx - 0.5).long()
    base = torch.minimum(base.clamp_min(0), nodes - 3)
    fx = x / dx - base
    w = torch.stack([0.5 * (1.5 - fx) ** 2, 0.75 - (fx - 1) ** 2, 0.5 * (fx - 0.5) ** 2])  # (3, N, d)
    offsets = torch.tensor(list(itertools.product(range(3), repeat=d)))  # (S, d)
    weight = torch.stack([w[offsets[:, a], :, a] for a in range(d)], -1).prod(-1).T  # (N, S)
    dpos = (offsets[None] - fx[:, None]) * dx  # (N, S, d)
    index = ((base[:, None] + offsets[None]) * strides).sum(-1)  # (N, S)
    total = int(torch.prod(nodes))
    grid_m = torch.zeros(total, dtype=x.dtype).index_add_(0, index.reshape(-1), (weight * m[:, None]).reshape(-1))
    contrib = weight[..., None] * (m[:, None, None] * v[:, None] + torch.einsum("pij,psj->psi", affine, dpos))
    grid_mv = torch.zeros(total, d, dtype=x.dtype).index_add_(0, index.reshape(-1), contrib.reshape(-1, d))
    has_mass = grid_m > 0
    grid_v = torch.where(has_mass[:, None], grid_mv / grid_m.clamp_min(1e-300)[:, None] + dt * torch.tensor(gravity),
                         torch.zeros_like(grid_mv))
    coord = torch.stack([(torch.arange(total) // strides[a]) % nodes[a] for a in range(d)], -1)
    for a in range(d):
        for side, normal_sign in ((coord[:, a] < pad, 1.0), (coord[:, a] > nodes[a] - 1 - pad, -1.0)):
            grid_v = _wall(grid_v, side, a, normal_sign, boundary, friction)
    gv = grid_v[index]  # (N, S, d)
    v_new = (weight[..., None] * gv).sum(1)
    C_new = 4 / dx**2 * torch.einsum("ps,psi,psj->pij", weight, gv, dpos)
    hi = (nodes - 2).to(x.dtype) * dx
    x_new = torch.minimum(torch.clamp(x + dt * v_new, min=dx), hi)
    F_trial = (torch.eye(d, dtype=x.dtype) + dt * C_new) @ F
    F_new, plastic_new = _by_model(lambda name, *a: project(name, *a, dt), particles["model"], F_trial, plastic, E,
                                   nu, params)
    return {"x": x_new, "v": v_new, "C": C_new, "F": F_new, "plastic": plastic_new}


def _wall(grid_v, side, axis, sign, boundary, friction):
    normal = torch.zeros(grid_v.shape[1], dtype=grid_v.dtype)
    normal[axis] = sign
    vn = grid_v @ normal
    if boundary == "sticky":
        hit = side
        new = torch.zeros_like(grid_v)
    else:
        hit = side & (vn < 0) if boundary == "separate" else side
        vt = grid_v - vn[:, None] * normal
        speed = vt.norm(dim=-1)
        scale = torch.where((vn < 0) & (speed > 0), (1 + friction * vn / speed.clamp_min(1e-300)).clamp_min(0), 1.0)
        new = vt * scale[:, None]
    return torch.where(hit[:, None], new, grid_v)
