"""Softened field gravity (kernels, threads, REBOUND with the same softening) and KETJU regions."""
import numpy as np
import pytest

from simengine import nbody
from simengine.nbody import _regions
from simengine.nbody._gravity import FieldGravity


@pytest.mark.parametrize("kernel", ["cubic_spline", "plummer"])
def test_softened_force_is_minus_gradient_of_potential(kernel):
    eps = 0.1
    g = FieldGravity(1.0, eps, kernel, threads=1)
    m = np.array([1.0, 2.0])
    for r in (0.05, 0.2, 0.27, 0.5, 1.0):  # u = r / 2.8 eps in both spline branches and outside
        x = np.array([[0.0, 0, 0], [r, 0, 0]])
        acc = g.accelerations(x, m, np.array([-1, -1]))[0, 0]
        h = 1e-6
        phi = [g.potentials(np.array([[0.0, 0, 0], [r + s, 0, 0]]), m, np.zeros(2, np.int32), [0])[0]
               for s in (-h, h)]
        # a_x of body 0 = -dPhi_0/dx_0 = +dPhi_0/dr with r = x_1 - x_0
        assert acc == pytest.approx((phi[1] - phi[0]) / (2 * h), rel=1e-7)
    x = np.array([[0.0, 0, 0], [1e-9, 0, 0]])
    assert g.potentials(x, m, np.zeros(2, np.int32), [0])[0] == pytest.approx(-2.0 / eps, rel=1e-6)


def test_cubic_spline_is_newtonian_beyond_2p8_softening():
    eps = 0.1
    g = FieldGravity(1.0, eps, "cubic_spline", threads=1)
    for r in (0.2800001, 0.5, 3.0):
        x = np.array([[0.0, 0, 0], [r, 0, 0]])
        assert (g.accelerations(x, np.array([1.0, 1.0]), np.array([-1, -1]))[0, 0]
                == pytest.approx(1 / r ** 2, rel=1e-14))
    x = np.array([[0.0, 0, 0], [0.2, 0, 0]])
    assert g.accelerations(x, np.array([1.0, 1.0]), np.array([-1, -1]))[0, 0] < 0.99 / 0.2 ** 2


def test_direct_sum_paths_agree_are_deterministic_and_skip_same_region_pairs():
    rng = np.random.default_rng(0)
    x, m = rng.normal(size=(301, 3)), rng.uniform(0.5, 1.5, 301)
    group = np.full(301, -1)
    group[:5] = 0
    one = FieldGravity(1.0, 0.01, threads=1).accelerations(x, m, group)
    two = FieldGravity(1.0, 0.01, threads=2)
    assert np.allclose(two.accelerations(x, m, group), one, rtol=1e-13, atol=0)  # pair split over threads
    assert np.array_equal(two.accelerations(x, m, group), two.accelerations(x, m, group))  # deterministic
    per_target = two.accelerations(x, m, group, np.arange(301))  # the one-thread-per-target kernel
    assert np.allclose(per_target, one, rtol=1e-13, atol=0)
    free = FieldGravity(1.0, 0.01, threads=1).accelerations(x, m, np.full(301, -1))
    inner = FieldGravity(1.0, 0.01, threads=1).accelerations(x[:5], m[:5], np.full(5, -1))
    assert np.allclose(one[:5], free[:5] - inner, rtol=1e-12, atol=1e-12)  # exactly the intra-region part removed
    assert np.allclose(one[5:], free[5:], rtol=1e-13, atol=0)


def test_softened_cluster_converges_to_rebound_with_the_same_softening():
    rebound = pytest.importorskip("rebound")
    eps, t_end = 0.05, 1.0
    m, x, v = nbody.plummer_sphere(64, rng=1)["star"]
    ref = rebound.Simulation()
    ref.softening = eps
    for mi, xi, vi in zip(m, x, v):
        ref.add(m=mi, x=xi[0], y=xi[1], z=xi[2], vx=vi[0], vy=vi[1], vz=vi[2])
    ref.integrator = "ias15"
    ref.integrate(t_end, exact_finish_time=1)
    x_ref = np.array([[p.x, p.y, p.z] for p in ref.particles])
    errors = []
    for eta in (0.004, 0.001):
        sim = nbody.Simulation(softening=eps, softening_kernel="plummer", eta=eta, max_timestep=0.05)
        sim.add_particles(m, x, v)
        e0 = sim.energy()
        sim.integrate(t_end)
        errors.append(np.abs(sim.positions - x_ref).max())
        assert abs(sim.energy() / e0 - 1) < 1e-4  # energy with the softened potential
    assert errors[1] < 1e-4
    assert errors[0] / errors[1] > 3  # converging (at least second order: dt ~ sqrt(eta), error ~ eta)


def test_regions_merge_when_spheres_overlap_and_collect_stars():
    x = np.array([[0.0, 0, 0], [0.15, 0, 0], [5.0, 0, 0], [0.03, 0.03, 0], [4.95, 0, 0], [2.0, 0, 0]])
    bh = np.array([True, True, True, False, False, False])
    groups = _regions.find_groups(x, bh, np.ones(6, bool), radius=0.1)
    assert sorted(map(list, groups)) == [[0, 1, 3], [2, 4]]
    groups = _regions.find_groups(x, bh, np.ones(6, bool), radius=0.07)
    assert sorted(map(list, groups)) == [[0, 3], [1], [2, 4]]


def test_ketju_coupling_conserves_energy_as_stars_cross_region_boundaries():
    """A black hole in a small cluster: stars enter and leave its unsoftened region; the energy
    (softened star-star, Newtonian with the black hole) is conserved by the whole scheme."""
    m, x, v = nbody.hernquist_sphere(200, rng=2, central_mass=0.05)["star"]
    sim = nbody.Simulation(softening=0.02, region_radius=0.06, tolerance=1e-11, eta=0.01, max_timestep=0.01)
    sim.add_particles(m, x, v)
    sim.add_particles([0.05], [[0.0, 0, 0]], [[0.0, 0, 0]], kind="smbh")
    e0 = sim.energy()
    seen = set()
    for t in np.linspace(0.05, 1.0, 20):
        sim.integrate(t)
        for r in sim.regions:
            seen.update(r.tolist())
    assert len(seen) > 4  # several stars passed through the region
    assert abs(sim.energy() / e0 - 1) < 2e-4
