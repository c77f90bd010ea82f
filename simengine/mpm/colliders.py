"""Colliders for the MPM grid: any shape with an ``sdf(points)``, sampled once on the grid nodes.

The grid-update kernel treats a node with ``phi < 0`` as inside the solid and projects its velocity
(relative to the collider) with the outward normal ``grad phi / |grad phi|``. A moving collider
translates: its t = 0 field is looked up at ``x - d(t)``, ``d`` the integrated velocity, with
multilinear interpolation (and a linear extension past the sampled grid).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from simengine.errors import InputError, check_range

MODES = ("slip", "sticky", "separate")


def check_mode(field: str, mode: str) -> int:
    if mode not in MODES:
        raise InputError(f"{field} = {mode!r} is not one of {list(MODES)}")
    return MODES.index(mode)


@dataclass
class Collider:
    """A solid the material cannot enter.

    Attributes:
        shape: object with ``sdf(points (M, d)) -> (M,)`` (negative inside).
        friction: Coulomb coefficient (>= 0) on the tangential velocity.
        mode: "slip" | "sticky" | "separate".
        velocity: None (static), a constant (d,) vector, or a callable ``t -> (d,)`` vector.
    """

    shape: object
    friction: float = 0.0
    mode: str = "slip"
    velocity: object = None

    def __post_init__(self):
        if not callable(getattr(self.shape, "sdf", None)):
            raise InputError(f"collider shape {self.shape!r} has no sdf(points) method")
        check_range("collider friction", float(self.friction), 0.0, None)
        check_mode("collider mode", self.mode)

    @property
    def moving(self) -> bool:
        return self.velocity is not None

    def velocity_at(self, t: float, dim: int) -> np.ndarray:
        if self.velocity is None:
            return np.zeros(dim)
        value = self.velocity(t) if callable(self.velocity) else self.velocity
        value = np.asarray(value, dtype=np.float64).reshape(-1)
        if value.shape != (dim,) or not np.all(np.isfinite(value)):
            raise InputError(f"collider velocity at t = {t:g} is {value!r}; expected {dim} finite numbers")
        return value

    def sample(self, nodes_per_axis, dx: float) -> tuple[np.ndarray, np.ndarray]:
        """Signed distance (G,) and unit outward normals (G, d) on the grid nodes ``index * dx``."""
        axes = [np.arange(n) * dx for n in nodes_per_axis]
        points = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, len(axes))
        phi = np.asarray(self.shape.sdf(points), dtype=np.float64).reshape(-1)
        if phi.shape != (points.shape[0],) or not np.all(np.isfinite(phi)):
            raise InputError(f"collider {describe(self.shape)}: sdf returned non-finite or mis-shaped values")
        grads = np.gradient(phi.reshape(nodes_per_axis), dx)
        normal = np.stack(grads, axis=-1).reshape(-1, len(axes))
        length = np.linalg.norm(normal, axis=1, keepdims=True)
        normal = np.where(length > 0, normal / np.maximum(length, 1e-30), 0.0)
        return phi, normal

    def describe(self) -> dict:
        velocity = self.velocity
        if callable(velocity):
            velocity = f"callable {getattr(velocity, '__name__', type(velocity).__name__)}"
        elif velocity is not None:
            velocity = np.asarray(velocity, dtype=float).tolist()
        return {"shape": describe(self.shape), "friction": float(self.friction), "mode": self.mode,
                "velocity": velocity}


def describe(shape) -> dict | str:
    """JSON description of a shape: its ``describe()`` when it has one, else its repr."""
    if callable(getattr(shape, "describe", None)):
        return shape.describe()
    return repr(shape)


def sample_colliders(colliders, nodes_per_axis, dx):
    """Stacked fields for the kernel: sdf (n_c G,), normal (n_c G, d), mode, friction, moving flags."""
    dim = len(nodes_per_axis)
    n_nodes = int(np.prod(nodes_per_axis))
    if not colliders:  # the kernel still needs non-empty arrays
        return (np.ones(1), np.zeros((1, dim)), np.zeros(1, np.int32), np.zeros(1), np.zeros(1, np.int32))
    phis, normals = zip(*(c.sample(nodes_per_axis, dx) for c in colliders))
    assert all(p.shape == (n_nodes,) for p in phis)
    return (np.concatenate(phis), np.concatenate(normals),
            np.array([MODES.index(c.mode) for c in colliders], np.int32),
            np.array([c.friction for c in colliders], np.float64),
            np.array([int(c.moving) for c in colliders], np.int32))


__all__ = ["Collider", "MODES", "check_mode", "sample_colliders", "describe"]
