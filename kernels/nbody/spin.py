"""1.5PN spin-orbit coupling and spin precession of black-hole pairs (Warp ``@wp.func``s, float64).

Harmonic coordinates, covariant spin supplementary condition S^{mu nu} u_nu = 0 (Kidder 1995,
Phys. Rev. D 52, 821, eq. 2.2c and the precession equations of its Sec. II; the same terms as the
leading spin-orbit part of Faye, Blanchet & Buonanno 2006). Units restored; S_a is the spin angular
momentum (mass x length^2 / time), S_a = chi_a G m_a^2 / c for a black hole of dimensionless spin chi_a.
With x = x_1 - x_2, v = v_1 - v_2, r = |x|, n = x / r, rdot = n.v, M = m_1 + m_2, mu = m_1 m_2 / M,
S = S_1 + S_2 and dD = (m_1 - m_2)(S_2/m_2 - S_1/m_1)  (Kidder's (dm/m) Delta)::

    a_SO = G / (c^2 r^3) { 6 n [(n x v).(2 S + dD)] - v x (7 S + 3 dD) + 3 rdot n x (3 S + dD) }

    dS_1/dt = Omega_1 x S_1,  Omega_1 = G / (c^2 r^3) (2 + 3 m_2 / (2 m_1)) L_N,  L_N = mu x x v
    dS_2/dt = Omega_2 x S_2,  Omega_2 = G / (c^2 r^3) (2 + 3 m_1 / (2 m_2)) L_N

Dimensions: G S v / (c^2 r^3) is an acceleration, G L_N / (c^2 r^3) a frequency. The relative
acceleration is shared between the pair as the higher PN orders are (`kernels.nbody.pn`):
a_1 += (m_2/M) a_SO, a_2 -= (m_1/M) a_SO. With Newtonian motion these conserve
J = L_N + L_SO + S_1 + S_2 up to O(c^-6), L_SO = mu/(M c^2) {(G M/r) n x [n x (3 S + dD)]
- 1/2 v x [v x (S + dD)]} (checked in tests/nbody/test_spin_orbit.py).

In a region with several black holes every black-hole pair contributes, each in the pair's
relative (centre-of-mass-frame) form; stars neither feel nor exert spin-orbit forces.
Switched on by the bit ``SPIN_ORBIT`` of the PN mask (order name "1.5so").
"""
import warp as wp

from kernels.nbody.pn import pn_accelerations, tree_separation

SPIN_ORBIT = wp.constant(32)


@wp.func
def spin_orbit_relative_acceleration(x: wp.vec3d, v: wp.vec3d, s1: wp.vec3d, s2: wp.vec3d,
                                     m1: wp.float64, m2: wp.float64, G: wp.float64, ic: wp.float64) -> wp.vec3d:
    """a_SO of the relative motion (module docstring); ic = 1/c."""
    r = wp.length(x)
    n = x / r
    rd = wp.dot(n, v)
    s = s1 + s2
    dd = (m1 - m2) * (s2 / m2 - s1 / m1)
    k = G * ic * ic / (r * r * r)
    return k * (wp.float64(6.0) * wp.dot(wp.cross(n, v), wp.float64(2.0) * s + dd) * n
                - wp.cross(v, wp.float64(7.0) * s + wp.float64(3.0) * dd)
                + (wp.float64(3.0) * rd) * wp.cross(n, wp.float64(3.0) * s + dd))


@wp.func
def spin_orbit_terms(n: int, mass: wp.array(dtype=wp.float64), is_bh: wp.array(dtype=wp.int32),
                     parent: wp.array(dtype=wp.int32), depth: wp.array(dtype=wp.int32),
                     edge: wp.array(dtype=wp.vec3d), vel: wp.array(dtype=wp.vec3d),
                     spin: wp.array(dtype=wp.vec3d), G: wp.float64, ic: wp.float64,
                     acc: wp.array(dtype=wp.vec3d), spin_rate: wp.array(dtype=wp.vec3d)):
    """acc[i] += spin-orbit acceleration of member i; spin_rate[i] += dS_i/dt (black-hole pairs only)."""
    ic2 = ic * ic
    for i in range(n):
        if is_bh[i] == 0:
            continue
        for j in range(i + 1, n):
            if is_bh[j] == 0:
                continue
            x = tree_separation(i, j, parent, depth, edge)
            v = vel[i] - vel[j]
            mi = mass[i]
            mj = mass[j]
            m_tot = mi + mj
            a_rel = spin_orbit_relative_acceleration(x, v, spin[i], spin[j], mi, mj, G, ic)
            acc[i] = acc[i] + (mj / m_tot) * a_rel
            acc[j] = acc[j] - (mi / m_tot) * a_rel
            r = wp.length(x)
            l_n = (mi * mj / m_tot) * wp.cross(x, v)
            k = G * ic2 / (r * r * r)
            omega_i = (k * (wp.float64(2.0) + wp.float64(1.5) * mj / mi)) * l_n
            omega_j = (k * (wp.float64(2.0) + wp.float64(1.5) * mi / mj)) * l_n
            spin_rate[i] = spin_rate[i] + wp.cross(omega_i, spin[i])
            spin_rate[j] = spin_rate[j] + wp.cross(omega_j, spin[j])


@wp.func
def pn_and_spin_rates(n: int, mass: wp.array(dtype=wp.float64), is_bh: wp.array(dtype=wp.int32),
                      parent: wp.array(dtype=wp.int32), depth: wp.array(dtype=wp.int32),
                      edge: wp.array(dtype=wp.vec3d), vel: wp.array(dtype=wp.vec3d),
                      spin: wp.array(dtype=wp.vec3d), G: wp.float64, ic: wp.float64, mask: int,
                      phi_bh: wp.array(dtype=wp.float64), acc_bh: wp.array(dtype=wp.vec3d),
                      out: wp.array(dtype=wp.vec3d), spin_rate: wp.array(dtype=wp.vec3d)):
    """out = all switched-on PN accelerations (spin-orbit included), spin_rate = dS/dt (zero when off)."""
    pn_accelerations(n, mass, is_bh, parent, depth, edge, vel, G, ic, mask, phi_bh, acc_bh, out)
    for i in range(n):
        spin_rate[i] = wp.vec3d()
    if mask & SPIN_ORBIT:
        spin_orbit_terms(n, mass, is_bh, parent, depth, edge, vel, spin, G, ic, out, spin_rate)


@wp.kernel
def pn_spin_rate_kernel(n: int, mass: wp.array(dtype=wp.float64), is_bh: wp.array(dtype=wp.int32),
                        parent: wp.array(dtype=wp.int32), depth: wp.array(dtype=wp.int32),
                        edge: wp.array(dtype=wp.vec3d), vel: wp.array(dtype=wp.vec3d),
                        spin: wp.array(dtype=wp.vec3d), G: wp.float64, ic: wp.float64, mask: int,
                        phi_bh: wp.array(dtype=wp.float64), acc_bh: wp.array(dtype=wp.vec3d),
                        out: wp.array(dtype=wp.vec3d), spin_rate: wp.array(dtype=wp.vec3d)):
    """One-thread launch of `pn_and_spin_rates` (diagnostics and tests)."""
    pn_and_spin_rates(n, mass, is_bh, parent, depth, edge, vel, spin, G, ic, mask, phi_bh, acc_bh, out, spin_rate)
