"""Velocity and acceleration statistics of a dataset, as LagrangeBench computes them.

Pure maths on arrays and trajectories; reading them from a dataset folder (and storing the result in its
metadata.json) is `simengine.io.compute_statistics` in `simengine.io.dataset`.

LagrangeBench (Toshev et al., NeurIPS 2023 Datasets & Benchmarks) normalises a learned simulator's
inputs and targets with per-dimension statistics of finite-difference velocities and accelerations,
taken per *recorded frame* (not divided by dt), i.e. by inverting semi-implicit Euler:

    v_t = d(x_{t+1}, x_t)                    (T-1, N, D)   d = displacement (minimum image if periodic)
    a_t = v_{t+1} - v_t                      (T-2, N, D)

For each trajectory k the per-dimension means m_k(v), m_k(a) over frames and dynamic particles are
taken; the dataset mean is the mean over trajectories, mu = mean_k m_k; the standard deviation is
sigma = sqrt(mean_k mean_{t,i} (v - mu)^2). A sigma below 1e-7 is replaced by 1 (a still dimension).

LagrangeBench keeps only fluid particles (type 0); here every particle that is not kinematic (walls)
or padding counts, which is the same selection on LagrangeBench's own datasets (types 0, 1, 2) and
keeps solids, sand, stars and atoms in simengine's.
"""
from __future__ import annotations

import numpy as np

from simengine.errors import DatasetError, InputError
from simengine.io.types import KINEMATIC_TYPES, ParticleType

STAT_KEYS = ("vel_mean", "vel_std", "acc_mean", "acc_std")
_STILL = 1e-7  # a std below this is set to 1, as LagrangeBench does, so normalising never divides by ~0


def dynamic_mask(particle_type: np.ndarray) -> np.ndarray:
    """(N,) bool: particles that move by physics (not kinematic walls, not padding)."""
    excluded = [int(t) for t in KINEMATIC_TYPES] + [int(ParticleType.PAD)]
    return ~np.isin(np.asarray(particle_type), excluded)


def finite_differences(position: np.ndarray, box=None, periodic=None):
    """Per-frame velocities (T-1, N, D) and accelerations (T-2, N, D) in float64.

    Args:
        position: (T, N, D) positions.
        box: (D,) domain side lengths, used only along periodic dimensions (minimum-image convention).
        periodic: (D,) bools; None means no periodic dimension.
    """
    x = np.asarray(position, dtype=np.float64)
    vel = x[1:] - x[:-1]
    if periodic is not None and np.any(periodic):
        side = np.asarray(box, dtype=np.float64)
        wrap = np.asarray(periodic, dtype=bool)
        vel[..., wrap] -= side[wrap] * np.round(vel[..., wrap] / side[wrap])
    return vel, vel[1:] - vel[:-1]


class StatisticsAccumulator:
    """Streams trajectories one at a time (a dataset never has to fit in memory).

    Keeps per-trajectory means of v, v^2, a, a^2 in float64; `result` combines them with
    mean_{t,i} (v - mu)^2 = m_k(v^2) - 2 mu m_k(v) + mu^2, which equals LagrangeBench's two-pass form.
    """

    def __init__(self, periodic=None, box=None):
        self.periodic, self.box = periodic, box
        self._vel, self._acc = [], []  # lists of (mean, mean of squares) per trajectory

    def add(self, position: np.ndarray, particle_type: np.ndarray) -> None:
        mask = dynamic_mask(particle_type)
        if position.shape[0] < 2 or not mask.any():
            return
        vel, acc = finite_differences(np.asarray(position)[:, mask], self.box, self.periodic)
        self._vel.append((vel.mean((0, 1)), np.square(vel).mean((0, 1))))
        if acc.shape[0] > 0:
            self._acc.append((acc.mean((0, 1)), np.square(acc).mean((0, 1))))

    @staticmethod
    def _combine(moments, name):
        if not moments:
            raise DatasetError(f"cannot compute {name} statistics: no trajectory has enough frames "
                               f"(velocities need >= 2, accelerations >= 3) with dynamic particles")
        means = np.stack([m for m, _ in moments])
        squares = np.stack([s for _, s in moments])
        mu = means.mean(0)
        var = (squares - 2.0 * mu * means + mu * mu).mean(0)
        sigma = np.sqrt(np.maximum(var, 0.0))
        return mu, np.where(sigma < _STILL, 1.0, sigma)

    def result(self) -> dict:
        vel_mean, vel_std = self._combine(self._vel, "velocity")
        acc_mean, acc_std = self._combine(self._acc, "acceleration")
        return {"vel_mean": vel_mean.tolist(), "vel_std": vel_std.tolist(),
                "acc_mean": acc_mean.tolist(), "acc_std": acc_std.tolist()}


def trajectory_statistics(trajectories, *, periodic=None, bounds=None) -> dict:
    """vel_mean, vel_std, acc_mean, acc_std (lists of D floats, position units per frame) of an
    iterable of `Trajectory` (anything with ``position``, ``particle_type`` and ``dim``).

    Args:
        periodic, bounds: (D,) bools and (D, 2) bounds for the minimum image; by default taken from the
            first trajectory's metadata (``periodic_boundary_conditions``, ``bounds``).

    A dataset folder is read by `simengine.io.compute_statistics`, which hands its trajectories here.
    """
    acc = None
    for traj in trajectories:
        if acc is None:
            meta = getattr(traj, "metadata", {}) or {}
            pbc = periodic if periodic is not None else meta.get("periodic_boundary_conditions")
            box = side_lengths(bounds if bounds is not None else meta.get("bounds"))
            if pbc is not None and np.any(pbc) and box is None:
                raise InputError("periodic_boundary_conditions has a periodic dimension but no bounds "
                                 "were given; pass bounds=(D, 2) [[low, high], ...]")
            acc = StatisticsAccumulator(None if pbc is None else list(pbc)[:traj.dim], box)
        acc.add(traj.position, traj.particle_type)
    if acc is None:
        raise InputError("compute_statistics got no trajectories")
    return acc.result()


def side_lengths(bounds):
    """(D, 2) bounds -> (D,) side lengths, or None."""
    if bounds is None:
        return None
    b = np.asarray(bounds, dtype=np.float64)
    return b[:, 1] - b[:, 0]
