"""Velocity/acceleration statistics against motions whose finite differences are known exactly."""
import json

import numpy as np
import pytest

from simengine import Trajectory
from simengine.errors import DatasetError
from simengine.io import compute_statistics, read_metadata, write_dataset
from simengine.io.statistics import finite_differences
from simengine.io.types import ParticleType


def ballistic(frames=8, u=0.01, g=(0.0, -0.002)):
    """Half the particles move +u along x, half -u, all under a uniform per-frame^2 acceleration g.

    x(t) = x0 + v t + g t^2 / 2 (t in frames), so the frame velocity is v + g (t + 1/2) and the frame
    acceleration is exactly g: vel_mean = g (T-1)/2, acc_mean = g, acc_std = 1 (no spread -> 1).
    """
    n = 10
    x0 = np.random.default_rng(0).random((n, 2))
    v = np.zeros((n, 2))
    v[: n // 2, 0], v[n // 2:, 0] = u, -u
    t = np.arange(frames, dtype=np.float64)[:, None, None]
    pos = x0 + v * t + 0.5 * np.asarray(g) * t**2
    return Trajectory(pos, np.zeros(n, int), dt=0.1)  # stored as float32


def test_ballistic_motion_has_known_statistics():
    frames, u, g = 9, 0.01, np.array([0.0, -0.002])
    stats = compute_statistics([ballistic(frames, u, g)])
    mean_v = g * (frames - 2) / 2 + g / 2  # mean over t = 0..T-2 of g (t + 1/2)
    np.testing.assert_allclose(stats["vel_mean"], mean_v, atol=1e-6)
    # x: +-u exactly -> std u; y: spread of g (t + 1/2) over t = 0..T-2
    spread_y = abs(g[1]) * np.std(np.arange(frames - 1))
    np.testing.assert_allclose(stats["vel_std"], [u, spread_y], rtol=1e-4)
    np.testing.assert_allclose(stats["acc_mean"], g, atol=1e-6)
    assert stats["acc_std"] == [1.0, 1.0]  # constant acceleration: std 0 -> replaced by 1


def test_periodic_wrap_uses_the_minimum_image(tmp_path):
    frames, step = 12, 0.15
    x = (0.9 + step * np.arange(frames)) % 1.0  # crosses the boundary of [0, 1) twice
    pos = np.stack([x, np.full(frames, 0.5)], -1)[:, None, :]
    vel, acc = finite_differences(pos, box=[1.0, 1.0], periodic=[True, True])
    np.testing.assert_allclose(vel[..., 0], step, atol=1e-12)
    np.testing.assert_allclose(acc, 0.0, atol=1e-12)
    traj = Trajectory(pos, [0], dt=1.0, metadata={"periodic": True, "bounds": [[0, 1], [0, 1]]})
    meta = write_dataset(tmp_path, {"train": [traj]})
    assert meta["vel_mean"][0] == pytest.approx(step, abs=1e-6)


def test_walls_do_not_count():
    traj = ballistic()
    wall = np.random.default_rng(1).random((traj.num_frames, 3, 2)) * 100  # wildly moving walls
    pos = np.concatenate([traj.position, wall.astype(np.float32)], 1)
    ptype = np.r_[traj.particle_type, [ParticleType.SOLID_WALL, ParticleType.MOVING_WALL, ParticleType.PAD]]
    with_walls = compute_statistics([Trajectory(pos, ptype)])
    np.testing.assert_allclose(with_walls["vel_std"], compute_statistics([traj])["vel_std"], rtol=1e-6)


def test_too_short_trajectories_are_reported():
    with pytest.raises(DatasetError, match="acceleration statistics.*>= 3"):
        compute_statistics([Trajectory(np.zeros((2, 3, 2)), np.zeros(3))])


def test_statistics_are_stored_when_missing_and_kept_when_present(tmp_path):
    write_dataset(tmp_path, {"train": [ballistic()]}, statistics=False)
    assert "vel_mean" not in read_metadata(tmp_path)
    stats = compute_statistics(tmp_path)
    meta = json.loads((tmp_path / "metadata.json").read_text())
    assert all(meta[k] == stats[k] for k in stats) and meta["statistics_splits"] == ["train"]
    meta["vel_mean"] = [9.0, 9.0]  # somebody's own statistics are not overwritten
    (tmp_path / "metadata.json").write_text(json.dumps(meta))
    compute_statistics(tmp_path)
    assert read_metadata(tmp_path)["vel_mean"] == [9.0, 9.0]
