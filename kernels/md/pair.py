"""Pair potentials as generic ``@wp.func``s (float32 or float64 from one source).

Every pair function has the signature ``fn(r2, p, table) -> (energy, f_over_r)`` with

* ``r2``     squared distance |x_j - x_i|² (Å²),
* ``p``      a 4-vector of per-species-pair parameters (meaning per function, below),
* ``table``  a flat array used only by `tabulated_pair` (empty for the analytic ones),

and returns the pair energy φ(r) (eV, already shifted where asked) and f/r = -φ'(r)/r (eV/Å²), so that
the force on i from j is ``F_i = -(f/r) (x_j - x_i)``.  The kernels in `kernels.md.forces` take any of them.

References: Allen & Tildesley, *Computer Simulation of Liquids* (2nd ed., 2017), ch. 1.4 and 5.2;
Morse, Phys. Rev. 34, 57 (1929); Buckingham, Proc. R. Soc. A 168, 264 (1938).
"""
from typing import Any

import warp as wp


@wp.func
def lennard_jones(r2: Any, p: Any, table: Any):
    """φ = 4ε[(σ/r)¹² − (σ/r)⁶] − φ_shift;  p = (4ε, σ², φ_shift, unused)."""
    s2 = p[1] / r2
    s6 = s2 * s2 * s2
    s12 = s6 * s6
    energy = p[0] * (s12 - s6) - p[2]
    f_over_r = p[0] * (type(r2)(12.0) * s12 - type(r2)(6.0) * s6) / r2
    return energy, f_over_r


@wp.func
def morse(r2: Any, p: Any, table: Any):
    """φ = D[e^{−2α(r−r₀)} − 2e^{−α(r−r₀)}] − φ_shift;  p = (D, α, r₀, φ_shift)."""
    r = wp.sqrt(r2)
    x = wp.exp(-p[1] * (r - p[2]))
    energy = p[0] * (x * x - type(r2)(2.0) * x) - p[3]
    f_over_r = type(r2)(2.0) * p[0] * p[1] * (x * x - x) / r
    return energy, f_over_r


@wp.func
def buckingham(r2: Any, p: Any, table: Any):
    """φ = A e^{−r/ρ} − C/r⁶ − φ_shift;  p = (A, 1/ρ, C, φ_shift)."""
    r = wp.sqrt(r2)
    repulsion = p[0] * wp.exp(-r * p[1])
    inv6 = type(r2)(1.0) / (r2 * r2 * r2)
    energy = repulsion - p[2] * inv6 - p[3]
    f_over_r = (repulsion * p[1] - type(r2)(6.0) * p[2] * inv6 / r) / r
    return energy, f_over_r


@wp.func
def tabulated_pair(r2: Any, p: Any, table: Any):
    """Linear interpolation in a uniform table; p = (r_first, 1/Δr, first row, rows).

    ``table`` holds rows (φ, −φ') interleaved: ``table[2k] = φ(r_k)``, ``table[2k+1] = −φ'(r_k)``,
    r_k = r_first + kΔr.  Outside the table the end rows are extrapolated linearly.
    """
    r = wp.sqrt(r2)
    u = (r - p[0]) * p[1]
    last = int(p[3]) - 2
    k = wp.clamp(int(wp.floor(u)), 0, last)
    w = u - type(r2)(float(k))
    row = 2 * (int(p[2]) + k)
    energy = table[row] + w * (table[row + 2] - table[row])
    force = table[row + 1] + w * (table[row + 3] - table[row + 1])
    return energy, force / r
