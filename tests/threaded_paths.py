"""The threaded CPU paths of every simulator, each run once in this process from a cold start.

`tests/test_parallel.py` runs this file in many fresh processes (``python tests/threaded_paths.py mpm md
nbody``) and requires each to exit 0: a module loaded concurrently from two threads crashed the process
with SIGSEGV at the first threaded step (issue 23), which only a fresh process shows.

* mpm: a 2D neo-Hookean block of ~9k particles (above the solver's threading threshold) with two
  threads: scatter into private grids, grid update and gather on the shared pool, recorded launches,
  two `Scene.run` calls as a user would make them;
* md: 1024 Lennard-Jones atoms with two threads: the threaded neighbour build and pair forces;
* nbody: a black-hole pair in a 200-star cusp with two threads: the threaded direct sum (all pairs and
  selected targets) and the regularized region's recorded launch;
* deformables: a 91 x 91 cloth (8,281 particles, above the two-thread threshold) with self-contact and a
  gripper, two threads: predict, gather and apply kernels on particle slices, recorded launches;
* fem: a rigid disk hitting a plate (one thread, recorded launches of every step kernel).
"""
import sys

import numpy as np


def mpm():
    from simengine import Scene, materials, shapes

    scene = Scene(dim=2, domain=(1.0, 1.0), grid_res=64, threads=2)
    scene.add_body(shapes.Box(lower=(0.2, 0.2), size=(0.6, 0.4)),
                   materials.NeoHookean(youngs_modulus=1e4, poisson_ratio=0.3), particles_per_cell=9)
    assert len(scene.particle_data()["x"]) >= 8192
    for _ in range(2):
        traj = scene.run(duration=4 * scene.dt, record_every=2, progress=False)
        assert np.isfinite(traj.position).all()
    # periodic along x: ghost nodes gather every thread's copies, particles are wrapped after G2P
    scene = Scene(dim=2, domain=(1.0, 1.0), grid_res=64, threads=2, periodic=(True, False))
    lo = scene.region[0][0]
    scene.add_body(shapes.Box(lower=(lo, 0.2), size=(0.6, 0.4)), materials.NeoHookean(youngs_modulus=1e4,
                   poisson_ratio=0.3), particles_per_cell=9, velocity=(-20.0, 0.0))
    traj = scene.run(duration=4 * scene.dt, record_every=2, progress=False)
    assert np.isfinite(traj.position).all() and (traj.position[-1, :, 0] > 0.9).any()  # crossed the seam


def md():
    from simengine import md

    rng = np.random.default_rng(0)
    positions, cell = md.liquid_box(1024, 0.0207, rng)
    sim = md.Simulation(positions, ["Ar"] * 1024, cell, timestep_fs=2.0, dtype="float64", threads=2,
                        potential=md.LennardJones(sigma=3.4, epsilon=0.0104, cutoff=8.5, shift=True))
    sim.maxwell_boltzmann(100.0, rng)
    sim.run(10, progress=False)
    assert np.isfinite(sim.state.x.numpy()).all()


def nbody():
    from simengine import nbody

    rng = np.random.default_rng(0)
    ics = nbody.smbh_binary_in_cusp(n_stars=200, stellar_mass=1.0, scale_radius=1.0, bh_masses=(0.01, 0.01),
                                    binary_a=0.02, binary_e=0.3, rng=rng)
    sim = nbody.Simulation(G=1.0, c=11.0, softening=0.004, region_radius=0.02, pn_orders=("1",), tolerance=1e-10,
                           max_timestep=0.005, threads=2)
    for kind, (m, x, v) in ics.items():
        sim.add_particles(m, x, v, kind=kind)
    sim.integrate(0.01)
    assert np.isfinite(sim.positions).all()


def deformables():
    from simengine import deformables as dfm

    scene = dfm.Scene(threads=2, substeps=10)
    cloth = scene.add_cloth(corner=(0, 0.3, 0), size=(0.9, 0.9), resolution=91, mass=0.2, stiffness=100.0,
                            bend_stiffness=0.5)
    scene.add_ground()
    scene.add_gripper(radius=0.02, keyframes=[(0.0, (0, 0.3, 0), (0, 0, 0, 1), True),
                                              (0.1, (0, 0.4, 0), (0, 0, 0, 1), True)])
    model, state = scene.build()
    assert len(model._spans) == 2 and len(cloth.indices) == 8281
    traj = scene.run(duration=3 * scene.dt, progress=False)
    assert np.isfinite(traj.position).all()


def fem():
    from simengine import fem as f

    scene = f.Scene(dim=2, gravity=(0.0, 0.0))
    scene.add_body(*f.meshes.rectangle(0.1, 0.02, 20, 4), f.LinearElastic(1e6), density=1000.0)
    scene.add_impactor(*f.meshes.disk((0.05, 0.035), 0.01, 16), mass=0.5, velocity=(0.0, -2.0))
    traj = scene.run(duration=2e-3, record_every=50, progress=False)
    assert np.isfinite(traj.position).all()


PATHS = {"mpm": mpm, "md": md, "nbody": nbody, "deformables": deformables, "fem": fem}

if __name__ == "__main__":
    for name in sys.argv[1:] or list(PATHS):
        PATHS[name]()
        print(name, "ok", flush=True)
