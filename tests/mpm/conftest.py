"""Helpers for the MPM tests: particle lattices and small solvers built without shapes.py."""
import numpy as np
import pytest


def lattice(lower, upper, spacing):
    """Cell-centred lattice points in the box [lower, upper] with the given spacing, (M, d)."""
    axes = [np.arange(lo + spacing / 2, hi, spacing) for lo, hi in zip(lower, upper)]
    return np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, len(axes))


def particle_arrays(x, density, model, E=1e5, nu=0.3, params=(0.0, 0.0, 0.0, 0.0), volume=None):
    """Per-particle solver inputs for points x (M, d) of one model id."""
    n, d = x.shape
    volume = np.full(n, volume)
    return dict(mass=density * volume, volume=volume, model=np.full(n, model), E=np.full(n, float(E)),
                nu=np.full(n, float(nu)), params=np.tile(np.asarray(params, float), (n, 1)))


@pytest.fixture
def lattice_fn():
    return lattice


@pytest.fixture
def particle_arrays_fn():
    return particle_arrays
