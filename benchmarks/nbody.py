"""simengine.nbody against REBOUND (IAS15 and its direct-summation gravity) on the same problems.

    .venv/bin/python benchmarks/nbody.py [--orbits 100] [--n-field 16384] [--repeats 3] [--quick]

1. Few-body accuracy per wall time: an eccentric hard binary (e = 0.9, masses 1 and 0.5, a = 1) with
   three light stars on wide orbits, integrated for 100 binary orbits by the regularized integrator
   (everything in one region, no softening, no PN) at several GBS tolerances, and by IAS15 at several
   epsilons. For each target relative energy error we report the cheapest wall time of each code that
   reaches it, and the ratio.
2. Softened direct summation: pair interactions per second for N = 16384 (one force evaluation):
   Warp float64 kernel on the CPU threads (Plummer and cubic-spline softening) against REBOUND's
   "basic" gravity with the same Plummer softening (one leapfrog step = one force evaluation).
   Both count N (N - 1) interactions.
Wall times are the best of --repeats runs (the machine may be shared); the load average is printed.
Results go to benchmarks/out/nbody.json.
"""
import argparse
import json
import os
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, HERE)

from simengine import nbody  # noqa: E402
from simengine.nbody._gravity import FieldGravity  # noqa: E402

STARS = [(1e-3, 4.0, 0.1), (2e-3, 6.0, 0.2), (1e-3, 9.0, 0.3)]  # (mass, orbit radius, phase/2pi)


def few_body_system():
    """Binary (1, 0.5; a = 1, e = 0.9) at the origin plus three light stars on circular-ish orbits."""
    m1, m2 = 1.0, 0.5
    dx, dv = nbody.kepler_state(1.0, 0.9, 0.0, m1, m2)
    M = m1 + m2
    m, x, v = [m1, m2], [m2 / M * dx, -m1 / M * dx], [m2 / M * dv, -m1 / M * dv]
    for k, (ms, r, ph) in enumerate(STARS):
        ang = 2 * np.pi * ph
        vc = np.sqrt((M + ms) / r)
        m.append(ms)
        x.append([r * np.cos(ang), r * np.sin(ang), 0.1 * r * (k - 1)])
        v.append([-vc * np.sin(ang), vc * np.cos(ang), 0.0])
    m, x, v = np.array(m), np.array(x, float), np.array(v, float)
    x -= (m[:, None] * x).sum(0) / m.sum()
    v -= (m[:, None] * v).sum(0) / m.sum()
    return m, x, v


def newtonian_energy(m, x, v):
    d = np.sqrt(((x[:, None] - x[None]) ** 2).sum(-1))
    iu = np.triu_indices(len(m), 1)
    return 0.5 * (m * (v ** 2).sum(1)).sum() - (m[iu[0]] * m[iu[1]] / d[iu]).sum()


def run_ours(tolerance, t_end):
    m, x, v = few_body_system()
    sim = nbody.Simulation(softening=1e-3, region_radius=50.0, tolerance=tolerance, soften_star_pairs=False)
    sim.add_particles(m, x, v, kind="smbh")
    e0 = newtonian_energy(m, x, v)
    start = time.perf_counter()
    sim.integrate(t_end)
    wall = time.perf_counter() - start
    return wall, abs(newtonian_energy(m, sim.positions, sim.velocities) / e0 - 1), sim.positions


def run_ias15(epsilon, t_end):
    import rebound

    m, x, v = few_body_system()
    sim = rebound.Simulation()
    for mi, xi, vi in zip(m, x, v):
        sim.add(m=mi, x=xi[0], y=xi[1], z=xi[2], vx=vi[0], vy=vi[1], vz=vi[2])
    sim.integrator = "ias15"
    sim.integrator.epsilon = epsilon
    e0 = sim.energy()
    start = time.perf_counter()
    sim.integrate(t_end, exact_finish_time=1)
    wall = time.perf_counter() - start
    return wall, abs(sim.energy() / e0 - 1), np.array([[p.x, p.y, p.z] for p in sim.particles])


def best_of(fn, arg, t_end, repeats):
    runs = [fn(arg, t_end) for _ in range(repeats)]
    return min(r[0] for r in runs), runs[0][1], runs[0][2]


def cheapest(curve, target):
    ok = [w for w, err in curve if err <= target]
    return min(ok) if ok else None


