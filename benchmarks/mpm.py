"""MLS-MPM throughput: simengine's Warp solver against an idiomatic Taichi peer on the same scene.

Scene: a 3D neo-Hookean cube (E = 1e5 Pa, nu = 0.3, rho = 1000 kg/m^3) of ~97k particles (8 per cell)
falling in the unit box on a 64^3-cell grid, domain walls 3 nodes thick ("separate"), gravity -9.81,
the dt simengine's `Scene` picks. The Taichi peer (`benchmarks/mpm_taichi.py`) gets the very same
particles, volumes, dt, grid and walls; after the run both final states are compared, so the two
really simulated the same thing. Throughput counts warm steps only (compilation is reported apart).

    python benchmarks/mpm.py [--steps 100] [--particles-per-axis 46]
"""
from __future__ import annotations

import argparse
import os
import platform
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from simengine.runtime import cpu_name  # noqa: E402


def make_scene(per_axis: int, grid_res: int = 64):
    from simengine import Scene, materials, shapes

    scene = Scene(dim=3, domain=(1.0, 1.0, 1.0), grid_res=grid_res, device="cpu", boundary="separate")
    spacing = scene.dx / 2.0
    lower = np.array([0.3, 0.25, 0.3])
    size = per_axis * spacing  # lattice-aligned edges: exactly per_axis^3 particles
    lower = np.floor(lower / spacing) * spacing
    scene.add_body(shapes.Box(lower=lower, size=(size,) * 3),
                   materials.NeoHookean(youngs_modulus=1e5, poisson_ratio=0.3), density=1000.0)
    return scene


class PhaseTimer:
    """Wraps `MPMSolver._parallel` (one call per phase and step) to add up wall time per phase."""

    NAMES = {"zero_and_scatter": "p2g+zero", "update": "grid", "gather": "g2p"}

    def __init__(self, solver):
        self.totals, self.solver, self.inner = {}, solver, solver._parallel

    def __call__(self, fn, total, threads):
        start = time.perf_counter()
        self.inner(fn, total, threads)
        name = self.NAMES.get(fn.__name__, fn.__name__)
        self.totals[name] = self.totals.get(name, 0.0) + time.perf_counter() - start


class SimengineRunner:
    """simengine's MPMSolver through the Scene API: ``scene.build()``, then ``solver.step(a, b)``, swapped."""

    def __init__(self, scene):
        self.solver, self.state = scene.build()
        data = scene.particle_data()
        self.other = self.solver.new_state(data["x"], data["v"])
        self.label = f"simengine (Warp, {self.solver.threads} threads)"

    def step(self):
        self.solver.step(self.state, self.other)
        self.state, self.other = self.other, self.state

    def sync(self):
        import warp as wp

        wp.synchronize()

    def positions(self):
        return self.state.x.numpy().copy()

    def phase_times(self, steps):
        if self.solver.threads == 1:
            return {}
        timer = PhaseTimer(self.solver)
        self.solver._parallel = timer
        for _ in range(steps):
            self.step()
        self.solver._parallel = timer.inner
        return {k: v / steps for k, v in timer.totals.items()}


class TaichiRunner:
    def __init__(self, scene, serialize_p2g):
        from mpm_taichi import TaichiMLSMPM

        data = scene.particle_data()
        material, density = scene.bodies[0]["material"], scene.bodies[0]["density"]
        self.sim = TaichiMLSMPM(data["x"], scene.grid_res, dt=scene.dt, youngs_modulus=material.youngs_modulus,
                                poisson_ratio=material.poisson_ratio, density=density,
                                particle_volume=float(data["volume"][0]), gravity=tuple(scene.gravity),
                                boundary=scene.boundary, pad=3, serialize_p2g=serialize_p2g)
        kind = "serial P2G" if serialize_p2g else "atomic P2G, idiomatic"
        self.label = f"Taichi ({kind}, {os.cpu_count()} threads)"

    def step(self):
        self.sim.step()

    def sync(self):
        import taichi as ti

        ti.sync()

    def positions(self):
        return self.sim.x.to_numpy()

    def phase_times(self, steps):
        return self.sim.phase_times(steps)


