"""Linear blend skinning (`simengine.gaussians.lbs`): rigid motions are reproduced exactly, rotations and
quaternions agree with their analytic forms."""
import numpy as np
import pytest

from simengine.errors import InputError
from simengine.gaussians.bodies import GaussianSet, sample_gaussians
from simengine.gaussians.lbs import (
    bone_weights,
    fit_rotations,
    matrix_to_quat,
    neighbourhoods,
    polar_rotation,
    quat_multiply,
    quat_to_matrix,
    skin,
    skin_gaussians,
)
from simengine.io import Trajectory
from simengine.io.types import ParticleType


def rotation(axis, angle):
    """Rodrigues' formula."""
    axis = np.asarray(axis, float) / np.linalg.norm(axis)
    K = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    return np.eye(3) + np.sin(angle) * K + (1 - np.cos(angle)) * K @ K


def random_rotations(n, seed=0):
    q = np.random.default_rng(seed).normal(size=(n, 4))
    return quat_to_matrix(q)


def block(nx=5, ny=4, nz=3, h=0.02):
    g = np.stack(np.meshgrid(np.arange(nx), np.arange(ny), np.arange(nz), indexing="ij"), -1).reshape(-1, 3)
    return g * h + np.array([0.1, 0.05, -0.02])


def rigid_frames(rest, T=6, axis=(0.3, 1.0, -0.4), omega=0.5, velocity=(0.05, -0.02, 0.1)):
    Rs = [rotation(axis, omega * t) for t in range(T)]
    ts = [np.asarray(velocity) * t for t in range(T)]
    c = rest.mean(0)
    return np.stack([(rest - c) @ R.T + c + t for R, t in zip(Rs, ts)]), Rs, ts, c


def test_quaternion_conversions_round_trip():
    R = random_rotations(200, seed=1)
    assert np.allclose(R @ np.swapaxes(R, 1, 2), np.eye(3), atol=1e-12)
    q = matrix_to_quat(R)
    assert np.allclose(np.linalg.norm(q, axis=1), 1) and np.all(q[:, 0] >= 0)
    assert np.allclose(quat_to_matrix(q), R, atol=1e-12)
    # near-half-turns (small w) take the other pivots
    half = np.stack([rotation(a, np.pi - 1e-9) for a in np.eye(3)])
    assert np.allclose(quat_to_matrix(matrix_to_quat(half)), half, atol=1e-8)
    # the Hamilton product composes rotations: R(a b) = R(a) R(b)
    a, b = matrix_to_quat(R[:100]), matrix_to_quat(R[100:])
    assert np.allclose(quat_to_matrix(quat_multiply(a, b)), R[:100] @ R[100:], atol=1e-12)
    # (w, x, y, z): a quarter turn about z maps x onto y
    qz = np.array([np.cos(np.pi / 4), 0, 0, np.sin(np.pi / 4)])
    assert np.allclose(quat_to_matrix(qz) @ [1, 0, 0], [0, 1, 0])


def test_fit_rotations_recovers_a_rotation_and_ignores_stretch():
    rest = np.random.default_rng(0).normal(size=(30, 3))
    nb, w = neighbourhoods(rest, 6)
    Q = rotation((1, 2, 3), 0.7)
    R = fit_rotations(rest, rest @ Q.T + 5.0, nb, w)
    assert np.allclose(R, Q, atol=1e-10)
    # a pure isotropic stretch rotates nothing (polar decomposition)
    assert np.allclose(fit_rotations(rest, 1.3 * rest, nb, w), np.eye(3), atol=1e-10)
    # polar_rotation is the rotation factor of Q S (S symmetric positive definite)
    S = np.diag([1.5, 0.7, 1.1])
    assert np.allclose(polar_rotation(Q @ S), Q, atol=1e-12)
    with pytest.raises(InputError, match="rest and current"):
        fit_rotations(rest, rest[:5], nb, w)


