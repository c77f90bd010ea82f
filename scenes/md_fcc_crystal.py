"""An fcc copper crystal at 300 K (Morse potential of Girifalco & Weizer, Phys. Rev. 114, 687 (1959)).

4×4×4 conventional cells (256 atoms) at the potential's lattice constant for a 6 Å cutoff (3.66 Å at
0 K; 3.67 Å here for thermal expansion), thermalised with CSVR and recorded in NVE with forecasting
targets over ``RUN["forecast_fs"]``.
"""
import numpy as np

from simengine import md

LATTICE_A = 3.67           # Å
TEMPERATURE = 300.0        # K
TIMESTEP_FS = 2.0
POTENTIAL = md.Morse(D=0.3429, alpha=1.3588, r0=2.866, cutoff=6.0, shift=True)
RUN = dict(frames=200, forecast_fs=20.0)


def make_scene(rng: np.random.Generator) -> md.ForecastScene:
    positions, cell = md.fcc_lattice(LATTICE_A, (4, 4, 4))
    sim = md.Simulation(positions, ["Cu"] * len(positions), cell, potential=POTENTIAL, timestep_fs=TIMESTEP_FS,
                        dtype="float64", seed=int(rng.integers(2 ** 31)))
    return md.ForecastScene(sim, stages=[(TEMPERATURE, 2000.0)], rng=rng,
                            description=f"Morse fcc Cu crystal, 256 atoms, {TEMPERATURE:g} K, NVE production")


if __name__ == "__main__":
    import os

    traj = make_scene(np.random.default_rng(0)).run(**RUN, progress=True)
    os.makedirs("runs/md_fcc_crystal", exist_ok=True)
    traj.save("runs/md_fcc_crystal/trajectory.h5")
    md.write_extxyz(traj, "runs/md_fcc_crystal/trajectory.extxyz")
    print(f"wrote runs/md_fcc_crystal/trajectory.h5 and .extxyz: {traj.num_frames} frames")