def benchmark(runners, warmup, steps, block=10):
    """Warm every runner up, then time them in interleaved blocks of `block` steps (so that load from
    elsewhere on the machine hits all alike); return per runner the best and median block (s/step)."""
    warm = []
    for r in runners:
        start = time.perf_counter()
        for _ in range(warmup):
            r.step()
        r.sync()
        warm.append(time.perf_counter() - start)
    blocks = [[] for _ in runners]
    for _ in range(max(1, steps // block)):
        for r, times in zip(runners, blocks):
            r.sync()
            start = time.perf_counter()
            for _ in range(block):
                r.step()
            r.sync()
            times.append((time.perf_counter() - start) / block)
    return [dict(best=min(t), median=float(np.median(t)), warm=w) for t, w in zip(blocks, warm)]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=100, help="timed steps (default 100)")
    parser.add_argument("--warmup", type=int, default=5, help="untimed steps first, compilation included")
    parser.add_argument("--particles-per-axis", type=int, default=46, help="cube edge in particles (46^3 = 97k)")
    args = parser.parse_args(argv)

    import taichi as ti
    import warp as wp

    from simengine.runtime import init_warp

    init_warp()
    ti.init(arch=ti.cpu, default_fp=ti.f32, cpu_max_num_threads=os.cpu_count(), log_level=ti.WARN)
    scene = make_scene(args.particles_per_axis)
    n = sum(len(b["positions"]) for b in scene.bodies)
    print(f"machine: {cpu_name()}, {os.cpu_count()} cores; python {platform.python_version()}, numpy {np.__version__}, "
          f"warp {wp.__version__}, taichi {'.'.join(map(str, ti.__version__))}")
    print(f"scene: neo-Hookean cube, {n} particles, {scene.grid_res}^3 cells, dt = {scene.dt:.4g} s, "
          f"{args.steps} timed steps after {args.warmup} warm-up steps")
    print(f"load average before: {load_average()}")

    runners = [SimengineRunner(scene), TaichiRunner(scene, False), TaichiRunner(scene, True)]
    results = benchmark(runners, args.warmup, args.steps)
    phases = [r.phase_times(10) for r in runners]  # 10 more steps each, every phase timed apart
    final = [r.positions() for r in runners]
    ours = results[0]
    print(f"{'':44s} {'ms/step':>8s} {'(median)':>8s} {'M p-steps/s':>11s} {'warm-up s':>9s}  phases, ms/step")
    for r, res, ph in zip(runners, results, phases):
        detail = ", ".join(f"{k} {v * 1e3:.2f}" for k, v in ph.items())
        print(f"{r.label:44s} {res['best'] * 1e3:8.2f} {res['median'] * 1e3:8.2f} {n / res['best'] / 1e6:11.2f} "
              f"{res['warm']:9.1f}  {detail}")
    for r, res, x in zip(runners[1:], results[1:], final[1:]):
        print(f"speed ratio simengine / {r.label}: {res['best'] / ours['best']:.2f}x best-block, "
              f"{res['median'] / ours['median']:.2f}x median; same final state to "
              f"{np.abs(x - final[0]).max():.1e} (max |dx| after {args.warmup + args.steps // 10 * 10 + 10} steps)")
    print("(best-block = the fastest of the interleaved 10-step blocks: the least disturbed by other load)")
    print(f"load average after: {load_average()}")


def load_average() -> str:
    """The 1/5/15-minute load averages (other work on the machine skews every timing above)."""
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg()) + f" on {os.cpu_count()} cores"
    except OSError:  # pragma: no cover - platforms without getloadavg
        return "unknown"


if __name__ == "__main__":
    main()
