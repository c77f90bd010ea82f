"""Snowball (3D): a ball of snow thrown at a wall splats against it, then slides down to the ground.

The snow model of Stomakhin et al. 2013 ("A material point method for snow simulation"): fixed-corotated
elasticity whose moduli harden as exp(xi (1 - J_p)) with the plastic volume ratio J_p; singular values
of F are clamped to [1 - theta_c, 1 + theta_s] (plastic flow). At these sizes and speeds the ball
flattens on impact rather than shattering. The wall is a
`Plane` collider (solid where x > x_wall) with Coulomb friction. Randomised per trajectory: radius,
launch point, velocity (5-9 m/s towards the wall), wall position and friction, critical compression and
stretch, hardening, stiffness.

    simengine run scenes/snowball.py
"""

import numpy as np

from simengine import Scene, materials, shapes

GRID_RES = 48
DT = 2.0e-4  # fixed: frames every DT * record_every = 0.01 s; hardened snow waves (~45 m/s) limit it ~4e-4
RUN = dict(duration=0.8, record_every=50)
PREVIEW = dict(max_frames=81, view=(-15.0, 15.0))


def make_scene(rng: np.random.Generator, device=None, grid_res=GRID_RES) -> Scene:
    scene = Scene(dim=3, domain=(1.0, 1.0, 1.0), grid_res=grid_res, dt=DT, boundary="separate",
                  boundary_friction=0.4, device=device, seed=int(rng.integers(2**31)))
    lower, upper = scene.region
    x_wall = rng.uniform(0.65, 0.8)
    scene.add_collider(shapes.Plane(normal=(-1.0, 0.0, 0.0), offset=-x_wall), friction=float(rng.uniform(0.2, 0.8)),
                       mode="slip")
    radius = rng.uniform(0.07, 0.11)
    center = (max(lower[0] + radius + 0.06, rng.uniform(0.2, 0.3)), rng.uniform(0.35, 0.6), rng.uniform(0.4, 0.6))
    velocity = (rng.uniform(5.0, 9.0), rng.uniform(0.0, 1.5), rng.uniform(-0.5, 0.5))
    snow = materials.Snow(youngs_modulus=float(rng.uniform(4.0e4, 1.4e5)), poisson_ratio=0.2,
                          critical_compression=float(rng.uniform(1.5e-2, 3.0e-2)),
                          critical_stretch=float(rng.uniform(5.0e-3, 1.0e-2)),
                          hardening=float(rng.uniform(5.0, 10.0)), max_hardening=5.0)
    scene.add_body(shapes.Sphere(center=center, radius=radius), snow, density=400.0, velocity=velocity,
                   jitter=True, name="snowball")
    return scene


if __name__ == "__main__":
    import sys

    from simengine.cli import main

    sys.exit(main(["run", __file__, *sys.argv[1:]]))
