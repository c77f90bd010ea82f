"""Compare two sets of trajectories (a prediction against ground truth), with a baseline.

Every figure is computed for the prediction and for the constant-velocity extrapolation of the
ground truth from the same start frame, so a reader sees at once whether a model beats the trivial
guess. A prediction that diverged (recorded ``diverged_at`` in its metadata, or non-finite values
here) is marked, not fatal: frames from the divergence on repeat its last finite frame, and the
step and reason are listed under ``diverged``.
"""
from __future__ import annotations

import numpy as np

from simengine.errors import InputError
from simengine.io import KINEMATIC_TYPES
from simengine.metrics._core import (
    HORIZONS,
    chamfer_distance,
    constant_velocity,
    horizon_means,
    kinetic_energy,
    position_mse,
    sinkhorn_divergence,
)

CANDIDATES = ("prediction", "constant_velocity")


def _finite_prefix(position: np.ndarray, start: int):
    """Positions with non-finite frames from ``start`` on replaced by the last finite frame, and the
    1-based rollout step of the first non-finite frame (None if all finite)."""
    finite = np.isfinite(position).all(axis=(1, 2))
    bad = np.nonzero(~finite[start:])[0]
    if len(bad) == 0:
        return position, None
    first = start + int(bad[0])
    if first == 0:
        raise InputError("prediction is non-finite in its first frame")
    fixed = position.copy()
    fixed[first:] = fixed[first - 1]
    return fixed, int(bad[0]) + 1


def _frame_scores(candidate, truth, frames, subset, epsilon):
    chamfer, sinkhorn = [], []
    for t in frames:
        a, b = candidate[t][subset], truth[t][subset]
        chamfer.append(chamfer_distance(a, b))
        sinkhorn.append(sinkhorn_divergence(a, b, epsilon))
    return float(np.mean(chamfer)), float(np.mean(sinkhorn))


def compare_trajectory(pred, truth, start: int, *, dt: float, dx: float = 1.0, stride: int = 10,
                       epsilon: float | None = None, max_points: int = 512, seed: int = 0,
                       horizons=HORIZONS) -> dict:
    """Metrics of one predicted `Trajectory` against its ground truth, and of the baseline."""
    if pred.num_particles != truth.num_particles or pred.dim != truth.dim:
        raise InputError(f"prediction has {pred.num_particles} particles in {pred.dim}D, ground truth "
                         f"{truth.num_particles} in {truth.dim}D")
    if not np.array_equal(pred.particle_type, truth.particle_type):
        raise InputError("prediction and ground truth have different particle types")
    frames = min(pred.num_frames, truth.num_frames)
    if not 2 <= start < frames:
        raise InputError(f"start = {start} is outside the allowed range [2, {frames - 1}] for "
                         f"{frames}-frame trajectories")
    true_pos = truth.position[:frames].astype(np.float64)
    pred_pos, nonfinite_at = _finite_prefix(pred.position[:frames].astype(np.float64), start)
    fixed = np.isin(truth.particle_type, [int(t) for t in KINEMATIC_TYPES])
    candidates = {"prediction": pred_pos, "constant_velocity": constant_velocity(true_pos, start, fixed)}
    rng = np.random.default_rng(seed)
    n = truth.num_particles
    subset = np.sort(rng.choice(n, max_points, replace=False)) if n > max_points else np.arange(n)
    score_frames = list(range(start, frames, stride))
    if score_frames[-1] != frames - 1:
        score_frames.append(frames - 1)
    true_energy = kinetic_energy(true_pos[start - 1:], dt, dx)
    out = {"name": truth.metadata.get("name"), "steps": frames - start}
    diverged_at = pred.metadata.get("diverged_at") or nonfinite_at
    out["diverged_at"] = diverged_at
    out["reason"] = pred.metadata.get("divergence_reason") or (
        f"non-finite prediction at step {nonfinite_at}" if nonfinite_at else None)
    for key, candidate in candidates.items():
        per_step = position_mse(candidate[start:], true_pos[start:])
        energy = kinetic_energy(candidate[start - 1:], dt, dx)
        chamfer, sinkhorn = _frame_scores(candidate, true_pos, score_frames, subset, epsilon)
        out[key] = {"mse": horizon_means(per_step, horizons), "per_step": per_step.tolist(),
                    "chamfer": chamfer, "sinkhorn": sinkhorn,
                    "kinetic_energy_mse": float(((energy - true_energy) ** 2).mean()),
                    "kinetic_energy": energy.tolist()}
    out["true_kinetic_energy"] = true_energy.tolist()
    return out


def compare_sets(preds, truths, start: int | None = None, progress: bool = False, **kwargs) -> dict:
    """Compare lists of predicted and true trajectories (paired by group name, else by order).

    ``start``: first predicted frame (default: each prediction's ``rollout_start`` metadata).
    Keyword arguments go to `compare_trajectory`. Returns the ``metrics.json`` content.
    """
    from tqdm.auto import tqdm

    by_name = {t.metadata.get("name"): t for t in truths}
    pairs = []
    for i, pred in enumerate(preds):
        name = pred.metadata.get("name")
        truth = by_name.get(name) if name in by_name else (truths[i] if i < len(truths) else None)
        if truth is None:
            raise InputError(f"no ground-truth trajectory for prediction {name or i!r}")
        pairs.append((pred, truth))
    results = []
    for pred, truth in tqdm(pairs, desc="compare", unit="traj", disable=not progress):
        s = start if start is not None else pred.metadata.get("rollout_start")
        if s is None:
            raise InputError(f"prediction {pred.metadata.get('name')!r} does not record rollout_start; pass start")
        results.append(compare_trajectory(pred, truth, int(s), **kwargs))
    return {"summary": {key: _aggregate(results, key) for key in CANDIDATES},
            "per_step": {key: _mean_curve([r[key]["per_step"] for r in results]) for key in CANDIDATES},
            "diverged": [{"name": r["name"], "step": r["diverged_at"], "reason": r["reason"]}
                         for r in results if r["diverged_at"]],
            "trajectories": results,
            "settings": {"num_trajectories": len(results), **{k: v for k, v in kwargs.items()
                                                              if k in ("dt", "dx", "stride", "epsilon", "max_points")}}}


def _aggregate(results, key) -> dict:
    horizons = sorted({h for r in results for h in r[key]["mse"]},
                      key=lambda h: (h == "all", int(h) if h != "all" else 0))
    return {"mse": {h: float(np.mean([r[key]["mse"][h] for r in results if h in r[key]["mse"]])) for h in horizons},
            **{m: float(np.mean([r[key][m] for r in results])) for m in ("chamfer", "sinkhorn", "kinetic_energy_mse")}}


def _mean_curve(curves) -> list:
    length = max(len(c) for c in curves)
    return [float(np.mean([c[k] for c in curves if k < len(c)])) for k in range(length)]
