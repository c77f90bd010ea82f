"""Explicit FEM throughput: element-steps per second of the impact-plate (2D) and deforming-plate (3D) scenes, and
the time to generate a 20-trajectory impact-plate dataset on 2 CPU cores.

Both scenes are the shipped scene scripts at seed 0 (`scenes/impact_plate.py`, `scenes/deforming_plate.py`).
Compilation and set-up are timed apart from the steps; steps are timed in blocks (best and median reported).

    python benchmarks/fem.py [--steps 2000] [--no-dataset]
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
SCENES = os.path.join(HERE, "..", "scenes")


def scene(name):
    sys.path.insert(0, SCENES)
    try:
        module = __import__(name)
    finally:
        sys.path.remove(SCENES)
    made = module.make_scene(np.random.default_rng(0))
    return getattr(made, "scene", made)


def time_steps(model, state, steps, block):
    other = model.new_state()
    times = []
    for _ in range(max(1, steps // block)):
        start = time.perf_counter()
        for _ in range(block):
            model.step(state, other)
            state, other = other, state
        times.append((time.perf_counter() - start) / block)
    return min(times), float(np.median(times))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--no-dataset", action="store_true")
    args = parser.parse_args(argv)
    from simengine.runtime import init_warp

    wp = init_warp()
    print(f"machine: {os.cpu_count()} cores, warp {wp.__version__}; load average {os.getloadavg()[0]:.2f}")
    print(f"{'scene':18s} {'nodes':>6s} {'elements':>8s} {'dt (s)':>9s} {'set-up s':>8s} {'ms/step':>8s} "
          f"{'(median)':>8s} {'M element-steps/s':>17s}")
    for name in ("impact_plate", "deforming_plate"):
        start = time.perf_counter()
        model, state = scene(name).build()
        setup = time.perf_counter() - start
        best, median = time_steps(model, state, args.steps, max(args.steps // 10, 1))
        print(f"{name:18s} {model.n:6d} {model.n_elem:8d} {model.dt:9.3g} {setup:8.2f} {best * 1e3:8.3f} "
              f"{median * 1e3:8.3f} {model.n_elem / best / 1e6:17.3f}")
    if not args.no_dataset:
        from simengine.generate import generate_dataset

        with tempfile.TemporaryDirectory() as tmp:
            start = time.perf_counter()
            generate_dataset(os.path.join(SCENES, "impact_plate.py"), os.path.join(tmp, "ip"), {"train": 20},
                             workers=2, seed=0, progress=False)
            seconds = time.perf_counter() - start
        print(f"dataset: 20 impact-plate trajectories (2.5 ms each) with 2 workers in {seconds:.1f} s "
              f"({seconds / 20:.1f} s per trajectory)")


if __name__ == "__main__":
    main()
