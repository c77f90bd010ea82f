"""Mesh connectivity to graph edges (MeshGraphNets, Pfaff et al., ICLR 2021).

Every pair of vertices sharing a cell becomes an undirected mesh edge, returned in both directions:
the three sides of a triangle, the six edges of a tetrahedron, the sides and diagonals of a quad.
"""
from __future__ import annotations

import itertools

import torch

from simengine.errors import InputError


def cells_to_edges(cells: torch.Tensor, num_nodes: int | None = None):
    """Undirected edges of a cell mesh, both directions, without duplicates.

    Args:
        cells: (C, K) int vertex indices of each cell, K >= 2.
        num_nodes: number of mesh vertices (default: ``cells.max() + 1``), used to sort the edges.

    Returns:
        senders, receivers: (E,) int64 with E even, sorted by (receiver, sender).
    """
    cells = torch.as_tensor(cells).long()
    if cells.ndim != 2 or cells.shape[1] < 2:
        raise InputError(f"cells must have shape (C, K) with K >= 2, got {tuple(cells.shape)}")
    if cells.numel() and int(cells.min()) < 0:
        raise InputError(f"cells hold a negative vertex index {int(cells.min())}")
    n = int(num_nodes if num_nodes is not None else (cells.max() + 1 if cells.numel() else 0))
    if cells.numel() and int(cells.max()) >= n:
        raise InputError(f"cells refer to vertex {int(cells.max())} but num_nodes = {n}")
    pairs = [cells[:, [a, b]] for a, b in itertools.combinations(range(cells.shape[1]), 2)]
    pairs = torch.cat(pairs, 0) if pairs else cells.new_zeros((0, 2))
    pairs = pairs[pairs[:, 0] != pairs[:, 1]]  # degenerate cells repeat a vertex
    low, high = pairs.min(1).values, pairs.max(1).values
    key = torch.unique(low * n + high)
    low, high = key // n, key % n
    senders, receivers = torch.cat([low, high]), torch.cat([high, low])
    order = torch.argsort(receivers * n + senders)
    return senders[order], receivers[order]


def remove_edges(senders, receivers, drop_senders, drop_receivers, num_nodes: int):
    """Edges of the first list that are not in the second (e.g. world edges minus mesh edges)."""
    key = senders * num_nodes + receivers
    drop = drop_senders * num_nodes + drop_receivers
    keep = ~torch.isin(key, drop)
    return senders[keep], receivers[keep]
