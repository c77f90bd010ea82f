"""Molecular-dynamics kernels (metal units: Å, eV, fs, amu); orchestration is in `simengine.md`."""
from kernels.md.forces import bonded_kernels, pair_force_kernel
from kernels.md.integrators import integrator_kernels
from kernels.md.neighbors import neighbor_kernels
from kernels.md.pair import buckingham, lennard_jones, morse, tabulated_pair

__all__ = ["bonded_kernels", "buckingham", "integrator_kernels", "lennard_jones", "morse", "neighbor_kernels",
           "pair_force_kernel", "tabulated_pair"]
