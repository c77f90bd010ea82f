"""Toy datasets with closed-form motion, for tests, tutorials and pipeline checks without a solver.

* `ballistic_trajectory`: 2D particles under constant gravity in a box [0.1, 0.9]² with damped
  reflections at the walls, plus a static row of wall particles (SOLID_WALL): motion that the
  constant-velocity guess gets wrong and a GNS can learn from its wall-distance features.
* `sheet_trajectory`: a triangulated square sheet (``cells``, ``mesh_pos``) spinning rigidly about
  its centre (centripetal acceleration), its four corners marked SOLID_WALL (kinematic).
* `write_toy_dataset`: a LagrangeBench-layout folder of such trajectories via `simengine.io`.

    root = write_toy_dataset("data/toy", ballistic_trajectory)
"""
import numpy as np

from simengine.io import ParticleType, Trajectory, write_dataset


def ballistic_trajectory(rng, frames=30, particles=40, gravity=-4e-4, restitution=0.9) -> Trajectory:
    """``particles`` free particles (FLUID) and 9 walls, gravity and velocity in frame units."""
    pos = np.empty((frames, particles, 2))
    x = np.column_stack([rng.uniform(0.15, 0.85, particles), rng.uniform(0.4, 0.9, particles)])
    v = rng.normal(0.0, 0.006, (particles, 2))
    for t in range(frames):
        pos[t] = x
        v = v + np.array([0.0, gravity])
        x = x + v
        for d, (lo, hi) in enumerate([(0.1, 0.9), (0.1, 0.9)]):
            low, high = x[:, d] < lo, x[:, d] > hi
            x[low, d] = 2 * lo - x[low, d]
            x[high, d] = 2 * hi - x[high, d]
            v[low | high, d] *= -restitution
    walls = np.column_stack([np.linspace(0.1, 0.9, 9), np.full(9, 0.08)])
    position = np.concatenate([pos, np.broadcast_to(walls, (frames, 9, 2))], 1)
    types = np.array([ParticleType.FLUID] * particles + [ParticleType.SOLID_WALL] * 9)
    return Trajectory(position, types, dt=0.01, metadata={"gravity": gravity, "restitution": restitution})


def sheet_trajectory(rng, frames=12, side=4) -> Trajectory:
    """A side x side node sheet with 2 (side-1)² triangles turning at 0.05-0.1 rad per frame."""
    g = np.linspace(-0.1, 0.1, side)
    rest = np.array([(x, y) for y in g for x in g])
    cells = []
    for j in range(side - 1):
        for i in range(side - 1):
            a = j * side + i
            cells += [(a, a + 1, a + side + 1), (a, a + side + 1, a + side)]
    omega = rng.uniform(0.05, 0.1)
    centre = np.array([0.5, 0.5]) + rng.uniform(-0.1, 0.1, 2)
    pos = []
    for t in range(frames):
        c, s = np.cos(omega * t), np.sin(omega * t)
        pos.append(centre + rest @ np.array([[c, s], [-s, c]]))
    types = np.zeros(side * side, dtype=np.int32)
    types[[0, side - 1, side * (side - 1), side * side - 1]] = ParticleType.SOLID_WALL
    return Trajectory(np.array(pos), types, dt=0.01,
                      extras={"cells": np.array(cells, dtype=np.int32), "mesh_pos": rest.astype(np.float32)})


def write_toy_dataset(root, make, counts=(("train", 3), ("valid", 1), ("test", 2)), seed=0, radius=0.1):
    """A dataset folder through `simengine.io.write_dataset` (statistics over the train split)."""
    rng = np.random.default_rng(seed)
    splits = {split: [make(rng) for _ in range(count)] for split, count in counts}
    meta = {"dx": 0.02, "bounds": [[0.0, 1.0], [0.0, 1.0]], "periodic_boundary_conditions": [False, False],
            "default_connectivity_radius": radius}
    write_dataset(root, splits, meta)
    return str(root)
