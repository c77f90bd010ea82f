"""Black-hole spins: input checks, chi <-> S conversion, the remnant spin of a merger, and a diagnostic
evaluation of the 1.5PN spin-orbit terms (the Warp functions of `kernels.nbody.spin` on plain arrays).

Spins are given per black hole as the dimensionless spin vector chi (|chi| <= 1, the Kerr bound) and
carried as the spin angular momentum S = chi G m^2 / c. With "1.5so" in ``pn_orders`` they
precess inside regularized regions, dS_i/dt = Omega_i x S_i (Kidder 1995); otherwise they are constant.
"""
from __future__ import annotations

import numpy as np

from simengine.errors import InputError


def check_chi(spin, n: int, kind: str, c) -> np.ndarray:
    """Validated dimensionless spins (n, 3) from the ``spin`` argument of `Simulation.add_particles`."""
    if spin is None:
        return np.zeros((n, 3))
    chi = np.asarray(spin, dtype=np.float64)
    if chi.shape != (n, 3):
        raise InputError(f"spin must have shape (N, 3) = ({n}, 3) (dimensionless chi per particle); "
                         f"got shape {chi.shape}")
    if not np.isfinite(chi).all():
        i = int(np.flatnonzero(~np.isfinite(chi).all(1))[0])
        raise InputError(f"spin[{i}] = {chi[i].tolist()} is not finite")
    size = np.linalg.norm(chi, axis=1)
    bad = np.flatnonzero(size > 1.0)
    if len(bad):
        i = int(bad[0])
        raise InputError(f"spin[{i}] has |chi| = {float(size[i])!r}, outside the allowed range [0, 1] (Kerr bound)")
    if kind != "smbh" and size.any():
        raise InputError(f"spin is only for kind = 'smbh' (got kind = {kind!r} with non-zero spin)")
    if size.any() and (c is None or not float(c) > 0):
        raise InputError(f"c = {c!r} must be > 0 when black holes have spin (S = chi G m^2 / c)")
    return chi


def chi_to_angular_momentum(chi, mass, G: float, c: float) -> np.ndarray:
    """S = chi G m^2 / c, (N, 3)."""
    return np.asarray(chi, np.float64) * (G * np.asarray(mass, np.float64) ** 2 / c)[:, None]


def angular_momentum_to_chi(S, mass, G: float, c: float) -> np.ndarray:
    """chi = c S / (G m^2), (N, 3); zero where the mass is zero (absorbed black holes)."""
    m = np.asarray(mass, np.float64)
    scale = np.divide(c, G * m * m, out=np.zeros_like(m), where=m > 0)
    return np.asarray(S, np.float64) * scale[:, None]


def remnant_spin(S_a, S_b, orbital, mass: float, G: float, c: float | None) -> np.ndarray:
    """Spin of a merger remnant: S_a + S_b + the pair's orbital angular momentum (total angular
    momentum kept, nothing radiated), capped at the Kerr bound chi = 1 when c is known.

    A crude closure, not a numerical-relativity fit: for an equal-mass, non-spinning pair merging
    at r = 6 G M / c^2 it gives chi ~ 0.61 (NR: 0.69); merging wider pairs hit the cap.
    """
    S = np.asarray(S_a, np.float64) + np.asarray(S_b, np.float64) + np.asarray(orbital, np.float64)
    if c:
        bound = G * mass * mass / c
        size = float(np.linalg.norm(S))
        if size > bound:
            S = S * (bound / size)
    return S


def pn_spin_rates(mass, position, velocity, S, is_smbh, G=1.0, c=1.0, orders=("1.5so",), device="cpu"):
    """PN accelerations (N, 3) and spin rates dS/dt (N, 3) of N bodies, float64 (Newtonian part excluded).

    S: spin angular momenta (N, 3) (not chi). Same conventions as `simengine.nbody.pn_accelerations`,
    whose orders may be combined with "1.5so" here.
    """
    from simengine.nbody._pn import pn_mask
    from simengine.runtime import init_warp

    wp = init_warp()
    import kernels.nbody.spin as ks

    m = np.asarray(mass, np.float64)
    x = np.asarray(position, np.float64).reshape(-1, 3)
    n = len(m)
    # A star-shaped tree rooted at body 0 (as `pn_accelerations` does).
    parent = np.zeros(n, np.int32)
    parent[0] = -1
    depth = np.ones(n, np.int32)
    depth[0] = 0
    edge = x - x[0]
    edge[0] = x[0]

    def arr(a, t):
        return wp.array(a, dtype=t, device=device)

    def vec(a):
        return arr(np.asarray(a, np.float64).reshape(-1, 3), wp.vec3d)

    out, rate = wp.zeros(n, dtype=wp.vec3d, device=device), wp.zeros(n, dtype=wp.vec3d, device=device)
    wp.launch(ks.pn_spin_rate_kernel, dim=1, device=device, inputs=[
        n, arr(m, wp.float64), arr(np.asarray(is_smbh, np.int32), wp.int32), arr(parent, wp.int32),
        arr(depth, wp.int32), vec(edge), vec(velocity), vec(S), float(G), 1.0 / float(c), pn_mask(orders),
        wp.zeros(n, dtype=wp.float64, device=device), wp.zeros(n, dtype=wp.vec3d, device=device), out, rate])
    return out.numpy().astype(np.float64), rate.numpy().astype(np.float64)
