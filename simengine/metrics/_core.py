"""Rollout metrics: position MSE at horizons, Chamfer distance, Sinkhorn divergence, kinetic energy.

Definitions follow LagrangeBench (Toshev et al., NeurIPS 2023 Datasets & Benchmarks):

* Position MSE of rollout step k: MSE_k = mean over particles i and axes d of (x̂_ikd - x_ikd)²;
  the MSE *at horizon n* is the mean of MSE_1..MSE_n, and "all" the mean over the whole rollout.
* Kinetic energy of a frame from finite-difference velocities v = (x_{t+1} - x_t)/Δt:
  E_t = Σ_i |v_i|² · dx^D; reported as the MSE between the predicted and true series.
* Sinkhorn divergence with uniform weights and squared-Euclidean cost C_ij = |x_i - y_j|²,
  debiased (Feydy et al., AISTATS 2019): S(a, b) = OT_ε(a, b) - ½ OT_ε(a, a) - ½ OT_ε(b, b), where
  OT_ε is the entropic transport cost min_P <P, C> + ε KL(P | a⊗b), computed by log-domain
  Sinkhorn iterations on the dual potentials with ε-annealing. S → W₂² as ε → 0. Default
  ε = 0.05 · mean(C) (the default scale of the OTT library LagrangeBench uses).
* Chamfer distance: mean_i min_j |x_i - y_j|² + mean_j min_i |x_i - y_j|².

The constant-velocity baseline continues each particle with its last observed velocity:
x̂_{s+k} = x_{s-1} + k (x_{s-1} - x_{s-2}), s the first predicted frame.
"""
from __future__ import annotations

import math

import numpy as np

from simengine.errors import InputError

HORIZONS = (1, 5, 10, 20, 50, 100)


