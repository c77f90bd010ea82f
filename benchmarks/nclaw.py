"""NCLaw benchmark: forward + backward time and peak memory per MPM step with a learned law.

Ma et al., "Learning Neural Constitutive Laws from Motion Observations", ICML 2023. A 3D cube of
~10k particles (64^3 grid) falls with the NCLaw networks (width 64, depth 2) as its material; we time
``steps`` differentiable steps forward, then the backward pass of a loss on the final positions, for

* checkpointed backward (`NeuralMPM(backward="recompute")`): each step saves its inputs only; Warp
  re-runs the step on a fresh tape and torch recomputes the law's activations in backward;
* full tape (`backward="tape"`): each step keeps its Warp tape (grid included) and torch graph.

Each mode runs in its own process, so peak memory is that process's peak resident set (ru_maxrss)
above its level after a warm-up, divided by the number of steps.

    python benchmarks/nclaw.py [--particles 10000] [--steps 20] [--grid 64] [--dim 3] [--device cpu] [--threads 1]
"""
import argparse
import json
import os
import resource
import subprocess
import sys
import time

MODES = {"checkpointed": "recompute", "full tape": "tape"}
# Run as a script, benchmarks/ is sys.path[0]: keep a sibling script from ever shadowing a package
# (a benchmarks/learned.py once hid `learned`); import the packages from the installed project.
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != _HERE]


def _rss_peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: KiB


def worker(args) -> dict:
    import numpy as np
    import torch

    from learned.nclaw import ConstitutiveLaw, NeuralMPM, initial_state, warm_start
    from simengine import Scene, materials, shapes

    torch.set_num_threads(args.threads)
    dim = args.dim
    ppc = 2 ** dim
    dx = 1.0 / args.grid
    side = (args.particles / ppc) ** (1.0 / dim) * dx  # cube edge giving ~particles at ppc per cell
    scene = Scene(dim=dim, domain=(1.0,) * dim, grid_res=args.grid, device=args.device, dt=1e-4, seed=0)
    lower = tuple([0.5 - side / 2] * dim)
    scene.add_body(shapes.Box(lower=lower, size=(side,) * dim), materials.Elastic(), density=1000.0)
    solver, state0 = scene.build(dtype="float32")
    law = ConstitutiveLaw.neural(dim, 64, 2, stress_scale=1e5)
    warm_start(law, 1e5, 0.3, steps=50)
    sim = NeuralMPM(solver, law, backward=MODES[args.worker])
    x0 = state0.x.numpy()
    v0 = np.zeros_like(x0)
    v0[:, 1] = -1.0

    def run(steps):
        law.zero_grad()
        start = time.perf_counter()
        state = sim.simulate(initial_state(x0, v0, torch.float32), steps)
        loss = state[0][:, 1].mean() + state[3].square().mean()
        middle = time.perf_counter()
        loss.backward()
        return middle - start, time.perf_counter() - middle

    run(2)  # compile / load kernels, allocate caches
    base = _rss_peak_mb()
    forward, backward = run(args.steps)
    peak = _rss_peak_mb()
    return {"mode": args.worker, "particles": solver.n, "grid": args.grid, "dim": dim, "steps": args.steps,
            "forward_ms": 1e3 * forward / args.steps, "backward_ms": 1e3 * backward / args.steps,
            "peak_mb_per_step": (peak - base) / args.steps, "peak_mb": peak - base}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--particles", type=int, default=10000)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--grid", type=int, default=64)
    parser.add_argument("--dim", type=int, default=3, choices=(2, 3))
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1: small per-particle MLPs)")
    parser.add_argument("--worker", choices=list(MODES), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args)))
        return 0
    rows = []
    for mode in MODES:
        cmd = [sys.executable, os.path.abspath(__file__), "--worker", mode] + [
            f"--{k}={getattr(args, k)}" for k in ("particles", "steps", "grid", "dim", "device", "threads")]
        out = subprocess.run(cmd, capture_output=True, text=True)
        if out.returncode != 0:
            sys.stderr.write(out.stderr)
            return out.returncode
        rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
    r = rows[0]
    print(f"NCLaw learned law in MLS-MPM: {r['particles']} particles, {r['dim']}D grid {r['grid']}^{r['dim']}, "
          f"{r['steps']} steps, float32, {args.device}, {args.threads} torch threads")
    print(f"{'backward':<14}{'forward ms/step':>17}{'backward ms/step':>18}{'peak MB/step':>14}{'peak MB':>10}")
    for r in rows:
        print(f"{r['mode']:<14}{r['forward_ms']:>17.1f}{r['backward_ms']:>18.1f}{r['peak_mb_per_step']:>14.2f}"
              f"{r['peak_mb']:>10.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
