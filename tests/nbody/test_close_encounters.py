"""Black holes that start very close: they merge at once (merger_radius set) or the run stops with a
`SimulationError` within seconds; never a native crash, a hang, or a non-finite state.

Every case runs in a fresh interpreter, so a segfault or abort in a Warp kernel fails the test (with
its signal) instead of killing pytest. Units G = 1, c = 10: the Schwarzschild radius of the pair,
2 G (m1 + m2) / c^2, is 0.02 for two holes of 0.5 and 4e-4 for two of 0.01, so 6 of them contain all
separations here.
"""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from simengine import nbody
from simengine.errors import InputError
from simengine.nbody import _tree

ROOT = Path(__file__).resolve().parents[2]
TIMEOUT_S = 60.0
WITHIN_S = 20.0  # "within seconds", generous for a loaded 2-core machine (typically ~1 s)

CASE = r'''
import json, sys, time
import numpy as np
from simengine import nbody
from simengine.errors import SimulationError

p = json.loads(sys.argv[1])
sim = nbody.Simulation(G=1.0, c=10.0, softening=1e-3, region_radius=3e-3, merger_radius=p["merger_radius"],
                       pn_orders=p["pn_orders"])
m, sep = p["m"], p["separation"]
v = 0.5 * np.sqrt(2 * m / sep) if p["orbit"] else 0.0  # circular: relative speed sqrt(G (m1 + m2) / r)
sim.add_particles([m, m], [[sep / 2, 0, 0], [-sep / 2, 0, 0]], [[0, v, 0], [0, -v, 0]], kind="smbh")
if p["stars"]:
    rng = np.random.default_rng(1)
    k = p["stars"]
    sim.add_particles(np.full(k, 1e-6), rng.normal(0, 2e-3, (k, 3)), rng.normal(0, 0.1, (k, 3)))
state = sim.current_state()
x0 = sim.positions
out = {}
t0 = time.perf_counter()
try:
    if p["via"] == "scene":
        traj = nbody.SimulationScene(sim).run(p["duration"], frames=3, progress=False)
        out["recorded_mergers"] = traj.metadata["mergers"]
        out["frames"] = len(traj.time)
    else:
        state = sim.step(state, sim.new_state(), None, p["duration"])
    out["outcome"] = "completed"
except SimulationError as e:
    out.update(outcome="error", message=str(e), rolled_back=bool(sim.time == 0.0 and np.array_equal(sim.positions, x0)))
out.update(seconds=time.perf_counter() - t0, time=sim.time, masses=sim.masses.tolist(), alive=sim.alive.tolist(),
           mergers=[[float(t), int(a), int(b)] for t, a, b in sim.mergers],
           finite=bool(np.isfinite(sim.positions).all() and np.isfinite(sim.velocities).all()))
print("RESULT " + json.dumps(out))
'''

BAD_TREE = r'''
import numpy as np
from simengine.errors import SimulationError
from simengine.nbody._regularized import RegionState, RegularizedIntegrator
from simengine.nbody._tree import Tree

# The forest that scipy's MST made of two black holes 1e-8 apart: two roots, a one-entry order.
forest = Tree(np.array([-1, -1], np.int32), np.zeros(2, np.int32), np.array([0], np.int32))
region = RegionState(members=np.array([0, 1]), mass=np.array([0.5, 0.5]), is_bh=np.ones(2, np.int32), tree=forest,
                     edge_x=np.array([[-2.5e-9, 0, 0], [0, 0, 0]]), edge_v=np.zeros((2, 3)),
                     cm_x=np.zeros(3), cm_v=np.zeros(3))
try:
    RegularizedIntegrator(1.0, 10.0, 0, 1e-10, 1, 1e-3).energies(region)
    print("RESULT no error")
except SimulationError as e:
    print("RESULT " + str(e))
'''

ZERO_SEPARATION = r'''
import numpy as np
from simengine.errors import SimulationError
from simengine.nbody._regularized import RegionState, RegularizedIntegrator
from simengine.nbody._tree import Tree

# Two black holes on top of each other inside a region (mergers off): nothing can integrate that.
tree = Tree(np.array([-1, 0], np.int32), np.array([0, 1], np.int32), np.array([0, 1], np.int32))
region = RegionState(members=np.array([3, 7]), mass=np.array([0.5, 0.5]), is_bh=np.ones(2, np.int32), tree=tree,
                     edge_x=np.zeros((2, 3)), edge_v=np.array([[0.0, 0, 0], [0, 1, 0]]),
                     cm_x=np.zeros(3), cm_v=np.zeros(3))
try:
    RegularizedIntegrator(1.0, 10.0, 0, 1e-10, 1, 1e-3).integrate(region, 0.01, time_origin=2.5)
    print("RESULT no error")
except SimulationError as e:
    print("RESULT " + str(e))
'''


