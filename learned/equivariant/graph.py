"""Radius graphs in periodic cells of any shape (triclinic included), by chunked brute force.

For receiver i and sender j of the same sample b, the edge vector is the minimum image

    d_ij = x_j − x_i + s_ij,   s_ij = −round((x_j − x_i) C_b⁻¹) C_b   (C_b rows = lattice vectors),

which is exact when r_c is below half the smallest perpendicular width of the cell (then every
fractional component of a vector shorter than r_c is below ½ in magnitude).  Rotating or reflecting
positions and cell together leaves the fractional coordinates, hence the edges, unchanged: the graph is
E(3)-equivariant by construction.  Work is O(N²) per sample in chunks of rows, which is cheap for the
few hundred atoms of a training sample; larger samples (``method="auto"`` above ``WARP_ABOVE`` atoms)
use the Warp cell-list Verlet builder of `simengine.md` instead (same edges, O(N)).
"""
from __future__ import annotations

import torch

from simengine.errors import InputError

WARP_ABOVE = 1000   # atoms per sample from which method="auto" builds with Warp
METHODS = ("auto", "torch", "warp")


def half_min_width(cell: torch.Tensor) -> torch.Tensor:
    """(B,) half the smallest perpendicular width of cells (B, 3, 3)."""
    volume = torch.linalg.det(cell).abs()
    a, b, c = cell[:, 0], cell[:, 1], cell[:, 2]
    areas = torch.stack([torch.linalg.cross(b, c).norm(dim=-1), torch.linalg.cross(c, a).norm(dim=-1),
                         torch.linalg.cross(a, b).norm(dim=-1)], -1)
    return 0.5 * (volume[:, None] / areas).min(-1).values


@torch.no_grad()
def periodic_radius_graph(position: torch.Tensor, cell: torch.Tensor, cutoff: float,
                          batch: torch.Tensor | None = None, chunk: int = 512, method: str = "auto"):
    """Edges closer than ``cutoff`` under periodic boundaries.

    Args:
        position: (N, 3) Cartesian positions (any image).  cell: (B, 3, 3) per-sample cells, rows are the
        lattice vectors (B = 1 without ``batch``).  batch: (N,) sample index of each atom.
        method: "torch" (chunked brute force), "warp" (hash-grid cell lists), "auto" (by sample size).
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
    if method not in METHODS:
        raise InputError(f"method = {method!r} is not one of {METHODS}")
    senders, receivers, shifts = [], [], []
    for b in range(len(cell)):
        atoms = torch.nonzero(batch == b).flatten()
        x = position[atoms]
        if method == "warp" or (method == "auto" and len(atoms) > WARP_ABOVE):
            i, j, shift = _warp_pairs(x, cell[b], cutoff)
            receivers.append(atoms[i])
            senders.append(atoms[j])
            shifts.append(shift)
            continue
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


def _warp_pairs(x: torch.Tensor, cell: torch.Tensor, cutoff: float):
    """(receivers i, senders j, shifts) from `simengine.md.NeighborList` (full list, no skin).  A
    left-handed cell (after a reflection) is inverted first: distances, hence pairs, do not change."""
    from simengine.md import Box, NeighborList
    from simengine.runtime import init_warp

    wp = init_warp()
    sign = 1.0 if float(torch.linalg.det(cell)) > 0 else -1.0
    xs = sign * x.detach().cpu().double().numpy()
    nl = NeighborList(Box(sign * cell.detach().cpu().double().numpy()), cutoff, 0.0, len(xs), wp.float64, "cpu",
                      half=False)
    nl.build(wp.array(xs, dtype=wp.vec3d))
    i, j, shift = nl.pairs()
    long = dict(dtype=torch.long, device=x.device)
    return torch.as_tensor(i, **long), torch.as_tensor(j, **long), torch.as_tensor(sign * shift).to(x)
