"""1.5PN spin-orbit coupling and spin precession ("1.5so") against closed forms and conservation laws.

References written here from the literature, independently of kernels/nbody/spin.py:
* Kidder 1995 (Phys. Rev. D 52, 821) relative acceleration, harmonic gauge, covariant SSC, and his
  1.5PN spin-orbit part of the orbital angular momentum L_SO;
* the Lense-Thirring acceleration of a test body around a spinning mass, in the form of the IERS
  Conventions 2010 (eq. 10.12 with gamma = 1): a = 2 G / (c^2 r^3) [3 (n x v)(n.S) + v x S];
* the simple-precession rate of one spinning body (Apostolatos et al. 1994):
  Omega_p = (2 + 3 m_2 / (2 m_1)) G |J| / (c^2 r^3).
"""
import numpy as np
import pytest

from simengine import nbody
from simengine.errors import InputError


def kidder_acceleration(m1, m2, x, v, S1, S2, c, G=1.0):
    M = m1 + m2
    r = np.linalg.norm(x)
    n, rdot = x / r, x @ v / r
    S = S1 + S2
    dm_Delta = (m1 - m2) / M * M * (S2 / m2 - S1 / m1)  # (delta m / m) Delta, Delta = m (S2/m2 - S1/m1)
    return G / (c ** 2 * r ** 3) * (6 * n * (np.cross(n, v) @ (2 * S + dm_Delta)) - np.cross(v, 7 * S + 3 * dm_Delta)
                                    + 3 * rdot * np.cross(n, 3 * S + dm_Delta))


def kidder_L_so(m1, m2, x, v, S1, S2, c, G=1.0):
    M = m1 + m2
    r = np.linalg.norm(x)
    n = x / r
    S = S1 + S2
    dm_Delta = (m1 - m2) * (S2 / m2 - S1 / m1)
    return m1 * m2 / M ** 2 / c ** 2 * (G * M / r * np.cross(n, np.cross(n, 3 * S + dm_Delta))
                                         - 0.5 * np.cross(v, np.cross(v, S + dm_Delta)))


def lense_thirring(x, v, S, c, G=1.0):
    r = np.linalg.norm(x)
    n = x / r
    return 2 * G / (c ** 2 * r ** 3) * (3 * np.cross(n, v) * (n @ S) + np.cross(v, S))


def kernel_rates(m1, m2, x, v, S1, S2, c, orders=("1.5so",)):
    """(relative acceleration a_1 - a_2, per-body accelerations, spin rates) from the Warp kernels."""
    M = m1 + m2
    X, V = np.array([m2 / M * x, -m1 / M * x]), np.array([m2 / M * v, -m1 / M * v])
    acc, rate = nbody.pn_spin_rates([m1, m2], X, V, np.array([S1, S2]), [1, 1], G=1.0, c=c, orders=orders)
    return acc[0] - acc[1], acc, rate


def test_acceleration_matches_kidder_and_lense_thirring():
    rng = np.random.default_rng(5)
    c = 7.0
    for m1, m2 in ((0.7, 0.3), (0.5, 0.5), (0.1, 0.9)):
        x, v = rng.normal(size=3), 0.5 * rng.normal(size=3)
        S1, S2 = rng.normal(size=3) * m1 ** 2 / c, rng.normal(size=3) * m2 ** 2 / c
        got, acc, rate = kernel_rates(m1, m2, x, v, S1, S2, c)
        want = kidder_acceleration(m1, m2, x, v, S1, S2, c)
        assert np.linalg.norm(got - want) <= 1e-13 * np.linalg.norm(want)
        assert np.allclose(m1 * acc[0] + m2 * acc[1], 0.0, atol=1e-16)  # shared: Newtonian momentum kept
        assert abs(rate[0] @ S1) < 1e-14 * np.linalg.norm(rate[0]) * np.linalg.norm(S1)  # pure precession
    # Test-mass limit: body 1 (mass -> 0) around a spinning body 2 feels the Lense-Thirring force.
    x, v, S2 = np.array([1.0, 0.3, -0.2]), np.array([-0.2, 0.9, 0.4]), np.array([0.1, -0.3, 0.8])
    got, _, _ = kernel_rates(1e-12, 1.0, x, v, np.zeros(3), S2, c)
    want = lense_thirring(x, v, S2, c)
    assert np.linalg.norm(got - want) <= 1e-10 * np.linalg.norm(want)


def test_spin_orbit_switches_independently_and_zero_spin_adds_nothing():
    m1, m2, c = 0.6, 0.4, 5.0
    x, v = np.array([1.0, 0.2, -0.1]), np.array([0.1, 0.8, 0.05])
    S1, S2 = np.array([0.0, 0.05, 0.06]), np.array([0.02, 0.0, -0.01])
    pn, _, _ = kernel_rates(m1, m2, x, v, S1, S2, c, orders=("1", "2"))
    so, _, _ = kernel_rates(m1, m2, x, v, S1, S2, c, orders=("1.5so",))
    both, _, _ = kernel_rates(m1, m2, x, v, S1, S2, c, orders=("1", "2", "1.5so"))
    assert np.allclose(both, pn + so, rtol=1e-14, atol=0) and np.linalg.norm(so) > 0
    zero, _, rate = kernel_rates(m1, m2, x, v, np.zeros(3), np.zeros(3), c, orders=("1", "2", "1.5so"))
    assert np.array_equal(zero, pn) and not rate.any()


