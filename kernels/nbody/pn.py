"""Post-Newtonian accelerations of black holes in harmonic coordinates (Warp ``@wp.func``s, float64).

* 1PN for N bodies: the Einstein-Infeld-Hoffmann equations (Will, *Theory and Experiment in
  Gravitational Physics*; the form used in the JPL ephemerides, Newhall et al. 1983, beta = gamma = 1)::

      a_i = sum_j G m_j (x_j - x_i)/r_ij^3 { -4 Phi_i - Phi_j + v_i^2 + 2 v_j^2 - 4 v_i.v_j
                                            - 3/2 [n_ij.v_j]^2 + 1/2 (x_j - x_i).a_j } / c^2
          + sum_j G m_j / r_ij^3 [(x_i - x_j).(4 v_i - 3 v_j)] (v_i - v_j) / c^2
          + 7/2 sum_j G m_j a_j / (r_ij c^2)

  with Phi_i = sum_{k != i} G m_k / r_ik and a_j the Newtonian acceleration (cross terms of three
  bodies included).
* 2PN, 2.5PN, 3PN, 3.5PN pairwise for each black-hole pair, from the centre-of-mass relative
  acceleration a = -(G M / r^2) [A n + B v] (Blanchet 2014, Living Rev. Relativ. 17:2, eqs. 219-220;
  3PN in the harmonic gauge with the logarithms removed by the gauge change of its eq. 204, the
  form of Mora & Will 2004). The pair's relative term is shared as a_1 = (m_2/M) a, a_2 = -(m_1/M) a,
  which keeps the Newtonian momentum of the pair fixed (as KETJU does).

Orders are switched by bits of ``mask`` (see `simengine.nbody._pn.PN_BITS`).
"""
import warp as wp

PN1 = wp.constant(1)
PN2 = wp.constant(2)
PN25 = wp.constant(4)
PN3 = wp.constant(8)
PN35 = wp.constant(16)
PI2 = wp.constant(wp.float64(9.869604401089358))  # pi^2


