"""Independent references for the post-Newtonian tests (numpy, written from the literature, not from
the kernels):

* the closed-form relative acceleration a = -(GM/r^2)[(1 + A) n + B v] through 2.5PN (REFERENCES.md),
* the exact geodesic acceleration in the Schwarzschild metric in harmonic coordinates (test-mass limit),
* the 3PN circular-orbit frequency in harmonic coordinates (Blanchet 2014, eq. 228, logarithm removed),
* the 1PN-accurate gravitational-wave flux of a circular binary (Blanchet 2014, eq. 314 through 1PN).
"""
import numpy as np


def relative_AB(order, gm_r, v2, rd, nu, c):
    """(A, B) of one PN order ("1", "2", "2.5") of the harmonic-gauge relative acceleration."""
    if order == "1":
        return ((-1.5 * nu * rd ** 2 + (1 + 3 * nu) * v2 - (4 + 2 * nu) * gm_r) / c ** 2,
                -(4 - 2 * nu) * rd / c ** 2)
    if order == "2":
        A = (15 / 8 * nu * (1 - 3 * nu) * rd ** 4 - 4.5 * nu * rd ** 2 * v2 + 6 * nu ** 2 * rd ** 2 * v2
             + nu * (3 - 4 * nu) * v2 ** 2
             + gm_r * (-(2 + 25 * nu + 2 * nu ** 2) * rd ** 2 - 6.5 * nu * v2 + 2 * nu ** 2 * v2)
             + gm_r ** 2 * (9 + 87 * nu / 4))
        B = (4.5 * nu * rd ** 3 + 3 * nu ** 2 * rd ** 3 - 7.5 * nu * rd * v2 - 2 * nu ** 2 * rd * v2
             + gm_r * rd * (2 + 41 * nu / 2 + 4 * nu ** 2))
        return A / c ** 4, B / c ** 4
    if order == "2.5":
        return (-1.6 * nu * gm_r * rd * (17 / 3 * gm_r + 3 * v2) / c ** 5,
                1.6 * nu * gm_r * (3 * gm_r + v2) / c ** 5)
    raise ValueError(order)


def relative_acceleration(orders, m1, m2, x, v, c, G=1.0):
    """PN part (no Newtonian term) of the relative acceleration for the given orders."""
    M = m1 + m2
    nu = m1 * m2 / M ** 2
    r = np.linalg.norm(x)
    n = x / r
    A = B = 0.0
    for o in orders:
        a, b = relative_AB(o, G * M / r, v @ v, n @ v, nu, c)
        A, B = A + a, B + b
    return -(G * M / r ** 2) * (A * n + B * v)


def _metric(x, m):
    """Harmonic-coordinate Schwarzschild metric (G M / c^2 = m): g00 and g_ij at x (complex-safe)."""
    r = np.sqrt(x[0] ** 2 + x[1] ** 2 + x[2] ** 2)
    u = m / r
    n = x / r
    g00 = -(1 - u) / (1 + u)
    gij = (1 + u) ** 2 * np.eye(3) + ((1 + u) / (1 - u)) * u ** 2 * np.outer(n, n)
    return g00, gij


def geodesic_acceleration(x, v, GM, c):
    """Coordinate acceleration d^2x/dt^2 of a test body in the static metric above (exact).

    a^i = -c^2 Gamma^i_00 - Gamma^i_jk v^j v^k + 2 Gamma^0_0j v^j v^i; derivatives of the metric by
    complex-step differentiation (exact to round-off).
    """
    m = GM / c ** 2
    h = 1e-30
    g00, gij = _metric(x.astype(complex), m)
    g00, gij = g00.real, gij.real
    d00 = np.empty(3)
    dg = np.empty((3, 3, 3))  # dg[l, j, k] = d_l g_jk
    for axis in range(3):
        xc = x.astype(complex)
        xc[axis] += 1j * h
        a00, aij = _metric(xc, m)
        d00[axis] = a00.imag / h
        dg[axis] = aij.imag / h
    ginv = np.linalg.inv(gij)
    gam_i00 = -0.5 * ginv @ d00
    # Gamma^i_jk = 1/2 g^il (d_j g_lk + d_k g_lj - d_l g_jk)
    t = np.einsum("jlk->ljk", dg) + np.einsum("klj->ljk", dg) - dg
    gam_ijk = 0.5 * np.einsum("il,ljk->ijk", ginv, t)
    gam_00j = 0.5 / g00 * d00
    return -c ** 2 * gam_i00 - np.einsum("ijk,j,k->i", gam_ijk, v, v) + 2.0 * (gam_00j @ v) * v


def circular_omega2(r, M, nu, c, G=1.0):
    """Omega^2 of a circular orbit at harmonic separation r through 3PN (no logarithm: modified
    harmonic gauge), Blanchet 2014 eq. 228."""
    g = G * M / (r * c * c)
    return G * M / r ** 3 * (1 + (-3 + nu) * g + (6 + 41 / 4 * nu + nu ** 2) * g ** 2
                             + (-10 + (-75707 / 840 + 41 / 64 * np.pi ** 2) * nu + 19 / 2 * nu ** 2 + nu ** 3) * g ** 3)


def circular_flux_1pn(x, nu, c, G=1.0):
    """Gravitational-wave luminosity of a circular binary through 1PN, x = (G M Omega / c^3)^(2/3)."""
    return 32 / 5 * c ** 5 / G * nu ** 2 * x ** 5 * (1 + (-1247 / 336 - 35 / 12 * nu) * x)
