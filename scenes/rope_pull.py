"""A rope lying on the ground, grasped near one end by a gripper that lifts it and drags it along a random path.

The gripper closes on the rope's end, lifts it, pulls it along a smooth random path and lets go; the rope slides
and folds on the ground (Coulomb friction) and collides with itself. Randomised per episode: rope length,
position and heading, stiffness, bending stiffness, mass, floor friction, the grasp point and the path. One
episode: 5 s at 30 frames/s of a 40-segment rope, XPBD with 100 substeps per 1/60 s step.

    simengine run scenes/rope_pull.py
    simengine generate scenes/rope_pull.py --out data/rope --train 20 --valid 4 --test 4
"""
import math

import numpy as np

from simengine import deformables

SEGMENTS = 40
RUN = dict(duration=5.0, record_every=2)
PREVIEW = dict(view=(35.0, -60.0), max_frames=151)


def make_scene(rng: np.random.Generator, device=None) -> deformables.Scene:
    scene = deformables.Scene(dt=1 / 60, damping=float(rng.uniform(0.2, 1.0)), device=device,
                              seed=int(rng.integers(2**31)))
    radius = 0.006
    length = float(rng.uniform(0.5, 0.8))
    heading = float(rng.uniform(0.0, 2 * math.pi))
    centre = rng.uniform(-0.1, 0.1, size=2)
    direction = np.array([math.cos(heading), 0.0, math.sin(heading)])
    start = np.array([centre[0], radius, centre[1]]) - 0.5 * length * direction
    rope = scene.add_rope(start=start, end=start + length * direction, segments=SEGMENTS,
                          mass=float(rng.uniform(0.03, 0.1)), stiffness=float(10 ** rng.uniform(2.5, 3.5)),
                          bend_stiffness=float(10 ** rng.uniform(-1.0, 0.5)), radius=radius)
    scene.add_ground(0.0, friction=float(rng.uniform(0.2, 0.6)))
    grasp = int(rng.integers(0, 4))  # near the start end
    p0 = scene._x[0][grasp].copy()  # the grasped particle's rest position
    lift = float(rng.uniform(0.08, 0.2))
    turn = heading + math.pi + float(rng.uniform(-1.0, 1.0))
    reach = float(rng.uniform(0.2, 0.4))
    p1 = p0 + np.array([0.0, lift, 0.0])
    p2 = p1 + reach * np.array([math.cos(turn), 0.0, math.sin(turn)])
    p3 = p2 + np.array([0.0, -0.5 * lift, 0.0]) + 0.5 * reach * np.array([math.sin(turn), 0.0, -math.cos(turn)])
    up = (0.0, 0.0, 0.0, 1.0)
    scene.add_gripper(radius=0.012, keyframes=[
        (0.0, p0, up, False), (0.2, p0, up, True), (1.2, p1, up, True), (2.8, p2, up, True), (3.8, p3, up, True),
        (4.0, p3, up, False)])
    assert rope.indices[grasp] == grasp
    return scene


if __name__ == "__main__":
    import sys

    from simengine.cli import main

    sys.exit(main(["run", __file__, *sys.argv[1:]]))
