"""Simulation cell: periodic orthorhombic or triclinic, or an open (non-periodic) system.

``cell`` rows are the lattice vectors a, b, c (ASE's convention); ``H = cellᵀ`` maps fractional to
Cartesian coordinates, x = H s.  The perpendicular width across the faces spanned by (b, c) is
V / |b × c| (and cyclically); a cutoff must stay below half the smallest width for the minimum image to
be unique.
"""
from __future__ import annotations

import numpy as np

from simengine.errors import InputError

_OPEN_CELL = 1.0e8  # Å


class Box:
    """A periodic cell (``pbc=True``) or open space (``pbc=False``, ``cell`` optional).

    Args:
        cell: (3, 3) rows = lattice vectors (Å), or (3,) edge lengths of an orthorhombic box.
        pbc: periodic in all three directions (mixed periodicity is not supported).
    """

    def __init__(self, cell=None, pbc: bool = True):
        pbc_flags = np.atleast_1d(np.asarray(pbc, dtype=bool))
        if pbc_flags.size not in (1, 3) or (pbc_flags.size == 3 and pbc_flags.any() != pbc_flags.all()):
            raise InputError(f"pbc = {pbc!r}: only fully periodic (True) or fully open (False) systems are supported")
        self.periodic = bool(pbc_flags.all())
        if cell is None or np.allclose(np.asarray(cell, dtype=float), 0.0):
            if self.periodic:
                raise InputError("cell = None but pbc = True: a periodic system needs a cell "
                                 "(3x3 lattice vectors or 3 edge lengths, in Å)")
            cell = np.zeros((3, 3))
        cell = np.asarray(cell, dtype=np.float64)
        if cell.shape == (3,):
            cell = np.diag(cell)
        if cell.shape != (3, 3):
            raise InputError(f"cell must have shape (3, 3) or (3,), got {cell.shape}")
        volume = float(np.linalg.det(cell))
        if self.periodic and not volume > 0:
            raise InputError(f"cell volume = {volume:g} Å³ is outside the allowed range (0, inf): "
                             "lattice vectors must be right-handed and not coplanar")
        self.cell = cell
        # An open system gets a huge nominal cell, so the kernels' minimum-image rounding is the identity.
        self.H = cell.T.copy() if self.periodic else np.eye(3) * _OPEN_CELL
        self.H_inv = np.linalg.inv(self.H)

    @property
    def volume(self) -> float:
        return float(abs(np.linalg.det(self.cell))) if self.periodic else float("inf")

    @property
    def widths(self) -> np.ndarray:
        """Perpendicular distances between opposite faces (Å); infinite when not periodic."""
        if not self.periodic:
            return np.full(3, np.inf)
        a, b, c = self.cell
        return self.volume / np.array([np.linalg.norm(np.cross(b, c)), np.linalg.norm(np.cross(c, a)),
                                       np.linalg.norm(np.cross(a, b))])

    @property
    def half_width(self) -> float:
        return float(self.widths.min() / 2)

    def check_cutoff(self, cutoff: float, field: str = "cutoff") -> None:
        """`InputError` when the cutoff exceeds half the smallest perpendicular width."""
        if self.periodic and cutoff > self.half_width:
            raise InputError(f"{field} = {cutoff:g} Å is outside the allowed range (0, {self.half_width:g}]: "
                             "it must not exceed half the smallest box width (enlarge the box)")

    def wrap(self, x: np.ndarray) -> np.ndarray:
        """Positions (..., 3) mapped into the cell."""
        if not self.periodic:
            return np.array(x, dtype=np.float64)
        s = np.asarray(x, dtype=np.float64) @ self.H_inv.T
        return (s - np.floor(s)) @ self.H.T

    def minimum_image(self, d: np.ndarray) -> np.ndarray:
        """Displacements (..., 3) reduced to the nearest image (exact for |d| < half the smallest width)."""
        if not self.periodic:
            return np.asarray(d, dtype=np.float64)
        s = np.asarray(d, dtype=np.float64) @ self.H_inv.T
        return (s - np.round(s)) @ self.H.T

    def to_config(self) -> dict:
        return {"cell": self.cell.tolist(), "pbc": self.periodic}
