"""Mirror augmentation: reflect a training window across the box's mid-plane.

Valid when the physics is mirror symmetric along the axis (a box symmetric about its centre, gravity
along another axis, isotropic materials): x_d -> (lower_d + upper_d) - x_d for positions, v_d -> -v_d
for vectors. Doubling the data this way also removes a left/right bias a short training run picks
up from where the bodies happen to sit in the training trajectories.
"""
from __future__ import annotations

import torch

from simengine.errors import InputError

POSITION_KEYS = ("position", "initial_position", "mesh_pos")
VECTOR_KEYS = ("velocity", "target_displacement", "target_velocity")
SCALAR_KEYS = ("particle_type", "batch", "num_particles", "mass", "material_id", "material_params",
               "cells", "node_type", "species", "time")


def reflect(batch: dict, axis: int, lower: float, upper: float) -> dict:
    """A copy of ``batch`` mirrored across ``(lower + upper)/2`` along ``axis``."""
    unknown = sorted(k for k in batch if k not in POSITION_KEYS + VECTOR_KEYS + SCALAR_KEYS)
    if unknown:
        raise InputError(f"reflection augmentation does not know how to mirror key(s) {unknown}")
    out = dict(batch)
    for key in POSITION_KEYS + VECTOR_KEYS:
        if key in batch:
            value = batch[key].clone()
            value[..., axis] = (lower + upper) - value[..., axis] if key in POSITION_KEYS else -value[..., axis]
            out[key] = value
    return out


def random_reflections(batch: dict, axes, bounds, generator: torch.Generator) -> dict:
    """Reflect along each of ``axes`` with probability 1/2 (draws one number per axis)."""
    if bounds is None:
        raise InputError("reflection augmentation needs the dataset's bounds (metadata 'bounds')")
    for axis in axes:
        if not 0 <= int(axis) < len(bounds):
            raise InputError(f"train.reflect_axes holds axis {axis}, outside [0, {len(bounds) - 1}]")
        if bool(torch.rand((), generator=generator) < 0.5):
            batch = reflect(batch, int(axis), float(bounds[axis][0]), float(bounds[axis][1]))
    return batch
