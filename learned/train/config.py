"""Training configuration: defaults, YAML files and command-line overrides.

A config file has two optional sections, e.g.::

    model:            # passed to learned.create(MODEL, **model), over the model's own defaults
      latent: 64
      message_passing_steps: 5
    train:            # over TRAIN_DEFAULTS below
      steps: 2000
      lr: 1.0e-3

Learning rate: exponential decay from ``lr`` towards ``lr_final`` (GNS, sec. 4),
lr(t) = lr_final + (lr - lr_final) · 0.1^(t / lr_decay_steps).
Pushforward (Brandstetter et al., ICLR 2022): each step unrolls k ∈ {0..pushforward_steps} model
steps without gradient before the loss, k drawn with weights ``pushforward_probs``.
"""
from __future__ import annotations

import os

from simengine.errors import InputError, check_range

TRAIN_DEFAULTS = dict(
    steps=10000,            # total optimiser steps (a resumed run continues up to this many)
    batch_size=2,           # windows per step (trajectories of different sizes batch together)
    lr=1e-4, lr_final=1e-6, lr_decay_steps=5_000_000,
    seed=0,
    log_every=20,           # rows of metrics.csv
    val_every=1000,         # validation: one-step loss and short-rollout position MSE
    val_windows=32, val_rollout_steps=20, val_trajectories=2,
    checkpoint_every=1000, keep_checkpoints=2,
    pushforward_steps=0, pushforward_probs=None,
    grad_clip=None,         # max gradient norm (None: no clipping)
    reflect_axes=[],        # mirror windows across the box mid-plane along these axes, p = 1/2 each
    average_decay=None,     # EMA of the weights for validation and rollout (e.g. 0.995; None: off)
    num_threads=2,          # torch CPU threads
    device="cpu",
)
# Keys that may change when a run is resumed (they do not change what the next step computes).
RESUMABLE_CHANGES = ("steps", "log_every", "val_every", "checkpoint_every", "keep_checkpoints",
                     "num_threads", "val_windows", "val_rollout_steps", "val_trajectories")


def load_config_file(path: str | None) -> dict:
    """``{"model": {...}, "train": {...}}`` from a YAML file (empty sections when ``path`` is None)."""
    if path is None:
        return {"model": {}, "train": {}}
    import yaml

    if not os.path.exists(path):
        raise InputError(f"config file {path!r} does not exist")
    with open(path) as f:
        data = yaml.safe_load(f) or {}
    if not isinstance(data, dict) or set(data) - {"model", "train"}:
        raise InputError(f"{path}: a config file has the sections 'model' and 'train', got {sorted(data)}")
    return {"model": dict(data.get("model") or {}), "train": dict(data.get("train") or {})}


def train_config(overrides: dict | None = None) -> dict:
    """TRAIN_DEFAULTS with ``overrides``, checked."""
    overrides = dict(overrides or {})
    unknown = sorted(set(overrides) - set(TRAIN_DEFAULTS))
    if unknown:
        raise InputError(f"unknown train config key(s) {unknown}; allowed: {sorted(TRAIN_DEFAULTS)}")
    cfg = {**TRAIN_DEFAULTS, **overrides}
    for key in ("steps", "batch_size", "log_every", "val_every", "checkpoint_every", "keep_checkpoints",
                "num_threads", "val_windows", "val_trajectories"):
        check_range(f"train.{key}", int(cfg[key]), 1)
    check_range("train.val_rollout_steps", int(cfg["val_rollout_steps"]), 0)
    check_range("train.lr", float(cfg["lr"]), 0.0, low_open=True)
    check_range("train.lr_final", float(cfg["lr_final"]), 0.0, float(cfg["lr"]))
    check_range("train.lr_decay_steps", float(cfg["lr_decay_steps"]), 0.0, low_open=True)
    check_range("train.pushforward_steps", int(cfg["pushforward_steps"]), 0)
    if cfg["average_decay"] is not None:
        check_range("train.average_decay", float(cfg["average_decay"]), 0.0, 1.0, low_open=True, high_open=True)
    probs = cfg["pushforward_probs"]
    if probs is not None:
        if len(probs) != int(cfg["pushforward_steps"]) + 1 or min(probs) < 0 or sum(probs) <= 0:
            raise InputError(f"train.pushforward_probs = {probs!r} must be {int(cfg['pushforward_steps']) + 1} "
                             f"non-negative weights (one per k = 0..pushforward_steps), not all zero")
    return cfg


def learning_rate_factor(step: int, cfg: dict) -> float:
    """lr(step) / lr for the exponential decay in the module docstring."""
    lr, final = float(cfg["lr"]), float(cfg["lr_final"])
    return (final + (lr - final) * 0.1 ** (step / float(cfg["lr_decay_steps"]))) / lr
