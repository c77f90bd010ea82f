"""Peer for `benchmarks/mpm.py`: MLS-MPM (Hu et al. 2018, "A moving least squares material point
method with displacement discontinuity and two-way rigid body coupling") in idiomatic Taichi.

The classic Taichi layout: dense ``ti.field``s, one ``@ti.kernel`` per phase (clear grid, P2G with
``atomic`` scatter through ``+=``, grid update, G2P), quadratic B-splines, APIC, and the
neo-Hookean Kirchhoff stress simengine uses,

    tau = mu (F F^T - I) + lambda log(J) I,    J = max(det F, 1e-4),
    P2G:  m_i v_i += w_ip (m_p v_p + (m_p C_p - dt V_p (4 / dx^2) tau_p)(x_i - x_p)),
    G2P:  v_p = sum_i w_ip v_i,  C_p = (4 / dx^2) sum_i w_ip v_i (x_i - x_p)^T,
          F_p <- (I + dt C_p) F_p,  x_p <- x_p + dt v_p.

The grid has ``n_grid + 1`` nodes per axis at ``index * dx`` (as simengine's). Walls: nodes within `pad`
nodes of the domain faces (index < pad or > n_grid - pad) lose the velocity component that points out
of the domain ("separate"), their normal component ("slip") or all of it ("sticky").
``serialize_p2g=True`` runs P2G as a serial loop (``ti.loop_config(serialize=True)``), which on CPU
avoids the atomics' cost; it is reported beside the idiomatic parallel version.

Run alone: ``python benchmarks/mpm_taichi.py`` times a 3D neo-Hookean cube (~100k particles, 64^3).
"""
from __future__ import annotations

import time

import numpy as np
import taichi as ti

BOUNDARY_CODES = {"separate": 0, "slip": 1, "sticky": 2}


