"""Two-body orbits: osculating elements, Kepler's equation, and the gravitational-wave estimates
of Peters & Mathews (1963) and Peters (1964) used to check and describe black-hole binaries."""
from __future__ import annotations

import numpy as np

# Columns of `Trajectory.extras["orbital_elements"]` written by the n-body scenes.
ELEMENT_COLUMNS = ("a", "e", "period", "separation", "energy", "angular_momentum")


def elements(dx, dv, m1: float, m2: float, G: float = 1.0) -> dict:
    """Newtonian osculating elements of the relative orbit dx = x1 - x2, dv = v1 - v2 (3,).

    Returns a (semi-major axis; negative when unbound), e, period (inf when unbound), separation,
    specific orbital energy eps = v^2/2 - GM/r, specific angular momentum |h|, and the eccentricity
    (Laplace-Runge-Lenz) vector e_vector = (v x h)/GM - n pointing at pericentre.
    """
    dx, dv = np.asarray(dx, float), np.asarray(dv, float)
    mu = G * (m1 + m2)
    r = float(np.linalg.norm(dx))
    eps = 0.5 * float(dv @ dv) - mu / r
    h = np.cross(dx, dv)
    e_vec = np.cross(dv, h) / mu - dx / r
    e = float(np.linalg.norm(e_vec))
    a = -mu / (2.0 * eps) if eps != 0 else np.inf
    period = 2.0 * np.pi * np.sqrt(a ** 3 / mu) if a > 0 else np.inf
    return {"a": a, "e": e, "period": period, "separation": r, "energy": eps,
            "angular_momentum": float(np.linalg.norm(h)), "e_vector": e_vec}


def kepler_state(a: float, e: float, mean_anomaly: float, m1: float, m2: float, G: float = 1.0):
    """Relative position and velocity (in the x-y plane, pericentre on +x) at `mean_anomaly`."""
    E = float(mean_anomaly) + (e * np.sin(mean_anomaly) if e < 0.8 else np.pi * np.sign(np.sin(mean_anomaly)))
    for _ in range(100):
        f = E - e * np.sin(E) - mean_anomaly
        dE = f / (1.0 - e * np.cos(E))
        E -= dE
        if abs(dE) < 1e-16:
            break
    mu = G * (m1 + m2)
    n = np.sqrt(mu / a ** 3)
    b = a * np.sqrt(1.0 - e * e)
    x = np.array([a * (np.cos(E) - e), b * np.sin(E), 0.0])
    edot = n / (1.0 - e * np.cos(E))
    v = np.array([-a * np.sin(E) * edot, b * np.cos(E) * edot, 0.0])
    return x, v


def peters_mathews_rates(a: float, e: float, m1: float, m2: float, G: float, c: float):
    """Orbit-averaged (da/dt, de/dt) from gravitational-wave emission (Peters 1964, eqs. 5.6-5.7)."""
    M = m1 + m2
    k = G ** 3 * m1 * m2 * M / c ** 5
    one = 1.0 - e * e
    dadt = -64.0 / 5.0 * k / (a ** 3 * one ** 3.5) * (1.0 + 73.0 / 24.0 * e * e + 37.0 / 96.0 * e ** 4)
    dedt = -304.0 / 15.0 * e * k / (a ** 4 * one ** 2.5) * (1.0 + 121.0 / 304.0 * e * e)
    return dadt, dedt


def circular_merger_time(a: float, m1: float, m2: float, G: float, c: float) -> float:
    """Time for a circular binary of separation a to shrink to zero: T = (5/256) c^5 a^4 / (G^3 m1 m2 M)."""
    return 5.0 / 256.0 * c ** 5 * a ** 4 / (G ** 3 * m1 * m2 * (m1 + m2))


def periastron_advance(a: float, e: float, M: float, G: float, c: float) -> float:
    """1PN periastron advance per orbit, 6 pi G M / (c^2 a (1 - e^2)) (radians)."""
    return 6.0 * np.pi * G * M / (c * c * a * (1.0 - e * e))
