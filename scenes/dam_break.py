"""Dam break (2D): a column of water released against the left wall surges across a closed tank.

The benchmark of Martin & Moyce 1952 ("An experimental study of the collapse of liquid columns on a
rigid horizontal plane"): the surge front of a column of height H runs out at about sqrt(2 g H).
Weakly compressible MLS-MPM fluid (pressure K (1 - J), small viscosity) with bulk modulus chosen so
that the sound speed stays several times the flow speed. Randomised per trajectory: column width and
height, bulk modulus, viscosity. ~1-3k particles on a 64^2 grid: a trajectory takes seconds on a CPU.

    simengine run scenes/dam_break.py
    simengine generate scenes/dam_break.py --out data/dam2d --train 20 --valid 4 --test 4
"""

import numpy as np

from simengine import Scene, materials, shapes

GRID_RES = 64
DT = 2.5e-4  # fixed: every trajectory has the frame interval DT * record_every = 0.01 s
RUN = dict(duration=1.5, record_every=40)
PREVIEW = dict(max_frames=151)


def make_scene(rng: np.random.Generator, device=None, grid_res=GRID_RES) -> Scene:
    scene = Scene(dim=2, domain=(1.0, 1.0), grid_res=grid_res, dt=DT, boundary="separate",
                  device=device, seed=int(rng.integers(2**31)))
    lower, upper = scene.region
    width, height = rng.uniform(0.20, 0.35), rng.uniform(0.30, 0.50)
    # sound speed sqrt(K / rho) = 10-14 m/s against a surge of ~sqrt(2 g H) < 3.2 m/s: Mach < 0.35
    water = materials.Fluid(bulk_modulus=float(rng.uniform(1.0e5, 2.0e5)), viscosity=float(rng.uniform(0.0, 0.02)))
    scene.add_body(shapes.Box(lower=tuple(lower), size=(width, height)), water, density=1000.0, jitter=True,
                   name="water")
    return scene


if __name__ == "__main__":
    import sys

    from simengine.cli import main

    sys.exit(main(["run", __file__, *sys.argv[1:]]))
