"""Minimum-spanning-tree coordinates of a regularized region (numpy side).

A region of n particles is stored as a tree: ``parent[k]`` (-1 for the root), ``depth[k]``, a
breadth-first ``order`` (root first), and edge vectors ``edge[k] = x_k - x_parent(k)`` (the root's
entry is its absolute centre-of-mass-frame value). The tree is the Euclidean minimum spanning tree
of the current positions, so close pairs are joined by one short edge (MSTAR, Rantala et al. 2020).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Tree:
    parent: np.ndarray  # (n,) int32, -1 at the root
    depth: np.ndarray   # (n,) int32
    order: np.ndarray   # (n,) int32, breadth-first, root first

    @property
    def root(self) -> int:
        return int(self.order[0])


def spanning_tree(positions: np.ndarray, masses: np.ndarray) -> Tree:
    """Euclidean minimum spanning tree of `positions` (n, 3), rooted at the most massive particle.

    Prim's algorithm on the dense distance matrix (O(n^2), regions hold at most a few hundred bodies).
    Always one connected tree whatever the separations: scipy's `minimum_spanning_tree` reads a dense
    matrix through ``np.ma.masked_values(d, 0)``, i.e. ``isclose(d, 0)`` with atol = 1e-8, and silently
    drops every edge shorter than ~1e-8 (two black holes 1e-8 apart became two roots of a forest, which
    the Warp kernels then walked past the ends of their arrays).
    """
    n = len(positions)
    root = int(np.argmax(masses))
    parent = np.full(n, -1, np.int32)
    if n > 1:
        p = np.asarray(positions, np.float64)
        d = np.sqrt(((p[:, None, :] - p[None, :, :]) ** 2).sum(-1))
        d = np.where(np.isnan(d), np.inf, d)  # never happens for finite positions; keep argmin well defined
        in_tree = np.zeros(n, bool)
        in_tree[root] = True
        best, link = d[root].copy(), np.full(n, root, np.int64)
        for _ in range(n - 1):
            k = int(np.argmin(np.where(in_tree, np.inf, best)))
            if in_tree[k]:  # every remaining distance is inf (overflowing coordinates): attach to the root
                k = int(np.flatnonzero(~in_tree)[0])
            parent[k] = link[k]
            in_tree[k] = True
            closer = d[k] < best
            best = np.where(closer, d[k], best)
            link = np.where(closer, k, link)
    return _rooted(parent, root)


def _rooted(parent: np.ndarray, root: int) -> Tree:
    """The breadth-first order (root first, children by index) and depths of a tree given by `parent`."""
    n = len(parent)
    children = [[] for _ in range(n)]
    for k in range(n):
        if k != root:
            children[int(parent[k])].append(k)
    order = [root]
    depth = np.zeros(n, np.int32)
    for i in order:  # grows while iterating: breadth-first
        for k in children[i]:
            depth[k] = depth[i] + 1
            order.append(k)
    if len(order) != n or parent[root] != -1:
        raise AssertionError(f"not a spanning tree: parent = {parent.tolist()}, root = {root}")
    return Tree(parent.astype(np.int32), depth, np.asarray(order, np.int32))


def path_difference(i: int, j: int, tree: Tree, edge: np.ndarray) -> np.ndarray:
    """x_i - x_j summed along the tree path (only the edges between i and j enter)."""
    parent, depth = tree.parent, tree.depth
    d = np.zeros(3)
    a, b = i, j
    while depth[a] > depth[b]:
        d += edge[a]
        a = parent[a]
    while depth[b] > depth[a]:
        d -= edge[b]
        b = parent[b]
    while a != b:
        d += edge[a] - edge[b]
        a, b = parent[a], parent[b]
    return d


def absolute(edge: np.ndarray, tree: Tree) -> np.ndarray:
    """Absolute (centre-of-mass frame) values from the edges (n, 3)."""
    out = np.empty_like(edge)
    for k in tree.order:
        p = tree.parent[k]
        out[k] = edge[k] if p < 0 else out[p] + edge[k]
    return out


def edges_from_absolute(values: np.ndarray, tree: Tree) -> np.ndarray:
    """Edges of `tree` from absolute values (n, 3): what a fresh region starts from."""
    edge = values.copy()
    nonroot = tree.parent >= 0
    edge[nonroot] = values[nonroot] - values[tree.parent[nonroot]]
    return edge


def retree(edge_x: np.ndarray, edge_v: np.ndarray, tree: Tree, masses: np.ndarray):
    """Rebuild the spanning tree for the current positions; new edges are old-tree path sums,
    so no precision is lost in the exchange. Returns (new_tree, new_edge_x, new_edge_v)."""
    new = spanning_tree(absolute(edge_x, tree), masses)
    nx, nv = np.empty_like(edge_x), np.empty_like(edge_v)
    old_root_x, old_root_v = absolute(edge_x, tree), absolute(edge_v, tree)
    for k in range(len(masses)):
        p = new.parent[k]
        if p < 0:
            nx[k], nv[k] = old_root_x[k], old_root_v[k]
        else:
            nx[k] = path_difference(k, p, tree, edge_x)
            nv[k] = path_difference(k, p, tree, edge_v)
    return new, nx, nv
