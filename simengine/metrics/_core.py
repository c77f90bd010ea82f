"""Rollout metrics: position MSE at horizons, Sinkhorn divergence and kinetic energy as LagrangeBench
defines them, and Chamfer distance.

The definitions are LagrangeBench's (Toshev et al., NeurIPS 2023 Datasets & Benchmarks; version 0.2.0,
``lagrangebench/evaluate/metrics.py`` with OTT 0.4.7). A *rollout* is the L predicted frames
R_0 .. R_{L-1} (R_0 is the first predicted frame, rollout step 1) and the ground truth G_0 .. G_{L-1} of
the same frames; d(p, q) is the displacement p - q (minimum image along periodic axes, LagrangeBench's
``case.displacement``); s >= 1 is the metrics stride (LagrangeBench: 1 at inference, 10 during training
validation).

* Position MSE of rollout step k+1: MSE_{k+1} = (1 / (N D)) Σ_i Σ_d d(R_k, G_k)_{id}², over all N
  particles (walls included, as LagrangeBench does) and D axes. ``mse{n}`` (horizon n) is the mean of
  MSE_1 .. MSE_n, reported only for n < L (LagrangeBench's ``if i < len``); "all" is the mean over the
  whole rollout (its "loss").
* Kinetic energy: velocities are differences *inside* the rollout, at the scored frames only,
  v_k = d(R_{ks+1}, R_{ks}) / Δt for k = 0, 1, .. while ks + 1 <= L - 1 (never from the last observed
  frame to the first predicted one); E_k = Σ_i |v_{ik}|² · dx^D, with Δt = dt · write_every (the frame
  interval) and dx the dataset's particle spacing; reported as the MSE over k of E_k(pred) - E_k(true).
  No ½ and no mass, as LagrangeBench.
* Sinkhorn divergence on rollout frames 0, s, 2s, .. (R_{ks} against G_{ks}), averaged over them:
  uniform weights a = 1/N, b = 1/M; squared-Euclidean cost C_ij = |d(x_i, y_j)|² rounded to float32
  (LagrangeBench builds its distance matrices in float32); ε = 0.05 · mean(C_xy), shared by the three
  terms (OTT's default relative ε, ``share_epsilon``);
      S_ε(x, y) = OT_ε(x, y) - ½ OT_ε(x, x) - ½ OT_ε(y, y),
      OT_ε(x, y) = <a, f̂> + <b, ĝ> + ε (1 - Σ_ij P_ij),  f̂ = f - ε log a, ĝ = g - ε log b,
      P_ij = exp((f_i + g_j - C_ij) / ε),
  the dual value OTT reports (``reg_ot_cost``). The potentials come from OTT's Sinkhorn, reproduced
  step for step: f = g = 0 at the start; for OT_ε(x, y) alternating updates
      g_j <- ε log b_j - ε log Σ_i exp((f_i - C_ij)/ε),   then   f_i <- ε log a_i - ε log Σ_j exp((g_j - C_ij)/ε);
  for the symmetric terms both updates from the old potentials, each averaged with its old value
  (momentum 0.5, ``parallel_dual_updates``). The error (the L1 deviation of the plan's column marginal
  from b; for the symmetric terms row plus column deviations) is evaluated every 10th iteration, and the
  iterations stop at the first such check below the threshold 1e-4 (LagrangeBench's
  ``sinkhorn_kwargs={"threshold": 1e-4}``), at most 2000 iterations. S is not clipped at 0.
* Chamfer distance (simengine's, not LagrangeBench's): mean_i min_j |x_i - y_j|² + mean_j min_i |x_i - y_j|².

Variants that are not LagrangeBench's have their own names in `simengine.metrics.compare_trajectory`
(e.g. ``sinkhorn_last``, the divergence at the last frame).

The constant-velocity baseline continues each particle with its last observed velocity:
x̂_{s+k} = x_{s-1} + k (x_{s-1} - x_{s-2}), s the first predicted frame.
"""
from __future__ import annotations

import math

import numpy as np

from simengine.errors import InputError

HORIZONS = (1, 5, 10, 20, 50, 100)


LB_STRIDE_INFER, LB_STRIDE_TRAIN = 1, 10  # LagrangeBench's metrics strides: inference, training validation
LB_SINKHORN_THRESHOLD, LB_SINKHORN_MAX_ITER, LB_SINKHORN_CHECK_EVERY = 1e-4, 2000, 10


def displacement(p: np.ndarray, q: np.ndarray, box=None, periodic=None) -> np.ndarray:
    """p - q in float64, with the minimum image along ``periodic`` (D,) axes of side lengths ``box`` (D,)."""
    d = np.asarray(p, np.float64) - np.asarray(q, np.float64)
    if periodic is not None and np.any(periodic):
        wrap = np.asarray(periodic, dtype=bool)
        side = np.asarray(box, np.float64)[wrap]
        d[..., wrap] -= side * np.round(d[..., wrap] / side)
    return d


