"""Sampling-based model-predictive planning with a learned (or any) dynamics model.

Model-predictive path integral control (MPPI; Williams et al., "Information-Theoretic Model Predictive Control",
IEEE T-RO 2018), in the form GS-Dynamics and PGND use for manipulation: K perturbed copies of the current plan are
scored by a cost on the model's predicted outcome, and the plan moves to their softmin-weighted mean

    u ← Σ_k w_k u_k,   w_k = exp(-(c_k - min c) / λ) / Σ_j exp(-(c_j - min c) / λ),   u_k = u + ε_k,  ε_k ~ N(0, σ²)

for a few iterations with σ shrinking. The plan is an array of any shape (here: gripper waypoints); the cost
function takes a batch of plans (K, ...) and returns (K,) costs, so a learned model rolls all candidates out at
once.
"""
from __future__ import annotations

import numpy as np

from simengine.errors import InputError, check_range


def mppi(cost, plan, *, samples: int = 32, iterations: int = 5, sigma: float = 0.05, decay: float = 0.7,
         temperature: float = 0.1, seed: int = 0, progress=None) -> tuple[np.ndarray, list]:
    """Minimise ``cost`` over plans near ``plan`` by MPPI.

    Args:
        cost: (K, *plan.shape) plans -> (K,) costs.
        plan: initial plan (any shape, float).
        samples: K candidates per iteration (the current plan is always one of them, unperturbed).
        sigma: initial perturbation standard deviation (plan units), multiplied by ``decay`` per iteration.
        temperature: λ relative to the spread of the costs of each iteration (weights use (c - min) / (λ · std)).
    Returns:
        (best plan found, history of (iteration, best cost, mean-plan cost)).
    """
    check_range("samples", samples, 2, None)
    check_range("iterations", iterations, 1, None)
    check_range("temperature", temperature, 0.0, None, low_open=True)
    plan = np.asarray(plan, dtype=np.float64)
    if not np.all(np.isfinite(plan)):
        raise InputError("mppi: the initial plan has non-finite values")
    rng = np.random.default_rng(seed)
    best, best_cost, history = plan.copy(), np.inf, []
    for it in range(int(iterations)):
        noise = rng.normal(0.0, sigma, size=(samples,) + plan.shape)
        noise[0] = 0.0
        candidates = plan[None] + noise
        costs = np.asarray(cost(candidates), dtype=np.float64).reshape(samples)
        costs = np.where(np.isfinite(costs), costs, np.inf)
        if not np.isfinite(costs).any():
            raise InputError(f"mppi: every candidate's cost is non-finite at iteration {it}")
        k = int(np.argmin(costs))
        if costs[k] < best_cost:
            best, best_cost = candidates[k].copy(), float(costs[k])
        finite = np.isfinite(costs)
        spread = float(costs[finite].std()) or 1.0
        weights = np.where(finite, np.exp(-(costs - costs[k]) / (temperature * spread)), 0.0)
        weights /= weights.sum()
        plan = np.tensordot(weights, candidates, axes=1)
        history.append((it, best_cost, float(costs[0])))
        sigma *= decay
        if progress is not None:
            progress(it, best_cost)
    return best, history
