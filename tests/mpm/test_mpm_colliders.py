"""Colliders given by signed distance: Coulomb friction, holding, sticking and pushing (moving plane)."""
import numpy as np
import pytest

from simengine import InputError, Scene, materials, shapes


def slab_scene(lattice_fn, collider, velocity=(0.0, 0.0), duration=0.5, bottom=0.21, x0=0.3):
    scene = Scene(dim=2, domain=(1.0, 1.0), grid_res=32, threads=1)
    x = lattice_fn([x0 - 0.075, bottom], [x0 + 0.075, bottom + 0.08], scene.dx / 2)
    scene.add_particles(x, materials.Elastic(youngs_modulus=5e4), density=1000.0, velocity=velocity,
                        volume=(scene.dx / 2) ** 2)
    scene.add_collider(**collider)
    return scene.run(duration=duration, record_every=5, progress=False)


def test_sliding_block_decelerates_at_mu_g(lattice_fn):
    mu = 0.3
    plane = dict(shape=shapes.Plane(normal=(0, 1), offset=0.2), friction=mu, mode="separate")
    traj = slab_scene(lattice_fn, plane, velocity=(1.0, 0.0))
    vx = traj.velocity[:, :, 0].mean(axis=1)
    t = np.arange(traj.num_frames) * traj.dt
    sliding = (vx > 0.2) & (vx < 0.8)
    deceleration = -np.polyfit(t[sliding], vx[sliding], 1)[0]
    assert deceleration == pytest.approx(mu * 9.81, rel=0.1)  # measured: 5% below mu g
    assert traj.position[:, :, 1].min() > 0.2 - 1 / 32  # held by the plane, far above the floor


def test_frictionless_plane_lets_it_slide_on(lattice_fn):
    plane = dict(shape=shapes.Plane(normal=(0, 1), offset=0.2), friction=0.0, mode="slip")
    traj = slab_scene(lattice_fn, plane, velocity=(1.0, 0.0), duration=0.2)
    vx = traj.velocity[:, :, 0].mean(axis=1)
    assert np.abs(vx - 1.0).max() < 0.02


@pytest.mark.parametrize("velocity", [(0.0, 0.5), lambda t: (0.0, 0.5)])
def test_moving_sticky_plane_carries_the_body_up(lattice_fn, velocity):
    plane = dict(shape=shapes.Plane(normal=(0, 1), offset=0.2), mode="sticky", velocity=velocity)
    traj = slab_scene(lattice_fn, plane, duration=0.3, bottom=0.22)
    t = np.arange(traj.num_frames) * traj.dt
    surface = 0.2 + 0.5 * t
    assert np.all(traj.position[:, :, 1].min(axis=1) > surface - 1 / 32)  # never pushed through
    com = traj.position[:, :, 1].mean(axis=1)
    assert com[-1] - com[0] == pytest.approx(0.5 * t[-1], rel=0.2)


def test_box_collider_catches_a_falling_block(lattice_fn):
    table = dict(shape=shapes.Box(lower=(0.15, 0.1), size=(0.3, 0.2)), mode="sticky")
    traj = slab_scene(lattice_fn, table, duration=0.4, bottom=0.5)
    assert traj.position[:, :, 1].min() > 0.3 - 1 / 32  # lands on the box top, never reaches the floor
    com = traj.position[:, :, 1].mean(axis=1)
    assert com.max() <= com[0] + 1e-6  # an elastic bounce off the box never gains energy


def test_collider_arguments_are_checked():
    scene = Scene(dim=2, domain=(1.0, 1.0), grid_res=32)
    with pytest.raises(InputError, match=r"collider mode = 'bouncy' is not one of"):
        scene.add_collider(shapes.Plane(normal=(0, 1), offset=0.2), mode="bouncy")
    with pytest.raises(InputError, match="collider friction = -1.0"):
        scene.add_collider(shapes.Plane(normal=(0, 1), offset=0.2), friction=-1.0)
    with pytest.raises(InputError, match="has no sdf"):
        scene.add_collider(object())
    with pytest.raises(InputError, match="collider velocity"):
        scene.add_collider(shapes.Plane(normal=(0, 1), offset=0.2), velocity=(0.0, 0.0, 1.0))
