"""Running feature standardisation (MeshGraphNets' online normaliser, Pfaff et al. 2021).

Statistics accumulate over the first ``max_accumulations`` calls in training mode and then freeze;
they are buffers, so they travel in the model's ``state_dict``.

Data-parallel training: inside ``reduced_statistics(reduce)`` each accumulating call sums its count, sum
and sum of squares over the processes with ``reduce`` (an in-place all-reduce), so every process adds the
statistics of the whole global batch, as one process would (`learned.train.distributed`).
"""
from __future__ import annotations

import contextlib
import contextvars

import torch
from torch import nn

_REDUCE: contextvars.ContextVar = contextvars.ContextVar("normalizer_reduce", default=None)


@contextlib.contextmanager
def reduced_statistics(reduce):
    """Within this context, `OnlineNormalizer` statistics are summed over processes by ``reduce(tensor)``
    (in place, e.g. ``torch.distributed.all_reduce``); every process must make the same calls."""
    token = _REDUCE.set(reduce)
    try:
        yield
    finally:
        _REDUCE.reset(token)


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
        reduce = _REDUCE.get()
        if self.training and int(self.calls) < self.max_accumulations and reduce is not None:
            self._accumulate_reduced(x, reduce)
        elif self.training and int(self.calls) < self.max_accumulations and x.shape[0] > 0:
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

    def _accumulate_reduced(self, x: torch.Tensor, reduce) -> None:
        """Add the statistics of ``x`` summed over processes (also when this process's ``x`` is empty)."""
        data = x.detach().double()
        size = self.total.numel()
        stats = torch.cat([torch.full((1,), float(data.shape[0]), dtype=torch.float64, device=self.total.device),
                           data.sum(0).to(self.total.device), (data * data).sum(0).to(self.total.device)])
        reduce(stats)
        if float(stats[0]) > 0:
            self.count += stats[0]
            self.total += stats[1:1 + size]
            self.total_sq += stats[1 + size:]
            self.calls += 1


def motion_statistics(summary: dict, dim: int, noise_std: float = 0.0) -> dict:
    """``vel_mean``, ``vel_std``, ``acc_mean``, ``acc_std`` (D,) float32 tensors from a model's dataset summary
    (defaults 0 and 1 where missing); the standard deviations include the training noise, sqrt(σ² + σ_noise²),
    as in GNS's code."""
    stats = summary.get("stats", {})

    def stat(key, default, with_noise=False):
        value = torch.as_tensor(stats.get(key, [default] * dim), dtype=torch.float32)
        return torch.sqrt(value ** 2 + noise_std ** 2) if with_noise else value

    return {"vel_mean": stat("vel_mean", 0.0), "vel_std": stat("vel_std", 1.0, True),
            "acc_mean": stat("acc_mean", 0.0), "acc_std": stat("acc_std", 1.0, True)}
