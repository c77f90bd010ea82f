"""Deformables throughput: simengine's spring-mass XPBD (rope, cloth, plush) with NVIDIA Newton's XPBD cloth as a
peer in the same run, and the time to generate a 20-episode rope dataset.

Scenes (SI units, y up, gravity -9.81, ground plane y = 0 with friction 0.5, XPBD with one Jacobi iteration per
substep, 100 substeps per 1/60 s step, CPU), each with particle-particle self-contact on and off:

* rope: 64 segments (65 particles), 0.64 m, standing 15 degrees off vertical on the ground; it falls and piles up;
* cloth: 32 x 32 particles (1,024), 0.5 m square, structural + shear + bend springs (5,826), standing 10 degrees
  off vertical on its lower edge; it buckles and folds onto itself. Float64 (simengine's default) and float32;
* plush: `assets/bunny.obj` at scale 0.2 filled at 8 mm spacing (1,932 particles, up to 16 springs each),
  dropped from 3 cm.

Newton peer (``newton`` 1.8, ``SolverXPBD(iterations=1)``, CPU device, float32 only): the very same 1,024 cloth
particles, masses, radii and springs (pairs, rest lengths and spring constants copied from simengine's cloth), a
ground plane, particle-shape contacts from ``CollisionPipeline.collide`` every substep and ``solver.step`` per
substep at h = 1/6000 s; timed replaying the step as a captured CPU graph (as Newton's examples do) and with plain
launches. What still differs between the two set-ups is printed with the results.

Throughput is particle-substeps per second (particles x substeps / wall time) over warm steps only; set-up and
the first step of each runner (Warp's JIT compilation, or its load from the kernel cache, and Newton's graph
capture) are reported apart. All runners are timed in interleaved rounds of ``--block`` steps each (so that load
from elsewhere on the machine hits all alike, and every runner simulates the same stretch of time in a round);
the best block, the median block and the mean over the whole window are printed. Last,
``simengine.generate.generate_dataset`` writes 20 episodes of `scenes/rope_pull.py` (5 s at 30 frames/s each)
with 2 worker processes, against the 5-minute target.

    .venv/bin/python benchmarks/deformables.py [--quick] [--steps 96] [--block 8] [--no-newton] [--no-dataset]
                                                [--cold-cache]

Default: 96 timed steps per runner in blocks of 8 (about 5 minutes on 2 cores with a warm kernel cache); --quick:
20 in blocks of 5 (a smoke test, about 1.5 minutes). --cold-cache: compile every kernel afresh into a temporary
Warp kernel cache, so that the set-up and first-step columns show whole compile times (Newton's take about a
minute on this CPU, --quick --cold-cache about 3 minutes in all); the dataset workers keep the normal cache.
"""
from __future__ import annotations

import argparse
import atexit
import math
import os
import platform
import shutil
import sys
import tempfile
import time

import numpy as np

# run as a script, benchmarks/ comes first on sys.path; the repository root goes before it
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from simengine.runtime import cpu_name  # noqa: E402

DT, SUBSTEPS = 1.0 / 60.0, 100
GROUND_FRICTION = 0.5
ROPE = dict(segments=64, length=0.64, mass=0.05, stiffness=2e3, bend_stiffness=0.5, radius=0.005, tilt_deg=15.0,
            damping=0.5)
CLOTH = dict(size=0.5, resolution=32, mass=0.1, stiffness=300.0, shear_stiffness=30.0, bend_stiffness=1.0,
             tilt_deg=10.0, damping=0.0)
PLUSH = dict(mesh="assets/bunny.obj", scale=0.2, spacing=0.008, mass=0.1, stiffness=100.0, neighbours=16,
             drop=0.03, damping=1.0)
DATASET = dict(script="scenes/rope_pull.py", episodes=20, workers=2, target_s=300.0)


def cache_entries() -> int:
    """Modules in Warp's kernel cache: one more for every module compiled."""
    import warp as wp

    try:
        return sum(1 for name in os.listdir(wp.config.kernel_cache_dir) if name.startswith("wp_"))
    except (OSError, TypeError):
        return 0


def sync():
    import warp as wp

    wp.synchronize()


