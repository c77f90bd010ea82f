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
    """Euclidean minimum spanning tree of `positions` (n, 3), rooted at the most massive particle."""
    from scipy.sparse.csgraph import breadth_first_order, minimum_spanning_tree

    n = len(positions)
    root = int(np.argmax(masses))
    if n == 1:
        return Tree(np.array([-1], np.int32), np.zeros(1, np.int32), np.array([root], np.int32))
    d = np.sqrt(((positions[:, None, :] - positions[None, :, :]) ** 2).sum(-1))
    # Coincident particles would give zero-weight edges, which scipy drops; keep them connected.
    d = np.where(d > 0, d, np.finfo(float).tiny)
    np.fill_diagonal(d, 0.0)
    mst = minimum_spanning_tree(d)
    order, pred = breadth_first_order(mst, root, directed=False, return_predecessors=True)
    parent = np.where(pred < 0, -1, pred).astype(np.int32)
    parent[root] = -1
    depth = np.zeros(n, np.int32)
    for k in order[1:]:
        depth[k] = depth[parent[k]] + 1
    return Tree(parent, depth, order.astype(np.int32))


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
