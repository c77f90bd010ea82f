"""Structure and dynamics of MD trajectories: radial distribution function, velocity autocorrelation,
mean-squared displacement and diffusion coefficient, kinetic temperature, energy drift.

Allen & Tildesley, *Computer Simulation of Liquids* (2nd ed., 2017), §2.6 (g(r)), §2.7 (time
correlation functions, Einstein relation D = lim MSD(t) / 6t).  Arrays: positions (T, N, 3) Å,
velocities (T, N, 3) Å/fs, masses (N,) amu, cell (3, 3) rows = lattice vectors.
"""
from __future__ import annotations

import numpy as np

from simengine.md.box import Box
from simengine.md.units import ACCEL_PER_FORCE, BOLTZMANN


def radial_distribution(positions, cell, r_max: float | None = None, bins: int = 100):
    """(r (bins,) bin centres Å, g(r) (bins,)) averaged over frames; r_max ≤ half the smallest width."""
    positions = np.asarray(positions, dtype=np.float64).reshape(-1, *np.shape(positions)[-2:])
    box = Box(cell)
    r_max = box.half_width if r_max is None else min(float(r_max), box.half_width)
    edges = np.linspace(0.0, r_max, bins + 1)
    counts = np.zeros(bins)
    n = positions.shape[1]
    for x in positions:
        for i in range(n - 1):
            r = np.linalg.norm(box.minimum_image(x[i + 1:] - x[i]), axis=1)
            counts += np.histogram(r, edges)[0]
    shell = 4.0 / 3.0 * np.pi * (edges[1:] ** 3 - edges[:-1] ** 3)
    ideal = len(positions) * n * (n - 1) / 2 / box.volume * shell
    return 0.5 * (edges[1:] + edges[:-1]), counts / ideal


def velocity_autocorrelation(velocities, max_lag: int | None = None):
    """Normalised C(k) = ⟨v(t)·v(t+k)⟩ / ⟨v(t)·v(t)⟩ for lags k = 0..max_lag (frames), over all origins."""
    v = np.asarray(velocities, dtype=np.float64)
    max_lag = len(v) - 1 if max_lag is None else min(int(max_lag), len(v) - 1)
    c = np.array([np.mean(np.sum(v[: len(v) - k] * v[k:], axis=-1)) for k in range(max_lag + 1)])
    return c / c[0]


def unwrap(positions, cell):
    """Continuous trajectories from wrapped frames (each frame-to-frame step below half the box)."""
    x = np.asarray(positions, dtype=np.float64)
    steps = Box(cell).minimum_image(np.diff(x, axis=0))
    return np.concatenate([x[:1], x[:1] + np.cumsum(steps, axis=0)])


def mean_squared_displacement(unwrapped, max_lag: int | None = None):
    """MSD(k) = ⟨|x(t+k) − x(t)|²⟩ (Å²) for k = 0..max_lag frames, over all atoms and origins."""
    x = np.asarray(unwrapped, dtype=np.float64)
    max_lag = len(x) - 1 if max_lag is None else min(int(max_lag), len(x) - 1)
    return np.array([np.mean(np.sum((x[k:] - x[: len(x) - k]) ** 2, axis=-1)) for k in range(max_lag + 1)])


def diffusion_coefficient(msd, frame_dt_fs: float, fit_from: float = 0.5) -> float:
    """Einstein D = slope/6 of MSD(t) fitted over lags from ``fit_from``·max to the end; Å²/fs
    (×0.1 for cm²/s)."""
    lags = np.arange(len(msd)) * frame_dt_fs
    start = max(1, int(fit_from * (len(msd) - 1)))
    if len(msd) - start < 2:
        return float("nan")
    slope = np.polyfit(lags[start:], np.asarray(msd)[start:], 1)[0]
    return float(slope / 6.0)


def temperatures(velocities, masses, dof: int | None = None):
    """(T,) kinetic temperature (K); N_f = 3N − 3 unless given."""
    v = np.asarray(velocities, dtype=np.float64)
    m = np.asarray(masses, dtype=np.float64)
    kinetic = 0.5 * np.einsum("n,tnk->t", m, v ** 2) / ACCEL_PER_FORCE
    return 2.0 * kinetic / ((dof or 3 * v.shape[1] - 3) * BOLTZMANN)


def energies(traj, positions=None, velocities=None):
    """(potential (T,), kinetic (T,)) in eV of frames of an MD `Trajectory` (its metadata names the
    potential), evaluated with `simengine.md` on ``positions``/``velocities`` (default: the trajectory's)."""
    from simengine.md.potentials import potential_from_config
    from simengine.md.simulation import Simulation
    from simengine.md.topology import Topology
    from simengine.md.units import symbol_of

    meta = traj.metadata
    x = traj.position if positions is None else positions
    v = traj.extras["velocity"] if velocities is None else velocities
    symbols = [symbol_of(int(z)) for z in traj.extras["species"]]
    sim = Simulation(np.asarray(x[0], dtype=np.float64), symbols, traj.extras["cell"],
                     potential=potential_from_config(meta["potential"]), timestep_fs=float(meta["timestep_fs"]),
                     masses=traj.extras.get("mass"), topology=Topology.from_config(meta.get("topology")),
                     min_distance=0.0, threads=1)
    potential = np.array([sim.evaluate(frame)[0] for frame in np.asarray(x, dtype=np.float64)])
    kinetic = 0.5 * np.einsum("n,tnk->t", sim.masses, np.asarray(v, dtype=np.float64) ** 2) / ACCEL_PER_FORCE
    return potential, kinetic


def energy_drift(total, frame_dt_fs: float, num_atoms: int) -> dict:
    """Linear drift (eV/atom/ps) and largest excursion |E(t) − E(0)| (eV/atom) of a total-energy series."""
    total = np.asarray(total, dtype=np.float64)
    t_ps = np.arange(len(total)) * frame_dt_fs / 1000.0
    slope = np.polyfit(t_ps, total, 1)[0] if len(total) > 1 else 0.0
    return {"drift_ev_per_atom_per_ps": float(slope / num_atoms),
            "max_excursion_ev_per_atom": float(np.abs(total - total[0]).max() / num_atoms)}
