"""Force kernels: pair forces over a Verlet list, harmonic bonds and harmonic angles.

Pair forces use a *half* neighbour list (each pair stored once, under its lower index) and Newton's
third law; contributions are scattered with atomics (plain adds on Warp's serial CPU backend), which also
gives a correct adjoint for `wp.Tape`.  ``start`` offsets a launch onto a slice of atoms so CPU threads
can share the work, each into its own zeroed buffers.  Each atom takes half of every pair energy, so
Σ_i e_i is the potential energy.

Bonded terms (small molecules):  E_bond = ½ k_b (r − r₀)²,  E_angle = ½ k_θ (θ − θ₀)², θ the angle at
the middle atom; their forces are accumulated with atomics after the pair kernel, and their energy is
split evenly between the atoms involved.  Bond vectors use the minimum image (bonds ≪ box).

Reference: Allen & Tildesley, *Computer Simulation of Liquids* (2nd ed., 2017), §1.3 and App. C.
"""
import functools
from typing import Any

import warp as wp


@functools.lru_cache(maxsize=None)
def pair_force_kernel(scalar, pair_fn):
    """Kernel adding the pair forces and energies of atoms [start, start + dim) over a *half* list.

    Each stored pair (i, j) adds F_i = −(f/r)_ij d_ij to i and −F_i to j (Newton's third law) and half
    of φ_ij to each atom's energy, with atomics; ``forces`` and ``energies`` must start at zero.
    """
    vec3 = wp.types.vector(3, scalar)
    vec4 = wp.types.vector(4, scalar)

    @wp.kernel(module="unique")
    def pair_forces(start: int, x: wp.array(dtype=vec3), species: wp.array(dtype=wp.int32), n_species: int,
                    params: wp.array(dtype=vec4), table: wp.array(dtype=scalar), cutoff2: scalar,
                    neighbors: wp.array(dtype=wp.int32), shifts: wp.array(dtype=vec3),
                    counts: wp.array(dtype=wp.int32), max_neighbors: int,
                    forces: wp.array(dtype=vec3), energies: wp.array(dtype=scalar)):
        i = wp.tid() + start
        xi = x[i]
        row = species[i] * n_species
        n = wp.min(counts[i], max_neighbors)
        force = vec3()
        energy = scalar(0.0)
        for k in range(n):
            slot = i * max_neighbors + k
            j = neighbors[slot]
            d = x[j] + shifts[slot] - xi
            r2 = wp.dot(d, d)
            if r2 < cutoff2:
                e_ij, f_over_r = pair_fn(r2, params[row + species[j]], table)
                f_j = f_over_r * d
                half_e = scalar(0.5) * e_ij
                force -= f_j
                energy += half_e
                wp.atomic_add(forces, j, f_j)
                wp.atomic_add(energies, j, half_e)
        wp.atomic_add(forces, i, force)
        wp.atomic_add(energies, i, energy)

    return pair_forces


@wp.func
def minimum_image(d: Any, H: Any, H_inv: Any):
    s = H_inv * d
    return H * type(d)(s[0] - wp.round(s[0]), s[1] - wp.round(s[1]), s[2] - wp.round(s[2]))


@functools.lru_cache(maxsize=None)
def bonded_kernels(scalar):
    """(harmonic_bonds, harmonic_angles, accumulate) specialised to ``scalar``; ``accumulate`` adds a
    thread's private force/energy buffers into the state's."""
    vec3 = wp.types.vector(3, scalar)
    mat33 = wp.types.matrix((3, 3), scalar)

    @wp.kernel(module="unique")
    def harmonic_bonds(x: wp.array(dtype=vec3), bonds: wp.array(dtype=wp.vec2i), stiffness: wp.array(dtype=scalar),
                       length: wp.array(dtype=scalar), H: mat33, H_inv: mat33,
                       forces: wp.array(dtype=vec3), energies: wp.array(dtype=scalar)):
        b = wp.tid()
        i = bonds[b][0]
        j = bonds[b][1]
        d = minimum_image(x[j] - x[i], H, H_inv)
        r = wp.length(d)
        stretch = r - length[b]
        f = stiffness[b] * stretch / r * d          # force on i, towards j when stretched
        wp.atomic_add(forces, i, f)
        wp.atomic_sub(forces, j, f)
        e = scalar(0.25) * stiffness[b] * stretch * stretch
        wp.atomic_add(energies, i, e)
        wp.atomic_add(energies, j, e)

    @wp.kernel(module="unique")
    def harmonic_angles(x: wp.array(dtype=vec3), angles: wp.array(dtype=wp.vec3i),
                        stiffness: wp.array(dtype=scalar), angle0: wp.array(dtype=scalar), H: mat33, H_inv: mat33,
                        forces: wp.array(dtype=vec3), energies: wp.array(dtype=scalar)):
        a = wp.tid()
        i = angles[a][0]
        j = angles[a][1]
        k = angles[a][2]
        d1 = minimum_image(x[i] - x[j], H, H_inv)
        d2 = minimum_image(x[k] - x[j], H, H_inv)
        r1 = wp.length(d1)
        r2 = wp.length(d2)
        cos_t = wp.clamp(wp.dot(d1, d2) / (r1 * r2), scalar(-1.0), scalar(1.0))
        theta = wp.acos(cos_t)
        sin_t = wp.max(wp.sqrt(scalar(1.0) - cos_t * cos_t), scalar(1.0e-8))
        dE_dtheta = stiffness[a] * (theta - angle0[a])
        # dθ/dd1 = −(d2/(r1 r2) − cosθ d1/r1²)/sinθ, and F = −dE/dθ · dθ/dx.
        f1 = dE_dtheta / sin_t * (d2 / (r1 * r2) - cos_t * d1 / (r1 * r1))
        f3 = dE_dtheta / sin_t * (d1 / (r1 * r2) - cos_t * d2 / (r2 * r2))
        wp.atomic_add(forces, i, f1)
        wp.atomic_add(forces, k, f3)
        wp.atomic_sub(forces, j, f1 + f3)
        e = scalar(0.5) * stiffness[a] * (theta - angle0[a]) * (theta - angle0[a]) / scalar(3.0)
        wp.atomic_add(energies, i, e)
        wp.atomic_add(energies, j, e)
        wp.atomic_add(energies, k, e)

    @wp.kernel(module="unique")
    def accumulate(f: wp.array(dtype=vec3), e: wp.array(dtype=scalar), f_out: wp.array(dtype=vec3),
                   e_out: wp.array(dtype=scalar)):
        i = wp.tid()
        wp.atomic_add(f_out, i, f[i])
        wp.atomic_add(e_out, i, e[i])

    return harmonic_bonds, harmonic_angles, accumulate
