"""Contact edges between bodies (HCMT, Yu et al., ICLR 2024, https://arxiv.org/abs/2312.12467; the
world edges of MeshGraphNets, Pfaff et al., ICLR 2021): every pair (i, j) of nodes of different groups (e.g.
impactor vs plate) with |x_i - x_j| < radius, in both directions, rebuilt from the current positions every step.
"""
from __future__ import annotations

import torch

from simengine.errors import InputError

#: MeshGraphNets / HCMT node type of obstacle (impactor, actuator) nodes
OBSTACLE = 1
#: the default contact radius, in median rest mesh-edge lengths
CONTACT_EDGE_LENGTHS = 2.0


def contact_edges(position: torch.Tensor, group: torch.Tensor, radius: float, batch: torch.Tensor | None = None):
    """Edges between nodes of group ``True`` and nodes of group ``False`` closer than ``radius``.

    Args:
        position: (N, D) current world positions.
        group: (N,) bool, e.g. ``node_type == OBSTACLE``.
        radius: contact radius (> 0), in position units.
        batch: (N,) int sample index of each node (nodes of different samples never connect), or None.

    Returns:
        senders, receivers: (E,) int64, both directions (E even), sorted by (receiver, sender).

    Shapes: the pairwise distances between the two groups, (N_true, N_false), are formed at once.
    """
    radius = float(radius)
    if not radius > 0:
        raise InputError(f"contact radius = {radius!r} is outside the allowed range (0, inf)")
    group = torch.as_tensor(group, dtype=torch.bool, device=position.device).reshape(-1)
    n = position.shape[0]
    if group.shape[0] != n:
        raise InputError(f"contact group has {group.shape[0]} entries for {n} nodes")
    a = torch.nonzero(group).reshape(-1)
    b = torch.nonzero(~group).reshape(-1)
    if a.numel() == 0 or b.numel() == 0:
        empty = torch.zeros(0, dtype=torch.long, device=position.device)
        return empty, empty.clone()
    d = torch.cdist(position[a].double(), position[b].double())
    close = d < radius
    if batch is not None:
        batch = batch.reshape(-1)
        close &= batch[a][:, None] == batch[b][None, :]
    ia, ib = torch.nonzero(close, as_tuple=True)
    first, second = a[ia], b[ib]
    senders, receivers = torch.cat([first, second]), torch.cat([second, first])
    order = torch.argsort(receivers * n + senders)
    return senders[order], receivers[order]


def median_edge_length(rest: torch.Tensor, senders: torch.Tensor, receivers: torch.Tensor) -> float:
    """Median length of the mesh edges in rest coordinates (a default scale for the contact radius)."""
    if senders.numel() == 0:
        raise InputError("the mesh has no edges: give the contact radius explicitly")
    return float((rest[senders] - rest[receivers]).norm(dim=-1).median())