@wp.func
def pn_relative_coefficients(mask: int, gm_r: wp.float64, v2: wp.float64, rd: wp.float64,
                             nu: wp.float64, ic: wp.float64) -> wp.vec2d:
    """(A, B) of the relative acceleration -(GM/r^2)[A n + B v], orders >= 2PN selected by `mask`.

    gm_r = G M / r, v2 = |v|^2, rd = n.v, nu = m1 m2 / M^2, ic = 1/c. The 1PN part is not here (the
    N-body EIH form covers it).
    """
    A = wp.float64(0.0)
    B = wp.float64(0.0)
    ic2 = ic * ic
    ic4 = ic2 * ic2
    rd2 = rd * rd
    nu2 = nu * nu
    nu3 = nu2 * nu
    if mask & PN2:
        A += ic4 * ((wp.float64(15.0) / wp.float64(8.0)) * nu * (wp.float64(1.0) - wp.float64(3.0) * nu) * rd2 * rd2
                    - wp.float64(4.5) * nu * rd2 * v2 + wp.float64(6.0) * nu2 * rd2 * v2
                    + nu * (wp.float64(3.0) - wp.float64(4.0) * nu) * v2 * v2
                    + gm_r * (-(wp.float64(2.0) + wp.float64(25.0) * nu + wp.float64(2.0) * nu2) * rd2
                              - wp.float64(6.5) * nu * v2 + wp.float64(2.0) * nu2 * v2)
                    + gm_r * gm_r * (wp.float64(9.0) + (wp.float64(87.0) / wp.float64(4.0)) * nu))
        B += ic4 * rd * (wp.float64(4.5) * nu * rd2 + wp.float64(3.0) * nu2 * rd2
                         - wp.float64(7.5) * nu * v2 - wp.float64(2.0) * nu2 * v2
                         + gm_r * (wp.float64(2.0) + wp.float64(20.5) * nu + wp.float64(4.0) * nu2))
    if mask & PN25:
        ic5 = ic4 * ic
        A += -ic5 * wp.float64(1.6) * nu * gm_r * rd * ((wp.float64(17.0) / wp.float64(3.0)) * gm_r
                                                        + wp.float64(3.0) * v2)
        B += ic5 * wp.float64(1.6) * nu * gm_r * (wp.float64(3.0) * gm_r + v2)
    if mask & PN3:
        ic6 = ic4 * ic2
        g3 = gm_r * gm_r * gm_r
        A += ic6 * (
            -(wp.float64(35.0) / wp.float64(16.0)) * nu
                * (wp.float64(1.0) - wp.float64(5.0) * nu + wp.float64(5.0) * nu2) * rd2 * rd2 * rd2
            + (wp.float64(15.0) / wp.float64(8.0)) * nu
                * (wp.float64(4.0) - wp.float64(18.0) * nu + wp.float64(17.0) * nu2) * rd2 * rd2 * v2
            - (wp.float64(3.0) / wp.float64(8.0)) * nu
                * (wp.float64(20.0) - wp.float64(79.0) * nu + wp.float64(60.0) * nu2) * rd2 * v2 * v2
            + wp.float64(0.25) * nu * (wp.float64(11.0) - wp.float64(49.0) * nu + wp.float64(52.0) * nu2) * v2 * v2 * v2
            + gm_r * (wp.float64(0.5) * nu * (wp.float64(158.0) - wp.float64(69.0) * nu - wp.float64(60.0) * nu2)
                          * rd2 * rd2
                      - nu * (wp.float64(121.0) - wp.float64(16.0) * nu - wp.float64(20.0) * nu2) * rd2 * v2
                      + wp.float64(0.25) * nu * (wp.float64(75.0) + wp.float64(32.0) * nu - wp.float64(40.0) * nu2)
                          * v2 * v2)
            + gm_r * gm_r * ((wp.float64(1.0) + ((wp.float64(22717.0) / wp.float64(168.0))
                                                 + (wp.float64(615.0) / wp.float64(64.0)) * PI2) * nu
                              + (wp.float64(11.0) / wp.float64(8.0)) * nu2 - wp.float64(7.0) * nu3) * rd2
                             - nu * ((wp.float64(20827.0) / wp.float64(840.0))
                                     + (wp.float64(123.0) / wp.float64(64.0)) * PI2 - nu2) * v2)
            - g3 * (wp.float64(16.0) + ((wp.float64(1399.0) / wp.float64(12.0))
                                        - (wp.float64(41.0) / wp.float64(16.0)) * PI2) * nu
                    + wp.float64(35.5) * nu2))
        B += ic6 * rd * (
            -(wp.float64(15.0) / wp.float64(8.0)) * nu
                * (wp.float64(3.0) - wp.float64(8.0) * nu - wp.float64(2.0) * nu2) * rd2 * rd2
            + wp.float64(0.75) * nu * (wp.float64(16.0) - wp.float64(37.0) * nu - wp.float64(16.0) * nu2) * rd2 * v2
            - wp.float64(0.125) * nu * (wp.float64(65.0) - wp.float64(152.0) * nu - wp.float64(48.0) * nu2) * v2 * v2
            + gm_r * (nu * (wp.float64(329.0) + wp.float64(177.0) * nu + wp.float64(108.0) * nu2)
                          / wp.float64(6.0) * rd2
                      - nu * (wp.float64(15.0) + wp.float64(27.0) * nu + wp.float64(10.0) * nu2) * v2)
            - gm_r * gm_r * (wp.float64(4.0) + ((wp.float64(5849.0) / wp.float64(840.0))
                                                + (wp.float64(123.0) / wp.float64(32.0)) * PI2) * nu
                             - wp.float64(25.0) * nu2 - wp.float64(8.0) * nu3))
    if mask & PN35:
        ic7 = ic4 * ic2 * ic
        A += ic7 * gm_r * nu * rd * (
            wp.float64(112.0) * rd2 * rd2 - (wp.float64(114.0) + wp.float64(12.0) * nu) * rd2 * v2
            + ((wp.float64(366.0) / wp.float64(35.0)) + wp.float64(12.0) * nu) * v2 * v2
            + gm_r * (((wp.float64(294.0) / wp.float64(5.0)) + (wp.float64(376.0) / wp.float64(5.0)) * nu) * rd2
                      + ((wp.float64(692.0) / wp.float64(35.0)) - (wp.float64(724.0) / wp.float64(15.0)) * nu) * v2)
            + gm_r * gm_r * ((wp.float64(3956.0) / wp.float64(35.0)) + (wp.float64(184.0) / wp.float64(5.0)) * nu))
        B += ic7 * gm_r * nu * (
            -wp.float64(120.0) * rd2 * rd2
            + ((wp.float64(678.0) / wp.float64(5.0)) + (wp.float64(12.0) / wp.float64(5.0)) * nu) * rd2 * v2
            - ((wp.float64(626.0) / wp.float64(35.0)) + (wp.float64(12.0) / wp.float64(5.0)) * nu) * v2 * v2
            + gm_r * (((wp.float64(164.0) / wp.float64(21.0)) + (wp.float64(148.0) / wp.float64(5.0)) * nu) * v2
                      - ((wp.float64(82.0) / wp.float64(3.0)) + (wp.float64(848.0) / wp.float64(15.0)) * nu) * rd2)
            - gm_r * gm_r * ((wp.float64(1060.0) / wp.float64(21.0)) + (wp.float64(104.0) / wp.float64(5.0)) * nu))
    return wp.vec2d(A, B)


