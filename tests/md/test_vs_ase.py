"""The Warp MD kernels against ASE (an independent code) on the same initial state and potential."""
import numpy as np
import pytest
from ase import units
from ase.calculators.lj import LennardJones as AseLennardJones
from ase.md.verlet import VelocityVerlet

from simengine import md
from tests.md.conftest import ARGON


def _ase_run(atoms, steps):
    atoms = atoms.copy()
    atoms.calc = AseLennardJones(sigma=ARGON["sigma"], epsilon=ARGON["epsilon"], rc=ARGON["cutoff"], smooth=False)
    VelocityVerlet(atoms, timestep=2.0 * units.fs).run(steps)
    return atoms


def _sheared(atoms):
    atoms = atoms.copy()
    cell = atoms.cell.array.copy()
    cell[1, 0] += 4.0
    cell[2, 0] += 3.0
    cell[2, 1] -= 2.5
    atoms.set_cell(cell, scale_atoms=True)
    return atoms


@pytest.mark.parametrize("geometry", ["orthorhombic", "triclinic"])
def test_initial_energy_and_forces_match_ase(argon_atoms, geometry):
    atoms = argon_atoms if geometry == "orthorhombic" else _sheared(argon_atoms)
    sim = md.Simulation.from_ase(atoms, md.LennardJones(**ARGON, shift=True), timestep_fs=2.0)
    ref = atoms.copy()
    ref.calc = AseLennardJones(sigma=ARGON["sigma"], epsilon=ARGON["epsilon"], rc=ARGON["cutoff"], smooth=False)
    assert sim.potential_energy() == pytest.approx(ref.get_potential_energy(), abs=1e-10)
    np.testing.assert_allclose(sim.forces, ref.get_forces(), atol=1e-12)
    assert sim.kinetic_energy() == pytest.approx(ref.get_kinetic_energy(), rel=1e-12)


@pytest.mark.parametrize("geometry", ["orthorhombic", "triclinic"])
def test_trajectory_matches_ase_after_100_steps(argon_atoms, geometry):
    atoms = argon_atoms if geometry == "orthorhombic" else _sheared(argon_atoms)
    sim = md.Simulation.from_ase(atoms, md.LennardJones(**ARGON, shift=True), timestep_fs=2.0, dtype="float64")
    sim.run(100)
    ref = _ase_run(atoms, 100)
    assert sim.neighbors.builds >= 1
    assert np.abs(sim.unwrapped_positions - ref.positions).max() < 1e-7
    np.testing.assert_allclose(sim.velocities * md.units.ASE_TIME_FS, ref.get_velocities(), atol=1e-8)
    assert sim.total_energy() == pytest.approx(ref.get_total_energy(), abs=1e-8)


def test_float32_stays_close_to_ase(argon_atoms):
    sim = md.Simulation.from_ase(argon_atoms, md.LennardJones(**ARGON), timestep_fs=2.0, dtype="float32")
    sim.run(100)
    ref = _ase_run(argon_atoms, 100)
    assert np.abs(sim.unwrapped_positions - ref.positions).max() < 1e-3


def test_round_trip_through_ase(argon_atoms):
    sim = md.Simulation.from_ase(argon_atoms, md.LennardJones(**ARGON), timestep_fs=2.0)
    back = sim.to_ase()
    np.testing.assert_allclose(back.positions, argon_atoms.positions % 21.04, atol=1e-9)
    np.testing.assert_allclose(back.get_velocities(), argon_atoms.get_velocities(), rtol=1e-12)
    assert back.get_chemical_symbols() == argon_atoms.get_chemical_symbols()
