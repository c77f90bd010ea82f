"""Gaussians on simulated bodies (`simengine.gaussians.bodies`): placement, scales from the local spacing,
deterministic textures, the renderer's keyword tensors, bad input."""
import numpy as np
import pytest

from simengine.errors import InputError
from simengine.gaussians.bodies import (
    TEXTURES,
    GaussianSet,
    gaussians_on_trajectory,
    object_particles,
    sample_gaussians,
)
from simengine.gaussians.lbs import quat_to_matrix
from simengine.io import Trajectory
from simengine.io.types import ParticleType


def grid(nx, ny, nz, h):
    return np.stack(np.meshgrid(np.arange(nx), np.arange(ny), np.arange(nz), indexing="ij"), -1).reshape(-1, 3) * h


def gaussians(n=4, seed=0):
    rng = np.random.default_rng(seed)
    return dict(means=rng.normal(size=(n, 3)), quats=rng.normal(size=(n, 4)), scales=rng.uniform(0.01, 0.02, (n, 3)),
                opacities=np.full(n, 0.9), colors=rng.uniform(size=(n, 3)), parent=np.arange(n))


def test_gaussian_set_checks_its_fields_and_gives_renderer_tensors():
    import torch

    g = GaussianSet(**gaussians())
    assert np.allclose(np.linalg.norm(g.quats, axis=1), 1)  # normalised
    t = g.tensors(dtype=torch.float64)
    assert sorted(t) == ["colors", "means", "opacities", "quats", "scales"]
    assert t["means"].dtype == torch.float64 and t["scales"].shape == (4, 3)
    assert g.tensors()["colors"].dtype == torch.float32
    assert len(g.subset([0, 2])) == 2
    for field, value, message in (("scales", np.array([[0.01, 0.0, 0.01]] * 4), r"scales\[0\].*must be > 0"),
                                  ("opacities", np.array([0.9, 0.9, 1.5, 0.9]), r"opacities\[2\].*\(0, 1\]"),
                                  ("colors", -np.ones((4, 3)), r"colors\[0\].*\[0, 1\]"),
                                  ("means", np.ones((3, 3)), "has shape"),
                                  ("quats", np.zeros((4, 4)), "non-zero quaternions")):
        with pytest.raises(InputError, match=message):
            GaussianSet(**{**gaussians(), field: value})
    with pytest.raises(InputError, match="non-finite"):
        GaussianSet(**{**gaussians(), "means": np.full((4, 3), np.nan)})


def test_gaussians_sit_around_their_particles_with_scales_from_the_spacing():
    h = 0.02
    X = grid(6, 5, 4, h)
    g = sample_gaussians(X, per_particle=8, seed=1)
    assert len(g) == 8 * len(X)
    assert np.array_equal(g.parent, np.repeat(np.arange(len(X)), 8))
    assert np.allclose(g.means[::8], X)  # the first of each particle's Gaussians sits on it
    assert np.linalg.norm(g.means - X[g.parent], axis=1).max() <= 0.5 * h * (1 + 1e-9)  # inside its cell
    # scales: half the spacing shared by the per_particle Gaussians (cube root), +-10 % jitter
    assert g.scales.max() <= 1.1 * 0.5 * h / 2 + 1e-12 and g.scales.min() > 0.2 * 0.5 * h / 2
    assert np.allclose(g.opacities, 0.9)
    # twice the spacing -> twice the scales and offsets (same seed)
    g2 = sample_gaussians(2 * X, per_particle=8, seed=1)
    assert np.allclose(g2.scales, 2 * g.scales) and np.allclose(g2.means, 2 * g.means)


def test_a_rope_gets_gaussians_elongated_along_it():
    s = np.linspace(0, 0.6, 41)
    direction = np.array([0.6, 0.0, 0.8])
    X = s[:, None] * direction
    g = sample_gaussians(X, per_particle=4, seed=0)
    axes = quat_to_matrix(g.quats)  # columns: the scale axes
    longest = axes[np.arange(len(g)), :, np.argmax(g.scales, 1)]
    assert np.abs(longest @ direction).min() > 0.99
    # thin directions: the `thin` fraction (0.4) of the along-rope extent
    assert np.allclose(np.sort(g.scales, 1)[:, 0] / np.sort(g.scales, 1)[:, 2], 0.4, atol=0.1)


def test_textures_are_deterministic_and_not_uniform():
    X = grid(8, 3, 8, 0.02)
    for name in ("stripes", "checkers", "noise"):
        a = sample_gaussians(X, texture=name, seed=5, per_particle=2)
        b = sample_gaussians(X, texture=name, seed=5, per_particle=2)
        c = sample_gaussians(X, texture=name, seed=6, per_particle=2)
        assert np.array_equal(a.colors, b.colors) and np.array_equal(a.means, b.means)
        assert not np.allclose(a.colors, c.colors)
        assert a.colors.min() >= 0 and a.colors.max() <= 1
        assert a.colors.std(0).max() > 0.1, name  # a trackable pattern, not one colour
    assert sorted(TEXTURES) == ["checkers", "noise", "stripes"]
    with pytest.raises(InputError, match="texture"):
        sample_gaussians(X, texture="plaid")


def test_stripes_run_across_the_longest_axis():
    X = np.stack(np.meshgrid(np.linspace(0.01, 0.99, 50), [0.0], np.linspace(0, 0.1, 6), indexing="ij"), -1)
    X = X.reshape(-1, 3)  # no particle on a band boundary (x = 0.5 + 0.1 k)
    g = sample_gaussians(X, per_particle=1, texture="stripes", period=0.1)
    # colour depends on x only: points with the same x band share one colour
    band = np.floor((g.means[:, 0] - 0.5) / 0.1)
    for b in np.unique(band):
        assert len(np.unique(g.colors[band == b], axis=0)) == 1
    assert len(np.unique(g.colors, axis=0)) >= 5


def test_trajectory_gaussians_skip_kinematic_particles_and_can_subsample():
    X = grid(5, 5, 2, 0.02)
    walls = np.array([[0.0, -0.1, 0.0], [1.0, -0.1, 0.0], [0.0, -0.1, 1.0]])
    ptype = np.r_[[int(ParticleType.PLUSH)] * len(X), int(ParticleType.SOLID_WALL), int(ParticleType.PINNED),
                  int(ParticleType.PAD)]
    traj = Trajectory(np.concatenate([X, walls])[None].repeat(2, 0), ptype)
    assert np.array_equal(object_particles(ptype), np.arange(len(X)))
    g = gaussians_on_trajectory(traj, per_particle=3, seed=2)
    assert set(np.unique(g.parent)) == set(range(len(X)))
    sub = gaussians_on_trajectory(traj, per_particle=3, seed=2, max_particles=10)
    assert len(np.unique(sub.parent)) == 10 and np.all(sub.parent < len(X))
    with pytest.raises(InputError, match="3D trajectory"):
        gaussians_on_trajectory(Trajectory(np.zeros((2, 5, 2)), np.zeros(5)))
    with pytest.raises(InputError, match="object particles"):
        gaussians_on_trajectory(Trajectory(walls[None], ptype[-3:]))
    with pytest.raises(InputError, match="frame = 5"):
        gaussians_on_trajectory(traj, frame=5)
    with pytest.raises(InputError, match="coincides"):
        sample_gaussians(np.zeros((3, 3)))