def position_mse(pred: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """Per-frame MSE (T,) of positions (T, N, D): mean over particles and axes."""
    pred, truth = np.asarray(pred, np.float64), np.asarray(truth, np.float64)
    if pred.shape != truth.shape:
        raise InputError(f"prediction shape {pred.shape} differs from ground truth shape {truth.shape}")
    return ((pred - truth) ** 2).mean(axis=(1, 2))


def horizon_means(per_step: np.ndarray, horizons=HORIZONS) -> dict:
    """{"1": mean of steps 1..1, "5": ..., "all": mean of every step} for horizons within the rollout."""
    per_step = np.asarray(per_step, np.float64)
    out = {str(n): float(per_step[:n].mean()) for n in horizons if n <= len(per_step)}
    out["all"] = float(per_step.mean()) if len(per_step) else float("nan")
    return out


def chamfer_distance(a, b) -> float:
    """Symmetric Chamfer distance between point sets a (N, D) and b (M, D) (squared distances)."""
    from scipy.spatial import cKDTree

    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    to_b, _ = cKDTree(b).query(a)
    to_a, _ = cKDTree(a).query(b)
    return float((to_b ** 2).mean() + (to_a ** 2).mean())


def _squared_distances(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    return np.maximum((x * x).sum(1)[:, None] + (y * y).sum(1)[None, :] - 2.0 * x @ y.T, 0.0)


def _softmin(eps: float, cost: np.ndarray, log_weight: np.ndarray, potential: np.ndarray) -> np.ndarray:
    """-ε log Σ_j w_j exp((h_j - C_ij)/ε) for every i: the Sinkhorn update of the other side."""
    from scipy.special import logsumexp

    return -eps * logsumexp(log_weight[None, :] + (potential[None, :] - cost) / eps, axis=1)


def sinkhorn_potentials(x: np.ndarray, y: np.ndarray, epsilon: float, *, scaling: float = 0.5,
                        tol: float = 1e-7, max_iter: int = 1000) -> tuple:
    """Dual potentials of OT_ε(x, y), OT_ε(x, x), OT_ε(y, y) for uniform weights, cost |x - y|².

    Symmetrised log-domain Sinkhorn with ε-annealing (Feydy et al. 2019, sec. 3.3): starting at
    ε₀ = max C, every iteration replaces each potential by the average of itself and its Sinkhorn
    update, h <- (h + T(h'))/2, and shrinks ε by ``scaling`` until it reaches ``epsilon``; at
    ``epsilon`` the iterations go on until none of the three dual values moves by more than
    ``tol`` · max C (at most ``max_iter``); a last simultaneous plain step ends it. The updates are
    simultaneous, so for x = y all potentials coincide and S_ε(x, x) = 0 exactly. Returns
    (f_xy, g_xy, p_x, p_y): OT_ε(x, y) = <a, f_xy> + <b, g_xy>, OT_ε(x, x) = 2 <a, p_x>, and
    OT_ε(y, y) = 2 <b, p_y>.
    """
    c_xy, c_xx, c_yy = _squared_distances(x, y), _squared_distances(x, x), _squared_distances(y, y)
    scale = max(float(c_xy.max()), float(c_xx.max()), float(c_yy.max()), 1e-300)
    log_a = np.full(x.shape[0], -math.log(x.shape[0]))
    log_b = np.full(y.shape[0], -math.log(y.shape[0]))

    def step(eps, f, g, p, q):
        return (_softmin(eps, c_xy, log_b, g), _softmin(eps, c_xy.T, log_a, f),
                _softmin(eps, c_xx, log_a, p), _softmin(eps, c_yy, log_b, q))

    def values(f, g, p, q):
        return np.array([f.mean() + g.mean(), p.mean(), q.mean()])

    eps = max(scale, epsilon)
    f, g, p, q = step(eps, 0 * log_a, 0 * log_b, 0 * log_a, 0 * log_b)
    last = values(f, g, p, q)
    for _ in range(max_iter):
        eps = max(epsilon, eps * scaling)
        f, g, p, q = (0.5 * (old + new) for old, new in zip((f, g, p, q), step(eps, f, g, p, q)))
        current = values(f, g, p, q)
        converged = float(np.abs(current - last).max()) < tol * scale
        last = current
        if eps == epsilon and converged:
            break
    return step(epsilon, f, g, p, q)


def entropic_ot(x, y, epsilon: float, **kwargs) -> float:
    """OT_ε(x, y) = min_P <P, C> + ε KL(P | a⊗b), uniform weights, cost |x - y|² (dual value)."""
    f, g, _, _ = sinkhorn_potentials(np.asarray(x, np.float64), np.asarray(y, np.float64), epsilon, **kwargs)
    return float(f.mean() + g.mean())


def sinkhorn_divergence(a, b, epsilon: float | None = None, **kwargs) -> float:
    """Debiased Sinkhorn divergence S_ε(a, b) ≥ 0 between uniform point sets (see module docstring).

    ``kwargs`` go to `sinkhorn_potentials` (scaling, tol, max_iter).
    """
    x, y = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if epsilon is None:
        epsilon = 0.05 * float(_squared_distances(x, y).mean())
    if epsilon <= 0:
        return 0.0
    f, g, p, q = sinkhorn_potentials(x, y, epsilon, **kwargs)
    return max(float((f - p).mean() + (g - q).mean()), 0.0)


def kinetic_energy(position: np.ndarray, dt: float, dx: float = 1.0) -> np.ndarray:
    """E_t = Σ_i |(x_{t+1} - x_t)/Δt|² · dx^D for each pair of consecutive frames: (T-1,)."""
    position = np.asarray(position, np.float64)
    velocity = np.diff(position, axis=0) / dt
    return (velocity ** 2).sum(axis=(1, 2)) * dx ** position.shape[2]


def constant_velocity(truth: np.ndarray, start: int, fixed: np.ndarray | None = None) -> np.ndarray:
    """Truth frames before ``start``, then x_{start-1} + k·(x_{start-1} - x_{start-2}); ``fixed``
    (N,) bool particles keep their true positions."""
    if start < 2:
        raise InputError(f"constant-velocity baseline needs start >= 2 observed frames, got start = {start}")
    truth = np.asarray(truth, np.float64)
    out = truth.copy()
    k = np.arange(1, truth.shape[0] - start + 1, dtype=np.float64)[:, None, None]
    out[start:] = truth[start - 1] + k * (truth[start - 1] - truth[start - 2])
    if fixed is not None:
        out[:, fixed] = truth[:, fixed]
    return out.astype(np.float32)
