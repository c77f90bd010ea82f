"""The deformables simulator against physics: the catenary, a pendulum, Hooke's law, conservation laws, Coulomb
friction, rigid grasps, free fall and a folded cloth that does not pass through itself."""
import math

import numpy as np
import pytest
from scipy.optimize import brentq

from simengine import deformables
from simengine.simulator import record

G = 9.81


def test_pinned_rope_hangs_as_the_catenary():
    """1 m, 60 segments, ends 0.6 m apart: within 2 mm of a cosh(x / a) with 2 a sinh(span / 2a) = L, strain
    under 0.5 %."""
    n, length, span = 60, 1.0, 0.6
    scene = deformables.Scene(damping=5.0, self_contact=False)
    scene.add_rope(start=(0, 0, 0), end=(length, 0, 0), segments=n, mass=0.1, stiffness=1e4, radius=0.004)
    scene.pin([0, n])
    model, _ = scene.build()
    s = np.linspace(0.0, 1.0, n + 1)
    state = model.new_state(x=np.stack([s * span, -0.4 * np.sin(np.pi * s), 0 * s], 1))  # any arc, ends at span
    traj, _ = record(model, state, 600, 600, progress=False)
    x = traj.position[-1].astype(np.float64)
    a = brentq(lambda a: 2 * a * np.sinh(span / (2 * a)) - length, 1e-3, 10.0)
    catenary = a * np.cosh((x[:, 0] - span / 2) / a) - a * np.cosh(span / (2 * a))
    strain = np.linalg.norm(np.diff(x, axis=0), axis=1) / (length / n) - 1.0
    assert np.abs(x[:, 1] - catenary).max() < 2e-3
    assert strain.max() < 5e-3 and np.abs(traj.velocity[-1]).max() < 1e-6  # at rest


@pytest.mark.parametrize("integrator", ["xpbd", "symplectic"])
def test_one_segment_rope_swings_with_the_pendulum_period(integrator):
    length, amplitude = 0.5, math.radians(5.0)
    scene = deformables.Scene(integrator=integrator, self_contact=False, dt=1 / 120)
    scene.add_rope(start=(0, 0, 0), end=(length * math.sin(amplitude), -length * math.cos(amplitude), 0),
                   segments=1, mass=0.2, stiffness=5e4, radius=0.01)
    scene.pin([0])
    model, state = scene.build()
    steps = 480  # 4 s: about 2.8 periods
    traj, _ = record(model, state, steps, 1, progress=False)
    x = traj.position[:, 1, 0].astype(np.float64)
    t = np.arange(len(x)) * model.dt
    up = np.flatnonzero((x[:-1] > 0) & (x[1:] <= 0))  # downward zero crossings, interpolated
    crossings = t[up] + x[up] / (x[up] - x[up + 1]) * model.dt
    period = float(np.mean(np.diff(crossings)))
    exact = 2 * math.pi * math.sqrt(length / G) * (1 + amplitude**2 / 16)  # finite-amplitude correction
    assert len(crossings) >= 2 and abs(period / exact - 1) < 5e-3


def test_hanging_mass_stretches_its_spring_by_mg_over_k():
    length, stiffness, mass = 0.3, 50.0, 0.4  # the free particle carries half the rope's mass
    scene = deformables.Scene(damping=8.0, self_contact=False)
    scene.add_rope(start=(0, 0, 0), end=(0, -length, 0), segments=1, mass=mass, stiffness=stiffness)
    scene.pin([0])
    traj = scene.run(duration=6.0, record_every=360, progress=False)
    stretch = -traj.position[-1, 1, 1] - length
    expected = (mass / 2) * G / (stiffness / length)
    assert abs(stretch / expected - 1) < 5e-3


