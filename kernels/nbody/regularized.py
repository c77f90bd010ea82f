"""Logarithmic-Hamiltonian (TTL) leapfrog of one regularized region, in minimum-spanning-tree coordinates.

The region's state is kept as tree edges, ``edge_x[k] = x_k - x_parent(k)`` and likewise
``edge_v`` (the root's entry holds its centre-of-mass-frame position / velocity), so that close pairs
never lose digits to large absolute coordinates (Rantala et al. 2020, MSTAR, MNRAS 492, 4131).

One leapfrog substep of fictitious-time length h (Mikkola & Tanikawa 1999; Preto & Tremaine 1999)::

    drift(h/2):  dt = (h/2) / (T(v) + B),  x += dt v,  t += dt
    kick(h):     dt = h / U(x),            v += dt (a_N(x) + a_PN(x, w)),  B -= dt sum m <v> . a_PN
    drift(h/2)

with U = sum G m_i m_j / r_ij (the potential's magnitude), T the kinetic energy and B = U - T the
binding energy, which the velocity-dependent post-Newtonian forces change by their work. These
forces enter through the auxiliary-velocity scheme (Hellstrom & Mikkola 2010, CeMDA 106, 143): a copy
w of the velocities (w = v on the exact solution) is kicked half a step with a_N(x) + a_PN(x, v), v a
full step with a_N(x) + a_PN(x, w), then w again with a_N(x) + a_PN(x, v_new). The map stays
time-symmetric, so its error has an expansion in even powers of h and Gragg-Bulirsch-Stoer
extrapolation applies (`simengine.nbody._regularized`). Black-hole spins S (switched on by the
spin-orbit bit, `kernels.nbody.spin`) are velocity-like state of the same scheme: an auxiliary copy
S_w is kicked with dS/dt(x, v, S), S with dS/dt(x, w, S_w), so the map stays time-symmetric.
"""
import warp as wp

from kernels.nbody.gravity import softened_force_factor, softened_potential_factor
from kernels.nbody.pn import tree_separation
from kernels.nbody.spin import pn_and_spin_rates


@wp.func
def tree_velocities(n: int, order: wp.array(dtype=wp.int32), parent: wp.array(dtype=wp.int32),
                    edge_v: wp.array(dtype=wp.vec3d), vel: wp.array(dtype=wp.vec3d)):
    """Absolute (centre-of-mass frame) velocities from the edges, root first (breadth-first order)."""
    for k in range(n):
        i = order[k]
        p = parent[i]
        if p < 0:
            vel[i] = edge_v[i]
        else:
            vel[i] = vel[p] + edge_v[i]


@wp.func
def newtonian_accelerations(n: int, mass: wp.array(dtype=wp.float64), is_bh: wp.array(dtype=wp.int32),
                            parent: wp.array(dtype=wp.int32), depth: wp.array(dtype=wp.int32),
                            edge_x: wp.array(dtype=wp.vec3d), G: wp.float64, kind: int, eps: wp.float64,
                            soften_stars: int, acc: wp.array(dtype=wp.vec3d)) -> wp.float64:
    """acc[i] = Newtonian acceleration inside the region; returns U = sum_pairs G m_i m_j f(r_ij).

    Pairs involving a black hole are never softened; star-star pairs are softened when
    ``soften_stars`` is set (with the same kernel as the outer field, so nothing jumps at the
    region boundary).
    """
    for i in range(n):
        acc[i] = wp.vec3d()
    U = wp.float64(0.0)
    for i in range(n):
        for j in range(i + 1, n):
            x = tree_separation(i, j, parent, depth, edge_x)
            r2 = wp.dot(x, x)
            f = wp.float64(0.0)
            p = wp.float64(0.0)
            if soften_stars != 0 and is_bh[i] == 0 and is_bh[j] == 0:
                f = softened_force_factor(kind, r2, eps)
                p = softened_potential_factor(kind, r2, eps)
            else:
                r = wp.sqrt(r2)
                f = wp.float64(1.0) / (r2 * r)
                p = wp.float64(1.0) / r
            acc[i] = acc[i] - (G * mass[j] * f) * x
            acc[j] = acc[j] + (G * mass[i] * f) * x
            U += G * mass[i] * mass[j] * p
    return U


