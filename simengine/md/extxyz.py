"""Extended XYZ output of an MD trajectory (readable by ASE, OVITO, VMD).

Each frame: the atom count, a comment line with ``Lattice="ax ay az bx by bz cx cy cz"``,
``Properties=species:S:1:pos:R:3:vel:R:3:masses:R:1``, ``Time=<fs>`` and ``pbc="T T T"``, then one line
per atom.  Positions in Å (wrapped), velocities in Å/fs (``vel``; ASE reads them as ``atoms.arrays['vel']``).
"""
from __future__ import annotations

import os

import numpy as np

from simengine.errors import DatasetError
from simengine.io import Trajectory, atomic_path
from simengine.md.units import symbol_of


def write_extxyz(traj: Trajectory, path: str | os.PathLike, every: int = 1) -> str:
    """Write every ``every``-th frame of an MD `Trajectory` (needs ``species``; ``cell`` if periodic)."""
    if "species" not in traj.extras:
        raise DatasetError(f"{path}: trajectory has no 'species' key, cannot write chemical symbols")
    symbols = [symbol_of(int(z)) for z in traj.extras["species"]]
    cell = traj.extras.get("cell")
    periodic = cell is not None and bool(traj.metadata.get("pbc", True))
    cell = np.asarray(cell, dtype=np.float64).reshape(-1, 3, 3) if cell is not None else None
    velocity = traj.extras.get("velocity", np.zeros_like(traj.position))
    masses = traj.extras.get("mass", np.zeros(traj.num_particles))
    times = traj.extras.get("time", np.arange(traj.num_frames) * traj.dt)
    path = os.fspath(path)
    with atomic_path(path) as tmp, open(tmp, "w") as f:
        for t in range(0, traj.num_frames, every):
            header = ["Properties=species:S:1:pos:R:3:vel:R:3:masses:R:1", f"Time={float(times[t]):.6f}"]
            if periodic:
                lattice = cell[min(t, len(cell) - 1)].ravel()
                header = [f'Lattice="{" ".join(f"{c:.10f}" for c in lattice)}"', *header, 'pbc="T T T"']
            else:
                header.append('pbc="F F F"')
            f.write(f"{traj.num_particles}\n{' '.join(header)}\n")
            x, v = traj.position[t], velocity[t]
            for k, s in enumerate(symbols):
                f.write(f"{s} {x[k, 0]:.8f} {x[k, 1]:.8f} {x[k, 2]:.8f} "
                        f"{v[k, 0]:.10e} {v[k, 1]:.10e} {v[k, 2]:.10e} {masses[k]:.6f}\n")
    return path
