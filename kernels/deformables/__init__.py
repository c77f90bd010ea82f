"""Warp kernels of the deformables simulator (ropes, cloth, plush toys): springs as `@wp.func`s fed to kernel
factories, XPBD and symplectic-Euler steps, colliders, grippers (`simengine.deformables` orchestrates them)."""
from kernels.deformables.step import BOX, MAX_COLLIDERS, PLANE, SPHERE, get_kernels  # noqa: F401
