"""Radial embedding of edge lengths: a Bessel basis times a smooth polynomial cutoff envelope.

Gasteiger, Groß & Günnemann, "Directional Message Passing for Molecular Graphs" (DimeNet), ICLR 2020:

    e_n(r) = √(2/r_c) · sin(nπ r / r_c) / r,   n = 1..K,
    u(x) = 1 − (p+1)(p+2)/2 · x^p + p(p+2) · x^{p+1} − p(p+1)/2 · x^{p+2},  x = r / r_c  (0 for x ≥ 1),

so every edge feature and its first p − 1 derivatives vanish at the cutoff: a neighbour entering or
leaving the sphere changes nothing discontinuously (needed for smooth, exactly equivariant outputs).
"""
import math

import torch
from torch import nn


def polynomial_cutoff(r: torch.Tensor, cutoff: float, p: int = 6) -> torch.Tensor:
    """Envelope u(r/r_c) of shape r.shape (1 at r = 0, 0 with p − 1 vanishing derivatives at r_c)."""
    x = r / cutoff
    u = (1.0 - (p + 1) * (p + 2) / 2 * x ** p + p * (p + 2) * x ** (p + 1) - p * (p + 1) / 2 * x ** (p + 2))
    return u * (x < 1.0)


class RadialEmbedding(nn.Module):
    """(E,) edge lengths → (E, K) Bessel features times the cutoff envelope."""

    def __init__(self, cutoff: float, num_basis: int = 8, p: int = 6):
        super().__init__()
        self.cutoff, self.p = float(cutoff), int(p)
        self.register_buffer("frequencies", math.pi / self.cutoff * torch.arange(1, num_basis + 1, dtype=torch.float32))

    def forward(self, r: torch.Tensor) -> torch.Tensor:
        r = r[:, None]
        bessel = math.sqrt(2.0 / self.cutoff) * torch.sin(self.frequencies * r) / r
        return bessel * polynomial_cutoff(r, self.cutoff, self.p)
