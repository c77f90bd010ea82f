"""Metrics against hand-computed values and brute-force references on tiny inputs."""
import numpy as np
import pytest
from scipy.optimize import linear_sum_assignment

from simengine.errors import InputError
from simengine.io import ParticleType, Trajectory
from simengine.metrics import (
    chamfer_distance,
    compare_sets,
    constant_position,
    constant_velocity,
    earth_movers_distance,
    entropic_ot,
    horizon_means,
    kinetic_energy,
    mean_distance_error,
    position_mse,
    sinkhorn_divergence,
)


def test_position_mse_by_hand():
    truth = np.zeros((2, 2, 2))
    pred = truth.copy()
    pred[1, 0] = [3.0, 4.0]  # squared error 25 over 4 numbers
    np.testing.assert_allclose(position_mse(pred, truth), [0.0, 25.0 / 4])
    with pytest.raises(InputError, match="shape"):
        position_mse(pred[:1], truth)


def test_horizon_means_are_means_over_the_first_n_steps():
    out = horizon_means(np.arange(1.0, 11.0), horizons=(1, 5, 10, 20))
    # LagrangeBench reports mse{n} only for n below the rollout length: 10 and 20 are left out
    assert out == {"1": 1.0, "5": 3.0, "all": 5.5}


def test_chamfer_by_hand_and_brute_force():
    a, b = np.array([[0.0, 0.0], [1.0, 0.0]]), np.array([[0.0, 1.0]])
    # a -> b: 1 and 2 (mean 1.5); b -> a: min(1, 2) = 1
    assert chamfer_distance(a, b) == pytest.approx(2.5)
    rng = np.random.default_rng(0)
    x, y = rng.random((7, 3)), rng.random((5, 3))
    d = ((x[:, None] - y[None]) ** 2).sum(-1)
    assert chamfer_distance(x, y) == pytest.approx(d.min(1).mean() + d.min(0).mean())


@pytest.mark.parametrize("n", [4, 7])
def test_sinkhorn_tends_to_exact_transport_for_small_epsilon(n):
    """Uniform equal-size sets: exact W2² is an assignment problem; S_ε -> W2² as ε -> 0."""
    rng = np.random.default_rng(n)
    x, y = rng.random((n, 2)), rng.random((n, 2))
    cost = ((x[:, None] - y[None]) ** 2).sum(-1)
    rows, cols = linear_sum_assignment(cost)
    exact = cost[rows, cols].mean()
    assert sinkhorn_divergence(x, y, epsilon=1e-4) == pytest.approx(exact, rel=2e-3)
    # ε -> ∞: S tends to half the energy distance of kernel -|x - y|², i.e. |mean x - mean y|²
    assert sinkhorn_divergence(x, y, epsilon=1e4) == pytest.approx(((x.mean(0) - y.mean(0)) ** 2).sum(), rel=1e-3)


def test_entropic_ot_value_matches_primal_on_two_points():
    """Two points each side: the optimal plan is found in closed form from the Gibbs kernel."""
    x, y = np.array([[0.0, 0.0], [1.0, 0.0]]), np.array([[0.0, 0.5], [1.0, 0.5]])
    eps = 0.3
    cost = ((x[:, None] - y[None]) ** 2).sum(-1)
    # symmetric 2x2 problem: P = [[p, q], [q, p]] / 2 with p + q = 1, p/q = exp((C01 - C00)/eps)
    ratio = np.exp((cost[0, 1] - cost[0, 0]) / eps)
    p = ratio / (1 + ratio)
    plan = np.array([[p, 1 - p], [1 - p, p]]) / 2
    primal = (plan * cost).sum() + eps * (plan * np.log(plan / 0.25)).sum()
    assert entropic_ot(x, y, eps, tol=1e-12, max_iter=5000) == pytest.approx(primal, rel=1e-6)


def test_sinkhorn_is_zero_on_identical_sets_and_symmetric():
    rng = np.random.default_rng(1)
    x, y = rng.random((20, 2)), rng.random((15, 2))
    assert sinkhorn_divergence(x, x, 1e-3) == pytest.approx(0.0, abs=1e-9)
    assert sinkhorn_divergence(x, y, 1e-2) == pytest.approx(sinkhorn_divergence(y, x, 1e-2), rel=1e-4)
    # a rigid translation by t moves every point by |t|: W2² = |t|²
    t = np.array([0.03, -0.04])
    assert sinkhorn_divergence(x, x + t, 1e-5) == pytest.approx(0.0025, rel=2e-2)


def test_kinetic_energy_of_uniform_motion():
    # 3 particles moving at (2, 0) / dt, dx = 0.5 in 2D: E = 3 * |v|² * dx²
    dt, dx = 0.1, 0.5
    x0 = np.zeros((3, 2))
    pos = np.stack([x0 + [0.2 * k, 0.0] for k in range(4)])
    np.testing.assert_allclose(kinetic_energy(pos, dt, dx), [3 * 4.0 * 0.25] * 3)


def test_constant_velocity_extrapolation():
    t = np.arange(6, dtype=float)
    linear = np.column_stack([t, 2 * t])[:, None, :]  # (T, 1, 2), uniform motion
    np.testing.assert_allclose(constant_velocity(linear, start=2), linear, atol=1e-6)
    quadratic = (t ** 2)[:, None, None] * np.ones((1, 1, 1))
    guess = constant_velocity(quadratic, start=3)  # from x1 = 1, x2 = 4: 4 + 3k
    np.testing.assert_allclose(guess[3:, 0, 0], [7.0, 10.0, 13.0])
    with pytest.raises(InputError, match="start"):
        constant_velocity(linear, start=1)


