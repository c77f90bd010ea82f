"""Radius graphs over particles: every pair closer than r, optionally capped at the k nearest.

Edges are returned as ``(senders, receivers)``, two int64 tensors of shape (E,), sorted by receiver
then sender; an edge j -> i means "particle i receives a message from neighbour j" (GNS convention).
Two backends give the same edge set:

* ``"warp"``: cell lists on Warp's `HashGrid` (`kernels.neighbors`), O(N) per build, CPU or CUDA.
* ``"torch"``: chunked brute force, O(N²) work but no compilation; the reference in tests.

Periodic boxes use the minimum-image convention: ``box`` gives ``lower`` (D,) and ``length`` (D,)
and ``periodic`` (D,) bools; `minimum_image` turns raw differences into the shortest periodic ones.
"""
from __future__ import annotations

import numpy as np
import torch

from simengine.errors import InputError

BACKENDS = ("warp", "torch")


def minimum_image(diff: torch.Tensor, length: torch.Tensor | None, periodic: torch.Tensor | None):
    """Shortest periodic representative of coordinate differences ``diff`` (..., D)."""
    if periodic is None or not bool(periodic.any()):
        return diff
    length = length.to(diff)
    wrapped = diff - length * torch.round(diff / length)
    return torch.where(periodic.to(diff.device), wrapped, diff)


def radius_graph(position: torch.Tensor, radius: float, *, batch: torch.Tensor | None = None,
                 max_neighbors: int | None = None, lower=None, length=None, periodic=None,
                 include_self: bool = False, backend: str = "warp"):
    """Edges between particles within ``radius`` of each other.

    Args:
        position: (N, D) float, D = 2 or 3.
        radius: connectivity radius r > 0.
        batch: (N,) int sample index; particles of different samples are never connected.
        max_neighbors: keep only the k nearest senders of each receiver (None: all within r).
        lower, length, periodic: (D,) box origin, box lengths and periodic flags (None: open box).
        include_self: also return the self-loops i -> i.
        backend: "warp" (hash grid) or "torch" (brute force).

    Returns:
        senders, receivers: (E,) int64, sorted by (receiver, sender), or by (receiver, distance)
        when ``max_neighbors`` caps the list.
    """
    if position.ndim != 2 or position.shape[1] not in (2, 3):
        raise InputError(f"position must have shape (N, 2) or (N, 3), got {tuple(position.shape)}")
    if not radius > 0:
        raise InputError(f"radius = {radius!r} is outside the allowed range (0, inf)")
    if backend not in BACKENDS:
        raise InputError(f"backend = {backend!r} is not one of {BACKENDS}")
    dim = position.shape[1]
    periodic_t = None
    if periodic is not None and any(bool(p) for p in np.asarray(periodic).ravel()):
        if lower is None or length is None:
            raise InputError("a periodic radius graph needs the box `lower` and `length`")
        periodic_t = torch.as_tensor(np.asarray(periodic, dtype=bool), device=position.device)
        lower = torch.as_tensor(np.asarray(lower, dtype=np.float32), device=position.device)
        length = torch.as_tensor(np.asarray(length, dtype=np.float32), device=position.device)
        too_small = [(d, float(length[d])) for d in range(dim) if periodic_t[d] and length[d] <= 2 * radius]
        if too_small:
            d, size = too_small[0]
            raise InputError(f"periodic box length[{d}] = {size:g} must exceed 2 x radius = {2 * radius:g}")
    build = _warp_edges if backend == "warp" else _torch_edges
    senders, receivers = build(position.detach(), float(radius), batch, lower, length, periodic_t, include_self)
    if max_neighbors is not None:
        senders, receivers = cap_neighbors(position, senders, receivers, int(max_neighbors),
                                           length=length, periodic=periodic_t)
    return senders, receivers


