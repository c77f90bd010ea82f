"""Molecular dynamics: Warp kernels for pair potentials, bonds and angles on periodic (orthorhombic or
triclinic) cells, velocity Verlet NVE and Langevin / CSVR NVT, metal units (Å, eV, fs, amu).

    from simengine import md
    sim = md.Simulation.from_ase(atoms, potential=md.LennardJones(sigma=3.40, epsilon=0.0104, cutoff=8.5,
                                 shift=True), timestep_fs=2.0, ensemble="nve", dtype="float64", device="cpu")
    traj = sim.run(steps=1000, record_every=10)
    sim.potential_energy(), sim.kinetic_energy(), sim.temperature()
"""
from simengine.md import units
from simengine.md.box import Box
from simengine.md.extxyz import write_extxyz
from simengine.md.lattice import fcc_lattice, liquid_box, molecular_box
from simengine.md.neighbors import NeighborList
from simengine.md.potentials import (
    POTENTIALS,
    Buckingham,
    LennardJones,
    Morse,
    PairPotential,
    TabulatedPair,
    potential_from_config,
)
from simengine.md.scenes import ForecastScene, forecast_stride
from simengine.md.simulation import Simulation, State
from simengine.md.thermostats import THERMOSTATS
from simengine.md.topology import Topology

__all__ = ["POTENTIALS", "THERMOSTATS", "Box", "Buckingham", "ForecastScene", "LennardJones", "Morse", "NeighborList",
           "PairPotential", "Simulation", "State", "TabulatedPair", "Topology", "fcc_lattice", "forecast_stride",
           "liquid_box", "molecular_box", "potential_from_config", "units", "write_extxyz"]