@wp.func
def apply_kick(n: int, parent: wp.array(dtype=wp.int32), dv: wp.array(dtype=wp.vec3d),
               edge_v: wp.array(dtype=wp.vec3d)):
    """Add absolute velocity changes dv to the tree edges (the root edge is absolute)."""
    for i in range(n):
        p = parent[i]
        if p < 0:
            edge_v[i] = edge_v[i] + dv[i]
        else:
            edge_v[i] = edge_v[i] + dv[i] - dv[p]


@wp.func
def leapfrog_sequence(
    n: int, n_sub: int, h: wp.float64,
    mass: wp.array(dtype=wp.float64), is_bh: wp.array(dtype=wp.int32),
    parent: wp.array(dtype=wp.int32), depth: wp.array(dtype=wp.int32), order: wp.array(dtype=wp.int32),
    G: wp.float64, ic: wp.float64, mask: int, kind: int, eps: wp.float64, soften_stars: int,
    edge_x: wp.array(dtype=wp.vec3d), edge_v: wp.array(dtype=wp.vec3d), scalars: wp.array(dtype=wp.float64),
    vel: wp.array(dtype=wp.vec3d), vaux: wp.array(dtype=wp.vec3d), acc: wp.array(dtype=wp.vec3d),
    apn: wp.array(dtype=wp.vec3d), dv: wp.array(dtype=wp.vec3d),
    phi_bh: wp.array(dtype=wp.float64), acc_bh: wp.array(dtype=wp.vec3d),
    spin: wp.array(dtype=wp.vec3d), saux: wp.array(dtype=wp.vec3d), srate: wp.array(dtype=wp.vec3d),
):
    """n_sub leapfrog substeps of length h/n_sub, in place on (edge_x, edge_v, scalars = [t, B], spin)."""
    hs = h / wp.float64(n_sub)
    t = scalars[0]
    B = scalars[1]
    tree_velocities(n, order, parent, edge_v, vel)
    for i in range(n):
        vaux[i] = vel[i]
        saux[i] = spin[i]
    for s in range(n_sub):
        for half in range(2):
            if half == 1:
                # kick(hs)
                U = newtonian_accelerations(n, mass, is_bh, parent, depth, edge_x, G, kind, eps, soften_stars, acc)
                dt = hs / U
                if mask != 0:
                    pn_and_spin_rates(n, mass, is_bh, parent, depth, edge_x, vel, spin, G, ic, mask, phi_bh,
                                      acc_bh, apn, srate)
                    for i in range(n):
                        vaux[i] = vaux[i] + (wp.float64(0.5) * dt) * (acc[i] + apn[i])
                        saux[i] = saux[i] + (wp.float64(0.5) * dt) * srate[i]
                    pn_and_spin_rates(n, mass, is_bh, parent, depth, edge_x, vaux, saux, G, ic, mask, phi_bh,
                                      acc_bh, apn, srate)
                    work = wp.float64(0.0)
                    for i in range(n):
                        dv[i] = dt * (acc[i] + apn[i])
                        work += mass[i] * wp.dot(vel[i] + wp.float64(0.5) * dv[i], apn[i])
                        spin[i] = spin[i] + dt * srate[i]
                    B -= dt * work
                    apply_kick(n, parent, dv, edge_v)
                    tree_velocities(n, order, parent, edge_v, vel)
                    pn_and_spin_rates(n, mass, is_bh, parent, depth, edge_x, vel, spin, G, ic, mask, phi_bh,
                                      acc_bh, apn, srate)
                    for i in range(n):
                        vaux[i] = vaux[i] + (wp.float64(0.5) * dt) * (acc[i] + apn[i])
                        saux[i] = saux[i] + (wp.float64(0.5) * dt) * srate[i]
                else:
                    for i in range(n):
                        dv[i] = dt * acc[i]
                    apply_kick(n, parent, dv, edge_v)
                    tree_velocities(n, order, parent, edge_v, vel)
            # drift(hs/2), before and after the kick
            T = wp.float64(0.0)
            for i in range(n):
                T += wp.float64(0.5) * mass[i] * wp.dot(vel[i], vel[i])
            dt = wp.float64(0.5) * hs / (T + B)
            for i in range(n):
                edge_x[i] = edge_x[i] + dt * edge_v[i]
            t += dt
    scalars[0] = t
    scalars[1] = B


