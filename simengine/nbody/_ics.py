"""Initial conditions: Plummer and Hernquist spheres, a black-hole binary in a stellar cusp, and two
merging galaxies. Each returns ``{kind: (mass (N,), position (N, 3), velocity (N, 3))}`` with kind
"star" / "smbh", centred on the centre of mass, ready for `Simulation.add_particles`.

* Plummer: Aarseth, Henon & Wielen (1974, A&A 37, 183) sampling of the isotropic distribution.
* Hernquist (1990, ApJ 356, 359) density rho = M a / (2 pi r (r + a)^3) with an optional central
  point mass M_bh; velocities from the isotropic distribution function obtained by Eddington's
  inversion in the total potential, f(E) = 1/(sqrt(8) pi^2) int_0^E d^2rho/dPsi^2 dPsi / sqrt(E - Psi),
  computed numerically, so the cusp is in equilibrium around the black hole(s).
"""
from __future__ import annotations

import numpy as np

from simengine.errors import check_range
from simengine.nbody._orbits import kepler_state


def _isotropic(rng, n):
    mu = rng.uniform(-1.0, 1.0, n)
    phi = rng.uniform(0.0, 2.0 * np.pi, n)
    s = np.sqrt(1.0 - mu * mu)
    return np.stack([s * np.cos(phi), s * np.sin(phi), mu], axis=1)


def _centre(m, x, v):
    M = m.sum()
    return x - (m[:, None] * x).sum(0) / M, v - (m[:, None] * v).sum(0) / M


def plummer_sphere(n: int, total_mass=1.0, scale_radius=1.0, G=1.0, rng=None, r_max=30.0):
    """Plummer sphere of n equal-mass stars (scale radius a, truncated at r_max * a)."""
    check_range("n", n, 1, None)
    rng = np.random.default_rng(rng)
    x_max = (1.0 + 1.0 / r_max ** 2) ** -1.5
    X = rng.uniform(0.0, x_max, n)
    r = scale_radius / np.sqrt(X ** (-2.0 / 3.0) - 1.0)
    q = np.empty(n)
    todo = np.arange(n)
    while len(todo):  # rejection sampling of g(q) = q^2 (1 - q^2)^(7/2), max < 0.1
        qq = rng.uniform(0.0, 1.0, len(todo))
        ok = rng.uniform(0.0, 0.1, len(todo)) < qq ** 2 * (1.0 - qq ** 2) ** 3.5
        q[todo[ok]] = qq[ok]
        todo = todo[~ok]
    v_esc = np.sqrt(2.0 * G * total_mass) * (r * r + scale_radius ** 2) ** -0.25
    m = np.full(n, total_mass / n)
    x, v = _centre(m, r[:, None] * _isotropic(rng, n), (q * v_esc)[:, None] * _isotropic(rng, n))
    return {"star": (m, x, v)}


def _hernquist_df(total_mass, a, m_bh, G):
    """Tabulated isotropic f(E) of a Hernquist sphere in its own potential plus a central point mass."""
    r = np.logspace(-6, 6, 4000) * a
    rho = total_mass * a / (2.0 * np.pi * r * (r + a) ** 3)
    d1 = -rho * (1.0 / r + 3.0 / (r + a))
    d2 = rho * ((1.0 / r + 3.0 / (r + a)) ** 2 + 1.0 / r ** 2 + 3.0 / (r + a) ** 2)
    psi = G * total_mass / (r + a) + G * m_bh / r
    p1 = -G * total_mass / (r + a) ** 2 - G * m_bh / r ** 2
    p2 = 2.0 * G * total_mass / (r + a) ** 3 + 2.0 * G * m_bh / r ** 3
    g = (d2 * p1 - d1 * p2) / p1 ** 3  # d^2 rho / dPsi^2 as a function of r
    lp, lg = np.log(psi[::-1]), np.log(np.maximum(g[::-1], 1e-300))  # increasing Psi

    def g_of_psi(p):
        return np.exp(np.interp(np.log(p), lp, lg))

    E = np.logspace(np.log10(psi.min()) + 1e-9, np.log10(psi.max()), 600)
    u, w = np.polynomial.legendre.leggauss(200)
    f = np.empty_like(E)
    for k, e in enumerate(E):
        s = 0.5 * np.sqrt(e) * (u + 1.0)  # Psi = E - s^2, dPsi / sqrt(E - Psi) = 2 ds
        f[k] = (0.5 * np.sqrt(e) * w * 2.0 * g_of_psi(np.maximum(e - s * s, psi.min()))).sum()
    f /= np.sqrt(8.0) * np.pi ** 2
    lE, lf = np.log(E), np.log(np.maximum(f, 1e-300))
    return lambda e: np.exp(np.interp(np.log(np.maximum(e, E[0])), lE, lf))


