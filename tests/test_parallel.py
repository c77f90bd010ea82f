"""`simengine.parallel`, the one CPU launch layer: the split plan, module loading before any pool thread
launches, recorded launches that follow a module reload, and the threaded path of every simulator in
fresh processes (a crash there is the worst defect: issue 23)."""
import os
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import warp as wp

from simengine import parallel
from simengine.runtime import init_warp

HERE = os.path.dirname(os.path.abspath(__file__))


# ---- the split plan ------------------------------------------------------------------------------------------
def test_split_covers_the_range_in_contiguous_slices():
    for total in (0, 1, 7, 100, 8193):
        for threads in (1, 2, 3, 8):
            spans = parallel.split(total, threads)
            assert spans[0][0] == 0 and spans[-1][1] == total
            assert all(a[1] == b[0] for a, b in zip(spans, spans[1:]))
            assert len(spans) == max(1, min(threads, total))
    assert parallel.split(10, 2) == [(0, 5), (5, 10)]
    assert parallel.split(11, 2) == [(0, 5), (5, 11)]
    assert parallel.split(1000, 4, min_items=512) == [(0, 1000)]  # a slice gets at least min_items
    assert parallel.split(1024, 4, min_items=512) == [(0, 512), (512, 1024)]
    assert parallel.split(5, 0) == [(0, 5)]


# ---- the pool ---------------------------------------------------------------------------------------------------
def test_run_parallel_runs_every_span_once_and_the_first_on_the_caller():
    seen, caller = [], threading.get_ident()
    lock = threading.Lock()

    def task(begin, end, t):
        with lock:
            seen.append((begin, end, t, threading.get_ident() == caller))

    parallel.run_parallel(task, parallel.split(12, 3))
    assert sorted(seen) == [(0, 4, 0, True), (4, 8, 1, False), (8, 12, 2, False)]


def test_an_error_in_a_span_is_raised_after_every_span_finished():
    finished = []

    def task(begin, end, t):
        if t == 1:
            raise ValueError("span 1 failed")
        finished.append(t)

    with pytest.raises(ValueError, match="span 1 failed"):
        parallel.run_parallel(task, parallel.split(30, 3))
    assert sorted(finished) == [0, 2]


def test_nested_run_parallel_runs_serially_on_a_pool_thread():
    inner = []

    def outer(begin, end, t):
        parallel.run_parallel(lambda b, e, u: inner.append((t, u, parallel.in_pool_thread())), [(0, 1), (1, 2)])

    parallel.run_parallel(outer, [(0, 1), (1, 2)])
    # outer span 0 runs on the caller (its inner span 1 goes to the pool); outer span 1 runs all of its own
    assert sorted(inner) == [(0, 0, False), (0, 1, True), (1, 0, True), (1, 1, True)]


# ---- loading -----------------------------------------------------------------------------------------------
@wp.kernel(module="unique")
def _scale(start: int, x: wp.array(dtype=float), factor: float, y: wp.array(dtype=float)):
    i = start + wp.tid()
    y[i] = factor * x[i]


def test_prepare_loads_the_variant_that_cpu_launches_use():
    init_warp()
    module = _scale.module
    module.unload()
    assert parallel.loaded_exec(_scale, "cpu") is None
    parallel.prepare([_scale], "cpu")
    loaded = parallel.loaded_exec(_scale, "cpu")
    assert loaded is not None
    x = wp.array(np.arange(8, dtype=np.float32), device="cpu")
    y = wp.zeros(8, dtype=float, device="cpu")
    wp.launch(_scale, dim=8, inputs=[0, x, 2.0, y], device="cpu")  # a plain launch finds it loaded
    assert parallel.loaded_exec(_scale, "cpu") is loaded
    np.testing.assert_array_equal(y.numpy(), 2 * np.arange(8))


@pytest.fixture
def load_log(monkeypatch):
    """Every `Module.load` call that loaded something, with whether it ran on a pool thread."""
    from warp._src.context import Module

    log, original = [], Module.load

    def load(self, device, block_dim=None, *args, **kwargs):
        before = dict(self.execs)
        result = original(self, device, block_dim, *args, **kwargs)
        if self.execs != before:
            log.append((self.name, threading.current_thread().name, parallel.in_pool_thread()))
        return result

    monkeypatch.setattr(Module, "load", load)
    return log


