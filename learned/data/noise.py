"""Training noise that teaches a one-step model to correct its own rollout errors.

* Random-walk noise (GNS, Sanchez-Gonzalez et al., ICML 2020, sec. 3): the noise on the W-1 input
  velocities is a random walk of W-1 steps of std std/sqrt(W-1), so the most recent velocity's noise
  has standard deviation ``std``; positions get its cumulative sum (the first frame stays exact).
* Gaussian noise (MeshGraphNets, Pfaff et al., ICLR 2021, sec. 3): i.i.d. N(0, std²) on the most
  recent positions only.

Kinematic particles (walls, boundary nodes: ``fixed`` mask) get no noise.
"""
from __future__ import annotations

import math

import torch


def random_walk_noise(position: torch.Tensor, std: float, fixed: torch.Tensor | None = None,
                      generator: torch.Generator | None = None) -> torch.Tensor:
    """Random-walk position noise for a window of input positions.

    Args:
        position: (W, N, D) input positions (only the shape, dtype and device are used).
        std: standard deviation of the noise on the most recent velocity, in position units.
        fixed: (N,) bool, particles that get no noise.

    Returns:
        (W, N, D) noise; frame 0 is zero, frame t the sum of the first t velocity noises.
    """
    frames = position.shape[0]
    if frames < 2 or std <= 0:
        return torch.zeros_like(position)
    steps = torch.randn(position[1:].shape, generator=generator, dtype=position.dtype,
                        device=position.device) * (std / math.sqrt(frames - 1))
    velocity_noise = torch.cumsum(steps, 0)  # the random walk: last velocity has std `std`
    noise = torch.cat([torch.zeros_like(position[:1]), torch.cumsum(velocity_noise, 0)], 0)
    if fixed is not None:
        noise = noise * (~fixed).to(noise.dtype)[None, :, None]
    return noise


def gaussian_noise(position: torch.Tensor, std: float, fixed: torch.Tensor | None = None,
                   generator: torch.Generator | None = None, last: int = 1) -> torch.Tensor:
    """I.i.d. Gaussian noise on the ``last`` frames of ``position`` (W, N, D); zero elsewhere."""
    noise = torch.zeros_like(position)
    if std <= 0:
        return noise
    noise[-last:] = torch.randn(position[-last:].shape, generator=generator, dtype=position.dtype,
                                device=position.device) * std
    if fixed is not None:
        noise = noise * (~fixed).to(noise.dtype)[None, :, None]
    return noise


NOISE = {"random_walk": random_walk_noise, "gaussian": gaussian_noise}
