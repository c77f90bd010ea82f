"""Elastic bunny drop (3D): a jelly bunny (`assets/bunny.obj`) falls, bounces and wobbles on the floor.

Fixed-corotated hyperelastic MLS-MPM (Stomakhin et al. 2012; Hu et al. 2018). Until it touches the
floor the bunny is in free fall, so its centre of mass follows x0 + v0 t + g t^2 / 2 exactly (the MPM
transfer conserves linear momentum). Randomised per trajectory: size, drop position and height,
initial velocity, Young's modulus, Poisson's ratio and floor friction.

    simengine run scenes/elastic_bunny.py
"""
import os

import numpy as np

from simengine import Scene, materials, shapes

GRID_RES = 48
DT = 4.0e-4  # fixed: frames every DT * record_every = 0.01 s; the limit is ~9e-4 at 48^3 and E <= 2e5
RUN = dict(duration=1.2, record_every=25)
PREVIEW = dict(max_frames=121, view=(-60.0, 20.0))
BUNNY = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "assets", "bunny.obj")


def make_scene(rng: np.random.Generator, device=None, grid_res=GRID_RES) -> Scene:
    scene = Scene(dim=3, domain=(1.0, 1.0, 1.0), grid_res=grid_res, dt=DT, boundary="separate",
                  boundary_friction=float(rng.uniform(0.2, 0.8)),
                  device=device, seed=int(rng.integers(2**31)))
    lower, upper = scene.region
    size = rng.uniform(0.25, 0.35)
    center = np.array([rng.uniform(0.4, 0.6), rng.uniform(0.55, 0.75) - 0.5 * size, rng.uniform(0.4, 0.6)])
    center[1] = max(center[1], lower[1] + 0.5 * size + 0.1)  # starts above the floor
    jelly = materials.Elastic(youngs_modulus=float(rng.uniform(5.0e4, 2.0e5)),
                              poisson_ratio=float(rng.uniform(0.2, 0.4)))
    velocity = (rng.uniform(-0.5, 0.5), rng.uniform(-1.0, 0.0), rng.uniform(-0.5, 0.5))
    scene.add_body(shapes.Mesh(BUNNY, scale=size, center=center), jelly, density=1000.0, velocity=velocity,
                   jitter=True, name="bunny")
    return scene


if __name__ == "__main__":
    import sys

    from simengine.cli import main

    sys.exit(main(["run", __file__, *sys.argv[1:]]))
