"""Liquid argon (Lennard-Jones, Rahman 1964 parameters) for the TrajCast forecasting dataset.

256 atoms at 1.37 g/cm³ (0.0207 Å⁻³), melted at 300 K then equilibrated at 100 K with CSVR, recorded
in NVE.  Each frame stores positions, velocities, species, cell and the targets over one forecast
interval (``RUN["forecast_fs"]``, a multiple of the 2 fs MD step).

    simengine generate scenes/md_argon_liquid.py --out data/argon --train 8 --valid 2 --test 2
"""
import numpy as np

from simengine import md

ATOMS = 256
DENSITY = 0.0207          # Å⁻³
TEMPERATURE = 100.0       # K
TIMESTEP_FS = 2.0
POTENTIAL = md.LennardJones(sigma=3.40, epsilon=0.0104, cutoff=8.5, shift=True)
RUN = dict(frames=200, forecast_fs=20.0)


def make_scene(rng: np.random.Generator) -> md.ForecastScene:
    positions, cell = md.liquid_box(ATOMS, DENSITY, rng)
    sim = md.Simulation(positions, ["Ar"] * ATOMS, cell, potential=POTENTIAL, timestep_fs=TIMESTEP_FS,
                        dtype="float64", seed=int(rng.integers(2 ** 31)))
    return md.ForecastScene(sim, stages=[(300.0, 2000.0), (TEMPERATURE, 4000.0)], rng=rng,
                            description=f"LJ argon liquid, {ATOMS} atoms, {TEMPERATURE:g} K, NVE production")


if __name__ == "__main__":
    import os

    traj = make_scene(np.random.default_rng(0)).run(**RUN, progress=True)
    os.makedirs("runs/md_argon_liquid", exist_ok=True)
    traj.save("runs/md_argon_liquid/trajectory.h5")
    md.write_extxyz(traj, "runs/md_argon_liquid/trajectory.extxyz")
    print(f"wrote runs/md_argon_liquid/trajectory.h5 and .extxyz: {traj.num_frames} frames of {traj.num_particles} "
          f"atoms, {traj.dt:g} fs apart")
