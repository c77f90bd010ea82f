"""Softened Newtonian gravity by direct summation (Warp kernels, float64).

Two softening kernels, selected by an integer id (see `simengine.nbody._gravity.SOFTENING_KERNELS`):

* Plummer (id 0): ``phi(r) = -G m / sqrt(r^2 + eps^2)``.
* Cubic spline (id 1), the kernel of GADGET-2 (Springel 2005, MNRAS 364, 1105): support radius
  ``h = 2.8 eps`` (``eps`` is the Plummer-equivalent softening, ``phi(0) = -G m / eps``); with
  ``u = r / h``

      phi = (G m / h) (16/3 u^2 - 48/5 u^4 + 32/5 u^5 - 14/5)                       u < 1/2
      phi = (G m / h) (1/(15 u) + 32/3 u^2 - 16 u^3 + 48/5 u^4 - 32/15 u^5 - 16/5)  1/2 <= u < 1
      phi = -G m / r                                                               u >= 1

  so pairs farther apart than 2.8 eps feel exactly Newtonian gravity. This is what lets a
  KETJU-style regularized region of radius >= 2.8 eps switch a pair to unsoftened forces without a
  jump in the potential.

The acceleration of particle i is ``a_i = -G sum_j m_j g(r_ij) (x_i - x_j)`` with
``g = -(1/r) dphi/dr / (G m)``, i.e. ``g = 1/r^3`` outside the softening.
"""
import warp as wp

PLUMMER = wp.constant(0)
CUBIC_SPLINE = wp.constant(1)


@wp.func
def softened_force_factor(kind: int, r2: wp.float64, eps: wp.float64) -> wp.float64:
    """g(r) such that the pair acceleration is -G m g(r) (x_i - x_j)."""
    if kind == PLUMMER:
        s2 = r2 + eps * eps
        return wp.float64(1.0) / (s2 * wp.sqrt(s2))
    h = wp.float64(2.8) * eps
    r = wp.sqrt(r2)
    if r >= h:
        return wp.float64(1.0) / (r2 * r)
    u = r / h
    h3 = h * h * h
    if u < wp.float64(0.5):
        return ((wp.float64(32.0) / wp.float64(3.0)) + u * u * (wp.float64(32.0) * u - wp.float64(38.4))) / h3
    return ((wp.float64(64.0) / wp.float64(3.0)) - wp.float64(48.0) * u + wp.float64(38.4) * u * u
            - (wp.float64(32.0) / wp.float64(3.0)) * u * u * u
            - (wp.float64(1.0) / wp.float64(15.0)) / (u * u * u)) / h3


@wp.func
def softened_potential_factor(kind: int, r2: wp.float64, eps: wp.float64) -> wp.float64:
    """f(r) > 0 such that the pair potential energy is -G m_i m_j f(r) (f = 1/r unsoftened)."""
    if kind == PLUMMER:
        return wp.float64(1.0) / wp.sqrt(r2 + eps * eps)
    h = wp.float64(2.8) * eps
    r = wp.sqrt(r2)
    if r >= h:
        return wp.float64(1.0) / r
    u = r / h
    if u < wp.float64(0.5):
        w = wp.float64(-2.8) + u * u * ((wp.float64(16.0) / wp.float64(3.0))
                                        + u * u * (wp.float64(6.4) * u - wp.float64(9.6)))
        return -w / h
    w = (wp.float64(-3.2) + (wp.float64(1.0) / wp.float64(15.0)) / u
         + u * u * ((wp.float64(32.0) / wp.float64(3.0))
                    + u * (wp.float64(-16.0) + u * (wp.float64(9.6) - (wp.float64(32.0) / wp.float64(15.0)) * u))))
    return -w / h


@wp.kernel
def softened_acceleration(
    pos: wp.array(dtype=wp.vec3d),
    mass: wp.array(dtype=wp.float64),
    group: wp.array(dtype=wp.int32),
    targets: wp.array(dtype=wp.int32),
    kind: int,
    eps: wp.float64,
    G: wp.float64,
    out: wp.array(dtype=wp.vec3d),
):
    """out[t] = softened acceleration of particle targets[t] from all others.

    Pairs in the same regularized region (``group[i] == group[j] >= 0``) are skipped: the region's
    own integrator handles them, which is the exact form of KETJU's "remove the softened
    intra-region forces" (no cancellation of two large numbers).
    """
    t = wp.tid()
    i = targets[t]
    xi = pos[i]
    gi = group[i]
    acc = wp.vec3d()
    for j in range(pos.shape[0]):
        if j == i:
            continue
        if gi >= 0 and group[j] == gi:
            continue
        d = pos[j] - xi
        acc += mass[j] * softened_force_factor(kind, wp.dot(d, d), eps) * d
    out[t] = G * acc


@wp.kernel
def softened_acceleration_rows(
    pos: wp.array(dtype=wp.vec3d),
    mass: wp.array(dtype=wp.float64),
    group: wp.array(dtype=wp.int32),
    row_begin: int,
    row_end: int,
    kind: int,
    eps: wp.float64,
    G: wp.float64,
    out: wp.array(dtype=wp.vec3d),
):
    """Serial (dim=1) pass over the pairs i < j with i in [row_begin, row_end), adding each pair's
    force to both particles (Newton's third law: half the pair evaluations of `softened_acceleration`).

    For CPU threads: each thread owns a private `out` (all N particles), summed afterwards; rows are
    split so that every thread gets the same number of pairs.
    """
    n = pos.shape[0]
    for i in range(row_begin, row_end):
        xi = pos[i]
        gi = group[i]
        mi = mass[i]
        ai = wp.vec3d()
        for j in range(i + 1, n):
            if gi >= 0 and group[j] == gi:
                continue
            d = pos[j] - xi
            f = (G * softened_force_factor(kind, wp.dot(d, d), eps)) * d
            ai += mass[j] * f
            out[j] = out[j] - mi * f
        out[i] = out[i] + ai


@wp.kernel
def mixed_potential(
    pos: wp.array(dtype=wp.vec3d),
    mass: wp.array(dtype=wp.float64),
    is_bh: wp.array(dtype=wp.int32),
    targets: wp.array(dtype=wp.int32),
    kind: int,
    eps: wp.float64,
    G: wp.float64,
    out: wp.array(dtype=wp.float64),
):
    """out[t] = potential (energy per unit mass) at particle targets[t]: softened for star-star pairs,
    Newtonian for every pair that involves a black hole (as inside KETJU regions)."""
    t = wp.tid()
    i = targets[t]
    xi = pos[i]
    phi = wp.float64(0.0)
    for j in range(pos.shape[0]):
        if j == i:
            continue
        d = pos[j] - xi
        r2 = wp.dot(d, d)
        if is_bh[i] != 0 or is_bh[j] != 0:
            phi -= mass[j] / wp.sqrt(r2)
        else:
            phi -= mass[j] * softened_potential_factor(kind, r2, eps)
    out[t] = G * phi