def _traj(position, name="00000", **meta):
    n = position.shape[1]
    return Trajectory(position, np.full(n, ParticleType.FLUID), dt=0.1, metadata={"name": name, **meta})


def test_compare_sets_perfect_prediction_and_divergence_marking():
    rng = np.random.default_rng(2)
    t = np.arange(30, dtype=float)[:, None, None]
    truth = rng.random((1, 6, 2)) + 0.01 * t + 0.001 * t ** 2  # accelerating: the baseline errs
    perfect = compare_sets([_traj(truth, rollout_start=3)], [_traj(truth)], dt=0.1, stride=5)
    summary = perfect["summary"]
    assert summary["prediction"]["mse"]["all"] == 0.0
    assert summary["prediction"]["chamfer"] == pytest.approx(0.0, abs=1e-12)
    assert summary["constant_velocity"]["mse"]["20"] > 0.0
    assert perfect["diverged"] == []
    broken = truth.copy()
    broken[10:] = np.nan  # frame 10 = rollout step 9 (step 1 is frame 2)
    out = compare_sets([_traj(broken, rollout_start=2)], [_traj(truth)], dt=0.1, stride=5)
    assert out["diverged"] == [{"name": "00000", "step": 9, "reason": "non-finite prediction at step 9"}]
    assert np.isfinite(out["summary"]["prediction"]["mse"]["all"])


def test_the_subsampled_sinkhorn_is_stated(tmp_path):
    from simengine.report import write_comparison

    rng = np.random.default_rng(3)

    frames = np.cumsum(rng.normal(0, 0.01, (12, 60, 2)), 0) + rng.random((1, 60, 2))
    truth = Trajectory(frames.astype(np.float32), np.full(60, int(ParticleType.SAND)), dt=0.01,
                       metadata={"name": "00000"})
    pred = Trajectory((frames + rng.normal(0, 0.003, frames.shape)).astype(np.float32), truth.particle_type,
                      dt=0.01, metadata={"name": "00000", "rollout_start": 4})
    full = write_comparison([pred], [truth], str(tmp_path / "full"), gifs=0, progress=False)
    part = write_comparison([pred], [truth], str(tmp_path / "part"), gifs=0, progress=False, sinkhorn_points=20)
    assert full["settings"].get("sinkhorn_points") is None and part["settings"]["sinkhorn_points"] == 20
    assert "all particles" in (tmp_path / "full" / "report.html").read_text()
    assert "estimated on 20 random particles" in (tmp_path / "part" / "report.html").read_text()
    assert part["summary"]["prediction"]["sinkhorn"] != full["summary"]["prediction"]["sinkhorn"]
    assert part["summary"]["prediction"]["mse"] == full["summary"]["prediction"]["mse"]  # only Sinkhorn changes
    last = full["trajectories"][0]["prediction"]  # the last frame is a scored frame at stride 1: the same value
    assert last["sinkhorn_last"] == last["sinkhorn_per_frame"][-1]
    assert last["sinkhorn_last"] == sinkhorn_divergence(pred.position[-1], truth.position[-1])


def test_mean_distance_error_and_emd_by_hand_and_brute_force():
    import itertools

    truth = np.zeros((2, 3, 3))
    pred = truth.copy()
    pred[1, 0] = [3.0, 4.0, 0.0]                                     # one particle 5 away, two exact
    np.testing.assert_allclose(mean_distance_error(pred, truth), [0.0, 5.0 / 3])
    rng = np.random.default_rng(4)
    a, b = rng.random((6, 3)), rng.random((6, 3))
    brute = min(np.linalg.norm(a - b[list(p)], axis=1).mean() for p in itertools.permutations(range(6)))
    assert earth_movers_distance(a, b) == pytest.approx(brute, rel=1e-12)
    assert earth_movers_distance(a, a[::-1]) == pytest.approx(0.0, abs=1e-12)    # order does not matter
    assert earth_movers_distance(a, a + [0.0, 0.3, 0.4]) == pytest.approx(0.5)    # a translation: its length
    with pytest.raises(InputError, match="one size"):
        earth_movers_distance(a, b[:5])


def test_constant_position_baseline_and_extra_candidates():
    rng = np.random.default_rng(5)
    t = np.arange(12, dtype=float)[:, None, None]
    truth = rng.random((1, 5, 3)) + 0.01 * t
    held = constant_position(truth, 4)
    np.testing.assert_allclose(held[:4], truth[:4], rtol=1e-6)
    np.testing.assert_allclose(held[4:], np.broadcast_to(truth[3], (8, 5, 3)), rtol=1e-6)
    out = compare_sets([_traj(truth, rollout_start=4)], [_traj(truth)], dt=0.1, stride=2,
                       baselines=("constant_velocity", "constant_position"), emd_points=4)
    s = out["summary"]
    assert set(s) == {"prediction", "constant_velocity", "constant_position"}
    assert s["prediction"]["mde"]["all"] == 0.0 and s["prediction"]["emd"] == pytest.approx(0.0, abs=1e-12)
    assert s["constant_velocity"]["mde"]["all"] == pytest.approx(0.0, abs=1e-6)   # the truth moves uniformly
    assert s["constant_position"]["mde"]["1"] == pytest.approx(0.01 * np.sqrt(3), rel=1e-4)
    with pytest.raises(InputError, match="unknown baseline"):
        compare_sets([_traj(truth, rollout_start=4)], [_traj(truth)], dt=0.1, baselines=("zero",))
