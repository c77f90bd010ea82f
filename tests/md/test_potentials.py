"""Pair potentials and bonded terms against closed-form physics: energies summed independently in
NumPy, forces as −∇E by central differences, a diatomic's vibration period, the tabulated form."""
import numpy as np
import pytest

from simengine import md

POTENTIALS = {
    "lennard_jones": md.LennardJones(sigma={"Ar": 3.4, "Kr": 3.6}, epsilon={"Ar": 0.0104, "Kr": 0.014}, cutoff=6.0),
    "morse": md.Morse(D=0.3429, alpha=1.3588, r0=2.866, cutoff=6.0),
    "buckingham": md.Buckingham(A={("Ar", "Ar"): 1500.0, ("Ar", "Kr"): 1800.0, ("Kr", "Kr"): 2200.0}, rho=0.3,
                                C=20.0, cutoff=6.0),
}


def _system(rng):
    cell = np.diag([13.0, 12.5, 14.0])
    grid = np.stack(np.meshgrid(*[np.arange(4)] * 3, indexing="ij"), -1).reshape(-1, 3) + 0.5
    x = grid * np.diag(cell) / 4 + rng.normal(0, 0.15, (64, 3))
    return x, ["Ar", "Kr"] * 32, cell


def _numpy_energy(pot, x, symbols, cell):
    """Σ_{i<j} φ(r_ij) over minimum images (cutoff < half box), written independently of the kernels."""
    box = md.Box(cell)
    e = 0.0
    for i in range(len(x)):
        d = box.minimum_image(x[i + 1:] - x[i])
        r = np.linalg.norm(d, axis=1)
        for k, rk in enumerate(r):
            e += float(pot.energy(rk, symbols[i], symbols[i + 1 + k], ["Ar", "Kr"]))
    return e


@pytest.mark.parametrize("name", sorted(POTENTIALS))
def test_energy_and_forces(name):
    pot = POTENTIALS[name]
    x, symbols, cell = _system(np.random.default_rng(0))
    sim = md.Simulation(x, symbols, cell, potential=pot, timestep_fs=1.0)
    assert sim.potential_energy() == pytest.approx(_numpy_energy(pot, x, symbols, cell), rel=1e-10, abs=1e-10)
    assert np.abs(sim.forces.sum(axis=0)).max() < 1e-10          # Newton's third law
    h = 1e-5
    for atom, axis in [(0, 0), (5, 1), (37, 2)]:
        xp, xm = x.copy(), x.copy()
        xp[atom, axis] += h
        xm[atom, axis] -= h
        fd = -(sim.evaluate(xp)[0] - sim.evaluate(xm)[0]) / (2 * h)
        assert sim.forces[atom, axis] == pytest.approx(fd, rel=1e-5, abs=1e-7)


def test_tabulated_reproduces_analytic_lennard_jones():
    lj = POTENTIALS["lennard_jones"]
    table = md.TabulatedPair.from_potential(lj, ["Ar", "Kr"], r_first=2.0, points=20000)
    x, symbols, cell = _system(np.random.default_rng(1))
    exact = md.Simulation(x, symbols, cell, potential=lj, timestep_fs=1.0)
    tabulated = md.Simulation(x, symbols, cell, potential=table, timestep_fs=1.0)
    assert tabulated.potential_energy() == pytest.approx(exact.potential_energy(), rel=1e-5)
    np.testing.assert_allclose(tabulated.forces, exact.forces, atol=1e-4 * np.abs(exact.forces).max())
    again = md.potential_from_config(table.to_config())
    assert again.energy(4.0, "Ar", "Kr") == pytest.approx(table.energy(4.0, "Ar", "Kr"))


def test_potential_config_round_trip():
    for pot in POTENTIALS.values():
        again = md.potential_from_config(pot.to_config())
        np.testing.assert_allclose(again.pack(["Ar", "Kr"])[0], pot.pack(["Ar", "Kr"])[0])


def test_diatomic_vibrates_at_the_harmonic_frequency():
    """Two O atoms joined by a harmonic bond: period 2π√(μ/k) with μ = m/2 (metal units)."""
    k, r0, stretch = 40.0, 1.2, 0.01
    x = np.array([[0.0, 0.0, 0.0], [r0 + stretch, 0.0, 0.0]])
    topology = md.Topology(bonds=[(0, 1, k, r0)], molecule_id=np.array([0, 0]))
    sim = md.Simulation(x, ["O", "O"], None, pbc=False, potential=md.LennardJones(3.0, 0.01, 5.0),
                        timestep_fs=0.05, topology=topology)
    mu = 15.999 / 2
    period = 2 * np.pi * np.sqrt(mu / (k * md.units.ACCEL_PER_FORCE))
    traj = sim.run(int(round(2 * period / 0.05)) // 10 * 10, record_every=10)
    r = np.linalg.norm(traj.position[:, 1] - traj.position[:, 0], axis=1) - r0
    crossings = np.flatnonzero((r[:-1] > 0) & (r[1:] <= 0))          # downward zero crossings
    t = traj.time[crossings] + traj.dt * r[crossings] / (r[crossings] - r[crossings + 1])
    assert t[1] - t[0] == pytest.approx(period, rel=2e-3)


def test_angle_and_bond_forces_are_the_energy_gradient():
    x = np.array([[0.0, 0.0, 0.0], [1.0, 0.1, 0.0], [-0.3, 0.95, 0.2]])
    topology = md.Topology(bonds=[(0, 1, 90.0, 1.01), (0, 2, 90.0, 1.01)], angles=[(1, 0, 2, 6.5, 113.0)],
                           molecule_id=np.zeros(3, dtype=int))
    sim = md.Simulation(x, ["O", "H", "H"], np.eye(3) * 20, potential=md.LennardJones(3.0, 0.01, 5.0),
                        timestep_fs=0.5, topology=topology)
    theta = np.arccos(np.dot(x[1], x[2]) / np.linalg.norm(x[1]) / np.linalg.norm(x[2]))
    expected = sum(45.0 * (np.linalg.norm(x[a]) - 1.01) ** 2 for a in (1, 2)) + 3.25 * (theta - np.deg2rad(113)) ** 2
    assert sim.potential_energy() == pytest.approx(expected, rel=1e-12)
    h = 1e-6
    for atom in range(3):
        for axis in range(3):
            xp, xm = x.copy(), x.copy()
            xp[atom, axis] += h
            xm[atom, axis] -= h
            fd = -(sim.evaluate(xp)[0] - sim.evaluate(xm)[0]) / (2 * h)
            assert sim.forces[atom, axis] == pytest.approx(fd, abs=1e-6)