def position_mse(pred: np.ndarray, truth: np.ndarray, box=None, periodic=None) -> np.ndarray:
    """Per-frame MSE (T,) of positions (T, N, D): mean over particles and axes (see the module docstring)."""
    pred, truth = np.asarray(pred, np.float64), np.asarray(truth, np.float64)
    if pred.shape != truth.shape:
        raise InputError(f"prediction shape {pred.shape} differs from ground truth shape {truth.shape}")
    return (displacement(pred, truth, box, periodic) ** 2).mean(axis=(1, 2))


def horizon_means(per_step: np.ndarray, horizons=HORIZONS) -> dict:
    """{"1": mean of steps 1..1, "5": ..., "all": mean of every step}; horizon n only for n below the
    rollout length L (LagrangeBench reports ``mse{n}`` only for n < L)."""
    per_step = np.asarray(per_step, np.float64)
    out = {str(n): float(per_step[:n].mean()) for n in horizons if n < len(per_step)}
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


def sinkhorn_divergence(a, b, epsilon: float | None = None, *, threshold: float = LB_SINKHORN_THRESHOLD,
                        max_iter: int = LB_SINKHORN_MAX_ITER, box=None, periodic=None) -> float:
    """LagrangeBench's Sinkhorn divergence S_ε(a, b) between uniform point sets a (N, D), b (M, D).

    OTT's solver reproduced (see the module docstring): ε = 0.05 · mean cost unless given, float32 costs,
    stop at the first check (every 10 iterations) with marginal error below ``threshold``. Identical
    sets give 0 exactly. ``box``/``periodic``: minimum-image costs along periodic axes.
    """
    x, y = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if x.shape == y.shape and np.array_equal(x, y):
        return 0.0
    c_xy = _float32_cost(x, y, box, periodic)
    if epsilon is None:
        epsilon = 0.05 * float(c_xy.mean())
    if epsilon <= 0:
        return 0.0
    c_xx, c_yy = _float32_cost(x, x, box, periodic), _float32_cost(y, y, box, periodic)
    run = dict(threshold=threshold, max_iter=max_iter)
    return float(ott_reg_cost(c_xy, epsilon, symmetric=False, **run)
                 - 0.5 * (ott_reg_cost(c_xx, epsilon, symmetric=True, **run)
                          + ott_reg_cost(c_yy, epsilon, symmetric=True, **run)))


def _float32_cost(x: np.ndarray, y: np.ndarray, box=None, periodic=None) -> np.ndarray:
    """|d(x_i, y_j)|² (N, M), computed axis by axis in float64, rounded to float32, returned as float64."""
    cost = np.zeros((len(x), len(y)))
    for axis in range(x.shape[1]):
        d = x[:, None, axis] - y[None, :, axis]
        if periodic is not None and periodic[axis]:
            d -= box[axis] * np.round(d / box[axis])
        cost += d * d
    return cost.astype(np.float32).astype(np.float64)


def ott_reg_cost(cost: np.ndarray, epsilon: float, *, symmetric: bool, threshold: float = LB_SINKHORN_THRESHOLD,
                 max_iter: int = LB_SINKHORN_MAX_ITER, check_every: int = LB_SINKHORN_CHECK_EVERY) -> float:
    """OT_ε of uniform weights over ``cost`` (N, M) by OTT's Sinkhorn iterations (module docstring);
    ``symmetric``: a symmetric cost of a set against itself (parallel updates with momentum 0.5).

    Runs on scalings u = exp(f/ε), v = exp(g/ε) with the kernel exp(-C/ε) when no row or column of it is
    below e^-300 (the same iterates as OTT's log-domain ones), else on the potentials in the log domain.
    """
    n, m = cost.shape
    log_a, log_b = np.full(n, -math.log(n)), np.full(m, -math.log(m))
    scaled = cost / epsilon
    if max(scaled.min(axis=1).max(), scaled.min(axis=0).max()) < 300.0:
        f, g, mass = _sinkhorn_scaling(np.exp(-scaled), np.exp(log_a), np.exp(log_b), symmetric, threshold,
                                       max_iter, check_every)
        f, g = epsilon * f, epsilon * g
    else:
        f, g, mass = _sinkhorn_log(scaled, log_a, log_b, symmetric, threshold, max_iter, check_every)
        f, g = epsilon * f, epsilon * g
    a, b = np.exp(log_a), np.exp(log_b)
    return float((a * (f - epsilon * log_a)).sum() + (b * (g - epsilon * log_b)).sum() + epsilon * (1.0 - mass))