@wp.kernel
def logh_leapfrog(
    n: int, k_first: int, h: wp.float64, B0: wp.float64,
    mass: wp.array(dtype=wp.float64), is_bh: wp.array(dtype=wp.int32),
    parent: wp.array(dtype=wp.int32), depth: wp.array(dtype=wp.int32), order: wp.array(dtype=wp.int32),
    G: wp.float64, ic: wp.float64, mask: int, kind: int, eps: wp.float64, soften_stars: int,
    x0: wp.array(dtype=wp.vec3d), v0: wp.array(dtype=wp.vec3d),
    edge_x: wp.array2d(dtype=wp.vec3d), edge_v: wp.array2d(dtype=wp.vec3d), scalars: wp.array2d(dtype=wp.float64),
    vel: wp.array2d(dtype=wp.vec3d), vaux: wp.array2d(dtype=wp.vec3d), acc: wp.array2d(dtype=wp.vec3d),
    apn: wp.array2d(dtype=wp.vec3d), dv: wp.array2d(dtype=wp.vec3d),
    phi_bh: wp.array2d(dtype=wp.float64), acc_bh: wp.array2d(dtype=wp.vec3d),
    s0: wp.array(dtype=wp.vec3d), spin: wp.array2d(dtype=wp.vec3d), saux: wp.array2d(dtype=wp.vec3d),
    srate: wp.array2d(dtype=wp.vec3d),
):
    """Thread j runs the leapfrog with n_sub = 2 (k_first + j) substeps over fictitious time h from
    (x0, v0, t = 0, B0, spins s0) into row j of the 2-D outputs: the sequences of one GBS step in one launch
    (in parallel on a GPU). Scratch rows are (n,) per thread.
    """
    j = wp.tid()
    for i in range(n):
        edge_x[j, i] = x0[i]
        edge_v[j, i] = v0[i]
        spin[j, i] = s0[i]
    scalars[j, 0] = wp.float64(0.0)
    scalars[j, 1] = B0
    leapfrog_sequence(n, 2 * (k_first + j), h, mass, is_bh, parent, depth, order, G, ic, mask, kind, eps,
                      soften_stars, edge_x[j], edge_v[j], scalars[j], vel[j], vaux[j], acc[j], apn[j], dv[j],
                      phi_bh[j], acc_bh[j], spin[j], saux[j], srate[j])


@wp.kernel
def region_energy(
    n: int, mass: wp.array(dtype=wp.float64), is_bh: wp.array(dtype=wp.int32),
    parent: wp.array(dtype=wp.int32), depth: wp.array(dtype=wp.int32), order: wp.array(dtype=wp.int32),
    G: wp.float64, kind: int, eps: wp.float64, soften_stars: int,
    edge_x: wp.array(dtype=wp.vec3d), edge_v: wp.array(dtype=wp.vec3d),
    vel: wp.array(dtype=wp.vec3d), acc: wp.array(dtype=wp.vec3d), out: wp.array(dtype=wp.float64),
):
    """out = [T, U] of the region in its centre-of-mass frame (dim=1)."""
    tree_velocities(n, order, parent, edge_v, vel)
    T = wp.float64(0.0)
    for i in range(n):
        T += wp.float64(0.5) * mass[i] * wp.dot(vel[i], vel[i])
    out[0] = T
    out[1] = newtonian_accelerations(n, mass, is_bh, parent, depth, edge_x, G, kind, eps, soften_stars, acc)
