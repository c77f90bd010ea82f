"""Regularized regions around black holes (KETJU, Rantala et al. 2017, ApJ 840, 53).

Every black hole owns a sphere of radius ``region_radius``; spheres that overlap (centres closer than
2 r) merge into one region, and every star inside a sphere joins it. Regions are rebuilt at the start
of each outer step. A region whose membership did not change keeps its tree-coordinate state as it
is; a new or changed region takes the relative vectors of particles that shared an old region from
that region's tree (path sums), so a hard binary never loses digits by passing through the large
simulation-frame coordinates.
"""
from __future__ import annotations

import numpy as np

from simengine.nbody import _tree
from simengine.nbody._regularized import RegionState


def find_groups(x: np.ndarray, is_bh: np.ndarray, alive: np.ndarray, radius: float) -> list[np.ndarray]:
    """Sorted member-id arrays of the regions for positions x (N, 3)."""
    bh = np.flatnonzero(alive & is_bh)
    if len(bh) == 0:
        return []
    root = list(range(len(bh)))

    def find(a):
        while root[a] != a:
            root[a] = root[root[a]]
            a = root[a]
        return a

    d_bh = np.sqrt(((x[bh, None] - x[None, bh]) ** 2).sum(-1))
    for a, b in zip(*np.nonzero(np.triu(d_bh < 2.0 * radius, 1))):
        root[find(a)] = find(b)
    cluster = np.array([find(a) for a in range(len(bh))])
    stars = np.flatnonzero(alive & ~is_bh)
    members = {c: list(bh[cluster == c]) for c in np.unique(cluster)}
    if len(stars):
        d = np.sqrt(((x[stars, None] - x[None, bh]) ** 2).sum(-1))  # (n_stars, n_bh)
        nearest = d.argmin(1)
        inside = d[np.arange(len(stars)), nearest] < radius
        for s, k in zip(stars[inside], nearest[inside]):
            members[cluster[k]].append(s)
    return [np.array(sorted(m), dtype=np.int64) for m in members.values()]


def assemble(members: np.ndarray, x: np.ndarray, v: np.ndarray, mass: np.ndarray, is_bh: np.ndarray,
             old: list[RegionState], spin: np.ndarray | None = None) -> RegionState:
    """A region state for `members`, reusing exact relative vectors from `old` regions where possible
    (`spin` (N, 3): spin angular momenta of all particles, default zero)."""
    for r in old:
        if len(r.members) == len(members) and np.array_equal(r.members, members):
            return r
    where = {}
    for r in old:
        for local, gid in enumerate(r.members):
            where[int(gid)] = (r, local)
    m = mass[members]
    tree = _tree.spanning_tree(x[members], m)
    ex = np.empty((len(members), 3))
    ev = np.empty((len(members), 3))
    for k, gid in enumerate(members):
        p = tree.parent[k]
        if p < 0:
            ex[k], ev[k] = 0.0, 0.0
            continue
        gp = int(members[p])
        a, b = where.get(int(gid)), where.get(gp)
        if a is not None and b is not None and a[0] is b[0]:
            ex[k] = _tree.path_difference(a[1], b[1], a[0].tree, a[0].edge_x)
            ev[k] = _tree.path_difference(a[1], b[1], a[0].tree, a[0].edge_v)
        else:
            ex[k] = x[gid] - x[gp]
            ev[k] = v[gid] - v[gp]
    # Root at its simulation-frame value; shift so that the internal centre of mass is the origin.
    rel_x, rel_v = _tree.absolute(ex, tree), _tree.absolute(ev, tree)
    cm_rel_x = (m[:, None] * rel_x).sum(0) / m.sum()
    cm_rel_v = (m[:, None] * rel_v).sum(0) / m.sum()
    root_gid = int(members[tree.root])
    ex[tree.root], ev[tree.root] = -cm_rel_x, -cm_rel_v
    hint = max((r.step_hint or 0.0) for r in old if np.isin(r.members, members).any()) if old else 0.0
    return RegionState(members=members, mass=m, is_bh=is_bh[members].astype(np.int32), tree=tree,
                       edge_x=ex, edge_v=ev, cm_x=x[root_gid] + cm_rel_x, cm_v=v[root_gid] + cm_rel_v,
                       step_hint=hint or None, spin=None if spin is None else spin[members].copy())


def write_back(region: RegionState, x: np.ndarray, v: np.ndarray, spin: np.ndarray | None = None) -> None:
    """Simulation-frame positions and velocities (and spins) of the region's members into x, v (in place)."""
    x[region.members] = region.cm_x + region.internal_positions()
    v[region.members] = region.cm_v + region.internal_velocities()
    if spin is not None:
        spin[region.members] = region.spin


def kick(region: RegionState, dv: np.ndarray) -> None:
    """Apply velocity changes dv (n, 3) of the members: the mean goes to the centre of mass, the
    rest to the tree edges (the root edge is the root's internal velocity)."""
    m = region.mass
    dcm = (m[:, None] * dv).sum(0) / m.sum()
    internal = dv - dcm
    region.cm_v = region.cm_v + dcm
    parent = region.tree.parent
    nonroot = parent >= 0
    region.edge_v = region.edge_v.copy()
    region.edge_v[nonroot] += internal[nonroot] - internal[parent[nonroot]]
    region.edge_v[~nonroot] += internal[~nonroot]
