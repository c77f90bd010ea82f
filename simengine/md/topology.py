"""Bonded topology for small flexible molecules: harmonic bonds and angles, molecule ids.

E_bond = ½ k_b (r − r₀)² (k_b in eV/Å², r₀ in Å) and E_angle = ½ k_θ (θ − θ₀)² (k_θ in eV/rad², θ₀ in
degrees at the API, radians inside), θ the angle i–j–k at the middle atom j.  Atoms of one molecule
(same ``molecule_id`` ≥ 0) do not interact through the pair potential.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from simengine.errors import InputError


@dataclass
class Topology:
    """Bonds (i, j, k_b, r₀), angles (i, j, k, k_θ, θ₀ in degrees) and per-atom molecule ids (−1: none)."""

    bonds: list = field(default_factory=list)
    angles: list = field(default_factory=list)
    molecule_id: np.ndarray | None = None

    def validate(self, num_atoms: int) -> None:
        for name, rows, width in (("bonds", self.bonds, 4), ("angles", self.angles, 5)):
            for row in rows:
                if len(row) != width:
                    raise InputError(f"{name} entry {row!r} must have {width} numbers")
                atoms = [int(a) for a in row[: width - 2]]
                if min(atoms) < 0 or max(atoms) >= num_atoms or len(set(atoms)) != len(atoms):
                    raise InputError(f"{name} entry {row!r} names atoms outside [0, {num_atoms - 1}] or twice")
        if self.molecule_id is not None and np.shape(self.molecule_id) != (num_atoms,):
            raise InputError(f"molecule_id must have shape ({num_atoms},), got {np.shape(self.molecule_id)}")

    def arrays(self):
        """NumPy arrays: bond atoms (B, 2), k_b, r₀, angle atoms (A, 3), k_θ, θ₀ (radians)."""
        b = np.asarray(self.bonds, dtype=np.float64).reshape(-1, 4)
        a = np.asarray(self.angles, dtype=np.float64).reshape(-1, 5)
        return (b[:, :2].astype(np.int32), b[:, 2], b[:, 3],
                a[:, :3].astype(np.int32), a[:, 3], np.deg2rad(a[:, 4]))

    def to_config(self) -> dict:
        return {"bonds": [list(map(float, r)) for r in self.bonds],
                "angles": [list(map(float, r)) for r in self.angles],
                "molecule_id": None if self.molecule_id is None else np.asarray(self.molecule_id).tolist()}

    @classmethod
    def from_config(cls, config: dict | None):
        if not config:
            return None

        def fix(rows, n):
            return [tuple(int(v) for v in r[:n]) + tuple(r[n:]) for r in rows]

        mol = config.get("molecule_id")
        return cls(fix(config.get("bonds", []), 2), fix(config.get("angles", []), 3),
                   None if mol is None else np.asarray(mol, dtype=np.int32))
