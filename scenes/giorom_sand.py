"""GIOROM data: one 3D sand body (box, ball, bunny or torus, ~20k particles at the default 40^3 grid)
thrown into a 1 m box; shared set-up in `scenes/giorom_scenes.py`.

    simengine run scenes/giorom_sand.py
    simengine generate scenes/giorom_sand.py --out data/giorom_sand --train 8 --valid 1 --test 2
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from giorom_scenes import DT, GRID_RES, RUN, make_giorom_scene  # noqa: E402, F401

PREVIEW = dict(max_frames=111)


def make_scene(rng, device=None, grid_res=GRID_RES):
    return make_giorom_scene("sand", rng, device=device, grid_res=grid_res)


if __name__ == "__main__":
    from simengine.cli import main

    sys.exit(main(["run", __file__, *sys.argv[1:]]))
