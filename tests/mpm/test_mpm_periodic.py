"""Periodic MPM axes: the region between the wall layers repeats along an axis given as periodic. A body is the
same body wherever the seam cuts it (translation by whole cells is exact to round-off), particles re-enter on the
other side, momentum is conserved with no walls in the way, and bad flags are refused."""
import numpy as np
import pytest

from simengine import Scene, materials
from simengine.errors import InputError


def spinning_disk(center, radius, spacing, lattice_fn, period_lo, period):
    """Lattice points of a disk (positions wrapped into the period along x), velocity: drift plus a spin."""
    x = lattice_fn(np.asarray(center) - radius, np.asarray(center) + radius, spacing)
    x = x[np.linalg.norm(x - center, axis=1) < radius]
    rel = x - center
    v = np.array([0.7, 0.1]) + 3.0 * np.stack([-rel[:, 1], rel[:, 0]], 1)
    x[:, 0] = period_lo + np.mod(x[:, 0] - period_lo, period)
    return x, v


def periodic_scene(threads=1, dtype="float64"):
    return Scene(dim=2, domain=(0.5, 0.25), grid_res=40, periodic=(True, False), gravity=(0.0, 0.0),
                 threads=threads, dtype=dtype)


def run(scene, x, v, steps, material=None):
    material = material or materials.NeoHookean(youngs_modulus=2e4, poisson_ratio=0.3)
    scene.add_particles(x, material, density=1000.0, velocity=v, volume=(scene.dx / 2) ** 2)
    solver, state = scene.build()
    other = solver.new_state()
    momentum = []
    for _ in range(steps):
        solver.step(state, other)
        state, other = other, state
        momentum.append((solver.particles.mass.numpy()[:, None] * state.v.numpy()).sum(0))
    solver.close()
    return state.x.numpy(), state.v.numpy(), np.array(momentum)


def test_a_body_cut_by_the_seam_moves_as_the_same_body_whole(lattice_fn):
    scene = periodic_scene()
    lo, hi = scene.region
    period = hi[0] - lo[0]
    spacing = scene.dx / 2
    shift = period / 2  # 17 whole cells: the grid looks the same from the body
    assert shift / scene.dx == pytest.approx(17)
    middle = np.array([lo[0] + period / 2, 0.12])
    seam = middle + np.array([shift, 0.0])  # centred on the ends of the period
    x_mid, v = spinning_disk(middle, 0.05, spacing, lattice_fn, lo[0], period)
    x_seam, _ = spinning_disk(seam, 0.05, spacing, lattice_fn, lo[0], period)
    assert (x_seam[:, 0] < lo[0] + 0.05).any() and (x_seam[:, 0] > hi[0] - 0.05).any()  # really cut in two
    steps = 200  # the disk drifts 0.7 m/s x 200 dt: across the seam and on
    end_mid, v_mid, _ = run(periodic_scene(), x_mid, v, steps)
    end_seam, v_seam, _ = run(periodic_scene(), x_seam, v, steps)
    assert ((end_seam[:, 0] >= lo[0]) & (end_seam[:, 0] < hi[0])).all()  # every particle inside the period
    offset = np.mod(end_seam[:, 0] - end_mid[:, 0] - shift + period / 2, period) - period / 2
    np.testing.assert_allclose(offset, 0.0, atol=1e-9)  # measured: ~1e-15 m
    np.testing.assert_allclose(end_seam[:, 1], end_mid[:, 1], atol=1e-12)
    np.testing.assert_allclose(v_seam, v_mid, atol=1e-9)
    assert np.abs(v_mid - v).max() > 0.05  # the body did deform (the spin stretches it)


def test_momentum_is_conserved_across_the_seam_and_two_threads_agree(lattice_fn):
    scene = periodic_scene()
    lo, hi = scene.region
    x, v = spinning_disk(np.array([hi[0] - 0.02, 0.12]), 0.05, scene.dx / 2, lattice_fn, lo[0], hi[0] - lo[0])
    end1, _, momentum = run(scene, x, v, 100)
    np.testing.assert_allclose(momentum - momentum[0], 0.0, atol=1e-12)  # no wall touches the disk
    solver_args = periodic_scene(threads=2)
    solver_args.add_particles(x, materials.NeoHookean(youngs_modulus=2e4, poisson_ratio=0.3), density=1000.0,
                              velocity=v, volume=(scene.dx / 2) ** 2)
    from simengine.mpm.solver import MPMSolver

    data = solver_args.particle_data()
    solver = MPMSolver(dim=2, cells=solver_args.cells, dx=solver_args.dx, dt=scene.dt, gravity=(0.0, 0.0),
                       periodic=(True, False), threads=2, min_particles_threaded=1, dtype="float64", pad=3,
                       particles={k: data[k] for k in ("mass", "volume", "model", "E", "nu", "params")})
    assert solver.threads == 2
    state, other = solver.new_state(data["x"], data["v"]), solver.new_state()
    for _ in range(100):
        solver.step(state, other)
        state, other = other, state
    solver.close()
    np.testing.assert_allclose(state.x.numpy(), end1, atol=1e-12)  # summation order only


def test_metadata_gives_the_period_as_bounds():
    scene = periodic_scene()
    scene.add_particles(np.array([[0.2, 0.1], [0.21, 0.1]]), materials.NeoHookean(), volume=1e-4)
    meta = scene.metadata(1e-4, 1, 1e-4)
    assert meta["periodic_boundary_conditions"] == [True, False]
    lo, hi = scene.region
    assert meta["bounds"][0] == pytest.approx([lo[0], hi[0]])
    assert meta["bounds"][1] == pytest.approx([0.0, scene.cells[1] * scene.dx])


@pytest.mark.parametrize("periodic, message", [
    ((True,), "periodic = "), ((True, False, False), "periodic = "), (("x", False), "periodic = "),
    ((2, 0), "periodic = "),
])
def test_bad_periodic_flags_are_refused(periodic, message):
    with pytest.raises(InputError, match=message):
        Scene(dim=2, domain=(0.5, 0.25), grid_res=40, periodic=periodic)


def test_a_period_under_four_cells_and_a_tape_are_refused():
    with pytest.raises(InputError, match=r"periodic\[1\].*at least 4"):
        Scene(dim=2, domain=(1.0, 0.15), grid_res=10, periodic=(False, True))
    scene = periodic_scene()
    scene.add_particles(np.array([[0.2, 0.1]]), materials.NeoHookean(), volume=1e-4)
    with pytest.raises(InputError, match="not differentiable"):
        scene.build(requires_grad=True)
