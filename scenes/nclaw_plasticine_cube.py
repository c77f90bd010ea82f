"""NCLaw training data: one plasticine (von Mises) cube thrown onto the floor, 2D, 0.6 s.

Ma et al., "Learning Neural Constitutive Laws from Motion Observations", ICML 2023. The cube yields
on impact and stays flattened: the plastic network has something to learn (see nclaw_scenes).

    simengine generate scenes/nclaw_plasticine_cube.py --out data/nclaw_plasticine --train 1 --valid 1 --test 1
"""
import numpy as np
from nclaw_scenes import RECORD_EVERY, training_scene

RUN = dict(duration=0.6, record_every=RECORD_EVERY)


def make_scene(rng: np.random.Generator, device=None):
    return training_scene("plasticine", rng, device)


if __name__ == "__main__":
    import sys

    from simengine.cli import main

    sys.exit(main(["run", __file__, *sys.argv[1:]]))