@wp.func
def tree_separation(i: int, j: int, parent: wp.array(dtype=wp.int32), depth: wp.array(dtype=wp.int32),
                    edge: wp.array(dtype=wp.vec3d)) -> wp.vec3d:
    """x_i - x_j summed along the tree path between i and j (edge[k] = x_k - x_parent(k)).

    Only the edges between the two nodes enter the sum, so a close pair deep inside a large
    region keeps its separation to full relative precision (the point of MST/chain coordinates).
    """
    a = i
    b = j
    d = wp.vec3d()
    while depth[a] > depth[b]:
        d += edge[a]
        a = parent[a]
    while depth[b] > depth[a]:
        d -= edge[b]
        b = parent[b]
    while a != b:
        d += edge[a] - edge[b]
        a = parent[a]
        b = parent[b]
    return d


@wp.func
def pn_accelerations(n: int, mass: wp.array(dtype=wp.float64), is_bh: wp.array(dtype=wp.int32),
                     parent: wp.array(dtype=wp.int32), depth: wp.array(dtype=wp.int32),
                     edge: wp.array(dtype=wp.vec3d), vel: wp.array(dtype=wp.vec3d),
                     G: wp.float64, ic: wp.float64, mask: int,
                     phi_bh: wp.array(dtype=wp.float64), acc_bh: wp.array(dtype=wp.vec3d),
                     out: wp.array(dtype=wp.vec3d)):
    """out[i] = PN acceleration of member i (zero for stars); phi_bh, acc_bh are scratch (n,)."""
    ic2 = ic * ic
    for i in range(n):
        out[i] = wp.vec3d()
        phi_bh[i] = wp.float64(0.0)
        acc_bh[i] = wp.vec3d()
    if mask & PN1:
        # Newtonian potential and acceleration from the black holes alone (the EIH sums).
        for i in range(n):
            if is_bh[i] == 0:
                continue
            for j in range(n):
                if j == i or is_bh[j] == 0:
                    continue
                xij = tree_separation(i, j, parent, depth, edge)
                r = wp.length(xij)
                phi_bh[i] += G * mass[j] / r
                acc_bh[i] -= G * mass[j] / (r * r * r) * xij
        for i in range(n):
            if is_bh[i] == 0:
                continue
            vi = vel[i]
            a = wp.vec3d()
            for j in range(n):
                if j == i or is_bh[j] == 0:
                    continue
                xij = tree_separation(i, j, parent, depth, edge)
                r = wp.length(xij)
                gm = G * mass[j]
                vj = vel[j]
                nv = wp.dot(xij, vj) / r
                bracket = (-wp.float64(4.0) * phi_bh[i] - phi_bh[j] + wp.dot(vi, vi) + wp.float64(2.0) * wp.dot(vj, vj)
                           - wp.float64(4.0) * wp.dot(vi, vj) - wp.float64(1.5) * nv * nv
                           - wp.float64(0.5) * wp.dot(xij, acc_bh[j]))
                a += (-gm / (r * r * r) * bracket) * xij
                a += (gm / (r * r * r) * wp.dot(xij, wp.float64(4.0) * vi - wp.float64(3.0) * vj)) * (vi - vj)
                a += (wp.float64(3.5) * gm / r) * acc_bh[j]
            out[i] = out[i] + ic2 * a
    pair_mask = mask & (PN2 | PN25 | PN3 | PN35)
    if pair_mask != 0:
        for i in range(n):
            if is_bh[i] == 0:
                continue
            for j in range(i + 1, n):
                if is_bh[j] == 0:
                    continue
                x = tree_separation(i, j, parent, depth, edge)
                v = vel[i] - vel[j]
                r = wp.length(x)
                nvec = x / r
                m_tot = mass[i] + mass[j]
                nu = mass[i] * mass[j] / (m_tot * m_tot)
                gm_r = G * m_tot / r
                ab = pn_relative_coefficients(pair_mask, gm_r, wp.dot(v, v), wp.dot(nvec, v), nu, ic)
                a_rel = (-gm_r / r) * (ab[0] * nvec + ab[1] * v)
                out[i] = out[i] + (mass[j] / m_tot) * a_rel
                out[j] = out[j] - (mass[i] / m_tot) * a_rel


@wp.kernel
def pn_acceleration_kernel(n: int, mass: wp.array(dtype=wp.float64), is_bh: wp.array(dtype=wp.int32),
                           parent: wp.array(dtype=wp.int32), depth: wp.array(dtype=wp.int32),
                           edge: wp.array(dtype=wp.vec3d), vel: wp.array(dtype=wp.vec3d),
                           G: wp.float64, ic: wp.float64, mask: int,
                           phi_bh: wp.array(dtype=wp.float64), acc_bh: wp.array(dtype=wp.vec3d),
                           out: wp.array(dtype=wp.vec3d)):
    """One-thread launch of `pn_accelerations` (diagnostics and tests)."""
    pn_accelerations(n, mass, is_bh, parent, depth, edge, vel, G, ic, mask, phi_bh, acc_bh, out)
