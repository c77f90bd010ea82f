"""Buffers of the MPM solver: per-particle state (one set per step), constant particle data, the grid.

Shapes (N particles, d = dim, G grid nodes, B private scatter buffers):

    MPMState      x, v (N,) vec_d; C, F (N,) mat_dd; plastic (N,); time; collider motion (n_c,) vec_d
    MPMParticles  mass, volume (N,); model (N,) int32; E, nu (N,); params (N,) vec4
    MPMGrid       moments (B G,) vec_(d+1): momentum, then mass; velocity (G,) vec_d

A state is never written by the step that reads it, so a `wp.Tape` over many steps keeps every
input its backward pass needs (give each step its own output state and grid).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class MPMParticles:
    """Per-particle constants. E, nu and params may carry gradients (``requires_grad``)."""

    mass: object
    volume: object
    model: object
    E: object
    nu: object
    params: object

    def __len__(self):
        return self.mass.shape[0]


@dataclass
class MPMState:
    """Particle state at one time. ``collider_disp`` / ``collider_vel``: each moving collider's offset
    from its t = 0 position and its velocity at this time (set by the step that writes this state)."""

    x: object
    v: object
    C: object
    F: object
    plastic: object
    collider_disp: object
    collider_vel: object
    time: float = 0.0

    def arrays(self) -> dict:
        return {"x": self.x, "v": self.v, "C": self.C, "F": self.F, "plastic": self.plastic}

    def numpy(self) -> dict:
        """Host copies of the particle arrays."""
        return {k: np.array(a.numpy(), copy=True) for k, a in self.arrays().items()}

    def copy_from(self, other: "MPMState") -> None:
        import warp as wp

        for name, arr in self.arrays().items():
            wp.copy(arr, getattr(other, name))
        wp.copy(self.collider_disp, other.collider_disp)
        wp.copy(self.collider_vel, other.collider_vel)
        self.time = other.time


@dataclass
class MPMGrid:
    """P2G's sums per node and scatter buffer in one vector (momentum in the first d components, mass in
    the last: one vector add per node and particle), and the grid update's velocities."""

    moments: object
    velocity: object

    def zero(self) -> None:
        self.moments.zero_()

    @property
    def mass(self):
        """(B G,) view of the nodes' mass (strided, no copy)."""
        return self._view(self.moments.dtype._length_ - 1, self.moments.dtype._wp_scalar_type_)

    @property
    def momentum(self):
        """(B G,) vec_d view of the nodes' momentum (strided, no copy)."""
        import warp as wp

        return self._view(0, wp.types.vector(self.moments.dtype._length_ - 1, self.moments.dtype._wp_scalar_type_))

    def _view(self, component: int, dtype):
        import warp as wp

        base = self.moments
        scalar_size = wp.types.type_size_in_bytes(base.dtype._wp_scalar_type_)
        view = wp.array(ptr=base.ptr + component * scalar_size, dtype=dtype, shape=base.shape, strides=base.strides,
                        device=base.device)
        view._base = base  # keep the buffer alive with the view
        return view
