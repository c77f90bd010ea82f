"""Initial configurations: fcc crystals and liquid boxes (melted lattices) for the MD scenes."""
from __future__ import annotations

import numpy as np

from simengine.errors import check_range


def fcc_lattice(a: float, repeats=(4, 4, 4)):
    """(positions (4·nx·ny·nz, 3) Å, cell (3, 3)) of an fcc crystal with lattice constant ``a`` (Å)."""
    check_range("a", a, 0.0, None, low_open=True)
    nx, ny, nz = (int(r) for r in repeats)
    basis = np.array([[0, 0, 0], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]])
    cells = np.stack(np.meshgrid(np.arange(nx), np.arange(ny), np.arange(nz), indexing="ij"), -1).reshape(-1, 1, 3)
    positions = ((cells + basis[None]).reshape(-1, 3) + 0.25) * a   # offset keeps atoms off the cell faces
    return positions, np.diag([nx * a, ny * a, nz * a])


def liquid_box(num_atoms: int, density: float, rng: np.random.Generator, jitter: float = 0.1):
    """(positions, cell) of ``num_atoms`` on a jittered simple-cubic grid at number ``density`` (Å⁻³) in a
    cube; melt it with a thermostat before use.  Grid points are dropped at random to hit num_atoms."""
    check_range("num_atoms", num_atoms, 1, None)
    check_range("density", density, 0.0, None, low_open=True)
    side = (num_atoms / density) ** (1.0 / 3.0)
    per_axis = int(np.ceil(num_atoms ** (1.0 / 3.0)))
    spacing = side / per_axis
    grid = np.stack(np.meshgrid(*[np.arange(per_axis)] * 3, indexing="ij"), -1).reshape(-1, 3)
    keep = np.sort(rng.choice(len(grid), size=num_atoms, replace=False))
    positions = (grid[keep] + 0.5) * spacing + rng.uniform(-jitter, jitter, (num_atoms, 3)) * spacing
    return positions, np.eye(3) * side


def molecular_box(template, symbols, bonds, angles, per_axis: int, spacing: float, rng: np.random.Generator):
    """Copies of one molecule on a cubic grid with random orientations.

    Args:
        template: (M, 3) atom positions of the molecule (Å); ``symbols`` its M chemical symbols.
        bonds: [(a, b, k_b, r₀)] and ``angles`` [(a, b, c, k_θ, θ₀ deg)] in the molecule's atom indices.
        per_axis: molecules per box edge (per_axis³ in all); ``spacing``: grid spacing (Å).
    Returns:
        positions (per_axis³·M, 3), symbols, cell (3, 3), `Topology` (bonds, angles, molecule ids).
    """
    from scipy.spatial.transform import Rotation

    from simengine.md.topology import Topology

    template = np.asarray(template, dtype=np.float64)
    template = template - template.mean(axis=0)
    m = len(template)
    grid = np.stack(np.meshgrid(*[np.arange(per_axis)] * 3, indexing="ij"), -1).reshape(-1, 3)
    rotations = Rotation.random(len(grid), random_state=rng)
    positions = np.concatenate([(g + 0.5) * spacing + rotations[k].apply(template) for k, g in enumerate(grid)])
    all_bonds = [(a + k * m, b + k * m, kb, r0) for k in range(len(grid)) for a, b, kb, r0 in bonds]
    all_angles = [(a + k * m, b + k * m, c + k * m, ka, t0) for k in range(len(grid)) for a, b, c, ka, t0 in angles]
    topology = Topology(all_bonds, all_angles, np.repeat(np.arange(len(grid), dtype=np.int32), m))
    return positions, list(symbols) * len(grid), np.eye(3) * per_axis * spacing, topology