def test_symplectic_conserves_energy_and_momenta():
    """No gravity, no damping: a cloth with random velocities, 10^4 steps of h omega_max ~ 0.01 (symplectic
    Euler's energy error oscillates with an amplitude of order h omega)."""
    scene = deformables.Scene(gravity=(0, 0, 0), integrator="symplectic", self_contact=False, dt=5e-5, substeps=1)
    scene.add_cloth(corner=(0, 0, 0), size=(0.2, 0.2), resolution=6, mass=0.05, stiffness=2.0, bend_stiffness=0.1)
    model, _ = scene.build()
    rng = np.random.default_rng(0)
    state = model.new_state(v=rng.normal(0.0, 0.05, (model.n, 3)))
    m = model.mass[:, None]

    def momenta(s):
        x, v = s.x.numpy(), s.v.numpy()
        return (m * v).sum(0), (m * np.cross(x, v)).sum(0)

    p0, l0 = momenta(state)
    e0 = model.energy(state)["total"]
    energies = []
    other = model.new_state()
    for _ in range(10_000):
        model.step(state, other)
        state, other = other, state
        if _ % 500 == 0:
            energies.append(model.energy(state)["total"])
    p1, l1 = momenta(state)
    assert max(abs(e - e0) for e in energies + [model.energy(state)["total"]]) / e0 < 1e-2
    assert np.abs(p1 - p0).max() < 1e-6 * max(np.abs(p0).max(), 1e-3)
    assert np.abs(l1 - l0).max() < 1e-6 * max(np.abs(l0).max(), 1e-4)


def test_sliding_on_the_ground_decelerates_at_mu_g():
    mu, v0, radius = 0.3, 2.0, 0.01
    scene = deformables.Scene(self_contact=False)
    scene.add_rope(start=(0, radius, 0), end=(0.05, radius, 0), segments=1, mass=0.1, stiffness=1e3, radius=radius)
    scene.add_ground(0.0, friction=mu)
    model, _ = scene.build()
    state = model.new_state(v=np.tile([v0, 0.0, 0.0], (2, 1)))
    traj, _ = record(model, state, 30, 1, progress=False)  # 0.5 s: still sliding
    speed = traj.velocity[:, :, 0].mean(1).astype(np.float64)
    t = np.arange(len(speed)) * model.dt
    slope = np.polyfit(t[5:], speed[5:], 1)[0]
    assert abs(-slope / (mu * G) - 1) < 2e-2


def test_grasped_particles_follow_the_gripper_and_released_ones_fall_freely():
    scene = deformables.Scene(self_contact=False)
    rope = scene.add_rope(start=(0, 0.2, 0), end=(0.04, 0.2, 0), segments=4, mass=0.02, stiffness=500.0)
    turn = (0.0, math.sin(0.4), 0.0, math.cos(0.4))  # 0.8 rad about y
    scene.add_gripper(radius=0.1, keyframes=[(0.0, (0.02, 0.2, 0), (0, 0, 0, 1), True),
                                             (0.3, (0.12, 0.35, 0.05), turn, True),
                                             (0.5, (0.12, 0.45, 0.05), turn, True),
                                             (0.5 + 1e-9, (0.12, 0.45, 0.05), turn, False)])
    traj = scene.run(duration=1.0, progress=False)
    frames = len(traj.position)
    t = np.arange(frames) * scene.dt
    grip = scene.grippers[0]
    x0 = traj.position[0].astype(np.float64) - np.array([0.02, 0.2, 0])  # offsets in the gripper frame
    from simengine.deformables.gripper import quaternion_matrix

    for k in range(0, 31):  # attached: exactly the gripper's rigid motion
        p, q, _ = grip.pose(t[k])
        np.testing.assert_allclose(traj.position[k], p + x0 @ quaternion_matrix(q).T, atol=1e-6)
        np.testing.assert_allclose(traj.action[k, 0, :3], p, atol=1e-6)
    assert traj.action[30, 0, 7] == 1.0 and traj.action[31, 0, 7] == 0.0
    # released at t = 0.5 s while moving up at 0.5 m/s (pure translation since 0.3 s): every particle flies
    # freely, as the integrator takes it (semi-implicit Euler), close to x0 + v0 t - g t^2 / 2
    substeps = model_substeps(scene)
    h = scene.dt / substeps
    x30, v30 = traj.position[30].astype(np.float64), traj.velocity[30].astype(np.float64)
    np.testing.assert_allclose(v30, np.tile([0.0, 0.5, 0.0], (5, 1)), atol=1e-6)
    for k in (36, 45, 60):
        n = (k - 30) * substeps
        expected = x30 + n * h * v30
        expected[:, 1] -= G * h * h * n * (n + 1) / 2
        np.testing.assert_allclose(traj.position[k], expected, atol=1e-6)
        analytic = x30[:, 1] + v30[:, 1] * n * h - 0.5 * G * (n * h) ** 2
        assert np.abs(traj.position[k, :, 1] - analytic).max() < G * h * n * h  # O(h) from the exact fall
    assert rope.indices.tolist() == [0, 1, 2, 3, 4]