def _sinkhorn_scaling(kernel, a, b, symmetric, threshold, max_iter, check_every):
    """(log u, log v, Σ P) after OTT's iterations on scalings (f/ε = log u, g/ε = log v)."""
    u, v = np.ones(len(a)), np.ones(len(b))
    for it in range(max_iter):
        if symmetric:  # parallel updates from the old scalings, geometric mean with them (momentum 0.5)
            v, u = np.sqrt(v * b / (kernel.T @ u)), np.sqrt(u * a / (kernel @ v))
        else:
            v = b / (kernel.T @ u)
            u = a / (kernel @ v)
        if it % check_every == check_every - 1 or it == max_iter - 1:
            col = v * (kernel.T @ u)
            err = np.abs(col - b).sum()
            if symmetric:
                err += np.abs(u * (kernel @ v) - a).sum()
            if err < threshold:
                break
    return np.log(u), np.log(v), float(u @ kernel @ v)


def _sinkhorn_log(scaled, log_a, log_b, symmetric, threshold, max_iter, check_every):
    """The same iterations on potentials over ε (f/ε, g/ε), log-sum-exp throughout."""
    from scipy.special import logsumexp

    def new_g(f):  # g_j/ε = log b_j - log Σ_i exp(f_i/ε - C_ij/ε)
        return log_b - logsumexp(f[:, None] - scaled, axis=0)

    def new_f(g):
        return log_a - logsumexp(g[None, :] - scaled, axis=1)

    def log_plan(f, g):
        return f[:, None] + g[None, :] - scaled

    f, g = np.zeros(len(log_a)), np.zeros(len(log_b))
    for it in range(max_iter):
        if symmetric:
            g, f = 0.5 * (g + new_g(f)), 0.5 * (f + new_f(g))
        else:
            g = new_g(f)
            f = new_f(g)
        if it % check_every == check_every - 1 or it == max_iter - 1:
            lp = log_plan(f, g)
            err = np.abs(np.exp(logsumexp(lp, axis=0)) - np.exp(log_b)).sum()
            if symmetric:
                err += np.abs(np.exp(logsumexp(lp, axis=1)) - np.exp(log_a)).sum()
            if err < threshold:
                break
    return f, g, float(np.exp(logsumexp(log_plan(f, g))))


def kinetic_energy(position: np.ndarray, dt: float, dx: float = 1.0, stride: int = 1, box=None,
                   periodic=None) -> np.ndarray:
    """LagrangeBench's kinetic energy of a rollout (L, N, D): E_k = Σ_i |d(x_{ks+1}, x_{ks}) / Δt|² · dx^D
    for k = 0, 1, .. while ks + 1 <= L - 1, ``dt`` = Δt the frame interval; (ceil((L-1)/s),)."""
    position = np.asarray(position, np.float64)
    if stride < 1:
        raise InputError(f"stride = {stride!r} is outside the allowed range [1, inf)")
    velocity = displacement(position[1::stride], position[0:-1:stride], box, periodic) / dt
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


def constant_position(truth: np.ndarray, start: int, fixed: np.ndarray | None = None) -> np.ndarray:
    """Truth frames before ``start``, then the last observed frame x_{start-1} held (the baseline GS-Dynamics' and
    PGND's papers compare against); ``fixed`` (N,) bool particles keep their true positions."""
    if start < 1:
        raise InputError(f"constant-position baseline needs start >= 1 observed frame, got start = {start}")
    truth = np.asarray(truth, np.float64)
    out = truth.copy()
    out[start:] = truth[start - 1]
    if fixed is not None:
        out[:, fixed] = truth[:, fixed]
    return out.astype(np.float32)


def mean_distance_error(pred: np.ndarray, truth: np.ndarray, box=None, periodic=None) -> np.ndarray:
    """Per frame mean Euclidean distance between corresponding particles (MDE, PGND's metric): (T,)."""
    return np.linalg.norm(displacement(pred, truth, box, periodic), axis=-1).mean(axis=-1)


def earth_movers_distance(a, b) -> float:
    """Mean distance of the optimal one-to-one matching of equal-size point sets a, b (N, D) (EMD with unit
    masses, exact by the Hungarian algorithm: O(N³), use a few hundred points)."""
    from scipy.optimize import linear_sum_assignment
    from scipy.spatial.distance import cdist

    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a.shape != b.shape:
        raise InputError(f"EMD needs point sets of one size, got {a.shape} and {b.shape}")
    cost = cdist(a, b)
    rows, cols = linear_sum_assignment(cost)
    return float(cost[rows, cols].mean())