@pytest.mark.parametrize("shape", ["block", "sheet"])
def test_rigid_motion_moves_gaussians_exactly(shape):
    """The issue's test: Gaussians attached to a rigidly moving body follow it exactly (1e-6), rotations too."""
    rest = block() if shape == "block" else block(6, 5, 1)  # a sheet: planar neighbourhoods (Kabsch rank 2)
    frames, Rs, ts, c = rigid_frames(rest)
    g = sample_gaussians(rest, per_particle=4, seed=3, texture="noise")
    # give them random orientations, so that the rotation composition is exercised
    g = g.moved(g.means, matrix_to_quat(random_rotations(len(g), seed=4)))
    gt = skin_gaussians(g, frames)
    for t, (R, tr) in enumerate(zip(Rs, ts)):
        want = (g.means - c) @ R.T + c + tr
        assert np.abs(gt["position"][t] - want).max() < 1e-6
        want_R = R @ quat_to_matrix(g.quats)
        assert np.abs(quat_to_matrix(gt["rotation"][t]) - want_R).max() < 1e-6
    assert np.allclose(np.linalg.norm(gt["rotation"], axis=2), 1)


def test_rope_turning_about_the_vertical_is_exact_and_twist_is_continuous():
    """Collinear neighbourhoods (a straight rope): the twist is carried from frame to frame; a horizontal rope
    turning about the vertical axis is a minimal rotation, so it is reproduced exactly."""
    s = np.linspace(0, 0.4, 21)
    rest = np.stack([s, np.full_like(s, 0.01), 0.2 * s], 1)
    frames, Rs, ts, c = rigid_frames(rest, T=8, axis=(0, 1, 0), omega=0.3)
    g = sample_gaussians(rest, per_particle=3, seed=0)
    gt = skin_gaussians(g, frames)
    for t, (R, tr) in enumerate(zip(Rs, ts)):
        assert np.abs(gt["position"][t] - ((g.means - c) @ R.T + c + tr)).max() < 1e-6
        assert np.abs(quat_to_matrix(gt["rotation"][t]) - R @ quat_to_matrix(g.quats)).max() < 1e-6


def test_skin_gaussians_reads_a_trajectory_and_skips_kinematic_particles():
    rest = block(4, 3, 3)
    frames, Rs, ts, c = rigid_frames(rest, T=3)
    wall = np.tile(np.array([[0.0, -0.1, 0.0], rest.max(0) + 0.004]), (3, 1, 1))  # static walls, not bones
    traj = Trajectory(np.concatenate([wall, frames], 1),
                      np.r_[[int(ParticleType.SOLID_WALL)] * 2, [int(ParticleType.ELASTIC)] * len(rest)])
    g = sample_gaussians(np.asarray(traj.position[0, 2:], np.float64), parent=np.arange(2, 2 + len(rest)),
                         per_particle=2)
    gt = skin_gaussians(g, traj)
    assert np.abs(gt["position"][2] - ((g.means - c) @ Rs[2].T + c + ts[2])).max() < 1e-5  # float32 positions
    # plain positions with their types: the same; without types the walls would be bones
    same = skin_gaussians(g, traj.position, particle_type=traj.particle_type)
    assert np.array_equal(same["position"], gt["position"])
    bad = GaussianSet(g.means, g.quats, g.scales, g.opacities, g.colors, np.zeros(len(g), int))
    with pytest.raises(InputError, match="parent particle 0 is not an object particle"):
        skin_gaussians(bad, traj)


def test_skin_blends_bones_linearly():
    """Two bones, a point halfway: with one bone translated by d and identity rotations it moves by d / 2."""
    bones = np.array([[0.0, 0, 0], [1.0, 0, 0]])
    pts = np.array([[0.5, 0.0, 0.0], [0.0, 0.0, 0.0]])
    idx, w = bone_weights(pts, bones, 2)
    assert np.allclose(w[0], 0.5) and w[1, 0] == pytest.approx(1.0)
    moved = skin(pts, bones, bones + [[0, 0, 0], [0, 0.2, 0]], np.stack([np.eye(3)] * 2), idx, w)
    assert np.allclose(moved, [[0.5, 0.1, 0.0], [0.0, 0.0, 0.0]], atol=1e-8)