# ---- scenes ---------------------------------------------------------------------------------------------------
def tilt_about_x(x: np.ndarray, degrees: float, pivot_y: float) -> np.ndarray:
    """Points rotated by ``degrees`` about the line y = pivot_y, z = 0 (along x): +y leans towards +z."""
    a = math.radians(degrees)
    out = np.array(x, dtype=np.float64, copy=True)
    y, z = out[:, 1] - pivot_y, out[:, 2].copy()
    out[:, 1] = pivot_y + math.cos(a) * y - math.sin(a) * z
    out[:, 2] = math.sin(a) * y + math.cos(a) * z
    return out


def rope_scene(self_contact: bool, dtype: str = "float64"):
    from simengine import deformables

    p = ROPE
    scene = deformables.Scene(dt=DT, substeps=SUBSTEPS, damping=p["damping"], self_contact=self_contact,
                              device="cpu", dtype=dtype)
    a = math.radians(p["tilt_deg"])
    start = np.array([0.0, 1.5 * p["radius"], 0.0])
    end = start + p["length"] * np.array([math.sin(a), math.cos(a), 0.0])
    scene.add_rope(start, end, segments=p["segments"], mass=p["mass"], stiffness=p["stiffness"],
                   bend_stiffness=p["bend_stiffness"], radius=p["radius"])
    scene.add_ground(0.0, friction=GROUND_FRICTION)
    return scene, None


def cloth_scene(self_contact: bool, dtype: str = "float64"):
    """The cloth is built in the xy plane with its lower edge just above the ground and then tilted about that
    edge: the tilted positions are the initial state (`DeformablesModel.new_state`; a rotation keeps the rest
    lengths)."""
    from simengine import deformables

    p = CLOTH
    scene = deformables.Scene(dt=DT, substeps=SUBSTEPS, damping=p["damping"], self_contact=self_contact,
                              device="cpu", dtype=dtype)
    spacing = p["size"] / (p["resolution"] - 1)
    bottom = 0.45 * spacing + 0.002  # the default particle radius plus 2 mm
    scene.add_cloth(corner=(-0.5 * p["size"], bottom, 0.0), size=(p["size"], p["size"]),
                    resolution=p["resolution"], mass=p["mass"], stiffness=p["stiffness"],
                    shear_stiffness=p["shear_stiffness"], bend_stiffness=p["bend_stiffness"], plane="xy")
    scene.add_ground(0.0, friction=GROUND_FRICTION)
    return scene, lambda x: tilt_about_x(x, p["tilt_deg"], bottom)


def plush_scene(self_contact: bool, dtype: str = "float64"):
    from simengine import deformables, shapes

    p = PLUSH
    scene = deformables.Scene(dt=DT, substeps=SUBSTEPS, damping=p["damping"], self_contact=self_contact,
                              device="cpu", dtype=dtype)
    path = os.path.join(ROOT, p["mesh"])
    lower, _ = shapes.Mesh(path, scale=p["scale"], center=(0.0, 0.0, 0.0)).bounds(3)
    mesh = shapes.Mesh(path, scale=p["scale"], center=(0.0, p["drop"] - float(lower[1]), 0.0))
    scene.add_plush(mesh, spacing=p["spacing"], mass=p["mass"], stiffness=p["stiffness"], neighbours=p["neighbours"])
    scene.add_ground(0.0, friction=GROUND_FRICTION)
    return scene, None


# ---- runners --------------------------------------------------------------------------------------------------
class SimengineRunner:
    """simengine's deformables through the Scene API: ``scene.build()``, then ``model.step(a, b)``, swapped."""

    engine = "simengine"

    def __init__(self, label, make_scene, self_contact, dtype="float64"):
        self.cache_before, start = cache_entries(), time.perf_counter()
        scene, transform = make_scene(self_contact, dtype)
        self.model, state = scene.build()
        self.x0 = self.model.initial_positions if transform is None else transform(self.model.initial_positions)
        self.state = state if transform is None else self.model.new_state(x=self.x0)
        self.other = self.model.new_state()
        self.setup, self.setup_compiled = time.perf_counter() - start, cache_entries() - self.cache_before
        self.label, self.n, self.substeps = label, self.model.n, self.model.substeps
        self.springs, self.rest = self.model.springs, self.model.rest_np
        self.steps = 0

    def first_step(self):
        self.step()

    def step(self):
        self.model.step(self.state, self.other)
        self.state, self.other = self.other, self.state
        self.steps += 1

    def result(self):
        self.model.check(self.state, self.steps)  # SimulationError if anything blew up
        return self.state.x.numpy().astype(np.float64), self.state.v.numpy().astype(np.float64)


