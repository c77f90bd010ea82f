"""NCLaw training data: one jelly (fixed-corotated) cube thrown onto the floor, 2D, 0.6 s.

Ma et al., "Learning Neural Constitutive Laws from Motion Observations", ICML 2023: one trajectory
of a simple shape is enough to learn the material. 256 particles on a 32^2 grid (see nclaw_scenes).

    simengine generate scenes/nclaw_jelly_cube.py --out data/nclaw_jelly --train 1 --valid 1 --test 1
    simengine train nclaw --data data/nclaw_jelly --out runs/nclaw_jelly --set train.batch_size=1
"""
import numpy as np
from nclaw_scenes import RECORD_EVERY, training_scene

RUN = dict(duration=0.6, record_every=RECORD_EVERY)


def make_scene(rng: np.random.Generator, device=None):
    return training_scene("jelly", rng, device)


if __name__ == "__main__":
    import sys

    from simengine.cli import main

    sys.exit(main(["run", __file__, *sys.argv[1:]]))
