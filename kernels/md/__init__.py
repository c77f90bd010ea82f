"""Molecular-dynamics kernels (metal units: Å, eV, fs, amu); orchestration is in `simengine.md`."""
from kernels.md.forces import bonded_kernels, pair_force_kernel  # noqa: F401
from kernels.md.integrators import integrator_kernels  # noqa: F401
from kernels.md.neighbors import neighbor_kernels  # noqa: F401
from kernels.md.pair import buckingham, lennard_jones, morse, tabulated_pair  # noqa: F401
