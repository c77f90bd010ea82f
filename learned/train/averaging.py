"""Exponential moving average of the weights (Polyak & Juditsky 1992), for evaluation and rollout.

    w̄ <- d·w̄ + (1 - d)·w after every optimiser step, with d = min(decay, (1 + n)/(10 + n)) so
    the first updates are not dominated by the initial weights (n = updates so far).

A short, noisy training run (few thousand steps at a still-high learning rate) gives a model whose
rollouts change a lot from one checkpoint to the next; the averaged weights are much steadier.
Only parameters are averaged; buffers (running normaliser statistics) stay those of the live model.
"""
from __future__ import annotations

import contextlib

import torch


class WeightAverage:
    """EMA of ``model``'s parameters; ``applied(model)`` swaps them in temporarily."""

    def __init__(self, model: torch.nn.Module, decay: float):
        self.decay, self.updates = float(decay), 0
        self.shadow = {k: p.detach().clone() for k, p in model.named_parameters()}

    @torch.no_grad()
    def update(self, model: torch.nn.Module) -> None:
        self.updates += 1
        d = min(self.decay, (1 + self.updates) / (10 + self.updates))
        for k, p in model.named_parameters():
            self.shadow[k].mul_(d).add_(p.detach(), alpha=1.0 - d)

    @contextlib.contextmanager
    def applied(self, model: torch.nn.Module):
        backup = {k: p.detach().clone() for k, p in model.named_parameters()}
        copy_parameters(model, self.shadow)
        try:
            yield model
        finally:
            copy_parameters(model, backup)

    def state_dict(self) -> dict:
        return {"decay": self.decay, "updates": self.updates, "shadow": self.shadow}

    def load_state_dict(self, state: dict) -> None:
        self.decay, self.updates = float(state["decay"]), int(state["updates"])
        self.shadow = {k: v.clone() for k, v in state["shadow"].items()}


@torch.no_grad()
def copy_parameters(model: torch.nn.Module, values: dict) -> None:
    """Copy ``values`` (name -> tensor) into the model's parameters of the same names."""
    for k, p in model.named_parameters():
        p.copy_(values[k])
