"""Mesh hierarchies by bi-stride pooling (Cao, Chai, Li, Ren, "Efficient Learning of Mesh-Based Physical
Simulation with Bi-Stride Multi-Scale Graph Neural Network", ICML 2023, https://arxiv.org/abs/2210.02573).

One coarsening step: in every connected component, a breadth-first search from a seed node (the component's
lowest node id) labels each node with its hop distance d; the nodes with even d are kept ("every other BFS
front"). The coarse level connects two kept nodes when they are at most two hops apart in the fine graph, i.e.
its adjacency is (A + I)² restricted to the kept nodes, without self-loops. Every kept node at depth 2k > 0
is two hops from a kept node at depth 2k - 2 (its BFS grandparent), so a connected component stays connected.
Level 0 is the full mesh; level l + 1 is built from level l. HCMT (Yu et al., ICLR 2024) uses 7 levels.

Because the seed is each component's lowest id, the hierarchy of a batch of meshes (vertex ids shifted per
sample) is the union of the samples' hierarchies. `mesh_hierarchy` caches results by the cell array's content.
"""
from __future__ import annotations

import hashlib
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np
import torch

from simengine.errors import InputError

_CACHE: OrderedDict = OrderedDict()
_CACHE_SIZE = 64


@dataclass
class Hierarchy:
    """Levels of a mesh graph. ``index[l]`` (N_l,) int64: the level-(l - 1) node ids kept at level l (``index[0]``
    is every node); ``senders[l]``, ``receivers[l]`` (E_l,) int64: edges of level l in level-l node ids, both
    directions; ``nodes[l]`` (N_l,) int64: the level-0 ids of level l's nodes."""

    index: list
    senders: list
    receivers: list
    nodes: list

    @property
    def num_levels(self) -> int:
        return len(self.index)

    def sizes(self) -> list:
        return [int(i.numel()) for i in self.index]


def _adjacency(senders: np.ndarray, receivers: np.ndarray, n: int):
    from scipy import sparse

    data = np.ones(len(senders), dtype=np.int8)
    a = sparse.coo_matrix((data, (receivers, senders)), shape=(n, n)).tocsr()
    a.data[:] = 1
    return ((a + a.T) > 0).astype(np.int8).tocsr()


def bistride_level(senders, receivers, num_nodes: int):
    """One bi-stride coarsening of an undirected graph.

    Args:
        senders, receivers: (E,) int edges (either or both directions).
        num_nodes: N.

    Returns:
        keep (N_c,) int64 sorted ids of the kept nodes; coarse senders, receivers (E_c,) int64 in coarse ids,
        both directions, sorted by (receiver, sender).
    """
    from scipy import sparse
    from scipy.sparse import csgraph

    s = np.asarray(senders, dtype=np.int64).reshape(-1)
    r = np.asarray(receivers, dtype=np.int64).reshape(-1)
    n = int(num_nodes)
    a = _adjacency(s, r, n)
    _, labels = csgraph.connected_components(a, directed=False)
    seeds = np.full(labels.max() + 1 if n else 0, n, dtype=np.int64)
    np.minimum.at(seeds, labels, np.arange(n))
    depth = csgraph.dijkstra(a, directed=False, indices=seeds, unweighted=True, min_only=True)
    keep = np.flatnonzero(np.asarray(depth, dtype=np.int64) % 2 == 0)
    two_hop = (a + sparse.identity(n, dtype=np.int8, format="csr"))
    two_hop = (two_hop @ two_hop)[keep][:, keep].tocoo()
    off = two_hop.row != two_hop.col
    cr, cs = two_hop.row[off].astype(np.int64), two_hop.col[off].astype(np.int64)
    order = np.lexsort((cs, cr))
    return keep, cs[order], cr[order]


def build_hierarchy(senders, receivers, num_nodes: int, levels: int) -> Hierarchy:
    """``levels`` levels of bi-stride pooling (level 0 the input graph). See the module docstring.

    Raises:
        InputError: when a coarsening step keeps every node (each component a single node), so the mesh
        supports fewer levels than asked.
    """
    levels = int(levels)
    if levels < 1:
        raise InputError(f"hierarchy levels = {levels} is outside the allowed range [1, inf)")
    s = torch.as_tensor(senders).long().cpu()
    r = torch.as_tensor(receivers).long().cpu()
    n = int(num_nodes)
    all_nodes = torch.arange(n)
    out = Hierarchy([all_nodes], [s], [r], [all_nodes])
    for level in range(1, levels):
        keep, cs, cr = bistride_level(s.numpy(), r.numpy(), n)
        if len(keep) == n:
            raise InputError(f"hierarchy levels = {levels}: the mesh supports only {level} level(s) "
                             f"(level {level - 1} has {n} node(s), every connected component a single node, "
                             f"so bi-stride pooling cannot coarsen it)")
        keep_t = torch.from_numpy(keep)
        s, r, n = torch.from_numpy(cs), torch.from_numpy(cr), len(keep)
        out.index.append(keep_t)
        out.senders.append(s)
        out.receivers.append(r)
        out.nodes.append(out.nodes[-1][keep_t])
    return out


def mesh_hierarchy(senders, receivers, num_nodes: int, levels: int, device=None) -> Hierarchy:
    """`build_hierarchy`, cached by the edges' content (the last 64 graphs), tensors moved to ``device``."""
    s = torch.as_tensor(senders).long()
    r = torch.as_tensor(receivers).long()
    digest = hashlib.blake2b(s.cpu().numpy().tobytes(), digest_size=16)
    digest.update(r.cpu().numpy().tobytes())
    key = (digest.hexdigest(), int(num_nodes), int(levels), str(device or s.device))
    hit = _CACHE.get(key)
    if hit is not None:
        _CACHE.move_to_end(key)
        return hit
    h = build_hierarchy(s, r, num_nodes, levels)
    device = device or s.device
    h = Hierarchy(*[[t.to(device) for t in part] for part in (h.index, h.senders, h.receivers, h.nodes)])
    _CACHE[key] = h
    while len(_CACHE) > _CACHE_SIZE:
        _CACHE.popitem(last=False)
    return h