def test_pool_threads_never_load_a_module(load_log):
    """Each simulator's threaded path, in this process: every module load happens on the calling thread
    (modules that earlier tests loaded are unloaded first, so every path loads its own)."""
    from warp._src.context import user_modules

    for module in list(user_modules.values()):
        module.unload()
    sys.path.insert(0, HERE)
    try:
        import threaded_paths
    finally:
        sys.path.remove(HERE)
    for name in ("mpm", "md", "nbody", "deformables", "fem"):
        threaded_paths.PATHS[name]()
    assert load_log and not [entry for entry in load_log if entry[2]], load_log


def test_launch_split_is_bit_identical_to_one_launch():
    init_warp()
    x = wp.array(np.random.default_rng(0).random(3000).astype(np.float32), device="cpu")
    one, two = wp.zeros(3000, dtype=float, device="cpu"), wp.zeros(3000, dtype=float, device="cpu")
    parallel.launch_split(_scale, 3000, [x, 1.7, one], "cpu", threads=1)
    parallel.launch_split(_scale, 3000, [x, 1.7, two], "cpu", threads=2, min_items=100)
    assert one.numpy().tobytes() == two.numpy().tobytes()


# ---- recorded launches -----------------------------------------------------------------------------------------
def test_a_recorded_launch_is_recorded_again_after_its_module_reloads():
    init_warp()
    x = wp.array(np.arange(4, dtype=np.float32), device="cpu")
    y = wp.zeros(4, dtype=float, device="cpu")
    cmd = parallel.RecordedLaunch(_scale, 4, [0, x, 3.0, y], "cpu")
    cmd.launch()
    cmd.set_param(2, 5.0)
    cmd.launch()
    assert cmd.records == 1
    np.testing.assert_array_equal(y.numpy(), 5 * np.arange(4))
    _scale.module.unload()  # frees the code the record points to; a replay would jump into it
    cmd.set_param(2, 7.0)
    cmd.launch()
    assert cmd.records == 2 and cmd._cmd.module_exec is parallel.loaded_exec(_scale, "cpu")
    np.testing.assert_array_equal(y.numpy(), 7 * np.arange(4))


def test_launch_cache_replays_from_many_threads():
    init_warp()
    cache = parallel.LaunchCache("cpu")
    xs = [wp.array(np.full(16, i, np.float32), device="cpu") for i in range(4)]
    ys = [wp.zeros(16, dtype=float, device="cpu") for _ in range(4)]
    parallel.prepare([_scale], "cpu")
    with ThreadPoolExecutor(4) as pool:
        for _ in range(20):
            list(pool.map(lambda i: cache.launch(_scale, 16, [0, xs[i], 2.0, ys[i]]), range(4)))
    for i in range(4):
        np.testing.assert_array_equal(ys[i].numpy(), np.full(16, 2.0 * i))


# ---- every simulator's threaded path in fresh processes ---------------------------------------------------------
RUNS = 20