def few_body(orbits, repeats):
    period = 2 * np.pi * np.sqrt(1.0 / 1.5)
    t_end = orbits * period
    run_ours(1e-8, 1.0)  # warm-up: Warp kernel load
    ours, ias = [], []
    x_ref = run_ias15(1e-11, t_end)[2]
    print(f"\n1. e = 0.9 binary + 3 stars, {orbits} orbits (t = {t_end:.1f})")
    print(f"   {'code':10s} {'setting':>10s} {'wall [s]':>9s} {'|dE/E|':>9s} {'max |dx| vs IAS15(1e-11)':>26s}")
    for tol in (1e-8, 1e-10, 1e-12, 1e-14):
        wall, err, x = best_of(run_ours, tol, t_end, repeats)
        ours.append((wall, err))
        print(f"   {'simengine':10s} {tol:>10.0e} {wall:9.3f} {err:9.1e} {np.abs(x - x_ref).max():26.1e}")
    for eps in (1e-5, 1e-7, 1e-9, 1e-11):
        wall, err, x = best_of(run_ias15, eps, t_end, repeats)
        ias.append((wall, err))
        print(f"   {'IAS15':10s} {eps:>10.0e} {wall:9.3f} {err:9.1e} {np.abs(x - x_ref).max():26.1e}")
    rows = []
    for target in (1e-8, 1e-10, 1e-12):
        a, b = cheapest(ours, target), cheapest(ias, target)
        ratio = (a / b) if a and b else None
        rows.append({"target": target, "simengine_s": a, "ias15_s": b, "ratio_simengine_over_ias15": ratio})
        print(f"   |dE/E| <= {target:.0e}: simengine {a if a is None else f'{a:.3f} s'}, IAS15 "
              f"{b if b is None else f'{b:.3f} s'}, ratio {ratio if ratio is None else f'{ratio:.2f}'}")
    return {"orbits": orbits, "simengine": ours, "ias15": ias, "at_target": rows}


def field_rate(n, repeats, threads):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, 3))
    m = np.full(n, 1.0 / n)
    eps = 0.01
    out = {}
    print(f"\n2. softened direct summation, N = {n}, pair interactions N(N-1) per second")
    for kernel in ("plummer", "cubic_spline"):
        g = FieldGravity(1.0, eps, kernel, threads=threads)
        g.accelerations(x[:64], m[:64], np.full(64, -1))  # warm-up
        best = min(_timed(lambda: g.accelerations(x, m, np.full(n, -1))) for _ in range(repeats))
        out[f"simengine_{kernel}"] = n * (n - 1) / best
        print(f"   simengine Warp float64, {kernel:12s}, {threads} threads: "
              f"{out[f'simengine_{kernel}'] / 1e6:8.1f} M/s")
    import rebound

    sim = rebound.Simulation()
    sim.gravity = "basic"
    sim.softening = eps
    sim.integrator = "leapfrog"
    sim.dt = 1e-6
    for xi, mi in zip(x, m):
        sim.add(m=mi, x=xi[0], y=xi[1], z=xi[2])
    best = min(_timed(lambda: sim.steps(1)) for _ in range(repeats))
    out["rebound_basic_plummer"] = n * (n - 1) / best
    print(f"   REBOUND basic gravity, Plummer softening (1 thread): {out['rebound_basic_plummer'] / 1e6:8.1f} M/s")
    out["ratio_plummer"] = out["simengine_plummer"] / out["rebound_basic_plummer"]
    out["ratio_cubic_spline"] = out["simengine_cubic_spline"] / out["rebound_basic_plummer"]
    print(f"   ratio simengine / REBOUND: Plummer {out['ratio_plummer']:.2f}, "
          f"cubic spline {out['ratio_cubic_spline']:.2f}")
    return out


def _timed(fn):
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--orbits", type=int, default=100)
    p.add_argument("--n-field", type=int, default=16384)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--quick", action="store_true", help="10 orbits, N = 4096, 1 repeat")
    args = p.parse_args()
    if args.quick:
        args.orbits, args.n_field, args.repeats = 10, 4096, 1
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    result = {"load_average": os.getloadavg()[0], "few_body": few_body(args.orbits, args.repeats),
              "field": field_rate(args.n_field, args.repeats, args.threads)}
    os.makedirs(os.path.join(HERE, "benchmarks", "out"), exist_ok=True)
    path = os.path.join(HERE, "benchmarks", "out", "nbody.json")
    with open(path, "w") as f:
        json.dump(result, f, indent=1)
    print(f"\nwrote {path}")


if __name__ == "__main__":
    main()
