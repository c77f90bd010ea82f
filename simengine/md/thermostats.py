"""Ensembles: each knows how to launch the first half of a step and how many degrees of freedom the
kinetic energy has.  Registered by name in `THERMOSTATS` (a `simengine.registry.Registry`);
`Simulation(thermostat=...)` picks one for ``ensemble="nvt"``.

* ``nve``      velocity Verlet, total momentum conserved → N_f = 3N − 3.
* ``langevin`` BAOAB with friction γ = 1/damping_fs; momentum not conserved → N_f = 3N.
* ``csvr``     Bussi–Donadio–Parrinello canonical velocity rescaling with time constant τ = damping_fs
  (J. Chem. Phys. 126, 014101 (2007), eq. A7): a global factor α with
  α² K = c K + (1 − c) K̄/N_f (R₁² + χ²_{N_f−1}) + 2 R₁ √(c (1 − c) K K̄ / N_f),  c = e^{−Δt/τ},
  K̄ = N_f k_B T / 2, sign(α) = sign(R₁ + √(c N_f K / ((1 − c) K̄))).  It keeps zero momentum → 3N − 3.
"""
from __future__ import annotations

import numpy as np

from simengine.md.units import BOLTZMANN
from simengine.registry import Registry

THERMOSTATS: Registry[type] = Registry("thermostat")


def register_thermostat(name):
    """Class decorator: register the ensemble under ``name`` in `THERMOSTATS` and set its ``name``."""
    def wrap(cls):
        THERMOSTATS.add(name, cls)
        cls.name = name
        return cls
    return wrap


def csvr_factor(kinetic: float, dof: int, temperature: float, dt: float, tau: float,
                rng: np.random.Generator) -> float:
    """Bussi's velocity-scaling factor α for kinetic energy ``kinetic`` (eV) with ``dof`` degrees of
    freedom, over a time ``dt`` with time constant ``tau`` (fs) towards ``temperature`` (K)."""
    if kinetic <= 0.0:
        return 1.0
    target = 0.5 * dof * BOLTZMANN * temperature
    c = float(np.exp(-dt / tau))
    r1 = rng.standard_normal()
    rest = rng.chisquare(dof - 1) if dof > 1 else 0.0
    new = (c * kinetic + (1 - c) * target / dof * (r1 * r1 + rest)
           + 2 * r1 * np.sqrt(c * (1 - c) * kinetic * target / dof))
    alpha = np.sqrt(max(new, 0.0) / kinetic)
    return float(-alpha if r1 + np.sqrt(c * dof * kinetic / ((1 - c) * target)) < 0 else alpha)


@register_thermostat("nve")
class NVE:
    """No thermostat."""

    def __init__(self, sim, temperature=None, damping_fs=None):
        self.sim = sim

    def degrees_of_freedom(self, n: int) -> int:
        return max(3 * n - 3, 1)

    def kick_drift(self, s_in, s_out, step: int) -> None:
        sim = self.sim
        s_out.alpha.fill_(1.0)
        sim.wp.launch(sim.kernels.kick_drift, dim=sim.num_atoms,
                      inputs=[s_in.x, s_in.v, s_in.f, sim.accel_per_force, s_out.alpha, sim.scalar(sim.dt),
                              s_out.x, s_out.v_half], device=sim.device)

    def to_config(self) -> dict:
        return {"thermostat": "nve"}


@register_thermostat("langevin")
class Langevin(NVE):
    """BAOAB Langevin dynamics at ``temperature`` (K) with friction 1/``damping_fs``."""

    def __init__(self, sim, temperature, damping_fs=100.0):
        super().__init__(sim)
        self.temperature, self.damping_fs = float(temperature), float(damping_fs)
        self.c1 = float(np.exp(-sim.dt / self.damping_fs))
        from simengine.md.units import ACCEL_PER_FORCE
        sigma = np.sqrt((1.0 - self.c1 ** 2) * BOLTZMANN * self.temperature * ACCEL_PER_FORCE / sim.masses)
        self.noise_scale = sim.wp.array(sigma, dtype=sim.scalar, device=sim.device)

    def degrees_of_freedom(self, n: int) -> int:
        return 3 * n

    def kick_drift(self, s_in, s_out, step: int) -> None:
        sim = self.sim
        s_out.alpha.fill_(1.0)
        seed = int(sim.rng.integers(0, 2 ** 31 - 1))
        sim.wp.launch(sim.kernels.langevin_kick_drift, dim=sim.num_atoms,
                      inputs=[s_in.x, s_in.v, s_in.f, sim.accel_per_force, self.noise_scale, sim.scalar(self.c1),
                              sim.scalar(sim.dt), seed, s_out.x, s_out.v_half], device=sim.device)

    def to_config(self) -> dict:
        return {"thermostat": self.name, "temperature": self.temperature, "damping_fs": self.damping_fs}


@register_thermostat("csvr")
class CSVR(NVE):
    """Canonical sampling through velocity rescaling at ``temperature`` (K), time constant ``damping_fs``."""

    def __init__(self, sim, temperature, damping_fs=100.0):
        super().__init__(sim)
        self.temperature, self.damping_fs = float(temperature), float(damping_fs)

    def rescale_factor(self, kinetic: float, dof: int) -> float:
        return csvr_factor(kinetic, dof, self.temperature, self.sim.dt, self.damping_fs, self.sim.rng)

    def kick_drift(self, s_in, s_out, step: int) -> None:
        sim = self.sim
        alpha = self.rescale_factor(sim.kinetic_energy(s_in), self.degrees_of_freedom(sim.num_atoms))
        s_out.alpha.fill_(alpha)
        sim.wp.launch(sim.kernels.kick_drift, dim=sim.num_atoms,
                      inputs=[s_in.x, s_in.v, s_in.f, sim.accel_per_force, s_out.alpha, sim.scalar(sim.dt),
                              s_out.x, s_out.v_half], device=sim.device)

    to_config = Langevin.to_config
