"""Recorded trajectories: forecasting targets, the trajectory file and extxyz (read back by ASE), and
the three MD scene scripts at tiny sizes."""
import runpy
from pathlib import Path

import numpy as np
import pytest

from simengine import Trajectory, md
from tests.md.conftest import ARGON

SCENES = Path(__file__).resolve().parents[2] / "scenes"


def test_targets_are_unwrapped_displacements_and_end_velocities(argon_atoms, tmp_path):
    sim = md.Simulation.from_ase(argon_atoms, md.LennardJones(**ARGON), timestep_fs=2.0)
    sim.set_velocities(sim.velocities * 20)               # hot: atoms cross the periodic faces
    traj = sim.run(60, record_every=10, targets=True)
    assert traj.position.shape == (6, 256, 3) and traj.dt == 20.0
    assert traj.metadata["forecast_interval_fs"] == 20.0 and traj.metadata["kind"] == "md"
    # displacement = (next wrapped − this wrapped) up to a lattice vector, and is never a box-size jump
    cell = traj.cell
    d = traj.target_displacement[:-1]
    jump = (traj.position[1:] - traj.position[:-1]) - d
    frac = jump @ np.linalg.inv(cell)
    np.testing.assert_allclose(frac, np.round(frac), atol=1e-4)
    assert np.abs(np.round(frac)).max() >= 1                  # some atom did cross a face
    assert np.abs(d).max() < 5.0
    np.testing.assert_allclose(traj.target_velocity[:-1], traj.velocity[1:])
    np.testing.assert_allclose(traj.target_velocity[-1], sim.velocities, rtol=1e-6)
    traj.save(tmp_path / "t.h5")
    again = Trajectory.load(tmp_path / "t.h5")
    np.testing.assert_array_equal(again.target_displacement, traj.target_displacement)
    assert again.species.tolist() == [18] * 256 and again.particle_type.tolist() == [11] * 256


def test_extxyz_is_read_back_by_ase(argon_atoms, tmp_path):
    import ase.io

    sim = md.Simulation.from_ase(argon_atoms, md.LennardJones(**ARGON), timestep_fs=2.0)
    traj = sim.run(20, record_every=10)
    path = md.write_extxyz(traj, tmp_path / "argon.extxyz")
    frames = ase.io.read(path, index=":")
    assert len(frames) == 3
    np.testing.assert_allclose(frames[-1].positions, traj.position[-1], atol=1e-6)
    np.testing.assert_allclose(frames[-1].cell.array, traj.cell, atol=1e-9)
    np.testing.assert_allclose(frames[-1].arrays["vel"], traj.velocity[-1], rtol=1e-6)
    assert frames[0].get_chemical_symbols() == ["Ar"] * 256 and frames[0].pbc.all()
    assert frames[2].info["Time"] == pytest.approx(40.0)


@pytest.mark.parametrize("script", ["md_argon_liquid.py", "md_fcc_crystal.py", "md_flexible_molecule.py"])
def test_scene_scripts_follow_the_protocol(script):
    module = runpy.run_path(str(SCENES / script))
    scene = module["make_scene"](np.random.default_rng(0))
    scene.stages = [(scene.stages[-1][0], 40 * scene.sim.dt)]       # tiny equilibration for the test
    forecast = module["RUN"]["forecast_fs"]
    traj = scene.run(frames=3, forecast_fs=forecast)
    n = scene.sim.num_atoms
    assert traj.position.shape == (3, n, 3) and traj.target_velocity.shape == (3, n, 3)
    assert forecast / scene.sim.dt >= 10                              # ≥ 10 MD steps per forecast
    assert np.isfinite(traj.target_displacement).all()
    assert set(module["RUN"]) == {"frames", "forecast_fs"}
