"""Molecular dynamics: Warp kernels for pair potentials, bonds and angles on periodic (orthorhombic or
triclinic) cells, velocity Verlet NVE and Langevin / CSVR NVT, metal units (Å, eV, fs, amu).

    from simengine import md
    sim = md.Simulation.from_ase(atoms, potential=md.LennardJones(sigma=3.40, epsilon=0.0104, cutoff=8.5,
                                 shift=True), timestep_fs=2.0, ensemble="nve", dtype="float64", device="cpu")
    traj = sim.run(steps=1000, record_every=10)
    sim.potential_energy(), sim.kinetic_energy(), sim.temperature()
"""
from simengine.md.box import Box  # noqa: F401
from simengine.md.extxyz import write_extxyz  # noqa: F401
from simengine.md.lattice import fcc_lattice, liquid_box, molecular_box  # noqa: F401
from simengine.md.neighbors import NeighborList  # noqa: F401
from simengine.md.scenes import ForecastScene, forecast_stride  # noqa: F401
from simengine.md.potentials import (POTENTIALS, Buckingham, LennardJones, Morse, PairPotential,  # noqa: F401
                                     TabulatedPair, potential_from_config)
from simengine.md.simulation import Simulation, State  # noqa: F401
from simengine.md.thermostats import THERMOSTATS  # noqa: F401
from simengine.md.topology import Topology  # noqa: F401
from simengine.md import units  # noqa: F401
