"""A box of small flexible molecules: 125 water-geometry triatomics with SPC/Fw bonded terms.

SPC/Fw (Wu, Tepper & Voth, J. Chem. Phys. 124, 024503 (2006)) bond and angle terms, converted to
E = ½k(x − x₀)²: O–H k_b = 91.86 eV/Å², r₀ = 1.012 Å; H–O–H k_θ = 6.583 eV/rad², θ₀ = 113.24°.
Intermolecular Lennard-Jones: O with SPC/Fw σ = 3.1655 Å, ε = 6.74 meV, H with a small
core (σ = 1.5 Å, ε = 1 meV) so molecules cannot interpenetrate, Lorentz–Berthelot mixing;
*no electrostatics*, so this is an uncharged flexible-molecule fluid, not water.  The O–H stretch
(period ≈ 9 fs) sets a 0.5 fs step.
"""
import numpy as np

from simengine import md

PER_AXIS = 5                # 125 molecules, 375 atoms
SPACING = 3.1               # Å between molecule centres (≈ liquid-water density)
TEMPERATURE = 300.0
TIMESTEP_FS = 0.5
R_OH, THETA = 1.012, 113.24
POTENTIAL = md.LennardJones(sigma={"O": 3.1655, "H": 1.5}, epsilon={"O": 0.00674, "H": 0.001}, cutoff=7.0)
RUN = dict(frames=200, forecast_fs=5.0)


def _molecule():
    half = np.deg2rad(THETA) / 2
    template = [[0.0, 0.0, 0.0], [R_OH * np.sin(half), R_OH * np.cos(half), 0.0],
                [-R_OH * np.sin(half), R_OH * np.cos(half), 0.0]]
    bonds = [(0, 1, 91.86, R_OH), (0, 2, 91.86, R_OH)]
    angles = [(1, 0, 2, 6.583, THETA)]
    return template, ["O", "H", "H"], bonds, angles


def make_scene(rng: np.random.Generator) -> md.ForecastScene:
    template, symbols, bonds, angles = _molecule()
    positions, symbols, cell, topology = md.molecular_box(template, symbols, bonds, angles, PER_AXIS, SPACING, rng)
    sim = md.Simulation(positions, symbols, cell, potential=POTENTIAL, timestep_fs=TIMESTEP_FS, topology=topology,
                        dtype="float64", seed=int(rng.integers(2 ** 31)))
    return md.ForecastScene(sim, stages=[(TEMPERATURE, 2000.0)], rng=rng,
                            description="flexible uncharged water-geometry triatomics (SPC/Fw bonded terms), 300 K")


if __name__ == "__main__":
    import os

    traj = make_scene(np.random.default_rng(0)).run(**RUN, progress=True)
    os.makedirs("runs/md_flexible_molecule", exist_ok=True)
    traj.save("runs/md_flexible_molecule/trajectory.h5")
    md.write_extxyz(traj, "runs/md_flexible_molecule/trajectory.extxyz")
    print(f"wrote runs/md_flexible_molecule/trajectory.h5 and .extxyz: {traj.num_frames} frames")
