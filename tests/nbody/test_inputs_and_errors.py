"""Bad input gets a clear error naming the field, the value and the allowed range; failures are reported."""
import numpy as np
import pytest

from simengine import nbody
from simengine.errors import InputError, SimulationError


@pytest.mark.parametrize("kwargs, words", [
    (dict(softening=1e-3, region_radius=2e-3), ["region_radius", "0.002", "0.0028"]),
    (dict(tolerance=1e-16), ["tolerance", "1e-16", "(1e-15, 0.0001)"]),
    (dict(tolerance=1e-4), ["tolerance", "0.0001"]),
    (dict(c=0.0, pn_orders=("1",)), ["c = 0.0", "must be > 0", "pn_orders"]),
    (dict(c=None, pn_orders=("2.5",)), ["c = None"]),
    (dict(c=1.0, pn_orders=("4",)), ["pn_orders", "'4'"]),
    (dict(softening=-1.0), ["softening", "-1"]),
    (dict(softening_kernel="gaussian"), ["softening_kernel", "gaussian"]),
])
def test_bad_simulation_settings(kwargs, words):
    with pytest.raises(InputError) as err:
        nbody.Simulation(**kwargs)
    for w in words:
        assert w in str(err.value)


def test_bad_particles():
    sim = nbody.Simulation()
    with pytest.raises(InputError, match=r"mass\[1\] = 0.0 is outside the allowed range \(0, inf\)"):
        sim.add_particles([1.0, 0.0], np.eye(2, 3), np.zeros((2, 3)))
    with pytest.raises(InputError, match=r"mass\[0\] = -2.0"):
        sim.add_particles([-2.0], np.zeros((1, 3)), np.zeros((1, 3)))
    with pytest.raises(InputError, match="kind = 'planet'"):
        sim.add_particles([1.0], np.zeros((1, 3)), np.zeros((1, 3)), kind="planet")
    with pytest.raises(InputError, match=r"position\[0\] = \[nan"):
        sim.add_particles([1.0], [[np.nan, 0, 0]], np.zeros((1, 3)))
    sim.add_particles([1.0, 1.0, 1.0], [[0, 0, 0], [1, 0, 0], [0, 0, 0]], np.zeros((3, 3)))
    with pytest.raises(InputError, match=r"particles \[0, 2\] are coincident"):
        sim.integrate(1.0)


def test_time_must_not_go_backwards():
    sim = nbody.Simulation()
    sim.add_particles([1.0, 1.0], [[0, 0, 0], [1, 0, 0]], np.zeros((2, 3)))
    sim.integrate(0.1)
    with pytest.raises(InputError, match="t_end = 0.05"):
        sim.integrate(0.05)


def test_non_converging_extrapolation_is_retried_then_reported():
    """An extrapolation that cannot converge (a tolerance below round-off, set behind the API's
    check) is retried with smaller steps, then reported with the region members and the time;
    the state is never silently advanced."""
    dx, dv = nbody.kepler_state(1.0, 0.9, 0.5, 1.0, 1.0)
    sim = nbody.Simulation(softening=1e-3, region_radius=10.0, tolerance=1e-12)
    sim.add_particles([1.0, 1.0], [0.5 * dx, -0.5 * dx], [0.5 * dv, -0.5 * dv], kind="smbh")
    x0 = sim.positions
    sim._ar.tol = 1e-30
    sim._ar.max_retries = 5
    with pytest.raises(SimulationError, match=r"particles \[0, 1\].*did not converge.*after 6 step reductions at time"):
        sim.integrate(1.0)
    assert np.array_equal(sim.positions, x0) and sim.time == 0.0  # the failed step was rolled back
