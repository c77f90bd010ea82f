"""Running feature standardisation (MeshGraphNets' online normaliser, Pfaff et al. 2021).

Statistics accumulate over the first ``max_accumulations`` calls in training mode and then freeze;
they are buffers, so they travel in the model's ``state_dict``.
"""
from __future__ import annotations

import torch
from torch import nn


class OnlineNormalizer(nn.Module):
    """Feature standardisation with running statistics accumulated over the first training calls."""

    def __init__(self, size: int, max_accumulations: int = 1000, eps: float = 1e-8):
        super().__init__()
        self.max_accumulations, self.eps = max_accumulations, eps
        self.register_buffer("count", torch.zeros((), dtype=torch.float64))
        self.register_buffer("calls", torch.zeros((), dtype=torch.long))
        self.register_buffer("total", torch.zeros(size, dtype=torch.float64))
        self.register_buffer("total_sq", torch.zeros(size, dtype=torch.float64))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training and int(self.calls) < self.max_accumulations and x.shape[0] > 0:
            data = x.detach().double()
            self.count += data.shape[0]
            self.total += data.sum(0)
            self.total_sq += (data * data).sum(0)
            self.calls += 1
        count = self.count.clamp(min=1.0)
        mean = self.total / count
        std = (self.total_sq / count - mean * mean).clamp(min=0.0).sqrt().clamp(min=self.eps)
        if float(self.count) == 0:
            return x
        return (x - mean.to(x)) / std.to(x)
