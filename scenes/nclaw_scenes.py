"""Shared 2D set-ups of the NCLaw scenes: one body of one material dropped into a 1 x 1 box.

NCLaw (Ma et al., ICML 2023) learns a material from one trajectory of a simple shape and is then
tested on new shapes, velocities, boundaries and time spans. Every scene here shares the solver
settings (grid 32^2, dx = 1/32, dt = 2 ms, a frame every 5 steps = 10 ms, walls with Coulomb
friction 0.5), so a law trained on one runs unchanged on the others. Materials are the simulator's
own hand-written ones:

    jelly       fixed-corotated, E = 2e4 Pa, nu = 0.3            (simengine.materials.Elastic)
    plasticine  von Mises on Hencky strain, E = 2e4, yield 3e3 Pa (simengine.materials.Plasticine)
    sand        Drucker-Prager, E = 2e4, friction angle 30 deg     (simengine.materials.Sand)
    water       weakly compressible, bulk modulus 4e3 Pa          (simengine.materials.Fluid)
"""
import os

import numpy as np

from simengine import Scene, materials, shapes

GRID_RES = 32
DT = 2.0e-3
RECORD_EVERY = 5
DENSITY = 1000.0

MATERIALS = {
    "jelly": lambda: materials.Elastic(youngs_modulus=2.0e4, poisson_ratio=0.3),
    "plasticine": lambda: materials.Plasticine(youngs_modulus=2.0e4, poisson_ratio=0.3, yield_stress=3.0e3),
    "sand": lambda: materials.Sand(youngs_modulus=2.0e4, poisson_ratio=0.3, friction_angle=30.0),
    "water": lambda: materials.Fluid(bulk_modulus=4.0e3, viscosity=0.0),
}

SHAPES = {  # centred at the origin; moved to `center`
    "cube": lambda c: shapes.Box(lower=(c[0] - 0.125, c[1] - 0.125), size=(0.25, 0.25)),
    "disk": lambda c: shapes.Sphere(center=c, radius=0.14),
    "bar": lambda c: shapes.Box(lower=(c[0] - 0.2, c[1] - 0.07), size=(0.4, 0.14)),
    "pillar": lambda c: shapes.Box(lower=(c[0] - 0.07, c[1] - 0.17), size=(0.14, 0.34)),
}

BOUNDARIES = {  # extra colliders besides the box walls
    "floor": lambda scene: None,
    "slope": lambda scene: scene.add_collider(shapes.Plane(normal=(0.35, 1.0), offset=0.38), friction=0.3),
    "pool": lambda scene: (scene.add_collider(shapes.Box(lower=(0.05, 0.05), size=(0.12, 0.45))),
                           scene.add_collider(shapes.Box(lower=(0.83, 0.05), size=(0.12, 0.45)))),
}


def make_body_scene(material="jelly", shape="cube", center=(0.45, 0.35), velocity=(1.0, 0.0), boundary="floor",
                    extra_bodies=(), seed=0, device=None) -> Scene:
    """One body (plus ``extra_bodies``: (material, shape, center, velocity) tuples) in the box."""
    scene = Scene(dim=2, domain=(1.0, 1.0), grid_res=GRID_RES, dt=DT, boundary="separate", boundary_friction=0.5,
                  seed=seed, device=device or os.environ.get("SIMENGINE_DEVICE", "cpu"),
                  threads=int(os.environ.get("SIMENGINE_THREADS", 0)) or None)
    BOUNDARIES[boundary](scene)
    for i, (mat, shp, c, v) in enumerate(((material, shape, center, velocity), *extra_bodies)):
        scene.add_body(SHAPES[shp](np.asarray(c, float)), MATERIALS[mat](), density=DENSITY, velocity=v,
                       name=f"{mat}_{shp}_{i}")
    return scene


def training_scene(material: str, rng: np.random.Generator, device=None) -> Scene:
    """The single training trajectory: a cube thrown sideways, speed varied a little by ``rng``."""
    velocity = (float(rng.uniform(0.8, 1.2)), float(rng.uniform(-0.2, 0.2)))
    return make_body_scene(material, "cube", velocity=velocity, seed=int(rng.integers(2**31)), device=device)