def _run(script, *args):
    env = dict(os.environ, SIMENGINE_THREADS="1", PYTHONFAULTHANDLER="1")
    try:
        proc = subprocess.run([sys.executable, "-c", script, *args], cwd=ROOT, env=env, capture_output=True,
                              text=True, timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired:
        pytest.fail(f"no result within {TIMEOUT_S:.0f} s (hang) for {args}")
    tail = (proc.stdout + proc.stderr)[-3000:]
    assert proc.returncode >= 0, f"killed by signal {-proc.returncode} for {args}:\n{tail}"
    assert proc.returncode == 0, f"exit status {proc.returncode} for {args}:\n{tail}"
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
    assert lines, f"no result for {args}:\n{tail}"
    return lines[-1][len("RESULT "):]


def _case(separation, orbit, merger_radius, m=0.5, stars=0, pn_orders=(), duration=0.01, via="step"):
    params = dict(separation=separation, orbit=orbit, merger_radius=merger_radius, m=m, stars=stars,
                  pn_orders=list(pn_orders), duration=duration, via=via)
    return json.loads(_run(CASE, json.dumps(params)))


def _check(out, m, merger_radius, stars):
    assert out["seconds"] < WITHIN_S, out
    assert out["finite"], out
    if merger_radius is not None:
        # The pair starts inside its merger radius: merged at t = 0, before any regularized step.
        assert out["outcome"] == "completed", out
        assert out["mergers"] == [[0.0, 0, 1]], out
        assert out["masses"][:2] == [pytest.approx(2 * m), 0.0] and out["alive"][:2] == [True, False]
        if "recorded_mergers" in out:
            assert out["recorded_mergers"] == [[0.0, 0, 1]] and out["frames"] == 3
    else:
        # Millions of orbits in the interval (or a collapsing step): refused with an explanation.
        assert out["outcome"] == "error", out
        msg = out["message"]
        assert "particles [0, 1" in msg and "time" in msg, msg
        assert out["mergers"] == []
        if not stars:
            assert out["rolled_back"], out  # the failed step left the last good state


@pytest.mark.parametrize("merger_radius", [None, 6.0], ids=["no-mergers", "merger_radius=6"])
@pytest.mark.parametrize("orbit", [False, True], ids=["at-rest", "circular"])
@pytest.mark.parametrize("separation", [1e-6, 1e-8, 1e-9])
def test_close_black_hole_pair_merges_or_reports(separation, orbit, merger_radius):
    via = "scene" if orbit and merger_radius else "step"  # the recording loop too
    out = _case(separation, orbit, merger_radius, via=via)
    _check(out, 0.5, merger_radius, 0)


@pytest.mark.parametrize("separation, orbit", [(1e-6, True), (1e-8, False), (1e-9, True)])
@pytest.mark.parametrize("merger_radius", [None, 6.0], ids=["no-mergers", "merger_radius=6"])
def test_close_pair_with_stars_and_pn_terms_merges_or_reports(separation, orbit, merger_radius):
    out = _case(separation, orbit, merger_radius, m=0.01, stars=4, pn_orders=("1", "2", "2.5"))
    _check(out, 0.01, merger_radius, 4)


def test_a_broken_tree_is_refused_before_the_kernels_walk_it():
    assert "invalid spanning tree" in _run(BAD_TREE)


def test_zero_separation_without_mergers_is_a_simulation_error():
    msg = _run(ZERO_SEPARATION)
    assert msg.startswith("regularized region with particles [3, 7] at time 2.5: the regularized step cannot start")
    assert "zero separation" in msg and "particles 3 and 7 (smbh/smbh), 0 apart" in msg, msg


@pytest.mark.parametrize("separation", [1e-8, 1e-9, 1e-12, 0.0])
def test_spanning_tree_connects_close_and_coincident_bodies(separation):
    """scipy's dense MST drops edges shorter than ~1e-8 (its input is masked with isclose(d, 0)); the tree
    must still be one tree, and the close pair joined by one edge."""
    rng = np.random.default_rng(3)
    x = np.vstack([[[0.5 * separation, 0, 0], [-0.5 * separation, 0, 0]], rng.normal(0, 1e-3, (6, 3))])
    m = np.array([0.5, 0.5, *np.full(6, 1e-6)])
    tree = _tree.spanning_tree(x, m)
    assert (tree.parent == -1).sum() == 1 and tree.parent[0] == -1 and tree.root == 0
    assert sorted(tree.order.tolist()) == list(range(8))
    assert tree.parent[1] == 0 and tree.depth[1] == 1
    assert np.allclose(_tree.path_difference(1, 0, tree, _tree.edges_from_absolute(x, tree)), x[1] - x[0],
                       rtol=0, atol=1e-20)


def test_binary_elements_index_out_of_range_is_an_input_error():
    sim = nbody.Simulation()
    sim.add_particles([1.0, 1.0], [[0, 0, 0], [1, 0, 0]], [[0, 0, 0], [0, 1, 0]])
    assert sim.binary_elements(0, 1)["a"] > 0
    for i, j, name, value in [(0, 2, "j", "2"), (5, 1, "i", "5"), (-1, 1, "i", "-1"), (0, 1.5, "j", "1.5")]:
        with pytest.raises(InputError) as err:
            sim.binary_elements(i, j)
        msg = str(err.value)
        assert msg.startswith(f"{name} = {value} is outside the allowed range [0, 1]") and "\n" not in msg, msg
