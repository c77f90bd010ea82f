"""The granular column collapse of ``sand_collapse.py`` on a 32^2 grid instead of 64^2: the same randomised
columns with a quarter of the particles (~250-600, spacing ~0.01). ``make demo`` trains on it: a learned
simulator's training step costs in proportion to the particles, so the demo's few CPU minutes buy about four
times as many steps.

    simengine generate scenes/sand_collapse_coarse.py --out data/sand2d_coarse --train 12 --valid 2 --test 3
"""
import importlib.util
import os

_spec = importlib.util.spec_from_file_location(
    "_sand_collapse", os.path.join(os.path.dirname(os.path.abspath(__file__)), "sand_collapse.py"))
_base = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_base)

GRID_RES = 32
DT = _base.DT
RUN = dict(_base.RUN)
PREVIEW = dict(_base.PREVIEW)


def make_scene(rng, device=None):
    return _base.make_scene(rng, device=device, grid_res=GRID_RES)


if __name__ == "__main__":
    import sys

    from simengine.cli import main

    sys.exit(main(["run", __file__, *sys.argv[1:]]))