def cap_neighbors(position, senders, receivers, k: int, *, length=None, periodic=None):
    """Keep the k nearest senders of every receiver (ties broken by sender index)."""
    if k < 1:
        raise InputError(f"max_neighbors = {k} is outside the allowed range [1, inf)")
    if senders.numel() == 0:
        return senders, receivers
    diff = minimum_image(position[senders] - position[receivers], length, periodic)
    dist = diff.detach().norm(dim=-1)
    order = torch.argsort(dist, stable=True)
    order = order[torch.argsort(receivers[order], stable=True)]
    senders, receivers = senders[order], receivers[order]
    counts = torch.bincount(receivers, minlength=position.shape[0])
    first = torch.cumsum(counts, 0) - counts
    rank = torch.arange(receivers.numel(), device=receivers.device) - first[receivers]
    keep = rank < k
    return senders[keep], receivers[keep]


def _sorted(senders, receivers, n):
    order = torch.argsort(receivers * n + senders)
    return senders[order], receivers[order]


def _torch_edges(position, radius, batch, lower, length, periodic, include_self, chunk=2048):
    n = position.shape[0]
    senders, receivers = [], []
    for start in range(0, n, chunk):
        rec = torch.arange(start, min(start + chunk, n), device=position.device)
        diff = minimum_image(position[None, :, :] - position[rec, None, :], length, periodic)
        close = (diff * diff).sum(-1) <= radius * radius
        if batch is not None:
            close &= batch[None, :] == batch[rec, None]
        if not include_self:
            close[torch.arange(rec.numel()), rec] = False
        r, s = torch.nonzero(close, as_tuple=True)
        senders.append(s)
        receivers.append(rec[r])
    return _sorted(torch.cat(senders), torch.cat(receivers), n)


_GRIDS: dict = {}


def _warp_edges(position, radius, batch, lower, length, periodic, include_self):
    from kernels import neighbors
    from simengine.runtime import init_warp

    wp = init_warp()
    n, dim = position.shape
    device = "cpu" if position.device.type == "cpu" else f"cuda:{position.device.index or 0}"
    if n == 0:
        empty = torch.zeros(0, dtype=torch.long, device=position.device)
        return empty, empty
    pts = torch.zeros((n, 3), dtype=torch.float32, device=position.device)
    pts[:, :dim] = position.float()
    groups = torch.zeros(n, dtype=torch.int32, device=position.device) if batch is None else batch.int()
    lower3, length3, periodic3 = [0.0] * 3, [1.0] * 3, [0] * 3
    if periodic is not None:
        for d in range(dim):
            lower3[d], length3[d], periodic3[d] = float(lower[d]), float(length[d]), int(periodic[d])
        # Points must lie inside the periodic box for the image test to be valid.
        wrapped = (pts[:, :dim] - lower.to(pts)
                   - length.to(pts) * torch.floor((pts[:, :dim] - lower.to(pts)) / length.to(pts)))
        pts[:, :dim] = torch.where(periodic.to(pts.device), wrapped + lower.to(pts), pts[:, :dim])
    pts = pts.contiguous()
    groups = groups.contiguous()
    wp_points = wp.from_torch(pts, dtype=wp.vec3)
    wp_groups = wp.from_torch(groups, dtype=wp.int32)
    grid = _GRIDS.get((device, dim))
    if grid is None:
        grid = _GRIDS[(device, dim)] = wp.HashGrid(128, 128, 128 if dim == 3 else 1, device=device)
    grid.build(wp_points, radius, groups=wp_groups)
    args = [grid.id, wp_points, wp_groups, wp.vec3(*lower3), wp.vec3(*length3), wp.vec3i(*periodic3),
            radius, int(include_self)]
    counts = torch.zeros(n, dtype=torch.int32, device=position.device)
    wp.launch(neighbors.count_radius_neighbors, dim=n, inputs=args, outputs=[wp.from_torch(counts)],
              device=device)
    total = int(counts.sum())
    offsets = (torch.cumsum(counts, 0) - counts).int().contiguous()
    senders = torch.zeros(max(total, 1), dtype=torch.int32, device=position.device)
    wp.launch(neighbors.fill_radius_neighbors, dim=n, inputs=args + [wp.from_torch(offsets)],
              outputs=[wp.from_torch(senders)], device=device)
    senders = senders[:total].long()
    receivers = torch.repeat_interleave(torch.arange(n, device=position.device), counts.long())
    return _sorted(senders, receivers, n)
