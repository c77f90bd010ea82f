"""Post-Newtonian dynamics against analytic results and REBOUNDx: periastron advance, Peters-Mathews
inspiral, circular merger time, and the N-body 1PN (EIH) cross terms against `gr_full`."""
import numpy as np
import pytest
from scipy.integrate import solve_ivp

from simengine import nbody
from tests.nbody.test_regularized_dynamics import binary


def orbit_averaged(sim, t0, period, samples=48):
    """Osculating (a, e, periapsis angle) averaged over one orbit starting at t0 (removes the
    periodic PN terms; the secular drift over one orbit is small and symmetric about its middle)."""
    rows = []
    for t in t0 + period * (np.arange(samples) + 0.5) / samples:
        sim.integrate(t)
        el = sim.binary_elements(0, 1)
        rows.append((el["a"], el["e"], np.arctan2(el["e_vector"][1], el["e_vector"][0])))
    rows = np.array(rows)
    return rows[:, 0].mean(), rows[:, 1].mean(), np.unwrap(rows[:, 2]).mean(), t0 + period


def pericentre_angle(sim):
    """Advance to the next pericentre passage (where the osculating mean anomaly is zero) and return
    the angle of the eccentricity vector there: sampling each orbit at the same phase removes the
    periodic PN variations of the osculating elements."""
    for _ in range(8):
        el = sim.binary_elements(0, 1)
        a, e, ev = el["a"], el["e"], el["e_vector"]
        x, v = sim.positions[0] - sim.positions[1], sim.velocities[0] - sim.velocities[1]
        cos_E = (1 - el["separation"] / a) / e
        E = np.arccos(np.clip(cos_E, -1, 1)) * (1 if x @ v >= 0 else -1)
        M = E - e * np.sin(E)
        to_go = (-M % (2 * np.pi)) / np.sqrt((sim.masses[0] + sim.masses[1]) / a ** 3)
        if to_go < 1e-7 or to_go > 0.9 * el["period"]:
            return np.arctan2(ev[1], ev[0])
        sim.integrate(sim.time + to_go)
    raise AssertionError("pericentre not reached")


def test_1pn_periastron_advance():
    m1, m2, a, e, c = 0.6, 0.4, 1.0, 0.5, 60.0
    sim = binary(m1, m2, a, e, c=c, pn_orders=("1",), softening=1e-3, region_radius=5.0, tolerance=1e-11)
    P = 2 * np.pi * np.sqrt(a ** 3)
    sim.integrate(0.5 * P)
    w0 = pericentre_angle(sim)
    n_orbits = 15
    sim.integrate(sim.time + (n_orbits - 0.5) * P)
    w1 = pericentre_angle(sim)
    per_orbit = (w1 - w0) % (2 * np.pi) / n_orbits
    want = nbody.periastron_advance(a, e, m1 + m2, 1.0, c)
    assert want > 1e-3
    assert abs(per_orbit / want - 1) < 0.01  # higher PN orders: ~ 10 G M / (c^2 a) ~ 3e-3


def test_25pn_inspiral_follows_peters_mathews():
    m1, m2, a0, e0, c = 0.5, 0.5, 1.0, 0.6, 20.0
    sim = binary(m1, m2, a0, e0, c=c, pn_orders=("2.5",), softening=1e-3, region_radius=5.0, tolerance=1e-11)
    P = 2 * np.pi
    a_start, e_start, _, t = orbit_averaged(sim, 0.0, P)
    n_orbits = 20
    sim.integrate(t + (n_orbits - 1) * P)
    a_end, e_end, _, _ = orbit_averaged(sim, t + (n_orbits - 1) * P, P)
    # Peters-Mathews: integrate the orbit-averaged rates over the same interval.
    sol = solve_ivp(lambda _, y: nbody.peters_mathews_rates(y[0], y[1], m1, m2, 1.0, c), (0, n_orbits * P),
                    [a_start, e_start], rtol=1e-11, atol=1e-14)
    da_pm, de_pm = sol.y[0, -1] - a_start, sol.y[1, -1] - e_start
    assert da_pm < -5e-4 * a0  # a measurable inspiral
    assert abs((a_end - a_start) / da_pm - 1) < 0.02
    assert abs((e_end - e_start) / de_pm - 1) < 0.03


def test_25pn_circular_inspiral_time_matches_peters():
    """A circular binary shrinks from a0 to a0/3 in T(a0) - T(a0/3), T = (5/256) c^5 a^4 / (G^3 m1 m2 M)."""
    m1, m2, a0, c = 0.5, 0.5, 1.0, 6.0
    a_stop = a0 / 3
    rs = 2 * (m1 + m2) / c ** 2
    sim = binary(m1, m2, a0, 0.0, c=c, pn_orders=("2.5",), merger_radius=a_stop / rs, softening=1e-3,
                 region_radius=5.0, tolerance=1e-10)
    want = nbody.circular_merger_time(a0, m1, m2, 1.0, c) - nbody.circular_merger_time(a_stop, m1, m2, 1.0, c)
    e0 = sim.energy()
    sim.integrate(1.2 * want)
    # energy bookkeeping closes: Newtonian energy = start + work of the PN forces + merger loss
    assert sim.pn_work < 0 and sim.merger_energy > 0
    assert abs(sim.energy() - sim.pn_work - sim.merger_energy - e0) < 1e-6 * abs(e0)
    assert len(sim.mergers) == 1
    t_merge, kept, gone = sim.mergers[0]
    assert abs(t_merge / want - 1) < 0.01
    assert sim.masses[kept] == pytest.approx(m1 + m2) and not sim.alive[gone]
    assert np.allclose(sim.positions[gone], sim.positions[kept])


def test_1pn_cross_terms_match_reboundx_gr_full():
    """A hierarchical black-hole triple with 1PN for every body: our EIH vs REBOUNDx gr_full (IAS15)."""
    rebound = pytest.importorskip("rebound")
    reboundx = pytest.importorskip("reboundx")
    c, t_end = 60.0, 20.0
    m = np.array([1.0, 0.4, 0.2])
    x = np.array([[0.0, 0.0, 0.0], [0.6, 0.0, 0.05], [-2.5, 0.3, 0.0]])
    v = np.array([[0.0, -0.25, 0.0], [0.0, 1.35, 0.0], [0.05, -0.62, 0.1]])
    x -= (m[:, None] * x).sum(0) / m.sum()
    v -= (m[:, None] * v).sum(0) / m.sum()

    def ours(orders):
        sim = nbody.Simulation(c=c, pn_orders=orders, softening=1e-3, region_radius=10.0, tolerance=1e-12)
        sim.add_particles(m, x, v, kind="smbh")
        sim.integrate(t_end)
        return sim.positions

    ref = rebound.Simulation()
    for mi, xi, vi in zip(m, x, v):
        ref.add(m=mi, x=xi[0], y=xi[1], z=xi[2], vx=vi[0], vy=vi[1], vz=vi[2])
    ref.integrator = "ias15"
    rebx = reboundx.Extras(ref)
    gr = rebx.load_force("gr_full")
    rebx.add_force(gr)
    gr.params["c"] = c
    ref.integrate(t_end, exact_finish_time=1)
    x_rebx = np.array([[p.x, p.y, p.z] for p in ref.particles])
    x_pn, x_newton = ours(("1",)), ours(())
    pn_effect = np.abs(x_pn - x_newton).max()
    assert pn_effect > 1e-2
    assert np.abs(x_pn - x_rebx).max() < 2e-3 * pn_effect
