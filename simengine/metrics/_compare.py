"""Compare two sets of trajectories (a prediction against ground truth), with a baseline.

Every figure is computed for the prediction and for trivial baselines built from the ground truth up to the
same start frame (constant velocity by default; constant position, the baseline of the deformable-object papers,
on request), so a reader sees at once whether a model beats the trivial guess. A prediction that diverged
(recorded ``diverged_at`` in its metadata, or non-finite values here) is marked, not fatal: frames from the
divergence on repeat its last finite frame, and the step and reason are listed under ``diverged``.
"""
from __future__ import annotations

import numpy as np

from simengine.errors import InputError, check_range
from simengine.io import KINEMATIC_TYPES
from simengine.metrics._core import (
    HORIZONS,
    LB_STRIDE_INFER,
    chamfer_distance,
    constant_position,
    constant_velocity,
    earth_movers_distance,
    horizon_means,
    kinetic_energy,
    mean_distance_error,
    position_mse,
    sinkhorn_divergence,
)

#: baselines by name: (truth (T, N, D), start, fixed (N,) bool) -> (T, N, D)
BASELINES = {"constant_velocity": constant_velocity, "constant_position": constant_position}
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


def compare_trajectory(pred, truth, start: int, *, dt: float, dx: float = 1.0, stride: int = LB_STRIDE_INFER,
                       epsilon: float | None = None, max_points: int | None = 512, seed: int = 0,
                       horizons=HORIZONS, box=None, periodic=None, sinkhorn_points: int | None = None,
                       baselines=("constant_velocity",), emd_points: int | None = None) -> dict:
    """Metrics of one predicted `Trajectory` against its ground truth, and of the baseline.

    LagrangeBench's metrics (`simengine.metrics._core`) on the rollout frames ``start ..`` (rollout frame
    k is frame start + k): ``mse`` (horizons below the rollout length, "all"), ``per_step``, ``sinkhorn``
    (mean over rollout frames 0, s, 2s, .. with s = ``stride``, every particle), ``kinetic_energy_mse``
    and ``kinetic_energy`` (velocities inside the rollout at the same frames, ``dt`` the frame interval,
    ``dx`` the dataset's particle spacing). simengine's own figures: ``chamfer`` (same frames, at most
    ``max_points`` particles, None for all) and ``sinkhorn_last`` (the divergence at the last frame).
    ``box``/``periodic`` (D,): minimum-image displacements along periodic axes, as LagrangeBench.
    ``sinkhorn_points``: None (LagrangeBench's definition: every particle) or a cheaper estimate on that many
    particles drawn once per trajectory (the same ones in every frame, for prediction, baseline and truth;
    recorded in the settings and stated in the report).
    ``mde``: mean distance error (mean Euclidean distance between corresponding particles) at the same horizons.
    ``baselines``: names in `BASELINES` scored beside the prediction. ``emd_points``: also the exact earth mover's
    distance (``emd``, mean matched distance) on that many particles drawn once, at the scored frames.
    """
    if pred.num_particles != truth.num_particles or pred.dim != truth.dim:
        raise InputError(f"prediction has {pred.num_particles} particles in {pred.dim}D, ground truth "
                         f"{truth.num_particles} in {truth.dim}D")
    if not np.array_equal(pred.particle_type, truth.particle_type):
        raise InputError("prediction and ground truth have different particle types")
    frames = min(pred.num_frames, truth.num_frames)
    if not 2 <= start < frames:
        raise InputError(f"start = {start} is outside the allowed range [2, {frames - 1}] for "
                         f"{frames}-frame trajectories")
    check_range("stride", stride, 1, None)
    true_pos = truth.position[:frames].astype(np.float64)
    pred_pos, nonfinite_at = _finite_prefix(pred.position[:frames].astype(np.float64), start)
    fixed = np.isin(truth.particle_type, [int(t) for t in KINEMATIC_TYPES])
    unknown = [b for b in baselines if b not in BASELINES]
    if unknown:
        raise InputError(f"unknown baseline(s) {unknown}; allowed: {sorted(BASELINES)}")
    candidates = {"prediction": pred_pos, **{b: BASELINES[b](true_pos, start, fixed) for b in baselines}}
    rng = np.random.default_rng(seed)
    n = truth.num_particles
    subset = np.sort(rng.choice(n, max_points, replace=False)) if max_points and n > max_points else slice(None)
    sk_subset = (np.sort(rng.choice(n, sinkhorn_points, replace=False)) if sinkhorn_points and n > sinkhorn_points
                 else slice(None))
    emd_subset = (np.sort(rng.choice(n, emd_points, replace=False)) if emd_points and n > emd_points
                  else slice(None))

    def divergence(roll, k):
        return sinkhorn_divergence(roll[k][sk_subset], true_roll[k][sk_subset], epsilon, **geometry)
    geometry = dict(box=box, periodic=periodic)
    true_roll = true_pos[start:]
    scored = range(0, len(true_roll), stride)  # rollout frames 0, s, 2s, ...
    true_energy = kinetic_energy(true_roll, dt, dx, stride, **geometry)
    out = {"name": truth.metadata.get("name"), "steps": frames - start}
    diverged_at = pred.metadata.get("diverged_at") or nonfinite_at
    out["diverged_at"] = diverged_at
    out["reason"] = pred.metadata.get("divergence_reason") or (
        f"non-finite prediction at step {nonfinite_at}" if nonfinite_at else None)
    for key, candidate in candidates.items():
        roll = np.asarray(candidate[start:], np.float64)
        per_step = position_mse(roll, true_roll, **geometry)
        energy = kinetic_energy(roll, dt, dx, stride, **geometry)
        sinkhorn = [divergence(roll, k) for k in scored]
        chamfer = [chamfer_distance(roll[k][subset], true_roll[k][subset]) for k in scored]
        mde = mean_distance_error(roll, true_roll, **geometry)
        out[key] = {"mse": horizon_means(per_step, horizons), "per_step": per_step.tolist(),
                    "sinkhorn": float(np.mean(sinkhorn)), "sinkhorn_per_frame": sinkhorn,
                    "sinkhorn_last": (sinkhorn[-1] if scored[-1] == len(roll) - 1  # already scored
                                      else divergence(roll, len(roll) - 1)),
                    "chamfer": float(np.mean(chamfer)),
                    "kinetic_energy_mse": float(((energy - true_energy) ** 2).mean()),
                    "kinetic_energy": energy.tolist(), "mde": horizon_means(mde, horizons),
                    "mde_per_step": mde.tolist()}
        if emd_points:
            out[key]["emd"] = float(np.mean([earth_movers_distance(roll[k][emd_subset], true_roll[k][emd_subset])
                                             for k in scored]))
    out["true_kinetic_energy"] = true_energy.tolist()
    out["scored_frames"] = [start + k for k in scored]
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
    candidates = ("prediction", *kwargs.get("baselines", ("constant_velocity",)))
    results = []
    for pred, truth in tqdm(pairs, desc="compare", unit="traj", disable=not progress):
        s = start if start is not None else pred.metadata.get("rollout_start")
        if s is None:
            raise InputError(f"prediction {pred.metadata.get('name')!r} does not record rollout_start; pass start")
        results.append(compare_trajectory(pred, truth, int(s), **kwargs))
    return {"summary": {key: _aggregate(results, key) for key in candidates},
            "per_step": {key: _mean_curve([r[key]["per_step"] for r in results]) for key in candidates},
            "diverged": [{"name": r["name"], "step": r["diverged_at"], "reason": r["reason"]}
                         for r in results if r["diverged_at"]],
            "trajectories": results,
            "settings": {"num_trajectories": len(results), **{k: v for k, v in kwargs.items()
                                                              if k in ("dt", "dx", "stride", "epsilon", "max_points",
                                                                       "periodic", "sinkhorn_points", "baselines",
                                                                       "emd_points")}}}


def _aggregate(results, key) -> dict:
    horizons = sorted({h for r in results for h in r[key]["mse"]},
                      key=lambda h: (h == "all", int(h) if h != "all" else 0))
    return {**{m: {h: float(np.mean([r[key][m][h] for r in results if h in r[key][m]])) for h in horizons}
               for m in ("mse", "mde")},
            **{m: float(np.mean([r[key][m] for r in results]))
               for m in ("chamfer", "sinkhorn", "sinkhorn_last", "kinetic_energy_mse", "emd") if m in results[0][key]}}


def _mean_curve(curves) -> list:
    length = max(len(c) for c in curves)
    return [float(np.mean([c[k] for c in curves if k < len(c)])) for k in range(length)]
