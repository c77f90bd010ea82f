"""A cloth lying on the ground, lifted by one or two grippers and folded over onto itself.

One gripper (a corner) or two (both corners of an edge) close on the cloth, lift it, carry the edge over the
opposite one and release it: the cloth folds and rests on itself (self-contact keeps the layers apart).
Randomised per episode: size, resolution, stiffness, shear and bending stiffness, mass, floor friction, the
number of grippers, the lift height and the fold. One episode: 3 s at 30 frames/s.

    simengine run scenes/cloth_lift.py
    simengine generate scenes/cloth_lift.py --out data/cloth --train 20 --valid 4 --test 4
"""
import numpy as np

from simengine import deformables

RUN = dict(duration=3.0, record_every=2)
PREVIEW = dict(view=(30.0, -60.0), max_frames=91)


def make_scene(rng: np.random.Generator, device=None) -> deformables.Scene:
    scene = deformables.Scene(dt=1 / 60, damping=float(rng.uniform(0.5, 2.0)), device=device,
                              seed=int(rng.integers(2**31)))
    n = int(rng.integers(12, 17))
    size = float(rng.uniform(0.2, 0.3))
    radius = 0.45 * size / (n - 1)
    x0, z0 = rng.uniform(-0.15, -0.05, size=2)
    cloth = scene.add_cloth(corner=(x0, radius, z0), size=(size, size), resolution=n,
                            mass=float(rng.uniform(0.02, 0.08)), stiffness=float(10 ** rng.uniform(1.5, 2.5)),
                            shear_stiffness=float(10 ** rng.uniform(0.5, 1.5)),
                            bend_stiffness=float(10 ** rng.uniform(-1.5, -0.3)))
    scene.add_ground(0.0, friction=float(rng.uniform(0.4, 0.9)))
    grid = cloth.indices.reshape(n, n)
    corners = [0, n - 1] if rng.random() < 0.6 else [0]  # edge u = 0: one corner or both
    lift = float(rng.uniform(0.05, 0.12))
    over = float(rng.uniform(0.8, 1.0)) * size
    up = (0.0, 0.0, 0.0, 1.0)
    for v in corners:
        p0 = scene._x[0][grid[0, v]].copy()
        p1 = p0 + np.array([0.5 * over, lift, 0.0])
        p2 = p0 + np.array([over, 3 * radius, 0.0])
        scene.add_gripper(radius=0.6 * size / (n - 1), keyframes=[
            (0.0, p0, up, False), (0.1, p0, up, True), (0.9, p1, up, True), (1.7, p2, up, True),
            (1.8, p2, up, False)])
    return scene


if __name__ == "__main__":
    import sys

    from simengine.cli import main

    sys.exit(main(["run", __file__, *sys.argv[1:]]))
