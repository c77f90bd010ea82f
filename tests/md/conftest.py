"""Shared MD fixtures: a 256-atom argon fcc crystal (4×4×4 cells, 21 Å box) with thermal noise."""
import numpy as np
import pytest

ARGON = dict(sigma=3.40, epsilon=0.0104, cutoff=8.5)


@pytest.fixture
def argon_atoms():
    """ASE Atoms: 256 Ar atoms, displaced 0.05 Å and given ~100 K velocities, zero net momentum."""
    from ase.lattice.cubic import FaceCenteredCubic

    from simengine.md.units import ASE_TIME_FS

    atoms = FaceCenteredCubic("Ar", size=(4, 4, 4), latticeconstant=5.26)
    rng = np.random.default_rng(0)
    atoms.positions += rng.normal(0.0, 0.05, atoms.positions.shape)
    v = rng.normal(0.0, 1.4e-3, atoms.positions.shape)          # Å/fs, ≈ 95 K for argon
    v -= v.mean(axis=0)
    atoms.set_velocities(v * ASE_TIME_FS)
    return atoms
