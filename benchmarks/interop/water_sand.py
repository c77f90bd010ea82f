"""A small 2D water + sand scene for `make interop` (benchmarks/interop/run_lagrangebench.py).

A water block and a sand block of fixed size (every trajectory has the same particle count, so
LagrangeBench's default loader takes it) drop into a 1 x 1 box from random heights with random
velocities; particles are jittered within their lattice cells, so the dataset's ``dx`` is a measured
spacing, not a lattice constant. 36 frames of 0.01 s: 6 input frames and a 30-step rollout.

    simengine generate benchmarks/interop/water_sand.py --out DIR --train 2 --valid 1 --test 2
"""
import numpy as np

from simengine import Scene, materials, shapes

GRID_RES = 32
DT = 5e-4
RUN = dict(duration=0.35, record_every=20)


def make_scene(rng: np.random.Generator, device=None) -> Scene:
    scene = Scene(dim=2, domain=(1.0, 1.0), grid_res=GRID_RES, dt=DT, boundary="separate", boundary_friction=0.3,
                  device=device, seed=int(rng.integers(2**31)), threads=1)
    water_y, sand_y = rng.uniform(0.15, 0.45, size=2)
    scene.add_body(shapes.Box(lower=(0.15, water_y), size=(0.25, 0.25)), materials.Fluid(bulk_modulus=1e5),
                   density=1000.0, velocity=(rng.uniform(0.0, 1.0), rng.uniform(-1.0, 0.0)), jitter=True,
                   name="water")
    scene.add_body(shapes.Box(lower=(0.55, sand_y), size=(0.25, 0.25)), materials.Sand(friction_angle=30.0),
                   density=1600.0, velocity=(rng.uniform(-1.0, 0.0), rng.uniform(-1.0, 0.0)), jitter=True,
                   name="sand")
    return scene
