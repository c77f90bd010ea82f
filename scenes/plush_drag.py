"""A plush toy (an `assets/` mesh filled with particles joined by springs, PhysTwin-style) grasped at the top,
lifted, dragged across the floor and dropped.

Randomised per episode: the mesh (bunny, torus, dumbbell), its size and pose, the particle spacing,
stiffness, mass, floor friction, the grasp and the drag path. One episode: 3 s at 30 frames/s.

    simengine run scenes/plush_drag.py
    simengine generate scenes/plush_drag.py --out data/plush --train 20 --valid 4 --test 4
"""
import math
import os

import numpy as np

from simengine import deformables, shapes

ASSETS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "assets")
MESHES = ("bunny.obj", "torus.obj", "dumbbell.obj")
RUN = dict(duration=3.0, record_every=2)
PREVIEW = dict(view=(25.0, -60.0), max_frames=91)


def make_scene(rng: np.random.Generator, device=None) -> deformables.Scene:
    scene = deformables.Scene(dt=1 / 60, damping=float(rng.uniform(1.0, 3.0)), device=device,
                              seed=int(rng.integers(2**31)))
    mesh = os.path.join(ASSETS, MESHES[int(rng.integers(len(MESHES)))])
    scale = float(rng.uniform(0.12, 0.18))
    spacing = scale / float(rng.uniform(9.0, 11.0))
    lower, upper = shapes.Mesh(mesh, scale=scale, center=(0.0, 0.0, 0.0)).bounds(3)
    resting = shapes.Mesh(mesh, scale=scale, center=(0.0, -lower[1], 0.0))  # its lowest point on the floor
    toy = scene.add_plush(resting, spacing=spacing, mass=float(rng.uniform(0.05, 0.2)),
                          stiffness=float(10 ** rng.uniform(1.5, 2.5)), neighbours=16)
    scene.add_ground(0.0, friction=float(rng.uniform(0.3, 0.8)))
    points = scene._x[0]
    top = points[:, 1] > points[:, 1].max() - 1.5 * spacing
    grasp = points[top].mean(axis=0)
    heading = float(rng.uniform(0.0, 2 * math.pi))
    drag = float(rng.uniform(0.15, 0.35)) * np.array([math.cos(heading), 0.0, math.sin(heading)])
    lift = np.array([0.0, float(rng.uniform(0.05, 0.15)), 0.0])
    up = (0.0, 0.0, 0.0, 1.0)
    scene.add_gripper(radius=1.6 * spacing, keyframes=[
        (0.0, grasp, up, False), (0.1, grasp, up, True), (0.8, grasp + lift, up, True),
        (2.0, grasp + lift + drag, up, True), (2.2, grasp + lift + drag, up, False)])
    assert len(toy.indices) == len(points)
    return scene


if __name__ == "__main__":
    import sys

    from simengine.cli import main

    sys.exit(main(["run", __file__, *sys.argv[1:]]))
