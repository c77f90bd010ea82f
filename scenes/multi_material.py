"""Multi-material drop (3D): four lumps of different materials fall into one box and interact.

One MLS-MPM grid couples every material through the shared momentum transfer (Hu et al. 2018), so
water flows around an elastic ball, sand piles against clay, and so on: the variety a learned
simulator needs to tell materials apart (``particle_type`` and ``material_id`` label each particle).
Four slots in a 2 x 2 layout get a random permutation of {water, sand, jelly, plasticine-or-goo}, each
a random box, ball or upright cylinder at a random height with a random spin-free velocity.

    simengine run scenes/multi_material.py
"""

import numpy as np

from simengine import Scene, materials, shapes

GRID_RES = 48
DT = 2.5e-4  # fixed: frames every DT * record_every = 0.01 s (limit ~8e-4: sand's P-wave at 48^3)
RUN = dict(duration=1.0, record_every=40)
PREVIEW = dict(max_frames=101, view=(-35.0, 30.0))


def random_material(name: str, rng: np.random.Generator):
    """(material, density) for a slot, parameters drawn from sensible ranges."""
    if name == "water":
        return materials.Fluid(bulk_modulus=float(rng.uniform(1e5, 2e5)), viscosity=float(rng.uniform(0, 0.02))), 1000.0
    if name == "sand":
        return materials.Sand(friction_angle=float(rng.uniform(25, 40))), 1600.0
    if name == "jelly":
        return materials.Elastic(youngs_modulus=float(rng.uniform(3e4, 1.5e5)), poisson_ratio=0.3), 1000.0
    if rng.random() < 0.5:
        return materials.Plasticine(youngs_modulus=5e4, yield_stress=float(rng.uniform(5e2, 3e3))), 1500.0
    return materials.NonNewtonian(yield_stress=float(rng.uniform(50, 300)), consistency=float(rng.uniform(5, 20)),
                                  flow_index=float(rng.uniform(0.5, 1.0))), 1200.0


def random_lump(center, size, rng: np.random.Generator):
    kind = rng.integers(3)
    if kind == 0:
        return shapes.Box(lower=np.asarray(center) - 0.5 * size, size=(size,) * 3)
    if kind == 1:
        return shapes.Sphere(center=center, radius=0.5 * size)
    return shapes.Cylinder(center=center, radius=0.5 * size, height=size, axis=1)


def make_scene(rng: np.random.Generator, device=None, grid_res=GRID_RES) -> Scene:
    scene = Scene(dim=3, domain=(1.0, 1.0, 1.0), grid_res=grid_res, dt=DT, boundary="separate",
                  boundary_friction=0.3, device=device, seed=int(rng.integers(2**31)))
    lower, upper = scene.region
    names = rng.permutation(["water", "sand", "jelly", "goo"])
    for slot, name in enumerate(names):
        size = rng.uniform(0.14, 0.2)
        x = (0.32 if slot % 2 == 0 else 0.68) + rng.uniform(-0.04, 0.04)
        z = (0.32 if slot // 2 == 0 else 0.68) + rng.uniform(-0.04, 0.04)
        y = max(lower[1] + 0.5 * size + 0.02, rng.uniform(0.2, 0.7))
        material, density = random_material(name, rng)
        velocity = (rng.uniform(-0.5, 0.5), rng.uniform(-1.0, 0.5), rng.uniform(-0.5, 0.5))
        scene.add_body(random_lump((x, y, z), size, rng), material, density=density, velocity=velocity,
                       jitter=True, name=str(name))
    return scene


if __name__ == "__main__":
    import sys

    from simengine.cli import main

    sys.exit(main(["run", __file__, *sys.argv[1:]]))
