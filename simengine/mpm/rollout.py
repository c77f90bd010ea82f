"""Run a `Scene` forward and record a `Trajectory` (no gradients: two state buffers, swapped).

Every ``check_every`` steps, and before every recorded frame, `MPMSolver.check` looks for NaN/inf
or a particle moving more than a cell per step, so a blown-up run raises `SimulationError` with the
step, time and particle instead of writing NaN frames.
"""
from __future__ import annotations

import math

import numpy as np

CHECK_EVERY = 25


def run_scene(scene, duration: float, record_every: int, progress: bool = True):
    from tqdm.auto import tqdm

    from simengine.io import Trajectory

    solver, state = scene.build()
    data = scene.particle_data()
    dt = solver.dt
    n_frames = max(1, int(math.ceil(duration / (dt * record_every) - 1e-9))) + 1
    n_steps = (n_frames - 1) * record_every
    shape = (n_frames, solver.n, solver.dim)
    position, velocity = np.empty(shape, np.float32), np.empty(shape, np.float32)
    position[0], velocity[0] = data["x"], data["v"]
    other = solver.new_state(data["x"], data["v"])
    try:
        for step in tqdm(range(1, n_steps + 1), disable=not progress, desc="mls-mpm", unit="step", leave=False):
            solver.step(state, other)
            state, other = other, state
            frame, recording = divmod(step, record_every)
            if recording == 0 or step % CHECK_EVERY == 0:
                solver.check(state, step)
            if recording == 0:
                position[frame] = state.x.numpy()
                velocity[frame] = state.v.numpy()
    finally:
        solver.close()
    metadata = scene.metadata(dt, record_every, (n_frames - 1) * record_every * dt)
    return Trajectory(
        position=position, particle_type=data["particle_type"].astype(np.int32), dt=dt * record_every,
        extras={"velocity": velocity, "mass": data["mass"].astype(np.float32),
                "material_id": data["material_id"].astype(np.int32)},
        metadata=metadata)