@ti.data_oriented
class TaichiMLSMPM:
    """3D neo-Hookean MLS-MPM on an ``n_grid^3`` grid over ``[0, domain]^3``; call `ti.init` first."""

    def __init__(self, positions, n_grid, dt, youngs_modulus, poisson_ratio, density, particle_volume,
                 velocities=None, gravity=(0.0, -9.81, 0.0), boundary="separate", pad=3, domain=1.0,
                 serialize_p2g=False):
        positions = np.ascontiguousarray(positions, dtype=np.float32)
        n = len(positions)
        self.n_particles, self.n_grid = n, n_grid
        self.dx = domain / n_grid
        self.dt = dt
        self.mu = youngs_modulus / (2.0 * (1.0 + poisson_ratio))
        self.lam = youngs_modulus * poisson_ratio / ((1.0 + poisson_ratio) * (1.0 - 2.0 * poisson_ratio))
        self.p_vol, self.p_mass = particle_volume, density * particle_volume
        self.gravity = tuple(float(g) for g in gravity)
        self.boundary, self.pad = BOUNDARY_CODES[boundary], pad
        self.serialize_p2g = serialize_p2g

        self.x = ti.Vector.field(3, ti.f32, n)
        self.v = ti.Vector.field(3, ti.f32, n)
        self.C = ti.Matrix.field(3, 3, ti.f32, n)
        self.F = ti.Matrix.field(3, 3, ti.f32, n)
        self.grid_v = ti.Vector.field(3, ti.f32, (n_grid + 1,) * 3)
        self.grid_m = ti.field(ti.f32, (n_grid + 1,) * 3)
        self.x.from_numpy(positions)
        vel = np.zeros_like(positions) if velocities is None else np.asarray(velocities, np.float32)
        self.v.from_numpy(np.ascontiguousarray(np.broadcast_to(vel, positions.shape)))
        self.C.fill(0.0)
        self.F.from_numpy(np.tile(np.eye(3, dtype=np.float32), (n, 1, 1)))

    @ti.kernel
    def clear_grid(self):
        for node in ti.grouped(self.grid_m):
            self.grid_v[node] = ti.Vector.zero(ti.f32, 3)
            self.grid_m[node] = 0.0

    @ti.func
    def scatter(self, p):
        inv_dx = 1.0 / self.dx
        Xp = self.x[p] * inv_dx
        base = ti.cast(Xp - 0.5, ti.i32)
        fx = Xp - base
        w = [0.5 * (1.5 - fx) ** 2, 0.75 - (fx - 1.0) ** 2, 0.5 * (fx - 0.5) ** 2]
        F = self.F[p]
        J = ti.max(F.determinant(), 1e-4)
        tau = self.mu * (F @ F.transpose() - ti.Matrix.identity(ti.f32, 3)) \
            + self.lam * ti.log(J) * ti.Matrix.identity(ti.f32, 3)
        affine = -self.dt * self.p_vol * 4.0 * inv_dx * inv_dx * tau + self.p_mass * self.C[p]
        momentum = self.p_mass * self.v[p]
        for i, j, k in ti.static(ti.ndrange(3, 3, 3)):
            offset = ti.Vector([i, j, k])
            dpos = (offset.cast(ti.f32) - fx) * self.dx
            weight = w[i][0] * w[j][1] * w[k][2]
            self.grid_v[base + offset] += weight * (momentum + affine @ dpos)
            self.grid_m[base + offset] += weight * self.p_mass

    @ti.kernel
    def p2g(self):
        for p in self.x:
            self.scatter(p)

    @ti.kernel
    def p2g_serial(self):
        ti.loop_config(serialize=True)
        for p in range(self.n_particles):  # a range-for: loop_config does not apply to struct-fors
            self.scatter(p)

    @ti.kernel
    def grid_update(self):
        for node in ti.grouped(self.grid_m):
            m = self.grid_m[node]
            if m > 0:
                v = self.grid_v[node] / m + self.dt * ti.Vector(self.gravity)
                for d in ti.static(range(3)):
                    low = node[d] < self.pad
                    high = node[d] > self.n_grid - self.pad
                    if ti.static(self.boundary == 2):
                        if low or high:
                            v = ti.Vector.zero(ti.f32, 3)
                    elif ti.static(self.boundary == 1):
                        if low or high:
                            v[d] = 0.0
                    else:
                        if (low and v[d] < 0) or (high and v[d] > 0):
                            v[d] = 0.0
                self.grid_v[node] = v

    @ti.kernel
    def g2p(self):
        for p in self.x:
            inv_dx = 1.0 / self.dx
            Xp = self.x[p] * inv_dx
            base = ti.cast(Xp - 0.5, ti.i32)
            fx = Xp - base
            w = [0.5 * (1.5 - fx) ** 2, 0.75 - (fx - 1.0) ** 2, 0.5 * (fx - 0.5) ** 2]
            new_v = ti.Vector.zero(ti.f32, 3)
            new_C = ti.Matrix.zero(ti.f32, 3, 3)
            for i, j, k in ti.static(ti.ndrange(3, 3, 3)):
                offset = ti.Vector([i, j, k])
                dpos = (offset.cast(ti.f32) - fx) * self.dx
                weight = w[i][0] * w[j][1] * w[k][2]
                gv = self.grid_v[base + offset]
                new_v += weight * gv
                new_C += 4.0 * inv_dx * inv_dx * weight * gv.outer_product(dpos)
            self.v[p] = new_v
            self.C[p] = new_C
            self.F[p] = (ti.Matrix.identity(ti.f32, 3) + self.dt * new_C) @ self.F[p]
            self.x[p] += self.dt * new_v

    def step(self):
        self.clear_grid()
        if self.serialize_p2g:
            self.p2g_serial()
        else:
            self.p2g()
        self.grid_update()
        self.g2p()

    def phase_times(self, steps=5):
        """Seconds per step of each phase, synchronised after each (for tuning, not for the total)."""
        phases = {"clear": self.clear_grid, "p2g": self.p2g_serial if self.serialize_p2g else self.p2g,
                  "grid": self.grid_update, "g2p": self.g2p}
        totals = dict.fromkeys(phases, 0.0)
        for _ in range(steps):
            for name, phase in phases.items():
                start = time.perf_counter()
                phase()
                ti.sync()
                totals[name] += time.perf_counter() - start
        return {name: t / steps for name, t in totals.items()}

    def time_steps(self, steps):
        """Wall seconds per step over `steps` steps (after the caller's warm-up)."""
        ti.sync()
        start = time.perf_counter()
        for _ in range(steps):
            self.step()
        ti.sync()
        return (time.perf_counter() - start) / steps


def cube_particles(n_grid=64, ppc_1d=2, lower=(0.3, 0.25, 0.3), size=(0.36, 0.36, 0.36)):
    """Cell-centred lattice of a cube: ``ppc_1d^3`` particles per grid cell (~100k by default)."""
    h = 1.0 / (n_grid * ppc_1d)
    axes = [(np.arange(round(lo / h), round((lo + s) / h)) + 0.5) * h for lo, s in zip(lower, size)]
    return np.stack(np.meshgrid(*axes, indexing="ij"), -1).reshape(-1, 3), h ** 3


def main(steps=50, warmup=5):
    ti.init(arch=ti.cpu, default_fp=ti.f32, random_seed=0, log_level=ti.WARN)
    positions, volume = cube_particles()
    for serialize in (False, True):
        sim = TaichiMLSMPM(positions, 64, dt=1e-4, youngs_modulus=1e5, poisson_ratio=0.3, density=1000.0,
                           particle_volume=volume, serialize_p2g=serialize)
        start = time.perf_counter()
        for _ in range(warmup):
            sim.step()
        ti.sync()
        compile_s = time.perf_counter() - start
        per_step = sim.time_steps(steps)
        label = "serial P2G" if serialize else "atomic P2G"
        print(f"taichi {'.'.join(map(str, ti.__version__))} ({label}): {len(positions)} particles, 64^3 grid: "
              f"{per_step * 1e3:.1f} ms/step, {len(positions) / per_step / 1e6:.2f} M particle-steps/s "
              f"(warm-up incl. compile {compile_s:.1f} s)")


if __name__ == "__main__":
    main()
