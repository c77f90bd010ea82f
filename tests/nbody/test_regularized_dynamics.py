"""The regularized integrator on few-body problems: Kepler's solution, close encounters, REBOUND IAS15."""
import numpy as np
import pytest

from simengine import nbody


def binary(m1, m2, a, e, mean_anomaly=0.0, kind="smbh", **kw):
    dx, dv = nbody.kepler_state(a, e, mean_anomaly, m1, m2)
    M = m1 + m2
    sim = nbody.Simulation(**kw)
    sim.add_particles([m1, m2], [m2 / M * dx, -m1 / M * dx], [m2 / M * dv, -m1 / M * dv], kind=kind)
    return sim


def test_kepler_e09_100_orbits_matches_analytic_solution():
    """e = 0.9, 100 orbits: relative position within 1e-8 a of Kepler's equation's solution."""
    m1, m2, a, e = 1.0, 0.5, 1.0, 0.9
    sim = binary(m1, m2, a, e, softening=1e-3, region_radius=3.0, tolerance=1e-12)
    period = 2 * np.pi * np.sqrt(a ** 3 / (m1 + m2))
    t_end = 100.37 * period  # end away from pericentre, where position errors show most
    sim.integrate(t_end)
    assert sim.time == t_end  # output time hit exactly
    want, _ = nbody.kepler_state(a, e, 2 * np.pi * 100.37, m1, m2)
    x = sim.positions
    assert np.linalg.norm((x[0] - x[1]) - want) <= 1e-8 * a
    assert np.allclose((m1 * x[0] + m2 * x[1]) / (m1 + m2), 0.0, atol=1e-10)  # centre of mass stays put (round-off)


def pythagorean(**kw):
    """Burrau's three-body problem: masses 3, 4, 5 at rest at the corners of a 3-4-5 triangle."""
    sim = nbody.Simulation(softening=1e-3, region_radius=20.0, **kw)
    sim.add_particles([3.0, 4.0, 5.0], [[1.0, 3.0, 0], [-2.0, -1.0, 0], [1.0, -1.0, 0]], np.zeros((3, 3)),
                      kind="smbh")
    return sim


def test_energy_conserved_through_close_encounters_and_agrees_with_ias15():
    rebound = pytest.importorskip("rebound")
    sim = pythagorean(tolerance=1e-12)
    e0 = sim.energy()
    r_min = np.inf
    # coarse outputs plus a fine look at the first close approach (t ~ 1.879, r ~ 0.01)
    for t in np.union1d(np.linspace(0.25, 10.0, 40), np.linspace(1.875, 1.884, 19)):
        sim.integrate(t)
        x = sim.positions
        r_min = min(r_min, min(np.linalg.norm(x[i] - x[j]) for i, j in ((0, 1), (0, 2), (1, 2))))
    assert r_min < 0.02  # the encounters are close (~1/100 of the initial size) ...
    assert abs(sim.energy() - e0) < 1e-10 * abs(e0)  # ... and the energy survives them
    ref = rebound.Simulation()
    for m, x in zip([3.0, 4.0, 5.0], [[1.0, 3.0, 0], [-2.0, -1.0, 0], [1.0, -1.0, 0]]):
        ref.add(m=m, x=x[0], y=x[1], z=x[2])
    ref.integrator = "ias15"
    ref.integrate(10.0, exact_finish_time=1)
    xr = np.array([[p.x, p.y, p.z] for p in ref.particles])
    assert np.abs(sim.positions - xr).max() < 1e-6  # two independent codes, same trajectory


def test_output_times_are_hit_and_intermediate_outputs_do_not_change_the_result():
    a = pythagorean(tolerance=1e-12)
    a.integrate(1.0)
    b = pythagorean(tolerance=1e-12)
    for t in np.linspace(0.1, 1.0, 10):
        b.integrate(t)
        assert b.time == t
    assert np.abs(a.positions - b.positions).max() < 1e-9
