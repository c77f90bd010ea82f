"""Particle subsets for sparse graphs: farthest-point and uniform random sampling.

Farthest-point sampling (Eldar et al., IEEE TIP 1997; used by PointNet++ and GIOROM) greedily adds
the point farthest from the set chosen so far, giving an even cover of the shape in O(N·M).
"""
from __future__ import annotations

import torch

from simengine.errors import InputError, check_range


def farthest_point_sampling(position: torch.Tensor, num_samples: int, *, start: int = 0) -> torch.Tensor:
    """Indices (M,) of ``num_samples`` points of ``position`` (N, D), chosen farthest-first from ``start``.

    The first index is ``start``; each next one maximises the distance to those already chosen
    (ties: the lowest index). Deterministic.
    """
    n = position.shape[0]
    check_range("num_samples", num_samples, 1, n)
    check_range("start", start, 0, n - 1)
    pos = position.detach()
    chosen = torch.empty(num_samples, dtype=torch.long, device=pos.device)
    dist = torch.full((n,), float("inf"), dtype=pos.dtype, device=pos.device)
    current = start
    for m in range(num_samples):
        chosen[m] = current
        dist = torch.minimum(dist, ((pos - pos[current]) ** 2).sum(-1))
        current = int(torch.argmax(dist))
    return chosen


def random_subsample(num_points: int, num_samples: int | None = None, *, fraction: float | None = None,
                     generator: torch.Generator | None = None) -> torch.Tensor:
    """Sorted indices of a uniform random subset: ``num_samples`` points or a ``fraction`` of them."""
    if (num_samples is None) == (fraction is None):
        raise InputError("give exactly one of num_samples and fraction")
    if fraction is not None:
        check_range("fraction", fraction, 0.0, 1.0, low_open=True)
        num_samples = max(1, int(round(fraction * num_points)))
    check_range("num_samples", num_samples, 1, num_points)
    return torch.sort(torch.randperm(num_points, generator=generator)[:num_samples]).values
