"""Re-create the MPM set-up of a recorded trajectory and run learned laws in it.

NCLaw keeps the simulator and changes only the material, so a learned law is evaluated by running
the *same* scene (grid, time step, gravity, walls, colliders) that produced a trajectory, from its
first frame, with the law in place of the hand-written material. Everything needed is in the
trajectory's metadata (`simengine.Scene.metadata`) and its ``mass`` (N,) key:

    dim, dx, dt, write_every, cells, pad, gravity, boundary, boundary_friction, colliders

(``dx`` here is the grid cell: ``grid_dx`` where the metadata has it, else, in data written before it
existed, ``dx``.)

Particle volumes are ``mass / density``, the density being the learned material's (a law is a
stress per unit volume; the material's density comes with it).

    pred = simulate_trajectory({"elastic": jelly_law}, truth, densities={"elastic": 1000.0})
"""
from __future__ import annotations

import numpy as np
import torch

from simengine.errors import DatasetError, InputError, SimulationError

SCENE_KEYS = ("dim", "dx", "dt", "write_every", "cells", "pad", "gravity", "boundary", "boundary_friction",
              "colliders")


def scene_spec(metadata: dict, where: str = "trajectory") -> dict:
    """The solver settings of ``metadata`` (an MPM trajectory's or dataset's), checked."""
    if metadata.get("solver") not in (None, "mls-mpm"):
        raise DatasetError(f"{where}: solver = {metadata.get('solver')!r}; nclaw needs an MLS-MPM ('mls-mpm') scene")
    if "grid_dx" in metadata:  # "dx" is the particle spacing; the grid cell is "grid_dx" (older data: "dx")
        metadata = {**metadata, "dx": metadata["grid_dx"]}
    missing = [k for k in SCENE_KEYS if k not in metadata]
    if missing:
        raise DatasetError(f"{where}: metadata lacks the MPM scene key(s) {missing} (write it with simengine.Scene; "
                           f"keys that differ between trajectories are not usable for training)")
    spec = {k: metadata[k] for k in SCENE_KEYS}
    for c in spec["colliders"]:
        if isinstance(c.get("velocity"), str):
            raise InputError(f"{where}: collider {c['shape']} moves with {c['velocity']}; only static or "
                             f"constant-velocity colliders can be re-created from metadata")
    return spec


def build_solver(spec: dict, mass, volume, dtype: str = "float32"):
    """An `MPMSolver` for ``spec`` with the given particle masses and volumes (N,) (materials unused)."""
    from simengine.mpm import Collider, MPMSolver
    from simengine.shapes import from_description

    mass = np.asarray(mass, np.float64)
    volume = np.broadcast_to(np.asarray(volume, np.float64), mass.shape)
    n = len(mass)
    colliders = [Collider(from_description(c["shape"]), friction=c["friction"], mode=c["mode"],
                          velocity=c["velocity"]) for c in spec["colliders"]]
    return MPMSolver(dim=int(spec["dim"]), cells=spec["cells"], dx=spec["dx"], dt=spec["dt"],
                     gravity=spec["gravity"], boundary=spec["boundary"], boundary_friction=spec["boundary_friction"],
                     colliders=colliders, dtype=dtype, pad=int(spec["pad"]), threads=1,
                     particles=dict(mass=mass, volume=volume, model=np.zeros(n, np.int32), E=np.ones(n),
                                    nu=np.zeros(n), params=np.zeros((n, 4))))


def simulate_frames(sim, state: tuple, frames: int, every: int, on_frame=None):
    """Run ``sim`` (a `NeuralMPM`) from ``state`` at frame 0 to frame ``frames - 1``, ``every`` solver
    steps per frame. Returns (positions (N, d) of frames 1, 2, ... reached, the first frame a
    `SimulationError` stopped or None, its message); ``on_frame(frame)`` is called after each frame."""
    positions = []
    for frame in range(1, frames):
        try:
            state = sim.simulate(state, every, start_step=(frame - 1) * every)
        except SimulationError as exc:
            return positions, frame, str(exc)
        positions.append(state[0].clone())  # the caller keeps it; never a view of a reused buffer
        if on_frame is not None:
            on_frame(frame)
    return positions, None, None


def simulate_trajectory(laws: dict, truth, densities: dict, frames: int | None = None, dtype: str = "float32",
                        input_frames: int = 1, progress: bool = False):
    """Run ``laws`` (material name -> `ConstitutiveLaw`) in the scene of ``truth`` (a `Trajectory`).

    Starts from frame 0 (rest shape, F = I) with the recorded velocity, or with the forward difference
    of frames 0 and 1 when velocities were not recorded (then ``input_frames`` should be 2). Returns a
    `Trajectory` of ``frames`` frames (default: as many as ``truth``), the first ``input_frames``
    copied from ``truth``; ``metadata["diverged_at"]`` names the first frame a `SimulationError` hit
    (frames from there on repeat the last valid one) with the error in ``divergence_reason``.
    """
    from learned.nclaw.coupling import NeuralMPM, initial_state
    from simengine.io import Trajectory

    spec = scene_spec(truth.metadata, truth.metadata.get("name", "trajectory"))
    if "mass" not in truth.extras:
        raise DatasetError("nclaw needs the particles' 'mass' key in the trajectory")
    names = [m["name"] for m in truth.metadata.get("materials", [])]
    material_id = np.asarray(truth.extras.get("material_id", np.zeros(truth.num_particles, np.int64)))
    used = sorted({names[i] if i < len(names) else str(i) for i in np.unique(material_id)})
    missing = [m for m in used if m not in laws or m not in densities]
    if missing:
        raise InputError(f"no learned law/density for material(s) {missing}; given laws for {sorted(laws)}")
    mass = truth.extras["mass"].astype(np.float64)
    volume = mass / np.array([densities[names[i]] for i in material_id])
    solver = build_solver(spec, mass, volume, dtype)
    by_id = {int(i): laws[names[i]] for i in np.unique(material_id)}
    sim = NeuralMPM(solver, next(iter(by_id.values())) if len(by_id) == 1 else by_id, material_id=material_id)
    frames = truth.num_frames if frames is None else int(frames)
    frame_dt = float(spec["dt"]) * int(spec["write_every"])
    if "velocity" in truth.extras:
        v0 = truth.extras["velocity"][0]
    else:
        v0 = (truth.position[1] - truth.position[0]) / frame_dt
    tdtype = torch.float64 if dtype == "float64" else torch.float32
    state = initial_state(truth.position[0], v0, tdtype)
    out = np.empty((frames, truth.num_particles, truth.dim), np.float32)
    out[0] = truth.position[0]
    with torch.no_grad():
        positions, diverged, reason = simulate_frames(sim, state, frames, int(spec["write_every"]))
    for frame, x in enumerate(positions, 1):
        out[frame] = x.numpy()
    if diverged is not None:
        out[diverged:] = out[diverged - 1]
    out[:input_frames] = truth.position[:input_frames]
    meta = {"rollout_start": input_frames, "model": "nclaw", "diverged_at": diverged,
            "divergence_reason": reason, "name": truth.metadata.get("name", "00000")}
    return Trajectory(out, truth.particle_type, dt=truth.dt, extras={k: truth.extras[k] for k in ("mass",)
                                                                    if k in truth.extras}, metadata=meta)
