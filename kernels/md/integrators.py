"""Time-stepping kernels: velocity Verlet (NVE), Langevin BAOAB and a CSVR velocity rescale.

Every step writes new arrays (x_out, v_half, v_out) and never overwrites its inputs, so a step can be
recorded on a `wp.Tape`.  ``accel_per_force`` is c/m_i with c converting eV/(Å·amu) to Å/fs².

Velocity Verlet (Swope et al., J. Chem. Phys. 76, 637 (1982)), with the CSVR factor α applied to the
incoming velocities (α = 1 for NVE; Bussi, Donadio & Parrinello, J. Chem. Phys. 126, 014101 (2007)):

    v½ = α v + ½Δt a(x),   x' = x + Δt v½,   v' = v½ + ½Δt a(x')

Langevin BAOAB (Leimkuhler & Matthews, Appl. Math. Res. Express 2013, 34): B ½Δt, A ½Δt,
O: v ← c₁ v + σ_i ξ with c₁ = e^{−γΔt}, σ_i = √((1 − c₁²) k_B T / m_i), A ½Δt, then B ½Δt after the
force evaluation.  Its random numbers come from Warp's counter-based generator seeded per step.
"""
import functools
from types import SimpleNamespace

import warp as wp


@functools.lru_cache(maxsize=None)
def integrator_kernels(scalar):
    """Namespace of the step kernels specialised to ``scalar`` (wp.float32 or wp.float64)."""
    vec3 = wp.types.vector(3, scalar)

    @wp.kernel(module="unique")
    def kick_drift(x: wp.array(dtype=vec3), v: wp.array(dtype=vec3), f: wp.array(dtype=vec3),
                   accel_per_force: wp.array(dtype=scalar), alpha: wp.array(dtype=scalar), dt: scalar,
                   x_out: wp.array(dtype=vec3), v_half: wp.array(dtype=vec3)):
        i = wp.tid()
        vh = alpha[0] * v[i] + scalar(0.5) * dt * accel_per_force[i] * f[i]
        v_half[i] = vh
        x_out[i] = x[i] + dt * vh

    @wp.kernel(module="unique")
    def langevin_kick_drift(x: wp.array(dtype=vec3), v: wp.array(dtype=vec3), f: wp.array(dtype=vec3),
                            accel_per_force: wp.array(dtype=scalar), noise_scale: wp.array(dtype=scalar),
                            c1: scalar, dt: scalar, seed: int,
                            x_out: wp.array(dtype=vec3), v_half: wp.array(dtype=vec3)):
        i = wp.tid()
        v1 = v[i] + scalar(0.5) * dt * accel_per_force[i] * f[i]
        x1 = x[i] + scalar(0.5) * dt * v1
        rng = wp.rand_init(seed, i)
        xi = vec3(scalar(wp.randn(rng)), scalar(wp.randn(rng)), scalar(wp.randn(rng)))
        v2 = c1 * v1 + noise_scale[i] * xi
        v_half[i] = v2
        x_out[i] = x1 + scalar(0.5) * dt * v2

    @wp.kernel(module="unique")
    def kick(v_half: wp.array(dtype=vec3), f: wp.array(dtype=vec3), accel_per_force: wp.array(dtype=scalar),
             dt: scalar, v_out: wp.array(dtype=vec3)):
        i = wp.tid()
        v_out[i] = v_half[i] + scalar(0.5) * dt * accel_per_force[i] * f[i]

    @wp.kernel(module="unique", enable_backward=False)
    def kinetic_energies(v: wp.array(dtype=vec3), accel_per_force: wp.array(dtype=scalar),
                         out: wp.array(dtype=scalar)):
        i = wp.tid()
        out[i] = scalar(0.5) * wp.dot(v[i], v[i]) / accel_per_force[i]

    @wp.kernel(module="unique", enable_backward=False)
    def health(x: wp.array(dtype=vec3), v: wp.array(dtype=vec3), accel_per_force: wp.array(dtype=scalar),
               n: int, chunk: int, kinetic: wp.array(dtype=wp.float64), first_bad: wp.array(dtype=int)):
        """Total kinetic energy and the first atom with a non-finite position or velocity, in one pass for a
        check after every step (``first_bad`` starts at N). Each thread sums a chunk of atoms and adds once."""
        start = wp.tid() * chunk
        total = wp.float64(0.0)
        for i in range(start, wp.min(start + chunk, n)):
            xi = x[i]
            vi = v[i]
            if not (wp.isfinite(xi) and wp.isfinite(vi)):
                wp.atomic_min(first_bad, 0, i)
            total += wp.float64(scalar(0.5) * wp.dot(vi, vi) / accel_per_force[i])
        wp.atomic_add(kinetic, 0, total)

    return SimpleNamespace(kick_drift=kick_drift, langevin_kick_drift=langevin_kick_drift, kick=kick,
                           kinetic_energies=kinetic_energies, health=health)
