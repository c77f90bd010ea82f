"""Recording an MD run as a `simengine.io.Trajectory` (and the forecasting targets for TrajCast).

Stored per trajectory (metal units):

* ``position``   (T, N, 3) float32, wrapped into the cell;  ``particle_type`` (N,) = ATOM (11) for every
  atom — the chemistry is in ``species``;
* ``species``    (N,) int32 atomic numbers;  ``mass`` (N,) amu;  ``cell`` (3, 3) rows = lattice vectors;
* ``velocity``   (T, N, 3) Å/fs;  ``time`` (T,) fs;
* with ``targets=True`` (forecast interval Δ = record_every · Δt): ``target_displacement`` (T, N, 3), the
  *unwrapped* displacement from frame t to t + Δ, and ``target_velocity`` (T, N, 3), the velocity at
  t + Δ.  The trajectory then holds the T = steps / record_every frames that *start* an interval; the
  state at the end of the run is only present through the last frame's targets.
"""
from __future__ import annotations

import numpy as np

from simengine.io import Trajectory


def md_trajectory(sim, frames: dict, static: dict, frame_dt: float, metadata: dict) -> Trajectory:
    """The `Trajectory` of the frames the recording loop collected (unwrapped positions, velocities, times):
    positions wrapped into the cell; with ``metadata["forecast_stride"]`` the forecasting targets."""
    x, v, t = frames["position"], frames["velocity"], frames["time"]
    static = dict(static)
    particle_type = static.pop("particle_type")
    extras = dict(static)
    if metadata.get("forecast_stride"):
        extras.update(velocity=v[:-1], time=t[:-1], target_displacement=x[1:] - x[:-1], target_velocity=v[1:])
        x = x[:-1]
    else:
        extras.update(velocity=v, time=t)
    return Trajectory(sim.box.wrap(x), particle_type, dt=frame_dt, extras=extras, metadata=metadata)


def md_metadata(sim) -> dict:
    """JSON metadata of an MD system; also the LagrangeBench keys (dim, bounds, periodicity)."""
    cell = sim.box.cell
    orthorhombic = np.allclose(cell - np.diag(np.diag(cell)), 0.0)
    meta = {
        "kind": "md", "units": "metal (Å, eV, fs, amu; velocity Å/fs)",
        "particle_type": "ATOM (11) for every atom; species holds atomic numbers",
        **sim.to_config(), "dim": 3, "num_particles_max": sim.num_atoms,
        "periodic_boundary_conditions": [sim.box.periodic] * 3,
        "species_numbers": [int(z) for z in sorted(set(sim.atomic_numbers.tolist()))],
    }
    if orthorhombic and sim.box.periodic:
        meta["bounds"] = [[0.0, float(cell[k, k])] for k in range(3)]
    return meta


def recording_metadata(sim, record_every: int, targets: bool) -> dict:
    """What a recorded run adds: MD steps per frame (``write_every``, so the dataset's solver ``dt`` is the MD
    time step) and, for forecasting data, the stride and interval."""
    meta = {"record_every": int(record_every), "write_every": int(record_every)}
    if targets:
        meta.update(forecast_stride=int(record_every), forecast_interval_fs=record_every * sim.dt)
    return meta
