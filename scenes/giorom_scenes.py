"""Shared set-up of the GIOROM scenes: one 3D body of one material thrown into a 1 m box.

GIOROM (Viswanath et al., "Learning Lagrangian Interaction Dynamics with Sampling-Based Model Order
Reduction", TMLR; https://arxiv.org/abs/2407.03925) learns on MPM point clouds of 10^4-10^5 particles.
Here each trajectory is one body (a box of random aspect, a ball, or the bunny / torus of `assets/`,
scaled to about the same volume) thrown with a random velocity; at the default grid of 40^3 cells
and 8 particles per cell a body has about 20,000 particles (``grid_res`` 20 gives ~2,500, for tests
and quick studies). Materials as in `scenes/nclaw_scenes.py` (E = 2e4 Pa):

    sand        Drucker-Prager, friction angle 25-35 deg      (simengine.materials.Sand)
    plasticine  von Mises on Hencky strain, yield 2-4 kPa    (simengine.materials.Plasticine)
    jelly       fixed-corotated, nu = 0.3                    (simengine.materials.Elastic)
    water       weakly compressible, bulk modulus 4e3 Pa     (simengine.materials.Fluid)

dt = 1 ms (below the elastic-wave/fall limit, ~2.3 ms at 40^3), a frame every 10 steps = 10 ms;
1.1 s gives 111 frames: 6 input frames and 100 predicted ones. Walls with Coulomb friction 0.5.
"""
import os

import numpy as np

from simengine import Scene, materials, shapes

GRID_RES = 40
DT = 1.0e-3
RUN = dict(duration=1.1, record_every=10)
VOLUME = 0.039  # m^3: ~20k particles at 40^3 cells, 8 per cell (particle spacing 1/80 m)
ASSETS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "assets")
# mesh scales giving about VOLUME (bunny.obj at scale 0.35 encloses ~5.3e-3 m^3, torus.obj ~5.9e-3 m^3)
MESH_SCALE = {"bunny": 0.35 * (VOLUME / 5.3e-3) ** (1 / 3), "torus": 0.35 * (VOLUME / 5.9e-3) ** (1 / 3)}
SHAPE_NAMES = ("box", "ball", "bunny", "torus")

MATERIALS = {
    "sand": lambda rng: materials.Sand(youngs_modulus=2.0e4, poisson_ratio=0.3,
                                       friction_angle=float(rng.uniform(25.0, 35.0))),
    "plasticine": lambda rng: materials.Plasticine(youngs_modulus=2.0e4, poisson_ratio=0.3,
                                                   yield_stress=float(rng.uniform(2.0e3, 4.0e3))),
    "jelly": lambda rng: materials.Elastic(youngs_modulus=float(rng.uniform(1.5e4, 2.5e4)), poisson_ratio=0.3),
    "water": lambda rng: materials.Fluid(bulk_modulus=4.0e3, viscosity=0.0),
}


def _shape(name: str, center: np.ndarray, rng: np.random.Generator):
    if name == "box":
        aspect = rng.uniform(0.7, 1.4, size=3)
        size = aspect * (VOLUME / aspect.prod()) ** (1 / 3)
        return shapes.Box(lower=tuple(center - size / 2), size=tuple(size))
    if name == "ball":
        return shapes.Sphere(center=tuple(center), radius=float((3 * VOLUME / (4 * np.pi)) ** (1 / 3)))
    return shapes.Mesh(os.path.join(ASSETS, f"{name}.obj"), scale=MESH_SCALE[name], center=tuple(center))


def make_giorom_scene(material: str, rng: np.random.Generator, device=None, grid_res=GRID_RES,
                      shape: str | None = None, particles_per_cell: int = 8) -> Scene:
    """One body of ``material``: random shape (unless ``shape``), centre, speed (<= 1.2 m/s) and seed.

    ``particles_per_cell`` 16 samples the same body twice as densely (same rng draws, same scene)."""
    if material not in MATERIALS:
        from simengine.errors import InputError

        raise InputError(f"material = {material!r} is not one of {sorted(MATERIALS)}")
    shape = SHAPE_NAMES[int(rng.integers(len(SHAPE_NAMES)))] if shape is None else shape
    center = np.array([rng.uniform(0.38, 0.62), rng.uniform(0.45, 0.6), rng.uniform(0.4, 0.6)])
    velocity = (float(rng.uniform(-1.2, 1.2)), float(rng.uniform(-0.5, 0.5)), float(rng.uniform(-0.8, 0.8)))
    scene = Scene(dim=3, domain=(1.0, 1.0, 1.0), grid_res=int(grid_res), dt=DT, boundary="separate",
                  boundary_friction=0.5, seed=int(rng.integers(2**31)), device=device)
    body = _shape(shape, center, rng)
    points = body.sample(scene.dx / particles_per_cell ** (1 / 3), 3, np.random.default_rng(0), False)
    lower, upper = points.min(0), points.max(0)
    low, high = scene.region
    low, high = low + 0.25 * scene.dx, high - 0.25 * scene.dx
    shift = np.maximum(low - lower, 0.0) + np.minimum(high - upper, 0.0)  # move the body inside the walls
    if np.any(shift != 0):
        if shape == "box":
            body = shapes.Box(lower=tuple(np.asarray(body.lower) + shift), size=tuple(body.size))
        else:
            body = _shape(shape, center + shift, rng)
    scene.add_body(body, MATERIALS[material](rng), density=1000.0, velocity=velocity,
                   particles_per_cell=particles_per_cell, name=f"{material}_{shape}")
    return scene
