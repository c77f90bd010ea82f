"""Grippers in action-conditioned models (PGND, GS-Dynamics).

The deformables simulator records per frame and gripper an ``action`` row (position (3), quaternion (x, y, z, w),
closed flag), see `simengine.deformables`. A model stepping from frame t to t+1 needs the poses at t and t+1;
`shift_action` lays the action out so that a window ending at frame t holds both as its last two entries, which
keeps the base class's windowing and rollout (`learned.base`) unchanged.
"""
from __future__ import annotations

import torch

from simengine.errors import DatasetError, InputError


def quat_to_matrix(q: torch.Tensor) -> torch.Tensor:
    """(..., 4) quaternions (x, y, z, w), the simulator's order -> (..., 3, 3) rotation matrices (normalised
    first); the renderer's formula, which takes (w, x, y, z)."""
    from simengine.gaussians.render import quaternion_to_matrix

    return quaternion_to_matrix(q[..., [3, 0, 1, 2]])


def shift_action(batch: dict, model: str) -> dict:
    """``batch`` with action entry k := the pose at frame k+1 (the last one repeated): (B, T, G, 8)."""
    action = batch.get("action")
    if action is None:
        raise DatasetError(f"{model}: the batch has no 'action' (gripper poses per frame): {model} is "
                           "action-conditioned")
    return {**batch, "action": torch.cat([action[:, 1:], action[:, -1:]], 1)}


def gripper_motion(action: torch.Tensor, expected: int, model: str):
    """From a shifted action window (B, T, G, 8): positions at t (B, G, 3), rotation R' Rᵀ from t to t+1
    (B, G, 3, 3), positions at t+1 (B, G, 3) and closed (B, G) bool (closed at both t and t+1)."""
    now, nxt = action[:, -2], action[:, -1]
    if now.shape[1] != expected:
        raise InputError(f"{model}: the input has {now.shape[1]} gripper(s), the model was trained with {expected}")
    rel = quat_to_matrix(nxt[..., 3:7]) @ quat_to_matrix(now[..., 3:7]).transpose(-1, -2)
    return now[..., :3], rel, nxt[..., :3], (now[..., 7] > 0.5) & (nxt[..., 7] > 0.5)


def dataset_episodes(info) -> list:
    """The per-episode parameter records of a dataset's metadata (``varying_parameters``), or the metadata."""
    meta = info.metadata or {}
    return [e for split in (meta.get("varying_parameters") or {}).values() for e in split] or [meta]


def episode_grippers(info) -> tuple[set, set]:
    """(gripper counts, gripper radii) over the episodes a dataset's metadata describes."""
    episodes = dataset_episodes(info)
    counts = {len(e.get("grippers", [])) for e in episodes if "grippers" in e}
    radii = {float(g["radius"]) for e in episodes for g in e.get("grippers", [])}
    return counts, radii


def check_gripper_count(info, expected: int, model: str) -> None:
    """A clear error when the dataset's episodes have another number of grippers than the model."""
    counts, _ = episode_grippers(info)
    if counts and counts != {int(expected)}:
        raise InputError(f"{model}: dataset {info.path} has {sorted(counts)} gripper(s) per episode, the model "
                         f"expects {int(expected)}")
