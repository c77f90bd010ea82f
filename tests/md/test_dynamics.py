"""Conservation and ensembles: NVE energy drift, thermostats reaching and holding T with canonical
kinetic-energy fluctuations, momentum conservation, and a step recorded on a `wp.Tape`."""
import numpy as np
import pytest

from simengine import md
from tests.md.conftest import ARGON

LJ = md.LennardJones(**ARGON, shift=True)


@pytest.mark.parametrize("dtype, bound", [("float64", 2e-6), ("float32", 5e-6)])
def test_nve_energy_drift_is_bounded(argon_atoms, dtype, bound):
    """Velocity Verlet, 2 fs, 1000 steps (2 ps): |E(t) − E(0)| per atom stays below `bound` eV."""
    sim = md.Simulation.from_ase(argon_atoms, LJ, timestep_fs=2.0, dtype=dtype)
    e0, worst = sim.total_energy(), 0.0
    for _ in range(10):
        sim.run(100)
        worst = max(worst, abs(sim.total_energy() - e0) / sim.num_atoms)
    assert worst < bound
    momentum = (sim.masses[:, None] * sim.velocities).sum(axis=0)
    assert np.abs(momentum).max() < (1e-10 if dtype == "float64" else 1e-4)


def test_energy_drift_scales_as_timestep_squared(argon_atoms):
    """Velocity Verlet is second order: halving Δt cuts the energy fluctuation ~4×."""
    spread = {}
    for dt in (4.0, 2.0):
        sim = md.Simulation.from_ase(argon_atoms, LJ, timestep_fs=dt)
        e = []
        for _ in range(20):
            sim.run(int(20 / dt))
            e.append(sim.total_energy())
        spread[dt] = np.std(e)
    assert 3.3 < spread[4.0] / spread[2.0] < 5.0


@pytest.mark.parametrize("thermostat", ["csvr", "langevin"])
def test_thermostat_reaches_and_holds_temperature(argon_atoms, thermostat):
    target = 60.0
    sim = md.Simulation.from_ase(argon_atoms, LJ, timestep_fs=4.0, ensemble="nvt", thermostat=thermostat,
                                 temperature=target, damping_fs=100.0, seed=1)
    assert sim.temperature() > 80.0
    sim.run(250)                                      # 10 damping times
    temperatures = []
    for _ in range(300):
        sim.run(5)
        temperatures.append(sim.temperature())
    temperatures = np.asarray(temperatures)
    assert abs(temperatures.mean() - target) < 0.04 * target
    # canonical ensemble: relative std of the kinetic temperature is √(2/N_f) (≈ 5 % for 256 atoms)
    assert temperatures.std() / target == pytest.approx(np.sqrt(2.0 / sim.degrees_of_freedom), rel=0.35)


def test_csvr_keeps_zero_momentum(argon_atoms):
    sim = md.Simulation.from_ase(argon_atoms, LJ, timestep_fs=2.0, ensemble="nvt", temperature=150.0)
    sim.run(200)
    assert np.abs((sim.masses[:, None] * sim.velocities).sum(axis=0)).max() < 1e-10


def test_thermostat_is_deterministic_given_seed(argon_atoms):
    def run(seed):
        sim = md.Simulation.from_ase(argon_atoms, LJ, timestep_fs=2.0, ensemble="nvt", thermostat="langevin",
                                     temperature=80.0, seed=seed)
        sim.run(50)
        return sim.positions
    assert np.array_equal(run(3), run(3)) and not np.array_equal(run(3), run(4))


def test_steps_are_differentiable_on_a_tape():
    """d E_pot(after 5 steps) / d x₀ from `wp.Tape` equals a central finite difference."""
    import warp as wp

    @wp.kernel
    def total(e: wp.array(dtype=wp.float64), out: wp.array(dtype=wp.float64)):
        wp.atomic_add(out, 0, e[wp.tid()])

    x, cell = md.fcc_lattice(5.26, (3, 3, 3))
    x = x + np.random.default_rng(0).normal(0, 0.1, x.shape)
    v = np.random.default_rng(1).normal(0, 3e-3, x.shape)

    def energy_after(x0, gradient=False):
        sim = md.Simulation(x0, ["Ar"] * len(x0), cell, potential=md.LennardJones(3.4, 0.0104, 7.5),
                            timestep_fs=5.0, velocities=v, skin=2.0)
        sim.state = sim.new_state(x0, v, requires_grad=True)
        loss = wp.zeros(1, dtype=wp.float64, requires_grad=True)
        tape = wp.Tape()
        with tape:
            sim._compute_forces(sim.state)
            start = sim.state
            for _ in range(5):
                state = sim.advance(out=sim.new_state(requires_grad=True))
            wp.launch(total, dim=len(x0), inputs=[state.e, loss])
        if gradient:
            tape.backward(loss)
            return start.x.grad.numpy()
        return float(loss.numpy()[0])

    grad = energy_after(x, gradient=True)
    h = 1e-5
    for atom, axis in [(0, 0), (7, 2), (20, 1)]:
        xp, xm = x.copy(), x.copy()
        xp[atom, axis] += h
        xm[atom, axis] -= h
        fd = (energy_after(xp) - energy_after(xm)) / (2 * h)
        assert grad[atom, axis] == pytest.approx(fd, rel=1e-5, abs=1e-9)