def hernquist_sphere(n: int, total_mass=1.0, scale_radius=1.0, G=1.0, rng=None, central_mass=0.0,
                     r_max=100.0, r_min=0.0):
    """Hernquist sphere of n equal-mass stars in equilibrium with an optional central point mass.

    The point mass itself is not returned (place black holes with `smbh_binary_in_cusp`). Stars are
    drawn between r_min and r_max * a.
    """
    check_range("n", n, 1, None)
    check_range("central_mass", central_mass, 0.0, None)
    rng = np.random.default_rng(rng)
    a = scale_radius
    cum = lambda rr: (rr / (rr + a)) ** 2  # noqa: E731  M(<r)/M
    X = rng.uniform(cum(r_min), cum(r_max * a), n)
    s = np.sqrt(X)
    r = a * s / (1.0 - s)
    f = _hernquist_df(total_mass, a, central_mass, G)
    psi = G * total_mass / (r + a) + G * central_mass / r
    v_esc = np.sqrt(2.0 * psi)
    grid = np.linspace(0.0, 1.0, 65)[1:-1]
    env = np.max((grid[None] * v_esc[:, None]) ** 2
                 * f(psi[:, None] - 0.5 * (grid[None] * v_esc[:, None]) ** 2), 1) * 1.3
    v = np.empty(n)
    todo = np.arange(n)
    while len(todo):
        vv = rng.uniform(0.0, 1.0, len(todo)) * v_esc[todo]
        p = vv ** 2 * f(psi[todo] - 0.5 * vv ** 2)
        ok = rng.uniform(0.0, 1.0, len(todo)) * env[todo] < p
        v[todo[ok]] = vv[ok]
        todo = todo[~ok]
    m = np.full(n, total_mass / n)
    x, vel = r[:, None] * _isotropic(rng, n), v[:, None] * _isotropic(rng, n)
    if central_mass == 0:
        x, vel = _centre(m, x, vel)
    return {"star": (m, x, vel)}


def smbh_binary_in_cusp(n_stars=2000, stellar_mass=1.0, scale_radius=1.0, bh_masses=(0.01, 0.01),
                        binary_a=0.02, binary_e=0.0, G=1.0, rng=None):
    """A bound black-hole binary (semi-major axis binary_a, eccentricity binary_e) at the centre of a
    Hernquist cusp in equilibrium with the binary's total mass."""
    rng = np.random.default_rng(rng)
    m1, m2 = (float(m) for m in bh_masses)
    stars = hernquist_sphere(n_stars, stellar_mass, scale_radius, G, rng, central_mass=m1 + m2)["star"]
    dx, dv = kepler_state(binary_a, binary_e, rng.uniform(0, 2 * np.pi), m1, m2, G)
    M = m1 + m2
    xb = np.array([m2 / M * dx, -m1 / M * dx])
    vb = np.array([m2 / M * dv, -m1 / M * dv])
    m_all = np.concatenate([stars[0], [m1, m2]])
    x_all, v_all = _centre(m_all, np.vstack([stars[1], xb]), np.vstack([stars[2], vb]))
    n = n_stars
    return {"star": (stars[0], x_all[:n], v_all[:n]), "smbh": (np.array([m1, m2]), x_all[n:], v_all[n:])}


def merging_galaxies(n_per_galaxy=1000, galaxy_mass=1.0, scale_radius=1.0, bh_mass=0.01, separation=10.0,
                     pericentre=1.0, G=1.0, rng=None):
    """Two equal Hernquist galaxies, each with a central black hole, on a parabolic orbit that starts
    at `separation` and would reach `pericentre` (point-mass estimate)."""
    rng = np.random.default_rng(rng)
    parts = {"star": [], "smbh": []}
    M = 2.0 * (galaxy_mass + bh_mass)
    dx, dv = _parabolic(separation, pericentre, G * M)
    for sign in (1.0, -1.0):
        m, x, v = hernquist_sphere(n_per_galaxy, galaxy_mass, scale_radius, G, rng, central_mass=bh_mass)["star"]
        off_x, off_v = 0.5 * sign * dx, 0.5 * sign * dv
        parts["star"].append((m, x + off_x, v + off_v))
        parts["smbh"].append((np.array([bh_mass]), off_x[None], off_v[None]))
    out = {k: tuple(np.concatenate([p[i] for p in v]) for i in range(3)) for k, v in parts.items()}
    m_all = np.concatenate([out["star"][0], out["smbh"][0]])
    x_all, v_all = _centre(m_all, np.vstack([out["star"][1], out["smbh"][1]]),
                           np.vstack([out["star"][2], out["smbh"][2]]))
    ns = len(out["star"][0])
    return {"star": (out["star"][0], x_all[:ns], v_all[:ns]), "smbh": (out["smbh"][0], x_all[ns:], v_all[ns:])}


def _parabolic(r, q, mu):
    """Relative position and velocity at distance r on a parabola of pericentre q (incoming)."""
    h = np.sqrt(2.0 * mu * q)
    v = np.sqrt(2.0 * mu / r)
    vt = h / r
    vr = -np.sqrt(max(v * v - vt * vt, 0.0))
    return np.array([r, 0.0, 0.0]), np.array([vr, vt, 0.0])
