"""The Scene API: bodies from shapes, colliders, run -> Trajectory with metadata, determinism."""
import json

import numpy as np
import pytest

from simengine import Scene, Trajectory, materials, shapes
from simengine.io.types import ParticleType


def two_body_scene(seed=0, threads=1, jitter=True):
    scene = Scene(dim=2, domain=(1.0, 0.5), grid_res=32, seed=seed, threads=threads)
    scene.add_body(shapes.Box(lower=(0.2, 0.12), size=(0.15, 0.15)), materials.Sand(friction_angle=30.0),
                   density=1600.0, jitter=jitter, name="sand")
    scene.add_body(shapes.Sphere(center=(0.65, 0.3), radius=0.08), materials.Elastic(youngs_modulus=5e4),
                   density=1000.0, velocity=(-0.5, 0.0))
    scene.add_collider(shapes.Plane(normal=(0, 1), offset=0.1), friction=0.5)
    return scene


def test_run_returns_a_complete_trajectory(tmp_path):
    scene = two_body_scene()
    traj = scene.run(duration=0.1, record_every=10, progress=False)
    n = traj.num_particles
    dt = traj.metadata["dt"]
    assert traj.position.shape == (int(np.ceil(0.1 / (10 * dt) - 1e-9)) + 1, n, 2)
    assert traj.dt == pytest.approx(10 * dt)
    assert traj.velocity.shape == traj.position.shape and traj.mass.shape == (n,)
    sand = traj.material_id == 0
    assert sand.sum() == len(scene.bodies[0]["positions"]) and (~sand).sum() == len(scene.bodies[1]["positions"])
    assert set(traj.particle_type[sand]) == {ParticleType.SAND} and set(traj.particle_type[~sand]) == {
        ParticleType.ELASTIC}
    # 2^dim particles per cell of dx^dim: each particle carries rho dx^dim / 4
    np.testing.assert_allclose(traj.mass[sand], 1600.0 * scene.dx**2 / 4, rtol=1e-6)
    meta = json.loads(json.dumps(traj.metadata))  # JSON-serialisable
    for key in ("solver", "version", "dim", "dx", "dt", "write_every", "bounds", "grid_res", "gravity", "boundary",
                "materials", "bodies", "colliders"):
        assert key in meta
    assert meta["solver"] == "mls-mpm" and meta["write_every"] == 10 and meta["bounds"] == [[0, 1.0], [0, 0.5]]
    assert meta["materials"][0]["friction_angle"] == 30.0 and meta["bodies"][0]["shape"]["type"] == "Box"
    assert meta["colliders"][0]["friction"] == 0.5
    path = traj.save(tmp_path / "traj.h5")
    again = Trajectory.load(path)
    np.testing.assert_array_equal(again.position, traj.position)
    assert again.metadata["materials"] == meta["materials"]


def test_seeded_runs_repeat_exactly_and_seeds_differ():
    a = two_body_scene(seed=3).run(duration=0.05, record_every=5, progress=False)
    b = two_body_scene(seed=3).run(duration=0.05, record_every=5, progress=False)
    c = two_body_scene(seed=4).run(duration=0.05, record_every=5, progress=False)
    np.testing.assert_array_equal(a.position, b.position)
    assert not np.array_equal(a.position[0], c.position[0])  # jittered differently


def test_two_threads_repeat_exactly_and_agree_with_one():
    def run(threads):
        scene = Scene(dim=2, domain=(1.0, 1.0), grid_res=64, threads=threads)
        axes = np.arange(0.2, 0.8, scene.dx / 2), np.arange(0.1, 0.5, scene.dx / 2)
        # 9216 particles: above the threading threshold
        x = np.stack(np.meshgrid(*axes, indexing="ij"), -1).reshape(-1, 2) + scene.dx / 4
        scene.add_particles(x, materials.NeoHookean(youngs_modulus=3e4), density=1000.0, velocity=(0.3, -1.0))
        return scene.run(duration=0.03, record_every=10, progress=False)

    one, two, two_again = run(1), run(2), run(2)
    np.testing.assert_array_equal(two.position, two_again.position)  # deterministic for a thread count
    np.testing.assert_allclose(two.position, one.position, atol=1e-5)  # summation order differs only


def test_build_gives_the_solver_and_initial_state_and_3d_mesh_bodies():
    scene = Scene(dim=3, domain=(1.0, 1.0, 1.0), grid_res=16, threads=1)
    mesh = shapes.Mesh("assets/bunny.obj", scale=0.35, center=(0.5, 0.5, 0.5))
    scene.add_body(mesh, materials.Elastic(youngs_modulus=5e4), density=1000.0)
    solver, state = scene.build()
    x = state.x.numpy()
    assert x.shape == (len(scene.bodies[0]["positions"]), 3) and x.shape[0] > 50
    assert np.all(mesh.sdf(x) < 0)
    assert solver.dt == pytest.approx(scene.dt) and solver.dx == scene.dx
    other = solver.new_state(x)
    solver.step(state, other)
    assert other.time == pytest.approx(solver.dt)
    assert np.abs(other.v.numpy()[:, 1] + 9.81 * solver.dt).max() < 1e-4  # first step: free fall


def test_time_step_defaults_to_half_the_limit():
    scene = two_body_scene()
    assert scene.dt == pytest.approx(0.5 * scene.time_step_limit())
    fast = Scene(dim=2, domain=(1.0, 0.5), grid_res=32, dt=1e-5)
    fast.add_body(shapes.Box(lower=(0.2, 0.12), size=(0.1, 0.1)), materials.Fluid(), density=1000.0)
    assert fast.dt == 1e-5