@pytest.mark.slow
def test_threaded_paths_never_crash_in_fresh_processes():
    """20 fresh processes (two at a time, as on a busy machine) each run the threaded path of MPM, MD, N-body
    and the deformables; every one must exit 0. Before the launch layer, MPM's crashed 11 of 12 such runs (SIGSEGV)."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env.pop("SIMENGINE_THREADS", None)
    script = os.path.join(HERE, "threaded_paths.py")
    failures = []
    for _ in range(RUNS // 2):
        procs = [subprocess.Popen([sys.executable, script, *order], env=env, stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, text=True)
                 for order in (("mpm", "md", "nbody", "deformables", "fem"),
                               ("fem", "deformables", "nbody", "md", "mpm"))]
        for proc in procs:
            out, _ = proc.communicate(timeout=300)
            if proc.returncode != 0:
                failures.append((proc.returncode, out[-2000:]))
    assert not failures, f"{len(failures)} of {RUNS} runs failed: {failures[0]}"


# ---- thread counts: the policy, and what a split promises ---------------------------------------------------------
def _mpm_scene(threads):
    from simengine import Scene, materials, shapes

    scene = Scene(dim=2, domain=(1.0, 1.0), grid_res=64, threads=threads)
    scene.add_body(shapes.Box(lower=(0.2, 0.2), size=(0.6, 0.4)),
                   materials.NeoHookean(youngs_modulus=1e4, poisson_ratio=0.3), particles_per_cell=9)
    return scene


def _md(threads, atoms=1024):
    from simengine import md

    positions, cell = md.liquid_box(atoms, 0.0207, np.random.default_rng(1))
    return md.Simulation(positions, ["Ar"] * atoms, cell, timestep_fs=2.0, dtype="float64", threads=threads,
                         potential=md.LennardJones(sigma=3.4, epsilon=0.0104, cutoff=8.5, shift=True))


def _nbody(threads):
    from simengine import nbody

    sim = nbody.Simulation(G=1.0, softening=0.01, threads=threads)
    rng = np.random.default_rng(2)
    sim.add_particles(np.full(300, 1 / 300), rng.normal(size=(300, 3)), np.zeros((300, 3)))
    return sim


@pytest.mark.parametrize("value", ["1", "3"])
def test_every_simulator_honours_simengine_threads(monkeypatch, value):
    monkeypatch.setenv("SIMENGINE_THREADS", value)
    solver, _ = _mpm_scene(None).build()
    assert solver.threads == int(value)
    assert _md(None, atoms=256).threads == int(value)
    assert _nbody(None)._gravity.threads == int(value)
    monkeypatch.setenv("SIMENGINE_THREADS", "zero")
    from simengine.errors import InputError

    with pytest.raises(InputError, match=r"\$SIMENGINE_THREADS = 'zero' is not an integer in \[1, 256\]"):
        _mpm_scene(None).build()


def test_mpm_two_threads_deterministic_and_equal_to_one_up_to_summation_order():
    """P2G scatters into one private grid per thread, summed in a fixed order: bit-identical for a given
    thread count, equal to one thread up to float32 summation order."""
    runs = {}
    for label, threads in (("one", 1), ("two", 2), ("two again", 2)):
        scene = _mpm_scene(threads)
        runs[label] = scene.run(duration=20 * scene.dt, record_every=10, progress=False).position
    assert runs["two"].tobytes() == runs["two again"].tobytes()
    np.testing.assert_allclose(runs["two"], runs["one"], rtol=0, atol=1e-6)


def test_md_neighbour_lists_bit_identical_and_forces_equal_to_summation_order():
    one, two = _md(1), _md(2)
    for a, b in zip(one.neighbors.pairs(), two.neighbors.pairs()):  # each thread writes its own atoms' rows
        assert np.asarray(a).tobytes() == np.asarray(b).tobytes()
    f1, f2 = one.state.f.numpy(), two.state.f.numpy()  # half-list scatter: private buffers, fixed-order sum
    np.testing.assert_allclose(f2, f1, rtol=1e-12, atol=1e-15)
    assert two.state.f.numpy().tobytes() == _md(2).state.f.numpy().tobytes()


def test_nbody_targeted_gravity_bit_identical_across_threads():
    from simengine.nbody._gravity import FieldGravity

    rng = np.random.default_rng(3)
    pos, mass, group = rng.normal(size=(500, 3)), rng.random(500), np.full(500, -1)
    one, two = FieldGravity(1.0, 0.01, threads=1), FieldGravity(1.0, 0.01, threads=2)
    targets = np.arange(500)
    assert (one.accelerations(pos, mass, group, targets).tobytes()
            == two.accelerations(pos, mass, group, targets).tobytes())  # each target written by one thread
    ref = one.accelerations(pos, mass, group)  # all pairs: per-thread buffers summed
    np.testing.assert_allclose(two.accelerations(pos, mass, group), ref, rtol=0, atol=1e-12 * np.abs(ref).max())


def test_deformables_bit_identical_across_threads():
    """Every deformables kernel writes only its own particles' slots: any split gives the same bits."""
    from simengine import deformables

    runs = []
    for threads in (1, 2):
        scene = deformables.Scene(threads=threads, substeps=10)
        scene.add_cloth(corner=(0, 0.3, 0), size=(0.9, 0.9), resolution=91, mass=0.2, stiffness=100.0)
        scene.add_ground()
        model, _ = scene.build()
        assert len(model._spans) == threads
        runs.append(scene.run(duration=4 * scene.dt, progress=False).position)
    assert runs[0].tobytes() == runs[1].tobytes()
