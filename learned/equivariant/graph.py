"""Radius graphs in periodic cells of any shape (triclinic included), by chunked brute force.

For receiver i and sender j of the same sample b, the edge vector is the minimum image

    d_ij = x_j − x_i + s_ij,   s_ij = −round((x_j − x_i) C_b⁻¹) C_b   (C_b rows = lattice vectors),

which is exact when r_c is below half the smallest perpendicular width of the cell (then every
fractional component of a vector shorter than r_c is below ½ in magnitude).  Rotating or reflecting
positions and cell together leaves the fractional coordinates, hence the edges, unchanged: the graph is
E(3)-equivariant by construction.  Work is O(N²) per sample in chunks of rows, which is cheap for the
few hundred to few thousand atoms TrajCast sees per sample.
"""
from __future__ import annotations

import torch

from simengine.errors import InputError


def half_min_width(cell: torch.Tensor) -> torch.Tensor:
    """(B,) half the smallest perpendicular width of cells (B, 3, 3)."""
    volume = torch.linalg.det(cell).abs()
    a, b, c = cell[:, 0], cell[:, 1], cell[:, 2]
    areas = torch.stack([torch.linalg.cross(b, c).norm(dim=-1), torch.linalg.cross(c, a).norm(dim=-1),
                         torch.linalg.cross(a, b).norm(dim=-1)], -1)
    return 0.5 * (volume[:, None] / areas).min(-1).values


@torch.no_grad()
def periodic_radius_graph(position: torch.Tensor, cell: torch.Tensor, cutoff: float,
                          batch: torch.Tensor | None = None, chunk: int = 512):
    """Edges closer than ``cutoff`` under periodic boundaries.

    Args:
        position: (N, 3) Cartesian positions (any image).  cell: (B, 3, 3) per-sample cells, rows are the
        lattice vectors (B = 1 without ``batch``).  batch: (N,) sample index of each atom.
    Returns:
        senders j, receivers i (E,) int64, sorted by receiver, and shifts s_ij (E, 3) so that the edge
        vector is ``position[j] − position[i] + shift`` (recompute it with gradients where needed).
    """
    if position.ndim != 2 or position.shape[1] != 3:
        raise InputError(f"position must have shape (N, 3), got {tuple(position.shape)}")
    cell = cell.reshape(-1, 3, 3).to(position)
    batch = torch.zeros(len(position), dtype=torch.long, device=position.device) if batch is None else batch
    limit = half_min_width(cell)
    if bool((limit < cutoff).any()):
        raise InputError(f"cutoff = {cutoff:g} Å is outside the allowed range (0, {float(limit.min()):.4g}]: it must "
                         "not exceed half the smallest cell width")
    senders, receivers, shifts = [], [], []
    for b in range(len(cell)):
        atoms = torch.nonzero(batch == b).flatten()
        x = position[atoms]
        inverse = torch.linalg.inv(cell[b])
        for lo in range(0, len(atoms), chunk):
            d = x[None, :, :] - x[lo:lo + chunk, None, :]               # (rows, n, 3): x_j − x_i
            shift = -torch.round(d @ inverse) @ cell[b]
            r2 = ((d + shift) ** 2).sum(-1)
            rows = torch.arange(lo, lo + d.shape[0], device=x.device)
            mask = r2 < cutoff * cutoff
            mask[torch.arange(d.shape[0]), rows] = False
            i, j = torch.nonzero(mask, as_tuple=True)
            receivers.append(atoms[i + lo])
            senders.append(atoms[j])
            shifts.append(shift[i, j])
    return torch.cat(senders), torch.cat(receivers), torch.cat(shifts)
