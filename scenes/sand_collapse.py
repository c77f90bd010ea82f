"""Granular column collapse (2D): a rectangle of dry sand released on a rough floor spreads into a pile.

The classic experiment of Lube et al. 2005 / Lajeunesse et al. 2004 ("Axisymmetric granular collapses"
and "Granular slumping on a horizontal surface"), here with MLS-MPM sand (Drucker-Prager on Hencky
strain, Klar et al. 2016). Randomised per trajectory: column width, height and position, friction
angle, density and floor friction. ~0.9-2.5k particles on a 64^2 grid: one trajectory (1 s, 101 frames)
takes seconds on a CPU, which suits the learned-simulator demo.

    simengine run scenes/sand_collapse.py
    simengine generate scenes/sand_collapse.py --out data/sand2d --train 20 --valid 4 --test 4
"""

import numpy as np

from simengine import Scene, materials, shapes

GRID_RES = 64
DT = 2.5e-4  # fixed, so every trajectory has the same frame interval DT * record_every = 0.01 s
RUN = dict(duration=1.0, record_every=40)
PREVIEW = dict(max_frames=101)


def make_scene(rng: np.random.Generator, device=None, grid_res=GRID_RES) -> Scene:
    scene = Scene(dim=2, domain=(1.0, 1.0), grid_res=grid_res, dt=DT, boundary="separate",
                  boundary_friction=float(rng.uniform(0.3, 0.6)),
                  device=device, seed=int(rng.integers(2**31)))
    floor, top = scene.region
    width, height = rng.uniform(0.18, 0.30), rng.uniform(0.30, 0.50)
    left = rng.uniform(floor[0], 0.55)
    sand = materials.Sand(youngs_modulus=3.5e5, poisson_ratio=0.3, friction_angle=float(rng.uniform(25.0, 40.0)))
    scene.add_body(shapes.Box(lower=(left, floor[1]), size=(width, height)), sand,
                   density=float(rng.uniform(1400.0, 1800.0)), jitter=True, name="column")
    return scene


if __name__ == "__main__":
    import sys

    from simengine.cli import main

    sys.exit(main(["run", __file__, *sys.argv[1:]]))
