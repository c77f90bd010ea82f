"""Shared set-ups of the NCLaw scenes: one body of one material dropped into a 1 m box, 2D or 3D.

NCLaw (Ma et al., ICML 2023) learns a material from one trajectory of a simple shape and is then
tested on new shapes, velocities, boundaries and time spans. Every scene of one dimension shares the
solver settings, so a law trained on one runs unchanged on the others:

    2D  grid 32^2 (dx = 1/32), 256-particle cube; shapes cube, disk, bar, pillar
    3D  grid 20^3 (dx = 1/20), 512-particle cube; shapes cube and the meshes of assets/
        (bunny, torus, dumbbell), filled through their signed distance

dt = 2 ms, a frame every 5 steps = 10 ms, walls with Coulomb friction 0.5. Materials are the
simulator's own hand-written ones:

    jelly       fixed-corotated, E = 2e4 Pa, nu = 0.3            (simengine.materials.Elastic)
    plasticine  von Mises on Hencky strain, E = 2e4, yield 3e3 Pa (simengine.materials.Plasticine)
    sand        Drucker-Prager, E = 2e4, friction angle 30 deg     (simengine.materials.Sand)
    water       weakly compressible, bulk modulus 4e3 Pa          (simengine.materials.Fluid)
"""
import os

import numpy as np

from simengine import Scene, materials, shapes

GRID_RES = {2: 32, 3: 20}
DT = 2.0e-3
RECORD_EVERY = 5
DENSITY = 1000.0
ASSETS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "assets")

MATERIALS = {
    "jelly": lambda: materials.Elastic(youngs_modulus=2.0e4, poisson_ratio=0.3),
    "plasticine": lambda: materials.Plasticine(youngs_modulus=2.0e4, poisson_ratio=0.3, yield_stress=3.0e3),
    "sand": lambda: materials.Sand(youngs_modulus=2.0e4, poisson_ratio=0.3, friction_angle=30.0),
    "water": lambda: materials.Fluid(bulk_modulus=4.0e3, viscosity=0.0),
}


def _box(center, size):
    center, size = np.asarray(center, float), np.asarray(size, float)
    return shapes.Box(lower=tuple(center - size / 2), size=tuple(size))


def _mesh(name, scale):
    return lambda c: shapes.Mesh(os.path.join(ASSETS, f"{name}.obj"), scale=scale, center=tuple(c))


SHAPES = {  # dim -> name -> (center -> shape)
    2: {"cube": lambda c: _box(c, (0.25, 0.25)),
        "disk": lambda c: shapes.Sphere(center=c, radius=0.14),
        "bar": lambda c: _box(c, (0.4, 0.14)),
        "pillar": lambda c: _box(c, (0.14, 0.34))},
    3: {"cube": lambda c: _box(c, (0.22, 0.22, 0.22)),
        "bunny": _mesh("bunny", 0.35),         # ~340 particles; bounding box 0.28 x 0.32 x 0.18 m
        "torus": _mesh("torus", 0.35),         # ~380 particles, lying flat
        "dumbbell": _mesh("dumbbell", 0.5)},   # two balls on a bar
}

DEFAULTS = {2: dict(center=(0.45, 0.35), velocity=(1.0, 0.0)),
            3: dict(center=(0.45, 0.35, 0.5), velocity=(1.0, 0.0, 0.3))}


def _pool(scene):
    """Two walls 0.45 m high near x = 0.1 and x = 0.9 (in 3D spanning z): a basin the body falls into."""
    depth = (0.9,) * (scene.dim - 2)
    for x in (0.05, 0.83):
        scene.add_collider(shapes.Box(lower=(x, 0.05, *(0.05,) * (scene.dim - 2)), size=(0.12, 0.45, *depth)))


BOUNDARIES = {  # extra colliders besides the box walls
    "floor": lambda scene: None,
    "slope": lambda scene: scene.add_collider(shapes.Plane(normal=(0.35, 1.0, *(0.0,) * (scene.dim - 2)),
                                                           offset=0.38), friction=0.3),
    "pool": _pool,
}


def make_body_scene(material="jelly", shape="cube", center=None, velocity=None, boundary="floor",
                    extra_bodies=(), seed=0, device=None, dim=2) -> Scene:
    """One body (plus ``extra_bodies``: (material, shape, center, velocity) tuples) in the box.

    ``center``/``velocity`` default to DEFAULTS[dim]."""
    center = DEFAULTS[dim]["center"] if center is None else center
    velocity = DEFAULTS[dim]["velocity"] if velocity is None else velocity
    scene = Scene(dim=dim, domain=(1.0,) * dim, grid_res=GRID_RES[dim], dt=DT, boundary="separate",
                  boundary_friction=0.5, seed=seed, device=device)
    BOUNDARIES[boundary](scene)
    for i, (mat, shp, c, v) in enumerate(((material, shape, center, velocity), *extra_bodies)):
        scene.add_body(SHAPES[dim][shp](np.asarray(c, float)), MATERIALS[mat](), density=DENSITY, velocity=v,
                       name=f"{mat}_{shp}_{i}")
    return scene


def training_scene(material: str, rng: np.random.Generator, device=None, dim=2) -> Scene:
    """The single training trajectory: a cube thrown sideways, speed varied a little by ``rng``."""
    velocity = np.asarray(DEFAULTS[dim]["velocity"], float)
    velocity[0] = rng.uniform(0.8, 1.2)
    velocity[1] = rng.uniform(-0.2, 0.2)
    return make_body_scene(material, "cube", velocity=tuple(velocity), seed=int(rng.integers(2**31)), device=device,
                           dim=dim)