def test_instantaneous_angular_momentum_balance():
    """d/dt (L_N + L_SO + S_1 + S_2) = 0 along Newtonian motion at O(c^-3): the kernel's torque mu x X a_SO
    and spin rates cancel Kidder's dL_SO/dt (a check of every mass-ratio coefficient at once)."""
    rng = np.random.default_rng(11)
    c, h = 3.0, 1e-6
    for m1, m2 in ((0.7, 0.3), (0.2, 0.8)):
        M, mu = m1 + m2, m1 * m2 / (m1 + m2)
        x, v = rng.normal(size=3), 0.7 * rng.normal(size=3)
        S1, S2 = rng.normal(size=3) * m1 ** 2 / c, rng.normal(size=3) * m2 ** 2 / c
        a_so, _, rate = kernel_rates(m1, m2, x, v, S1, S2, c)
        a_newton = -M * x / np.linalg.norm(x) ** 3
        dL_so = (kidder_L_so(m1, m2, x + h * v, v + h * a_newton, S1, S2, c)
                 - kidder_L_so(m1, m2, x - h * v, v - h * a_newton, S1, S2, c)) / (2 * h)
        torque = mu * np.cross(x, a_so)
        balance = torque + rate.sum(0) + dL_so
        assert np.linalg.norm(balance) < 1e-8 * np.linalg.norm(torque)
        assert np.linalg.norm(torque + rate.sum(0)) > 0.1 * np.linalg.norm(torque)  # L_SO is needed


def spinning_binary(c, orders=("1.5so",)):
    """m1 = 0.6 with chi = 1 tilted 1 rad from L_N, m2 = 0.4 non-spinning, Newtonian circular orbit, a = 1."""
    m1, m2 = 0.6, 0.4
    dx, dv = nbody.kepler_state(1.0, 0.0, 0.0, m1, m2)
    sim = nbody.Simulation(c=c, pn_orders=orders, softening=1e-3, region_radius=5.0, tolerance=1e-10)
    sim.add_particles([m1, m2], [m2 * dx, -m1 * dx], [m2 * dv, -m1 * dv], kind="smbh",
                      spin=[[np.sin(1.0), 0.0, np.cos(1.0)], [0.0, 0.0, 0.0]])
    return sim


def angular_momenta(sim, c):
    """(L_N, J = L_N + L_SO + S_1 + S_2, J without L_SO) of the pair."""
    m1, m2 = sim.masses
    x, v, S = sim.positions[0] - sim.positions[1], sim.velocities[0] - sim.velocities[1], sim.spin_angular_momenta
    L_N = m1 * m2 / (m1 + m2) * np.cross(x, v)
    return L_N, L_N + kidder_L_so(m1, m2, x, v, S[0], S[1], c) + S.sum(0), L_N + S.sum(0)


def test_total_angular_momentum_conserved_to_expected_order():
    """8 orbits sampled 8 times each: |J(t) - J(0)| / |S_1| falls as c^-4 with L_SO (the next order),
    and only as c^-2 without it."""
    res = {}
    for c in (10.0, 20.0):
        sim = spinning_binary(c)
        S1 = np.linalg.norm(sim.spin_angular_momenta[0])
        rows = []
        for t in 2 * np.pi * np.arange(65) / 8:
            sim.integrate(t)
            rows.append(angular_momenta(sim, c))
        rows = np.array(rows)
        res[c] = [np.abs(rows[:, k] - rows[0, k]).max() / S1 for k in (1, 2)]
        assert np.abs(rows[:, 0] - rows[0, 0]).max() > 10 * res[c][0] * S1  # L_N itself moves much more
    assert res[10.0][0] < 2e-3 and res[10.0][0] < 0.25 * res[10.0][1]
    assert 12 < res[10.0][0] / res[20.0][0] < 20  # ~ c^-4
    assert 3 < res[10.0][1] / res[20.0][1] < 5  # ~ c^-2


