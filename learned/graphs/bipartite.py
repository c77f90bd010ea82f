"""Edges between two point sets: queries near sources (radius), and points near the nodes of regular grids.

Both are used by GIOROM (`learned.models.giorom`): dense query points near sparse nodes for the
reconstruction (built once, in reference coordinates), and sparse nodes near the nodes of a latent
grid for the graph neural operator (rebuilt every step). An edge is a pair (query or point index,
source or grid-node index); the lists are sorted by the first index, then by distance.
"""
from __future__ import annotations

import itertools
import math

import torch

from simengine.errors import InputError


def radius_bipartite(queries: torch.Tensor, sources: torch.Tensor, radius: float, *, batch_queries=None,
                     batch_sources=None, max_neighbors: int | None = None, chunk: int = 4096):
    """Pairs (q, s) with ``|queries[q] - sources[s]| <= radius`` (same sample when batches are given).

    Args:
        queries: (Q, D) float; sources: (S, D) float.
        radius: r > 0.
        batch_queries, batch_sources: (Q,), (S,) int sample indices (None: one sample).
        max_neighbors: keep the k nearest sources of every query (None: all within r).
        chunk: queries per brute-force block (Q x S distances in blocks of chunk x S).

    Returns:
        query_index, source_index: (E,) int64, sorted by query, then by distance (ties: source index);
        distance: (E,) float, |queries[q] - sources[s]|.
    """
    if queries.ndim != 2 or sources.ndim != 2 or queries.shape[1] != sources.shape[1]:
        raise InputError(f"queries {tuple(queries.shape)} and sources {tuple(sources.shape)} must be (Q, D) and (S, D)")
    if not radius > 0:
        raise InputError(f"radius = {radius!r} is outside the allowed range (0, inf)")
    if max_neighbors is not None and int(max_neighbors) < 1:
        raise InputError(f"max_neighbors = {max_neighbors} is outside the allowed range [1, inf)")
    q_all, s_all, d_all = [], [], []
    src = sources.detach()
    for start in range(0, queries.shape[0], chunk):
        q = queries[start:start + chunk].detach()
        dist = torch.cdist(q, src)
        close = dist <= radius
        if batch_queries is not None and batch_sources is not None:
            close &= batch_queries[start:start + chunk, None] == batch_sources[None, :]
        if max_neighbors is not None and int(max_neighbors) < src.shape[0]:
            masked = torch.where(close, dist, torch.full_like(dist, float("inf")))
            k = int(max_neighbors)
            _, nearest = torch.topk(masked, k, dim=1, largest=False, sorted=True)
            keep = torch.zeros_like(close)
            keep.scatter_(1, nearest, True)
            close &= keep
        r, c = torch.nonzero(close, as_tuple=True)
        q_all.append(r + start)
        s_all.append(c)
        d_all.append(dist[r, c])
    qi, si, di = torch.cat(q_all), torch.cat(s_all), torch.cat(d_all)
    order = torch.argsort(di, stable=True)
    order = order[torch.argsort(qi[order], stable=True)]
    return qi[order], si[order], di[order].to(queries.dtype)


def cube_grid(position: torch.Tensor, batch: torch.Tensor | None, num_samples: int, resolution: int,
              pad: float = 0.0):
    """A G^D grid per sample over the bounding cube of its points: (lower (B, D), spacing (B,)).

    The cube is centred on the sample's axis-aligned bounding box and its side is the longest side plus
    2 ``pad`` (at least ``pad`` or a tiny positive value), so a rigid translation of a sample's points moves
    its grid with it.
    """
    if resolution < 2:
        raise InputError(f"grid resolution = {resolution} is outside the allowed range [2, inf)")
    dim = position.shape[1]
    batch = torch.zeros(position.shape[0], dtype=torch.long, device=position.device) if batch is None else batch
    pos = position.detach()
    lo = pos.new_full((num_samples, dim), float("inf")).scatter_reduce(0, batch[:, None].expand(-1, dim), pos, "amin")
    hi = pos.new_full((num_samples, dim), -float("inf")).scatter_reduce(0, batch[:, None].expand(-1, dim), pos, "amax")
    side = (hi - lo).amax(-1) + 2 * pad
    side = torch.clamp(side, min=max(2 * pad, 1e-6))
    lower = 0.5 * (lo + hi) - 0.5 * side[:, None]
    return lower, side / (resolution - 1)


def grid_nodes(lower: torch.Tensor, spacing: torch.Tensor, resolution: int) -> torch.Tensor:
    """Positions (B, G^D, D) of the nodes of each sample's grid, node (i, j, k) at lower + (i, j, k) h,
    flattened with the last axis fastest."""
    dim = lower.shape[1]
    axes = torch.arange(resolution, dtype=lower.dtype, device=lower.device)
    index = torch.stack(torch.meshgrid(*[axes] * dim, indexing="ij"), -1).reshape(-1, dim)
    return lower[:, None, :] + index[None] * spacing[:, None, None]


def grid_neighbors(position: torch.Tensor, batch: torch.Tensor | None, lower: torch.Tensor, spacing: torch.Tensor,
                   resolution: int, radius: torch.Tensor):
    """Pairs (point p, grid node g) with |x_p - y_g| <= radius of p's sample.

    Args:
        position: (N, D); batch: (N,) sample of each point (None: all sample 0).
        lower: (B, D), spacing: (B,) the grids (`cube_grid`); resolution: G nodes per axis.
        radius: (B,) per-sample radius.

    Returns:
        point_index (E,), node_index (E,) in [0, B G^D) (sample b's nodes are b G^D .. (b+1) G^D - 1),
        offset (E, D) = x_p - y_g.

    Only the (2k+2)^D nodes around a point's cell are tested, k = ceil(radius / spacing): O(N k^D).
    """
    n, dim = position.shape
    batch = torch.zeros(n, dtype=torch.long, device=position.device) if batch is None else batch
    h = spacing[batch]
    frac = (position.detach() - lower[batch]) / h[:, None]
    base = torch.floor(frac).long()
    reach = int(math.ceil(float((radius / spacing).max())))
    offsets = torch.tensor(list(itertools.product(range(-reach, reach + 2), repeat=dim)), device=position.device)
    cand = base[:, None, :] + offsets[None]                                      # (N, K, D)
    inside = ((cand >= 0) & (cand < resolution)).all(-1)
    node_pos = lower[batch][:, None, :] + cand.to(position.dtype) * h[:, None, None]
    diff = position[:, None, :] - node_pos                                       # (N, K, D), differentiable
    close = inside & ((diff.detach() ** 2).sum(-1) <= (radius[batch] ** 2)[:, None])
    p, k = torch.nonzero(close, as_tuple=True)
    flat = torch.zeros_like(p)
    for axis in range(dim):
        flat = flat * resolution + cand[p, k, axis]
    node = batch[p] * resolution ** dim + flat
    return p, node, diff[p, k]