class NewtonRunner:
    """NVIDIA Newton's SolverXPBD on a copy of a simengine cloth (same particles and springs), CPU device.

    ``graph``: the 100 substeps of a step (``collide`` + ``solver.step`` each) captured once as a CPU graph and
    replayed (Newton's examples do the same); otherwise launched from Python every substep."""

    engine = "newton"

    def __init__(self, label, source: SimengineRunner, self_contact: bool, graph: bool):
        import newton
        import warp as wp

        self.cache_before, start = cache_entries(), time.perf_counter()
        self.wp, self.graph_mode, self.label = wp, graph, label
        m = source.model
        self.x0 = np.asarray(source.x0, dtype=np.float64)
        self.n, self.substeps, self.h = m.n, m.substeps, m.dt / m.substeps
        self.springs, self.rest = m.springs, m.rest_np
        builder = newton.ModelBuilder(up_axis=newton.Axis.Y, gravity=tuple(float(g) for g in m.gravity))
        ground = builder.default_shape_cfg.copy()
        ground.mu = GROUND_FRICTION
        builder.add_ground_plane(cfg=ground)
        builder.add_particles(self.x0.tolist(), [(0.0, 0.0, 0.0)] * m.n, m.mass.tolist(), radius=m.radius_np.tolist())
        for (i, j), k in zip(m.springs.tolist(), m.stiffness_np.tolist()):
            builder.add_spring(i, j, k, 0.0, control=0.0)  # rest length: the distance in the initial state
        model = builder.finalize(device="cpu")
        model.soft_contact_mu = GROUND_FRICTION  # particle-shape friction = mean of this and the shape's mu
        if not self_contact:
            # SolverXPBD solves particle-particle contact whenever particle_max_radius > 0 (and asserts a grid);
            # setting only particle_grid = None, the switch SolverSemiImplicit documents, trips that assert
            model.particle_max_radius = 0.0
            model.particle_grid = None
        self.model = model
        self.solver = newton.solvers.SolverXPBD(model, iterations=1)
        self.states = [model.state(), model.state()]
        self.control = model.control()
        self.pipeline = newton.CollisionPipeline(model)
        self.contacts = self.pipeline.contacts()
        self.graph = None
        self.setup, self.setup_compiled = time.perf_counter() - start, cache_entries() - self.cache_before
        self.steps = 0

    def _substeps(self):
        s = self.states
        for _ in range(self.substeps):
            s[0].clear_forces()
            self.pipeline.collide(s[0], self.contacts)
            self.solver.step(s[0], s[1], self.control, self.contacts, self.h)
            s[0], s[1] = s[1], s[0]

    def first_step(self):
        if self.graph_mode:
            wp = self.wp
            with wp.ScopedCapture(device="cpu") as capture:
                self._substeps()
            self.graph = capture.graph  # keeps the arrays it records alive along with self
            state = self.states[0]  # an even number of swaps: the graph reads and writes states[0]
            state.particle_q.assign(self.x0.astype(np.float32))  # whether or not capturing ran the kernels
            state.particle_qd.zero_()
        self.step()

    def step(self):
        if self.graph is not None:
            self.wp.capture_launch(self.graph)
        else:
            self._substeps()
        self.steps += 1

    def result(self):
        s = self.states[0]
        return s.particle_q.numpy().astype(np.float64), s.particle_qd.numpy().astype(np.float64)