def model_substeps(scene):
    return scene.substeps or scene.default_substeps()


def test_folded_cloth_does_not_pass_through_itself():
    """A cloth on the ground, one edge lifted by two grippers and laid over the other: every pair of particles
    not joined by a spring stays at least 0.9 x (r_i + r_j) apart, ground included."""
    n, size = 12, 0.24
    radius = 0.45 * size / (n - 1)
    scene = deformables.Scene(damping=1.0)
    cloth = scene.add_cloth(corner=(0, radius, 0), size=(size, size), resolution=n, mass=0.05, stiffness=200.0,
                            bend_stiffness=0.5)
    scene.add_ground(0.0, friction=0.8)
    lift = 0.06
    for z in (0.0, size):  # the edge u = 0 (x = 0) at both corners
        scene.add_gripper(radius=0.6 * size / (n - 1), keyframes=[
            (0.0, (0.0, radius, z), (0, 0, 0, 1), False), (0.05, (0.0, radius, z), (0, 0, 0, 1), True),
            (0.6, (0.5 * size, lift, z), (0, 0, 0, 1), True), (1.2, (0.95 * size, 3 * radius, z), (0, 0, 0, 1), True),
            (1.3, (0.95 * size, 3 * radius, z), (0, 0, 0, 1), False)])
    traj = scene.run(duration=1.8, record_every=6, progress=False)
    x = traj.position.astype(np.float64)
    assert x[-1, cloth.indices, 0].max() - x[-1, cloth.indices, 0].min() < 0.7 * size  # it folded
    joined = set(map(tuple, np.sort(traj.cells, axis=1).tolist()))
    i, j = np.triu_indices(traj.num_particles, 1)
    free = np.array([(a, b) not in joined for a, b in zip(i, j)])
    i, j = i[free], j[free]
    for frame in x[1:]:
        distance = np.linalg.norm(frame[i] - frame[j], axis=1)
        assert distance.min() > 0.9 * 2 * radius
    assert x[:, :, 1].min() > 0.9 * radius  # and nothing sinks into the ground
    lifted = cloth.indices.reshape(n, n)[: n // 2 - 1].ravel()  # the half laid over: it rests on the other
    assert x[-1, lifted, 1].mean() > 2.0 * radius  # (without self-contact: 1.1 radius)


def test_a_hanging_cloth_stretches_by_its_stiffness():
    """Structural springs only, pinned along its top edge: a soft cloth of mass m, height L and stiffness S
    (force per unit strain across its width) hangs ΔL = m g L / (2 S) longer, whatever its resolution."""
    stretch = []
    for n in (6, 11):
        mass, height, stiffness = 0.05, 0.2, 0.5
        scene = deformables.Scene(damping=4.0, self_contact=False)
        cloth = scene.add_cloth(corner=(0, 0, 0), size=(0.2, height), resolution=n, mass=mass, stiffness=stiffness,
                                shear_stiffness=0.0, plane="xy")
        top = cloth.indices.reshape(n, n)[:, -1]
        scene.pin(top)
        traj = scene.run(duration=4.0, record_every=240, progress=False)
        y = traj.position[-1, cloth.indices, 1].reshape(n, n)
        below = mass * (n - 1) / n  # the pinned top row's own weight is held by the pins
        expected = below * G * height / (2 * stiffness) * (1 + 1 / (n - 1))  # discrete: the rows carry (k+1)/n
        stretch.append(((y[:, -1] - y[:, 0]).mean() - height, expected))
    for measured, expected in stretch:
        assert measured == pytest.approx(expected, rel=0.05)
