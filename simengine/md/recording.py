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

from simengine.errors import InputError, check_range
from simengine.io import ParticleType, Trajectory


def run_and_record(sim, steps: int, record_every: int | None, targets: bool, progress: bool):
    steps = int(check_range("steps", steps, 0, None))
    if record_every is None:
        if targets:
            raise InputError("targets = True needs record_every (the forecast stride in MD steps)")
        _advance(sim, steps, progress, lambda: None)
        return None
    record_every = int(check_range("record_every", record_every, 1, max(steps, 1)))
    if steps % record_every:
        raise InputError(f"steps = {steps} is not a multiple of record_every = {record_every}")
    xs, vs, ts = [], [], []

    start = sim.step_count

    def record():
        if (sim.step_count - start) % record_every == 0:
            xs.append(sim.unwrapped_positions)
            vs.append(sim.velocities)
            ts.append(sim.time_fs)

    record()
    _advance(sim, steps, progress, record)
    sim.check_health()
    x, v, t = np.stack(xs), np.stack(vs), np.asarray(ts)
    extras = {"species": sim.atomic_numbers, "mass": sim.masses, "cell": sim.box.cell}
    if targets:
        extras.update(velocity=v[:-1], time=t[:-1], target_displacement=x[1:] - x[:-1], target_velocity=v[1:])
        x = x[:-1]
    else:
        extras.update(velocity=v, time=t)
    n = sim.num_atoms
    return Trajectory(sim.box.wrap(x), np.full(n, int(ParticleType.ATOM), np.int32), dt=record_every * sim.dt,
                      extras=extras, metadata=md_metadata(sim, record_every, targets))


def _advance(sim, steps, progress, after_step):
    from tqdm.auto import tqdm

    for _ in tqdm(range(steps), disable=not progress, desc="md", unit="step", leave=False):
        sim.step()
        after_step()


def md_metadata(sim, record_every: int, targets: bool) -> dict:
    """JSON metadata of an MD trajectory; also the LagrangeBench keys (dim, bounds, periodicity, write_every:
    MD steps per frame, so the dataset's solver ``dt`` is the MD time step)."""
    cell = sim.box.cell
    orthorhombic = np.allclose(cell - np.diag(np.diag(cell)), 0.0)
    meta = {
        "kind": "md", "units": "metal (Å, eV, fs, amu; velocity Å/fs)",
        "particle_type": "ATOM (11) for every atom; species holds atomic numbers",
        **sim.to_config(), "record_every": int(record_every), "write_every": int(record_every),
        "dim": 3, "num_particles_max": sim.num_atoms, "periodic_boundary_conditions": [sim.box.periodic] * 3,
        "species_numbers": [int(z) for z in sorted(set(sim.atomic_numbers.tolist()))],
    }
    if orthorhombic and sim.box.periodic:
        meta["bounds"] = [[0.0, float(cell[k, k])] for k in range(3)]
    if targets:
        meta.update(forecast_stride=int(record_every), forecast_interval_fs=record_every * sim.dt)
    return meta
