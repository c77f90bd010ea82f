"""The Warp MLS-MPM step against the independent pure-torch reference (float64, all eight models)."""
import numpy as np
import pytest
import torch

from kernels.mpm import MODELS
from simengine.mpm import MPMSolver
from simengine.mpm.reference_torch import reference_step

PARAMS = {
    "fixed_corotated": (0, 0, 0, 0), "neo_hookean": (0, 0, 0, 0), "fluid": (0.5, 0, 0, 0),
    "herschel_bulkley": (50.0, 5.0, 0.6, 0), "drucker_prager": (30.0, 0, 0, 0), "von_mises": (300.0, 0, 0, 0),
    "snow": (0.02, 0.005, 10.0, 5.0), "mu_i": (20.9, 0.64, 0.279, 5e-4 * 2450**0.5),
}


def mixed_scene(dim, rng, per_model=24):
    """Particles of every model in separate clumps, F and C perturbed so every return map is exercised."""
    n = per_model * len(MODELS)
    x = rng.uniform(0.15, 0.85, size=(n, dim))
    x[:per_model, 1] = rng.uniform(0.05, 0.12, per_model)  # one clump in the floor's wall layers
    v = rng.normal(0, 0.5, size=(n, dim))
    v[:per_model, 1] = -1.0
    F = np.eye(dim) + rng.normal(0, 0.08, size=(n, dim, dim))
    C = rng.normal(0, 2.0, size=(n, dim, dim))
    model = np.repeat(np.arange(len(MODELS)), per_model)
    params = np.array([PARAMS[MODELS[m]] for m in model], float)
    E = np.where(model == MODELS.index("fluid"), 3e4, 2e4 + 1e4 * rng.random(n))
    nu = np.where(model == MODELS.index("fluid"), 0.0, 0.3)
    volume = np.full(n, 1e-4 if dim == 2 else 1e-6)
    plastic = 1.0 + rng.normal(0, 0.05, n)
    return dict(x=x, v=v, F=F, C=C, plastic=plastic), dict(mass=1000 * volume, volume=volume, model=model, E=E,
                                                             nu=nu, params=params)


@pytest.mark.parametrize("dim", [2, 3])
@pytest.mark.parametrize("boundary", ["separate", "slip", "sticky"])
def test_warp_step_matches_torch_reference(dim, boundary):
    rng = np.random.default_rng(dim)
    state, parts = mixed_scene(dim, rng, per_model=24 if dim == 2 else 10)
    cells, dt = (24,) * dim, 2e-4
    solver = MPMSolver(dim=dim, cells=cells, dx=1 / 24, dt=dt, particles=parts, gravity=[0, -9.81] + [0] * (dim - 2),
                       boundary=boundary, boundary_friction=0.3, dtype="float64", threads=1)
    s_in = solver.new_state(**state)
    s_out = solver.new_state(**state)
    ref = {k: torch.tensor(v) for k, v in state.items()}
    tparts = {k: torch.tensor(v) for k, v in parts.items()}
    for step in range(3):
        solver.step(s_in, s_out)
        s_in, s_out = s_out, s_in
        ref = reference_step(ref, tparts, dx=1 / 24, dt=dt, nodes=tuple(c + 1 for c in cells),
                             gravity=[0, -9.81] + [0] * (dim - 2), boundary=boundary, friction=0.3)
    got = s_in.numpy()
    for key in ("x", "v", "C", "F", "plastic"):
        want = ref[key].numpy()
        scale = np.abs(want).max()
        np.testing.assert_allclose(got[key], want, rtol=0, atol=1e-9 * scale, err_msg=key)
    # the test exercised yielding: some return mappings changed F away from the trial
    assert not np.allclose(got["plastic"], state["plastic"]) or dim == 3


def test_float32_step_matches_reference_to_float32_noise():
    rng = np.random.default_rng(7)
    state, parts = mixed_scene(2, rng)
    solver = MPMSolver(dim=2, cells=(24, 24), dx=1 / 24, dt=2e-4, particles=parts, gravity=[0, -9.81], threads=1)
    s_in, s_out = solver.new_state(**state), solver.new_state(**state)
    solver.step(s_in, s_out)
    ref = reference_step({k: torch.tensor(v) for k, v in state.items()}, {k: torch.tensor(v) for k, v in parts.items()},
                         dx=1 / 24, dt=2e-4, nodes=(25, 25), gravity=[0, -9.81])
    got = s_out.numpy()
    for key in ("x", "v", "F"):
        want = ref[key].numpy()
        np.testing.assert_allclose(got[key], want, rtol=0, atol=2e-5 * np.abs(want).max(), err_msg=key)
