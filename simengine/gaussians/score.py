"""Tracking error: tracked Gaussian centres against the simulated (ground-truth) Gaussians, in millimetres.

Correspondence. Tracked Gaussians are seeded from a fused point cloud, not from the simulated Gaussians, so
there is no identity between the two sets. At frame 0 each tracked Gaussian ``i`` is attached to its nearest
ground-truth Gaussian ``g(i)`` and keeps its offset in that Gaussian's local frame,
``o_i = R_g(0)ᵀ (x_i(0) − μ_g(0))``; its ground-truth position at frame t is the point carried rigidly by that
Gaussian's position and rotation, ``y_i(t) = μ_g(t) + R_g(t) o_i``, and the tracking error is
``e_i(t) = |x_i(t) − y_i(t)|``. It is 0 at frame 0 by construction; the frame-0 distance ``|o_i|`` (the seeding
error: how far the seeds lie from the simulated Gaussians' centres) is reported apart. In oracle mode (tracked
Gaussians seeded at the ground-truth frame-0 centres, same count) the correspondence is the identity.

Per frame: mean and median error (mm) and the fractions of Gaussians within 5, 10 and 20 mm.
"""

from __future__ import annotations

import numpy as np

from simengine.errors import InputError
from simengine.gaussians.lbs import quat_to_matrix

__all__ = ["tracking_error", "summarise", "THRESHOLDS_MM", "psnr", "mask_iou"]

THRESHOLDS_MM = (5.0, 10.0, 20.0)


def tracking_error(tracked_position, truth_position, truth_rotation, *, oracle: bool = False, match=None) -> dict:
    """Per-frame tracking error of tracked against ground-truth Gaussians (see the module docstring).

    Args:
        tracked_position: (T, N, 3) tracked centres (m).
        truth_position: (T', N', 3) ground-truth centres (m), T' >= T (the first T frames are used).
        truth_rotation: (T', N', 4) ground-truth rotations (w, x, y, z).
        oracle: the correspondence is ``match`` (tracked Gaussian i started at ground-truth Gaussian match[i]; the
            tracker's ``seed_index``), or the identity when ``match`` is None (needs N == N').

    Returns:
        dict with ``error_mm`` (T, N), ``mean_mm`` (T,), ``median_mm`` (T,), ``within`` {threshold: (T,)
        fractions}, ``seed_mm`` (N,) the frame-0 distance to the attached ground-truth Gaussian, ``match`` (N,)
        the attached Gaussians' indices.
    """
    x = np.asarray(tracked_position, np.float64)
    mu = np.asarray(truth_position, np.float64)
    q = np.asarray(truth_rotation, np.float64)
    if x.ndim != 3 or x.shape[2] != 3:
        raise InputError(f"tracked position must be (T, N, 3), got {x.shape}")
    if mu.ndim != 3 or mu.shape[2] != 3 or q.shape != mu.shape[:2] + (4,):
        raise InputError(f"ground truth: position {mu.shape} must be (T, N, 3) and rotation {q.shape} (T, N, 4)")
    T = x.shape[0]
    if mu.shape[0] < T:
        raise InputError(f"tracked trajectory has {T} frames, the ground truth only {mu.shape[0]}")
    mu, q = mu[:T], q[:T]
    if oracle and match is not None:
        match = np.asarray(match, dtype=np.int64)
        if match.shape != (x.shape[1],) or match.min() < 0 or match.max() >= mu.shape[1]:
            raise InputError(f"match must hold {x.shape[1]} indices into the {mu.shape[1]} ground-truth Gaussians")
    elif oracle:
        if mu.shape[1] != x.shape[1]:
            raise InputError(f"oracle correspondence needs as many tracked Gaussians ({x.shape[1]}) as ground-truth "
                             f"ones ({mu.shape[1]})")
        match = np.arange(x.shape[1])
    else:
        from scipy.spatial import cKDTree

        _, match = cKDTree(mu[0]).query(x[0])
    R = quat_to_matrix(q[:, match])  # (T, N, 3, 3)
    offset = np.einsum("nji,nj->ni", R[0], x[0] - mu[0, match])  # R0^T (x0 - mu0)
    carried = mu[:, match] + np.einsum("tnij,nj->tni", R, offset)
    err = np.linalg.norm(x - carried, axis=-1) * 1e3
    return {"error_mm": err, "mean_mm": err.mean(1), "median_mm": np.median(err, 1),
            "within": {th: (err <= th).mean(1) for th in THRESHOLDS_MM},
            "seed_mm": np.linalg.norm(offset, axis=-1) * 1e3, "match": match}


def summarise(result: dict) -> dict:
    """JSON-ready summary of `tracking_error`: per-frame lists and whole-episode means."""
    out = {"frames": int(len(result["mean_mm"])),
           "mean_mm": [float(v) for v in result["mean_mm"]],
           "median_mm": [float(v) for v in result["median_mm"]],
           "within": {f"{th:g}mm": [float(v) for v in result["within"][th]] for th in THRESHOLDS_MM},
           "seed_mean_mm": float(result["seed_mm"].mean()),
           "episode": {"mean_mm": float(result["error_mm"].mean()), "median_mm": float(np.median(result["error_mm"])),
                       "final_mean_mm": float(result["mean_mm"][-1])}}
    for th in THRESHOLDS_MM:
        out["episode"][f"within_{th:g}mm"] = float((result["error_mm"] <= th).mean())
    return out


def psnr(pred, truth, peak: float = 1.0) -> float:
    """Peak signal-to-noise ratio (dB) of two images of one shape with values in [0, ``peak``]: 10 log10(peak² /
    MSE); inf for identical images."""
    pred, truth = np.asarray(pred, np.float64), np.asarray(truth, np.float64)
    if pred.shape != truth.shape:
        raise InputError(f"psnr needs images of one shape, got {pred.shape} and {truth.shape}")
    mse = float(((pred - truth) ** 2).mean())
    return float("inf") if mse == 0 else float(10.0 * np.log10(peak ** 2 / mse))


def mask_iou(pred_alpha, true_alpha, threshold: float = 0.5) -> float:
    """Intersection over union of the masks ``alpha > threshold`` (1 when both are empty)."""
    a, b = np.asarray(pred_alpha) > threshold, np.asarray(true_alpha) > threshold
    if a.shape != b.shape:
        raise InputError(f"mask_iou needs masks of one shape, got {a.shape} and {b.shape}")
    union = int((a | b).sum())
    return 1.0 if union == 0 else float((a & b).sum() / union)
