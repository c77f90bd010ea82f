"""Warp kernels of the explicit FEM simulator (`simengine.fem` orchestrates them)."""
from kernels.fem.elements import LAWS, get_kernels  # noqa: F401