def test_orbit_precesses_around_J_at_the_simple_precession_rate():
    """Half a precession cycle (64 orbits, c = 10): L_N turns by pi around the fixed J on a cone of
    constant opening, at Omega_p = (2 + 3 m2 / (2 m1)) G |J| / (c^2 a^3) (orbit-averaged, circular)."""
    c, m1, m2 = 10.0, 0.6, 0.4
    sim = spinning_binary(c)
    S1_start = sim.spin_angular_momenta[0]
    rows = []
    for t in 2 * np.pi * np.arange(257) / 4:
        sim.integrate(t)
        rows.append(angular_momenta(sim, c)[:2])
    rows = np.array(rows)
    L_N, J = rows[:, 0], rows[:, 1]
    J0 = J[0]
    assert np.abs(J - J0).max() < 0.01 * np.linalg.norm(S1_start)  # |J| and its direction stay put
    assert np.linalg.norm(sim.spin_angular_momenta[0] - S1_start) > np.linalg.norm(S1_start)  # S_1 swung round
    axis = J0 / np.linalg.norm(J0)
    e1 = np.cross(axis, [1.0, 0.0, 0.0])
    e1 /= np.linalg.norm(e1)
    e2 = np.cross(axis, e1)
    angle = np.unwrap(np.arctan2(L_N @ e2, L_N @ e1))
    t = 2 * np.pi * np.arange(257) / 4
    rate = np.polyfit(t, angle, 1)[0]
    want = (2 + 1.5 * m2 / m1) * np.linalg.norm(J0) / c ** 2
    assert abs(rate / want - 1) < 0.01
    assert abs(angle[-1] - angle[0] - np.pi) < 0.1
    cone = np.degrees(np.arccos(L_N @ axis / np.linalg.norm(L_N, axis=1)))
    assert cone.min() > 5 and cone.max() - cone.min() < 0.3


def test_zero_spin_reproduces_the_spin_free_run_exactly():
    """e = 0.5, 1PN + 2.5PN, 3 orbits: "1.5so" with zero spins, and spins without "1.5so", change nothing."""
    def run(orders, chi):
        dx, dv = nbody.kepler_state(1.0, 0.5, 0.0, 0.7, 0.3)
        sim = nbody.Simulation(c=8.0, pn_orders=orders, softening=1e-3, region_radius=5.0, tolerance=1e-10)
        sim.add_particles([0.7, 0.3], [0.3 * dx, -0.7 * dx], [0.3 * dv, -0.7 * dv], kind="smbh", spin=chi)
        sim.integrate(3 * 2 * np.pi)
        return sim

    ref = run(("1", "2.5"), None)
    chi = np.array([[0.3, -0.5, 0.6], [0.0, 0.9, 0.1]])
    for sim in (run(("1", "2.5", "1.5so"), None), run(("1", "2.5", "1.5so"), np.zeros((2, 3))),
                run(("1", "2.5"), chi)):
        assert np.array_equal(sim.positions, ref.positions) and np.array_equal(sim.velocities, ref.velocities)
    assert np.allclose(run(("1", "2.5"), chi).spins, chi, rtol=1e-15, atol=0)  # no "1.5so": spins are constant
    assert not np.array_equal(run(("1", "2.5", "1.5so"), chi).positions, ref.positions)


def test_merger_remnant_keeps_total_angular_momentum():
    from simengine.nbody import _mergers

    sim = spinning_binary(10.0, orders=("1.5so",))
    sim.integrate(0.1)
    region = sim._regions[0]
    before = sim.angular_momentum() - sim.masses.sum() * np.cross(region.cm_x, region.cm_v)
    new, (_, _, m, _) = _mergers.merge_pair(region, 0, 1, sim.G, None)  # c unknown: no Kerr cap
    assert np.allclose(new.spin[0], before, rtol=1e-12)  # S_1 + S_2 + L_orbit (about the centre of mass)
    capped, _ = _mergers.merge_pair(region, 0, 1, sim.G, 10.0)
    assert np.isclose(np.linalg.norm(capped.spin[0]) * 10.0 / m ** 2, 1.0)  # chi capped at 1


@pytest.mark.parametrize("spin, kind, c, words", [
    ([[0.0, 0.0, 1.2], [0.0, 0.0, 0.0]], "smbh", 10.0, ["spin[0]", "|chi| = 1.2", "[0, 1]"]),
    ([[0.0, 0.0, 0.5]], "smbh", 10.0, ["spin", "(2, 3)", "(1, 3)"]),
    ([0.1, 0.2, 0.3], "smbh", 10.0, ["spin", "(2, 3)", "(3,)"]),
    ([[0.0, np.nan, 0.0], [0.0, 0.0, 0.0]], "smbh", 10.0, ["spin[0]", "not finite"]),
    ([[0.0, 0.0, 0.5], [0.0, 0.0, 0.0]], "star", 10.0, ["spin", "smbh", "star"]),
    ([[0.0, 0.0, 0.5], [0.0, 0.0, 0.0]], "smbh", None, ["c = None", "spin"]),
])
def test_bad_spin_input(spin, kind, c, words):
    sim = nbody.Simulation(c=c, pn_orders=("1.5so",) if c else ())
    with pytest.raises(InputError) as err:
        sim.add_particles([1.0, 1.0], [[0, 0, 0], [1, 0, 0]], np.zeros((2, 3)), kind=kind, spin=spin)
    for w in words:
        assert w in str(err.value)
    assert sim.n_particles == 0


def test_unknown_spin_order_is_named():
    with pytest.raises(InputError, match=r"pn_orders entry '1.5ss'.*'1.5so'"):
        nbody.Simulation(c=1.0, pn_orders=("1.5ss",))
