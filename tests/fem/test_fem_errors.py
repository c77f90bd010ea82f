"""Bad input to the FEM simulator: one-line errors naming the field; an inverted element stops the run."""
import numpy as np
import pytest

from simengine import fem
from simengine.errors import InputError, SimulationError
from simengine.simulator import record


def square():
    return fem.meshes.rectangle(0.1, 0.1, 2, 2)


def test_materials_and_meshes_are_validated():
    with pytest.raises(InputError, match=r"poisson_ratio = 0.5 is outside the allowed range \(-1, 0.5\)"):
        fem.LinearElastic(1e6, 0.5)
    with pytest.raises(InputError, match=r"youngs_modulus = 0.0 is outside the allowed range \(0, inf\)"):
        fem.NeoHookean(0.0, 0.3)
    scene = fem.Scene(dim=2)
    X, cells = square()
    bad = cells.copy()
    bad[3] = [0, 1, 99]
    with pytest.raises(InputError, match=r"body0 cell 3 = \[0, 1, 99\] has a node index outside the allowed range"):
        scene.add_body(X, bad, fem.LinearElastic(1e6))
    flipped = cells.copy()
    flipped[2, [1, 2]] = flipped[2, [2, 1]]
    with pytest.raises(InputError, match=r"body0 cell 2 = .* is inverted \(clockwise\)"):
        scene.add_body(X, flipped, fem.LinearElastic(1e6))
    flat = np.array([[0.0, 0.0], [1.0, 0.0], [2.0, 0.0]])
    with pytest.raises(InputError, match=r"body0 cell 0 = \[0, 1, 2\] is degenerate \(zero area\)"):
        scene.add_body(flat, np.array([[0, 1, 2]]), fem.LinearElastic(1e6))


def test_conditions_time_steps_and_overlaps_are_validated():
    scene = fem.Scene(dim=2)
    body = scene.add_body(*square(), fem.LinearElastic(1e6), density=1000.0)
    with pytest.raises(InputError, match=r"fix index 50 is outside the allowed range \[0, 8\]"):
        scene.fix([50])
    with pytest.raises(InputError, match=r"fix axis 2 is outside the allowed range \[0, 1\]"):
        scene.fix(body.nodes[:1], axes=(2,))
    with pytest.raises(InputError, match=r"impactor1 overlaps body 0 at t = 0"):
        scene.add_impactor(*fem.meshes.disk((0.05, 0.05), 0.02, 12), mass=1.0)
    model, _ = scene.build()
    slow = fem.Scene(dim=2, dt=10 * model.dt_limit)
    slow.add_body(*square(), fem.LinearElastic(1e6), density=1000.0)
    with pytest.raises(InputError, match=r"dt = .* is above the stability limit .*use dt <="):
        slow.build()


def test_an_inverting_element_stops_the_run_naming_step_time_and_cell():
    scene = fem.Scene(dim=2, gravity=(0.0, 0.0))
    scene.add_body(*square(), fem.LinearElastic(1e6), density=1000.0)
    model, _ = scene.build()
    v = np.zeros((model.n, 2))
    v[4] = [0.0, -300.0]  # the centre node shot through its neighbours
    state = model.new_state(v=v)
    with pytest.raises(SimulationError, match=r"FEM element \d+ \(nodes .*\) inverted at step \d+, t = "):
        record(model, state, 200, 1, progress=False)
