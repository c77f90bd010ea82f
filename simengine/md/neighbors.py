"""Verlet neighbour list with a skin, rebuilt from a Warp `HashGrid` when an atom has moved skin/2.

The kernels (and the periodic-image bookkeeping) are in `kernels.md.neighbors`.  The list is *half* by
default (each pair stored under one of its atoms, for Newton's-third-law forces) or *full* (under both),
each entry with the lattice shift that makes d_ij = x_j + s_ij − x_i the minimum-image vector.  Rebuild
criterion (Allen & Tildesley §5.3): no pair can cross from beyond r_c + skin to inside r_c before some
atom has moved skin/2 from where it was at the last build.
"""
from __future__ import annotations

import numpy as np

from kernels.md import neighbor_kernels
from simengine.errors import check_range
from simengine.md.box import Box
from simengine.parallel import launch_split
from simengine.runtime import init_warp

_OPEN_REACH = -1.0e30  # fractional reach that never admits a periodic image
#: below this many atoms per thread a second thread costs more than it saves
MIN_ATOMS_PER_THREAD = 512


class NeighborList:
    """Full Verlet list for ``num_atoms`` atoms.

    Args:
        box: the `Box`; ``cutoff`` (Å) must not exceed half its smallest width.
        cutoff: interaction cutoff r_c; pairs are listed out to r_list = r_c + skin (capped at half the
            smallest box width, which shrinks the effective skin).
        skin: Verlet skin (Å).
        molecule_id: optional (N,) int; atoms sharing an id ≥ 0 are not listed (intramolecular pairs
            are left to bonded terms).
        scalar: wp.float32 or wp.float64.  ``threads`` CPU threads build the list.
        half: store each pair once (default) or from both sides.
    """

    def __init__(self, box: Box, cutoff: float, skin: float, num_atoms: int, scalar, device: str,
                 molecule_id=None, threads: int = 1, half: bool = True):
        self.wp = wp = init_warp()
        check_range("skin", skin, 0.0, None)
        box.check_cutoff(cutoff)
        self.box, self.cutoff, self.scalar, self.device, self.threads = box, float(cutoff), scalar, device, threads
        self.half = bool(half)
        self.r_list = cutoff + skin if not box.periodic else min(cutoff + skin, box.half_width)
        self.skin = self.r_list - cutoff
        self.num_atoms = n = int(num_atoms)
        self.vec3 = wp.types.vector(3, scalar)
        self.mat33 = wp.types.matrix((3, 3), scalar)
        self._wrap, self._build, self._max_disp = neighbor_kernels(scalar)
        mol = np.full(n, -1, np.int32) if molecule_id is None else np.asarray(molecule_id, np.int32)
        self.molecule = wp.array(mol, dtype=wp.int32, device=device)
        self.wrapped = wp.zeros(n, dtype=self.vec3, device=device)
        self.image = wp.zeros(n, dtype=wp.vec3i, device=device)
        self.reference = wp.zeros(n, dtype=self.vec3, device=device)
        self.counts = wp.zeros(n, dtype=wp.int32, device=device)
        self._disp = wp.zeros(1, dtype=scalar, device=device)
        density = n / box.volume if box.periodic else 0.05
        expected = 4.0 / 3.0 * np.pi * self.r_list ** 3 * density * (0.5 if half else 1.0)
        self.max_neighbors = int(1.3 * expected) + 16
        self._allocate()
        self.grid = None
        self.builds = 0

    def _allocate(self):
        wp, size = self.wp, self.num_atoms * self.max_neighbors
        self.neighbors = wp.zeros(size, dtype=wp.int32, device=self.device)
        self.shifts = wp.zeros(size, dtype=self.vec3, device=self.device)

    def _grid_for(self, x_np: np.ndarray):
        extent = (np.abs(self.box.cell).sum(axis=0) if self.box.periodic
                  else np.ptp(x_np, axis=0) + 2 * self.r_list)
        dims = np.clip(np.ceil(extent / self.r_list).astype(int), 1, 128)
        if self.grid is None or tuple(dims) != self._grid_dims:
            self.grid = self.wp.HashGrid(*map(int, dims), device=self.device, dtype=self.scalar)
            self._grid_dims = tuple(dims)
        return self.grid

    def build(self, x) -> None:
        """Rebuild from positions ``x`` (warp array of vec3, unwrapped)."""
        wp, box, n = self.wp, self.box, self.num_atoms
        H, H_inv = self.mat33(*box.H.ravel()), self.mat33(*box.H_inv.ravel())
        wp.launch(self._wrap, dim=n, inputs=[x, H, H_inv, int(box.periodic), self.wrapped, self.image],
                  device=self.device, record_tape=False)
        grid = self._grid_for(self.wrapped.numpy() if not box.periodic else None)
        grid.build(self.wrapped, float(self.r_list))
        reach = self.vec3(*(self.r_list / box.widths if box.periodic else [_OPEN_REACH] * 3))
        while True:
            launch_split(self._build, n, [grid.id, self.wrapped, self.image, self.molecule, H, H_inv, reach,
                                          self.scalar(self.r_list), int(self.half), self.max_neighbors,
                                          self.neighbors, self.shifts, self.counts], self.device, self.threads,
                         min_items=MIN_ATOMS_PER_THREAD, record_tape=False)
            most = int(self.counts.numpy().max()) if n else 0
            if most <= self.max_neighbors:
                break
            self.max_neighbors = int(most * 1.2) + 8
            self._allocate()
        wp.copy(self.reference, x)
        self.builds += 1

    def needs_rebuild(self, x) -> bool:
        """True when some atom moved more than skin/2 since the last build (always before the first)."""
        if self.builds == 0:
            return True
        self._disp.zero_()
        self.wp.launch(self._max_disp, dim=self.num_atoms, inputs=[x, self.reference, self._disp], device=self.device,
                       record_tape=False)
        return float(self._disp.numpy()[0]) > (0.5 * self.skin) ** 2

    def update(self, x) -> bool:
        """Rebuild if needed; returns whether it did."""
        if self.needs_rebuild(x):
            self.build(x)
            return True
        return False

    def pairs(self):
        """The stored list as NumPy arrays (i, j, shift (P, 3)): each pair once (half) or twice (full)."""
        counts = self.counts.numpy()
        m = self.max_neighbors
        slots = np.arange(m)[None, :] < counts[:, None]
        i = np.repeat(np.arange(self.num_atoms), m).reshape(-1, m)[slots]
        j = self.neighbors.numpy().reshape(-1, m)[slots]
        shifts = self.shifts.numpy().reshape(-1, m, 3)[slots]
        return i, j, shifts.astype(np.float64)