def benchmark(runners, warmup, steps, block):
    """First step (compilation) and warm-up of every runner, then interleaved rounds of ``block`` steps each."""
    for r in runners:
        before = cache_entries()
        start = time.perf_counter()
        r.first_step()
        sync()
        r.first, r.compiled = time.perf_counter() - start, r.setup_compiled + cache_entries() - before
        for _ in range(warmup - 1):
            r.step()
        sync()
    rounds = max(1, steps // block)
    for r in runners:
        r.blocks = []
    for _ in range(rounds):
        for r in runners:
            sync()
            start = time.perf_counter()
            for _ in range(block):
                r.step()
            sync()
            r.blocks.append((time.perf_counter() - start) / block)
    for r in runners:
        r.best, r.median, r.mean = min(r.blocks), float(np.median(r.blocks)), float(np.mean(r.blocks))
        r.rate = {k: r.n * r.substeps / getattr(r, k) for k in ("best", "median", "mean")}


def label(r) -> str:
    return r.label.replace("cloth 64,", "cloth,").replace("cloth 32,", "cloth f32,")


def summary(r) -> str:
    x, v = r.result()
    length = np.linalg.norm(x[r.springs[:, 0]] - x[r.springs[:, 1]], axis=1)
    stretch = float(np.max(length / r.rest - 1.0))
    return (f"height min/mean/max {x[:, 1].min() * 100:5.2f} / {x[:, 1].mean() * 100:5.2f} / {x[:, 1].max() * 100:5.2f}"
            f" cm, max speed {np.linalg.norm(v, axis=1).max():6.3f} m/s, max spring stretch {stretch * 100:6.2f} %")


# ---- dataset --------------------------------------------------------------------------------------------------
def time_dataset():
    from simengine.generate import generate_dataset

    script = os.path.join(ROOT, DATASET["script"])
    with tempfile.TemporaryDirectory(prefix="deformables_bench_") as tmp:
        start = time.perf_counter()
        meta = generate_dataset(script, os.path.join(tmp, "rope"), {"train": DATASET["episodes"]},
                                workers=DATASET["workers"], seed=0, progress=False)
        elapsed = time.perf_counter() - start
        size = sum(os.path.getsize(os.path.join(d, f)) for d, _, files in os.walk(tmp) for f in files)
    return elapsed, meta, size


# ---- main -----------------------------------------------------------------------------------------------------
def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smoke test: 20 timed steps in blocks of 5")
    parser.add_argument("--steps", type=int, default=None, help="timed steps per runner (default 96; --quick 20)")
    parser.add_argument("--block", type=int, default=None, help="steps per timing block (default 8; --quick 5)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed steps first, the first one (compile) timed")
    parser.add_argument("--no-newton", action="store_true", help="skip the Newton peer")
    parser.add_argument("--no-dataset", action="store_true", help="skip the dataset-generation timing")
    parser.add_argument("--cold-cache", action="store_true",
                        help="compile all kernels afresh (a temporary Warp kernel cache) to show compile times")
    args = parser.parse_args(argv)
    steps = args.steps or (20 if args.quick else 96)
    block = args.block or (5 if args.quick else 8)
    if args.warmup < 1 or steps < 1 or block < 1:
        parser.error("--warmup, --steps and --block must be at least 1")
    total_start = time.perf_counter()

    cold_dir = None
    if args.cold_cache:
        cold_dir = tempfile.mkdtemp(prefix="warp_cold_cache_")
        atexit.register(shutil.rmtree, cold_dir, True)
        previous = os.environ.get("WARP_CACHE_PATH")
        os.environ["WARP_CACHE_PATH"] = cold_dir  # read once by wp.init()
    import warp as wp

    from simengine.runtime import init_warp

    init_warp()
    if cold_dir is not None:  # spawned dataset workers keep the normal cache
        if previous is None:
            os.environ.pop("WARP_CACHE_PATH", None)
        else:
            os.environ["WARP_CACHE_PATH"] = previous

    newton_version, newton_error, import_s = None, None, 0.0
    if not args.no_newton:
        try:
            start = time.perf_counter()
            import newton

            newton_version, import_s = newton.__version__, time.perf_counter() - start
        except Exception as exc:  # the peer is optional: say why it did not run
            newton_error = f"{type(exc).__name__}: {exc}"

    load = os.getloadavg()
    print(f"machine: {cpu_name()}, {os.cpu_count()} cores, load average {load[0]:.2f} at start; python "
          f"{platform.python_version()}, numpy {np.__version__}, warp {wp.__version__}"
          + (f", newton {newton_version} (import {import_s:.1f} s)" if newton_version else ""))
    print(f"Warp kernel cache: {wp.config.kernel_cache_dir}"
          + (" (fresh and empty: every kernel is compiled)" if cold_dir else f" ({cache_entries()} modules in it)"))
    print(f"every scene: dt = 1/60 s, {SUBSTEPS} XPBD substeps (1 iteration each), gravity -9.81, ground y = 0 "
          f"(friction {GROUND_FRICTION}), CPU; {steps // block * block} timed steps per runner in rounds of {block} "
          f"after {args.warmup} warm-up steps")

    print("  building scenes ...", file=sys.stderr, flush=True)
    runners = []
    for contact in (True, False):
        on = "on" if contact else "off"
        runners.append(SimengineRunner(f"rope, self-contact {on}", rope_scene, contact))
    clothes = {}
    for dtype in ("float64", "float32"):
        for contact in (True, False):
            on = "on" if contact else "off"
            r = SimengineRunner(f"cloth {dtype[-2:]}, self-contact {on}", cloth_scene, contact, dtype)
            runners.append(r)
            clothes[(dtype, contact)] = r
    peers = {}
    if newton_version:
        for graph in (True, False):
            for contact in (True, False):
                on, how = ("on" if contact else "off"), ("CPU graph" if graph else "plain launches")
                try:
                    r = NewtonRunner(f"Newton cloth 32, self-contact {on}, {how}", clothes[("float32", contact)],
                                     contact, graph)
                except Exception as exc:
                    newton_error = f"{type(exc).__name__}: {exc}"
                    break
                runners.append(r)
                peers[(graph, contact)] = r
    for contact in (True, False):
        on = "on" if contact else "off"
        runners.append(SimengineRunner(f"plush, self-contact {on}", plush_scene, contact))

    print("  first steps (compilation) and timing ...", file=sys.stderr, flush=True)
    benchmark(runners, args.warmup, steps, block)

    rope, plush, cloth = runners[0], runners[-1], clothes[("float64", True)]
    print(f"rope: {rope.n} particles, {len(rope.springs)} springs; cloth: {cloth.n} particles, {len(cloth.springs)} "
          f"springs; plush: {plush.n} particles, {len(plush.springs)} springs; simengine float64 unless marked f32")
    print(f"{'':50s} {'set-up':>6s} {'1st step':>8s} {'compiled':>8s} {'ms/step':^26s} {'M particle-substeps/s':^26s}")
    print(f"{'runner':50s} {'s':>6s} {'s':>8s} {'modules':>8s} " + f"{'best':>8s} {'median':>8s} {'mean':>8s} " * 2)
    for r in runners:
        times = " ".join(f"{getattr(r, k) * 1e3:8.1f}" for k in ("best", "median", "mean"))
        rates = " ".join(f"{r.rate[k] / 1e6:8.3f}" for k in ("best", "median", "mean"))
        print(f"{label(r):50s} {r.setup:6.2f} {r.first:8.2f} {r.compiled:8d} {times} {rates}")
    print(f"(best / median: of the {steps // block} interleaved blocks of {block} steps; mean: the whole timed window. "
          "With self-contact the cost follows the state (speed, piling), so blocks differ by the phase of the motion "
          "as well as by other load. Set-up: building the scene (simengine loads, or compiles, its kernels there); "
          "1st step: the first 1/60 s step with JIT compilation or kernel-cache loading, for a CPU graph also its "
          "capture; compiled: Warp modules compiled in set-up and 1st step)")

    if peers:
        print("simengine / Newton, particle-substeps/s on the same cloth (> 1: simengine faster); best block, median "
              "block, whole window, median of the ratios within each round (same simulated time, same load):")
        for contact in (True, False):
            for dtype in ("float64", "float32"):
                ours, parts = clothes[(dtype, contact)], []
                for graph in (True, False):
                    peer = peers.get((graph, contact))
                    if peer is not None:
                        ratio = {k: ours.rate[k] / peer.rate[k] for k in ("best", "median", "mean")}
                        rounds = float(np.median(np.array(peer.blocks) / np.array(ours.blocks)))
                        parts.append(f"{ratio['best']:.2f}x, {ratio['median']:.2f}x, {ratio['mean']:.2f}x, "
                                     f"{rounds:.2f}x vs Newton {'CPU graph' if graph else 'plain launches'}")
                print(f"  self-contact {'on ' if contact else 'off'}, simengine {dtype}: " + "; ".join(parts))
    elif newton_error or args.no_newton:
        print(f"Newton peer not run ({newton_error or '--no-newton'})")

    done = args.warmup + steps // block * block
    print(f"state after {done} steps ({done * DT:.2f} s; a sanity check: the runs are chaotic, so only the "
          "statistics compare):")
    for r in runners:
        print(f"  {label(r):50s} {summary(r)}")
    for contact in (True, False):
        a, b = peers.get((True, contact)), peers.get((False, contact))
        if a is not None and b is not None:
            dx = np.abs(a.result()[0] - b.result()[0]).max()
            print(f"  Newton CPU graph vs plain launches, self-contact {'on' if contact else 'off'}: max |dx| = "
                  f"{dx:.1e} m after the same steps")

    if peers:
        solver = next(iter(peers.values())).solver
        print("what differs between the simengine and Newton cloth set-ups:")
        for line in [
            "same: particles, positions, masses (0.1 kg / 1024), radii (0.45 x spacing), the 5,826 springs (pairs, "
            "rest lengths, N/m), gravity, 100 substeps of 1/6000 s, 1 iteration, no damping (Newton spring kd = 0)",
            "precision: Newton's XPBD is float32 only; simengine's default is float64 (float32 rows for parity)",
            "Jacobi update: simengine divides a particle's summed corrections by max(1, 2 x the sum of their gains "
            "w_i / (w_i + w_j + alpha~)), so stiff springs are averaged and compliant ones add up; Newton adds "
            "them up unaveraged (springs), so stiff springs act stiffer there",
            "self-contact: simengine skips spring-joined pairs, has no particle friction and rebuilds its hash grid "
            "every few substeps (as many as keep the largest motion under 2 radii); Newton rebuilds the grid every "
            "substep (cell 2 x max radius), tests every pair within "
            f"r_i + r_j, with particle friction mu = {solver.model.particle_mu:g} and relaxation "
            f"{solver.soft_contact_relaxation:g}",
            "ground: simengine clips to the plane inside the substep kernel (Coulomb friction 0.5, position form); "
            "Newton's CollisionPipeline.collide finds particle-plane contacts every substep (detection gap 0.01 m), "
            f"solved with mu = mean(soft_contact_mu, shape mu) = {GROUND_FRICTION:g} and relaxation "
            f"{solver.soft_contact_relaxation:g}",
            "launching: simengine 3 kernels per substep from Python (cached launch records); Newton 10 kernels (5 of "
            "them contact detection and integration bookkeeping), buffer clones and a hash-grid build per substep, "
            "replayed as one CPU graph per step or launched from Python",
            "threads: simengine splits the particles over CPU threads only above 4,096 per thread, so all these "
            "scenes run on one core, as Warp's CPU kernels in Newton do",
            "Newton's own ModelBuilder.add_cloth_grid(add_springs=True) was not used: it makes a different spring "
            "set (triangle edges and the opposite corners of adjacent triangles, one ke for all, no two-apart bend "
            "springs) plus triangles and dihedral bending elements that SolverXPBD solves as an extra kernel",
        ]:
            print(f"  - {line}")

    if not args.no_dataset:
        print(f"  generating the {DATASET['episodes']}-episode rope dataset ...", file=sys.stderr, flush=True)
        elapsed, meta, size = time_dataset()
        episodes, frames = meta["num_trajs_train"], meta["sequence_length_train"]
        particles, substeps = meta["num_particles_max"], meta.get("substeps", SUBSTEPS)
        steps_per_episode = round(meta["t_end"] / meta["dt"])
        rate = episodes * steps_per_episode * substeps * particles / elapsed
        verdict = "met" if elapsed <= DATASET["target_s"] else "MISSED"
        print(f"dataset: {episodes} episodes of {DATASET['script']} ({meta['t_end']:g} s, {steps_per_episode} steps "
              f"of {substeps} substeps, {particles} particles, {frames} frames recorded) with {DATASET['workers']} "
              f"workers: {elapsed:.1f} s ({elapsed / episodes:.2f} s per episode, {rate / 1e6:.2f} M "
              f"particle-substeps/s in all, {size / 1e6:.1f} MB written); target {DATASET['target_s']:.0f} s: "
              f"{verdict} ({DATASET['target_s'] / elapsed:.1f}x margin)")
    load = os.getloadavg()
    print(f"total wall time {time.perf_counter() - total_start:.0f} s; load average {load[0]:.2f} at the end "
          "(other load on the machine slows the medians more than the bests)")


if __name__ == "__main__":
    main()
