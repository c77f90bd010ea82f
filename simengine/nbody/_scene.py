"""Recording a `Simulation` into a `simengine.io.Trajectory` (the scene-script protocol).

A frame holds positions (float32, as every dataset), velocities, the time, and the osculating
elements of one black-hole pair (columns `ELEMENT_COLUMNS`; all zero once the pair has merged).
``mass`` holds the masses at the start; after a merger (listed in ``metadata["mergers"]`` as
[time, kept, absorbed]) the absorbed black hole moves with the remnant, which carries both masses.
"""
from __future__ import annotations

import numpy as np

from simengine.errors import check_range
from simengine.io.trajectory import Trajectory
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
        """Integrate for `duration`, recording `frames` equally spaced frames (the first is t = now), through
        the one recording loop `simengine.simulator.record`."""
        from simengine.simulator import record

        sim = self.sim
        frames = int(check_range("frames", frames, 2, None))
        duration = float(check_range("duration", float(duration), 0.0, None, low_open=True))
        times = sim.time + np.linspace(0.0, duration, frames)  # each step lands exactly on the next time
        e0 = sim.energy()
        state = sim.current_state()
        traj, state = record(sim, state, frames - 1, 1, dt=np.diff(times), observers=[self._elements],
                             metadata=self.metadata, progress=progress, desc="smbh frames")
        traj.dt = duration / (frames - 1)
        traj.metadata.update(
            orbital_elements_columns=list(ELEMENT_COLUMNS), binary_pair=list(self.pair or []),
            mergers=[list(m) for m in sim.mergers], energy_start=e0, energy_end=sim.energy(),
            pn_work=sim.pn_work, merger_energy=sim.merger_energy, bounds=_bounds(traj.position), **self.metadata)
        return traj

    def _elements(self, state) -> dict:
        """The recorded pair's elements in the simulation's current state (the state just recorded)."""
        return {"orbital_elements": self.elements_row()}


def _bounds(pos):
    lo, hi = np.percentile(pos.reshape(-1, 3), [1, 99], axis=0)
    return [[float(a), float(b)] for a, b in zip(lo, hi)]
