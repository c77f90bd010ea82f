"""LagrangeBench's metric definitions (lagrangebench 0.2.0, evaluate/metrics.py; OTT 0.4.7), by hand.

A 3-particle, 5-frame rollout: the ground truth moves uniformly, the prediction is the ground truth
translated by t_k = (0.1 (k+1)², 0) at rollout frame k. With squared-Euclidean cost and uniform weights a
translation changes OT_ε(x, x + t) by exactly |t|² (the linear terms go into the potentials), so the
Sinkhorn divergence of frame k is |t_k|² = 0.01 (k+1)⁴, whatever ε.
"""
import numpy as np
import pytest

from simengine.io import ParticleType, Trajectory
from simengine.metrics import compare_trajectory, horizon_means, kinetic_energy, position_mse, sinkhorn_divergence

DT, DX = 0.5, 0.1  # frame interval, particle spacing (2D: e_kin scale dx² = 0.01)
BASE = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 2.0]])
TRUTH = np.stack([BASE + [0.1 * k, 0.0] for k in range(5)])  # v = 0.1 / 0.5 = 0.2 for every particle
SHIFT = np.array([[0.1 * (k + 1) ** 2, 0.0] for k in range(5)])
PRED = TRUTH + SHIFT[:, None, :]

# MSE_{k+1} = mean over 3 particles x 2 axes of d² = (0.1 (k+1)²)² / 2
MSE = [0.005, 0.08, 0.405, 1.28, 3.125]
# Sinkhorn per rollout frame: |t_k|²
SINKHORN = [0.01, 0.16, 0.81, 2.56, 6.25]
# velocities inside the rollout, (R_{k+1} - R_k) / dt: (0.1 + 0.1 (2k + 3)) / 0.5 = 0.8, 1.2, 1.6, 2.0;
# E = 3 |v|² dx²: prediction 0.0192, 0.0432, 0.0768, 0.12; truth 3 * 0.04 * 0.01 = 0.0012
E_PRED, E_TRUE = [0.0192, 0.0432, 0.0768, 0.12], 0.0012
HAND = {
    # stride 1: Sinkhorn on frames 0..4, e_kin from velocities 0..3
    1: {"sinkhorn": (0.01 + 0.16 + 0.81 + 2.56 + 6.25) / 5,  # 1.958
        "e_kin": (0.018**2 + 0.042**2 + 0.0756**2 + 0.1188**2) / 4,  # 5.4792e-3
        "frames": [0, 1, 2, 3, 4]},
    # stride 2: Sinkhorn on frames 0, 2, 4; velocities R1 - R0 and R3 - R2
    2: {"sinkhorn": (0.01 + 0.81 + 6.25) / 3,  # 2.35667
        "e_kin": (0.018**2 + 0.0756**2) / 2,  # 3.01968e-3
        "frames": [0, 2, 4]},
    # stride 3: frames 0 and 3 only (the last frame is not added); velocities R1 - R0 and R4 - R3
    3: {"sinkhorn": (0.01 + 2.56) / 2, "e_kin": (0.018**2 + 0.1188**2) / 2, "frames": [0, 3]},
}


def test_position_mse_and_horizons_by_hand():
    np.testing.assert_allclose(position_mse(PRED, TRUTH), MSE, rtol=1e-12)
    # mse{n} only for n below the rollout length (5): mse1, not mse5; "all" is the whole rollout
    assert horizon_means(np.array(MSE)) == pytest.approx({"1": 0.005, "all": 4.895 / 5})


@pytest.mark.parametrize("stride", [1, 2, 3])
def test_kinetic_energy_by_hand(stride):
    e_pred, e_true = kinetic_energy(PRED, DT, DX, stride), kinetic_energy(TRUTH, DT, DX, stride)
    k = range(0, 4, stride)
    np.testing.assert_allclose(e_pred, [E_PRED[i] for i in k], rtol=1e-12)
    np.testing.assert_allclose(e_true, [E_TRUE] * len(k), rtol=1e-12)
    assert ((e_pred - e_true) ** 2).mean() == pytest.approx(HAND[stride]["e_kin"], rel=1e-12)


def test_sinkhorn_of_a_translation_is_its_squared_length():
    for k in range(5):
        assert sinkhorn_divergence(PRED[k], TRUTH[k]) == pytest.approx(SINKHORN[k], rel=5e-4)
    assert sinkhorn_divergence(TRUTH[2], TRUTH[2]) == 0.0


@pytest.mark.parametrize("stride", [1, 2, 3])
def test_compare_trajectory_uses_lagrangebench_frames(stride):
    """Two observed frames, then the 5-frame rollout: every figure as LagrangeBench computes it."""
    observed = np.stack([BASE - [0.2, 0.0], BASE - [0.1, 0.0]])  # the truth's uniform motion before frame 0
    truth = Trajectory(np.concatenate([observed, TRUTH]), np.full(3, ParticleType.FLUID), dt=DT,
                       metadata={"name": "00000"})
    pred = Trajectory(np.concatenate([observed, PRED]), truth.particle_type, dt=DT, metadata={"name": "00000"})
    out = compare_trajectory(pred, truth, start=2, dt=DT, dx=DX, stride=stride)
    got = out["prediction"]
    assert out["scored_frames"] == [2 + k for k in HAND[stride]["frames"]]
    np.testing.assert_allclose(got["per_step"], MSE, rtol=1e-6)  # positions are stored as float32
    assert got["mse"]["1"] == pytest.approx(0.005, rel=1e-6) and set(got["mse"]) == {"1", "all"}
    assert got["sinkhorn"] == pytest.approx(HAND[stride]["sinkhorn"], rel=5e-4)
    assert got["sinkhorn_last"] == pytest.approx(6.25, rel=5e-4)  # simengine's variant, its own name
    assert got["kinetic_energy_mse"] == pytest.approx(HAND[stride]["e_kin"], rel=1e-5)
    # the truth's constant-velocity continuation is exact here: every baseline figure is 0
    assert out["constant_velocity"]["mse"]["all"] == pytest.approx(0.0, abs=1e-12)
    assert out["constant_velocity"]["kinetic_energy_mse"] == pytest.approx(0.0, abs=1e-12)


def test_sinkhorn_matches_ott_reference_values():
    """Values of ott.tools.sinkhorn_divergence as LagrangeBench 0.2.0 calls it (OTT 0.4.7, jax 0.4.29,
    float64 enabled as in LagrangeBench's default config): same solver, same stopping point."""
    rng = np.random.default_rng(7)
    x, y = rng.random((12, 2)), rng.random((9, 2)) * 0.8 + 0.1
    x3 = rng.random((20, 3))
    y3 = x3 + rng.normal(0, 0.05, (20, 3))
    assert sinkhorn_divergence(x, y) == pytest.approx(0.057269576956620105, rel=1e-9)  # 180 iterations
    assert sinkhorn_divergence(x3, y3) == pytest.approx(0.005885280597190054, rel=1e-9)  # 710 iterations


def test_periodic_axes_use_the_minimum_image():
    box, periodic = [1.0, 1.0], [True, False]
    a = np.array([[[0.99, 0.5]], [[0.02, 0.5]]])  # crosses x = 1 between the two frames
    b = np.array([[[0.01, 0.5]], [[0.03, 0.5]]])
    np.testing.assert_allclose(position_mse(a, b, box, periodic), [0.02**2 / 2, 0.01**2 / 2], rtol=1e-9)
    assert kinetic_energy(a, 1.0, 1.0, box=box, periodic=periodic)[0] == pytest.approx(0.03**2, rel=1e-9)
