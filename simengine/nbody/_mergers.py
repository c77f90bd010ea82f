"""Black-hole mergers inside a regularized region.

Two black holes closer than ``merger_radius`` Schwarzschild radii of their total mass,
r < merger_radius * 2 G (m1 + m2) / c^2, are replaced by one remnant of mass m1 + m2 at their centre
of mass with their total momentum (no mass lost to radiation, no recoil kick) and the spin
S_1 + S_2 + L_orbit (`simengine.nbody._spin.remnant_spin`, capped at chi = 1). The absorbed hole
keeps its particle slot with zero mass and follows the remnant; the pair's orbital energy leaves
the Newtonian energy budget and is reported so that energy bookkeeping stays closed.
"""
from __future__ import annotations

import numpy as np

from simengine.nbody import _tree
from simengine.nbody._regularized import RegionState
from simengine.nbody._spin import remnant_spin


def closest_pair(region: RegionState, G: float, c: float, merger_radius: float):
    """(r / r_s, i, j) of the black-hole pair deepest inside its merger radius, or None."""
    bh = np.flatnonzero(region.is_bh)
    best = None
    for a in range(len(bh)):
        for b in range(a + 1, len(bh)):
            i, j = bh[a], bh[b]
            d = np.linalg.norm(_tree.path_difference(i, j, region.tree, region.edge_x))
            rs = 2.0 * G * (region.mass[i] + region.mass[j]) / c ** 2
            if d < merger_radius * rs and (best is None or d / rs < best[0]):
                best = (d / rs, i, j)
    return best


def merge_pair(region: RegionState, i: int, j: int, G: float, c: float | None = None):
    """Merge members i and j; returns (new region, (kept id, absorbed id, remnant mass, orbital energy))."""
    keep, gone = (i, j) if region.mass[i] >= region.mass[j] else (j, i)
    x, v = region.internal_positions(), region.internal_velocities()
    mk, mg = region.mass[keep], region.mass[gone]
    m = mk + mg
    dx = _tree.path_difference(keep, gone, region.tree, region.edge_x)
    dv = _tree.path_difference(keep, gone, region.tree, region.edge_v)
    orbital = 0.5 * (mk * mg / m) * float(dv @ dv) - G * mk * mg / float(np.linalg.norm(dx))
    x[keep] = (mk * x[keep] + mg * x[gone]) / m
    v[keep] = (mk * v[keep] + mg * v[gone]) / m
    kept_id, gone_id = int(region.members[keep]), int(region.members[gone])
    left = np.arange(region.n) != gone
    members, mass = region.members[left], region.mass[left].copy()
    mass[np.flatnonzero(members == kept_id)[0]] = m
    spin = region.spin[left].copy()
    spin[np.flatnonzero(members == kept_id)[0]] = remnant_spin(
        region.spin[keep], region.spin[gone], (mk * mg / m) * np.cross(dx, dv), m, G, c)
    tree = _tree.spanning_tree(x[left], mass)
    new = RegionState(members=members, mass=mass, is_bh=region.is_bh[left], tree=tree,
                      edge_x=_tree.edges_from_absolute(x[left], tree),
                      edge_v=_tree.edges_from_absolute(v[left], tree), cm_x=region.cm_x, cm_v=region.cm_v,
                      spin=spin)
    return new, (kept_id, gone_id, m, orbital)
