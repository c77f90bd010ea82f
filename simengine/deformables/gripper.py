"""Grippers: keyframed rigid poses that grasp and release particles.

A gripper follows keyframes ``(t, position, quaternion, closed)``: its position is interpolated linearly and
its orientation by spherical linear interpolation (slerp) between the keyframes around ``t``; before the
first keyframe and after the last it holds still. Quaternions are (x, y, z, w), as in Warp and SciPy.
`GripperControl` carries every gripper's target pose and state at the end of one simulator step: the
step moves each gripper from its pose in the state to that target, substep by substep.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from simengine.errors import InputError, check_range


def normalize_quaternion(q, field: str = "quaternion") -> np.ndarray:
    q = np.asarray(q, dtype=np.float64).reshape(-1)
    if q.shape != (4,) or not np.all(np.isfinite(q)):
        raise InputError(f"{field} = {np.asarray(q).tolist()} must be 4 finite numbers (x, y, z, w)")
    length = np.linalg.norm(q)
    if length < 1e-12:
        raise InputError(f"{field} = {q.tolist()} has zero length; give a rotation (x, y, z, w), e.g. (0, 0, 0, 1)")
    return q / length


def slerp(q0: np.ndarray, q1: np.ndarray, s) -> np.ndarray:
    """Spherical linear interpolation from q0 (s = 0) to q1 (s = 1), the shorter way; (..., 4)."""
    s = np.asarray(s, dtype=np.float64)[..., None]
    dot = float(np.dot(q0, q1))
    if dot < 0.0:
        q1, dot = -q1, -dot
    if dot > 0.9995:  # nearly the same rotation: linear, renormalised
        q = q0 + s * (q1 - q0)
        return q / np.linalg.norm(q, axis=-1, keepdims=True)
    theta = np.arccos(dot)
    return (np.sin((1.0 - s) * theta) * q0 + np.sin(s * theta) * q1) / np.sin(theta)


def quaternion_matrix(q) -> np.ndarray:
    """Rotation matrix of the unit quaternion (x, y, z, w)."""
    x, y, z, w = q
    return np.array([[1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
                     [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
                     [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)]])


class Gripper:
    """A keyframed gripper of ``radius`` (m): closing attaches the particles within ``radius`` of its centre.

    Args:
        keyframes: ``[(t, position (3,), quaternion (4,) x-y-z-w, closed bool), ...]`` with increasing t.
    """

    def __init__(self, radius: float, keyframes, name: str = "gripper"):
        self.name = name
        self.radius = float(check_range(f"{name} radius", radius, 0.0, None, low_open=True))
        if not keyframes:
            raise InputError(f"{name} keyframes = []: give at least one (t, position, quaternion, closed)")
        times, positions, rotations, closed = [], [], [], []
        for k, frame in enumerate(keyframes):
            if len(frame) != 4:
                raise InputError(f"{name} keyframe {k} = {frame!r} must be (t, position, quaternion, closed)")
            t, p, q, c = frame
            t = float(t)
            if not np.isfinite(t) or (times and t <= times[-1]):
                raise InputError(f"{name} keyframe {k}: t = {t!r} must be finite and greater than the previous "
                                 f"keyframe's t = {times[-1] if times else None!r} (keyframes increase in time)")
            p = np.asarray(p, dtype=np.float64).reshape(-1)
            if p.shape != (3,) or not np.all(np.isfinite(p)):
                raise InputError(f"{name} keyframe {k}: position = {np.asarray(p).tolist()} must be 3 finite numbers")
            times.append(t)
            positions.append(p)
            rotations.append(normalize_quaternion(q, f"{name} keyframe {k} quaternion"))
            closed.append(bool(c))
        self.times, self.positions = np.array(times), np.array(positions)
        self.rotations, self.closed = np.array(rotations), np.array(closed)

    def pose(self, t: float) -> tuple[np.ndarray, np.ndarray, bool]:
        """(position, quaternion, closed) at time ``t``; ``closed`` is the last keyframe's at or before t."""
        times = self.times
        if t <= times[0]:
            return self.positions[0].copy(), self.rotations[0].copy(), bool(self.closed[0])
        if t >= times[-1]:
            return self.positions[-1].copy(), self.rotations[-1].copy(), bool(self.closed[-1])
        k = int(np.searchsorted(times, t, side="right")) - 1
        s = (t - times[k]) / (times[k + 1] - times[k])
        position = (1.0 - s) * self.positions[k] + s * self.positions[k + 1]
        return position, slerp(self.rotations[k], self.rotations[k + 1], s), bool(self.closed[k])

    def describe(self) -> dict:
        return {"name": self.name, "radius": self.radius,
                "keyframes": [[float(t), p.tolist(), q.tolist(), bool(c)]
                              for t, p, q, c in zip(self.times, self.positions, self.rotations, self.closed)]}


@dataclass
class GripperControl:
    """Targets for one step: ``position`` (G, 3), ``rotation`` (G, 4) x-y-z-w quaternions and ``closed`` (G,)
    at the end of the step."""

    position: np.ndarray
    rotation: np.ndarray
    closed: np.ndarray

    @classmethod
    def at(cls, grippers, t: float) -> "GripperControl":
        poses = [g.pose(t) for g in grippers]
        return cls(np.array([p[0] for p in poses]).reshape(-1, 3), np.array([p[1] for p in poses]).reshape(-1, 4),
                   np.array([p[2] for p in poses], dtype=bool))
