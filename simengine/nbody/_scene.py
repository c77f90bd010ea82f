"""Recording a `Simulation` into a `simengine.io.Trajectory` (the scene-script protocol).

A frame holds positions (float32, as every dataset), velocities, the time, and the osculating
elements of one black-hole pair (columns `ELEMENT_COLUMNS`; all zero once the pair has merged).
``mass`` holds the masses at the start; after a merger (listed in ``metadata["mergers"]`` as
[time, kept, absorbed]) the absorbed black hole moves with the remnant, which carries both masses.
"""
from __future__ import annotations

import numpy as np

from simengine.io.trajectory import Trajectory
from simengine.io.types import ParticleType
from simengine.nbody._orbits import ELEMENT_COLUMNS


class SimulationScene:
    """A ready simulation plus what to record: ``scene.run(duration, frames) -> Trajectory``.

    Args:
        sim: a `Simulation` with its particles added.
        pair: ids of the black-hole pair whose elements are recorded (default: the first two).
        metadata: extra JSON-able scene description stored with the trajectory.
    """

    def __init__(self, sim, pair=None, metadata=None):
        self.sim = sim
        bh = np.flatnonzero(sim.is_smbh)
        self.pair = tuple(pair) if pair is not None else (tuple(int(i) for i in bh[:2]) if len(bh) >= 2 else None)
        self.metadata = dict(metadata or {})

    def elements_row(self) -> np.ndarray:
        sim = self.sim
        if self.pair is None or not all(sim.alive[list(self.pair)]):
            return np.zeros(len(ELEMENT_COLUMNS))
        el = sim.binary_elements(*self.pair)
        return np.array([el[k] for k in ELEMENT_COLUMNS], dtype=np.float64)

    def run(self, duration: float, frames: int = 100, progress: bool = True) -> Trajectory:
        """Integrate for `duration`, recording `frames` equally spaced frames (the first is t = now)."""
        from tqdm.auto import tqdm

        sim = self.sim
        frames = int(frames)
        times = sim.time + np.linspace(0.0, float(duration), frames)
        pos, vel, t_rec, elems = [], [], [], []
        e0, mass0 = sim.energy(), sim.masses  # masses as at the start: a merged black hole keeps its own

        for t in tqdm(times, disable=not progress, desc="smbh frames", unit="frame"):
            sim.integrate(t)
            pos.append(sim.positions.astype(np.float32))
            vel.append(sim.velocities.astype(np.float32))
            t_rec.append(sim.time)
            elems.append(self.elements_row())
        ptype = np.where(sim.is_smbh, int(ParticleType.SMBH), int(ParticleType.STAR)).astype(np.int32)
        meta = {
            "solver": "simengine.nbody (KETJU-style regions, TTL leapfrog + GBS, softened KDK field)",
            "G": sim.G, "c": sim.c, "softening": sim.softening, "softening_kernel": sim.softening_kernel,
            "region_radius": sim.region_radius, "pn_orders": list(sim.pn_orders), "tolerance": sim.tolerance,
            "orbital_elements_columns": list(ELEMENT_COLUMNS), "binary_pair": list(self.pair or []),
            "mergers": [list(m) for m in sim.mergers], "energy_start": e0, "energy_end": sim.energy(),
            "pn_work": sim.pn_work, "merger_energy": sim.merger_energy, "bounds": _bounds(np.array(pos)), "dim": 3,
            **self.metadata,
        }
        extras = {"velocity": np.array(vel), "mass": mass0.astype(np.float64),
                  "time": np.array(t_rec), "orbital_elements": np.array(elems)}
        dt = float(duration) / max(frames - 1, 1)
        return Trajectory(np.array(pos), ptype, dt=dt, extras=extras, metadata=meta)


def _bounds(pos):
    lo, hi = np.percentile(pos.reshape(-1, 3), [1, 99], axis=0)
    return [[float(a), float(b)] for a, b in zip(lo, hi)]
