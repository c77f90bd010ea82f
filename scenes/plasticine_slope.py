"""Plasticine on a slope (3D): a lump of clay slides and tumbles down a tilted plane, denting as it lands.

Von Mises elastoplasticity on Hencky strain (the MLS-MPM "plasticine" of Hu et al. 2018/2019). The
slope is a `Plane` collider through ``(x0, y0)`` with unit normal ``(sin a, cos a, 0)`` and Coulomb
friction mu: on a frictional slope a rigid block accelerates down it at g (sin a - mu cos a) when
tan a > mu, and stays put otherwise. Randomised per trajectory: tilt a, friction, lump shape (box,
ball or cylinder), size, yield stress and stiffness.

    simengine run scenes/plasticine_slope.py
"""

import numpy as np

from simengine import Scene, materials, shapes

GRID_RES = 48
DT = 4.0e-4  # fixed: frames every DT * record_every = 0.01 s (limit ~1e-3 at 48^3, E <= 8e4)
RUN = dict(duration=1.2, record_every=25)
PREVIEW = dict(max_frames=121, view=(-20.0, 15.0))


def slope(angle_deg: float, through=(0.0, 0.0)) -> shapes.Plane:
    """The half-space below a line descending towards +x at `angle_deg`, passing through `through`."""
    a = np.radians(angle_deg)
    normal = (np.sin(a), np.cos(a), 0.0)
    return shapes.Plane(normal=normal, offset=float(through[0] * normal[0] + through[1] * normal[1]))


def make_scene(rng: np.random.Generator, device=None, grid_res=GRID_RES) -> Scene:
    scene = Scene(dim=3, domain=(1.0, 1.0, 1.0), grid_res=grid_res, dt=DT, boundary="separate",
                  boundary_friction=0.5, device=device, seed=int(rng.integers(2**31)))
    lower, upper = scene.region
    angle = rng.uniform(20.0, 40.0)
    top = np.array([lower[0], 0.62])  # the slope leaves the left wall at this height
    plane = slope(angle, top)
    scene.add_collider(plane, friction=float(rng.uniform(0.1, 0.5)), mode="slip")
    size = rng.uniform(0.14, 0.20)
    # lump centre: a little down the slope and one half-size (plus a gap) above its surface
    along = np.array([np.cos(np.radians(angle)), -np.sin(np.radians(angle))])
    center2d = top + along * (0.5 * size + 0.1) + plane.normal[:2] * (0.5 * size + 0.02)
    center = np.array([center2d[0], center2d[1], rng.uniform(0.4, 0.6)])
    kind = rng.integers(3)
    if kind == 0:
        lump = shapes.Box(lower=center - 0.5 * size, size=(size,) * 3)
    elif kind == 1:
        lump = shapes.Sphere(center=center, radius=0.55 * size)
    else:
        lump = shapes.Cylinder(center=center, radius=0.5 * size, height=size, axis=2)
    clay = materials.Plasticine(youngs_modulus=float(rng.uniform(3.0e4, 8.0e4)), poisson_ratio=0.3,
                                yield_stress=float(rng.uniform(5.0e2, 3.0e3)))
    scene.add_body(lump, clay, density=1500.0, jitter=True, name="lump")
    return scene


if __name__ == "__main__":
    import sys

    from simengine.cli import main

    sys.exit(main(["run", __file__, *sys.argv[1:]]))
