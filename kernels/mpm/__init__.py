"""Warp kernels for the MLS-MPM solver (`simengine.mpm` orchestrates them)."""
from kernels.mpm.constitutive import MODELS  # noqa: F401
from kernels.mpm.transfer import BOUNDARY_MODES, MAX_COLLIDERS, get_kernels  # noqa: F401
