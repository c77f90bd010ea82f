"""Training configuration: defaults, YAML files and command-line overrides, checked by type and range.

A config file has two optional sections, e.g.::

    model:            # passed to learned.create(MODEL, **model), over the model's own defaults
      latent: 64
      message_passing_steps: 5
    train:            # over TRAIN_DEFAULTS below
      steps: 2000
      lr: 1.0e-3

The ``config.yaml`` a run writes (``model_name``, ``data``, ``data_metadata_sha256``, ``model``,
``train``) is accepted too: its ``model`` and ``train`` sections are used, ``model_name`` must match.

Learning rate: exponential decay from ``lr`` towards ``lr_final`` (GNS, sec. 4),
lr(t) = lr_final + (lr - lr_final) · 0.1^(t / lr_decay_steps).
Pushforward (Brandstetter et al., ICLR 2022): each step unrolls k ∈ {0..pushforward_steps} model
steps without gradient before the loss, k drawn with weights ``pushforward_probs``.

Validation cost: each validation runs ``val_windows`` one-step forward passes plus
``val_trajectories`` x ``val_rollout_steps`` rollout steps, one sample each (the defaults: 16 + 2 x 20 =
56 forward passes; the default was 32 windows). With the default GNS on 2 CPU threads and ~1000-particle
samples a training step takes about 1.2 s and a validation 15-30 s (figures in `learned.train.trainer`);
it shows its own progress bar and its duration is logged (``val_s`` in metrics.csv).
"""
from __future__ import annotations

import math
import os

from simengine.errors import InputError, check_range

TRAIN_DEFAULTS = dict(
    steps=10000,            # total optimiser steps (a resumed run continues up to this many)
    batch_size=2,           # windows per step (trajectories of different sizes batch together)
    lr=1e-4, lr_final=1e-6, lr_decay_steps=5_000_000,
    seed=0,
    log_every=20,           # rows of metrics.csv
    val_every=1000,         # validation: one-step loss and short-rollout position MSE
    val_windows=16, val_rollout_steps=20, val_trajectories=2,
    checkpoint_every=1000, keep_checkpoints=2,
    checkpoint_minutes=5.0,  # also write last.pt at least this often (wall clock; None: only every N steps)
    pushforward_steps=0, pushforward_probs=None,
    grad_clip=None,         # max gradient norm (None: no clipping)
    reflect_axes=[],        # mirror windows across the box mid-plane along these axes, p = 1/2 each
    average_decay=None,     # EMA of the weights for validation and rollout (e.g. 0.995; None: off)
    num_threads=2,          # torch CPU threads
    device="cpu",           # "cpu", "cuda", "cuda:N" (checked by simengine.runtime.resolve_device)
)
# The type of each train key; "?" marks keys that may also be None (null in YAML).
TRAIN_TYPES = dict(
    steps="int", batch_size="int", lr="float", lr_final="float", lr_decay_steps="float", seed="int",
    log_every="int", val_every="int", val_windows="int", val_rollout_steps="int", val_trajectories="int",
    checkpoint_every="int", keep_checkpoints="int", checkpoint_minutes="float?", pushforward_steps="int",
    pushforward_probs="list?", grad_clip="float?", reflect_axes="list", average_decay="float?",
    num_threads="int", device="str",
)
# Keys that may change when a run is resumed (they do not change what the next step computes).
RESUMABLE_CHANGES = ("steps", "log_every", "val_every", "checkpoint_every", "keep_checkpoints", "checkpoint_minutes",
                     "num_threads", "val_windows", "val_rollout_steps", "val_trajectories")
RUN_CONFIG_KEYS = ("model_name", "data", "data_metadata_sha256")
_KIND_WORDS = {"int": "an integer", "float": "a number", "bool": "true or false", "str": "a string",
               "list": "a list", "dict": "a mapping", "number": "a number"}


def load_config_file(path: str | None) -> dict:
    """``{"model": {...}, "train": {...}}`` from a YAML file (empty sections when ``path`` is None).

    A run's own ``config.yaml`` is recognised; its ``model_name`` is returned under that key."""
    if path is None:
        return {"model": {}, "train": {}}
    import yaml

    if not os.path.exists(path):
        raise InputError(f"config file {path!r} does not exist")
    if os.path.isdir(path):
        raise InputError(f"config file {path!r} is a folder; give a YAML file (a run's is RUN/config.yaml)")
    try:
        with open(path) as f:
            data = yaml.safe_load(f) or {}
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        reason = " ".join(str(exc).split())
        raise InputError(f"{path}: not a readable YAML config ({reason[:200]})") from None
    allowed = {"model", "train"} | (set(RUN_CONFIG_KEYS) if isinstance(data, dict) and "model_name" in data else set())
    if not isinstance(data, dict) or set(data) - allowed:
        found = sorted(map(str, data)) if isinstance(data, dict) else type(data).__name__
        raise InputError(f"{path}: a config file has the sections 'model' and 'train' (or is a run's config.yaml), "
                         f"got {found}")
    for section in ("model", "train"):
        if not isinstance(data.get(section) or {}, dict):
            raise InputError(f"{path}: section {section!r} must be a mapping of key: value, got "
                             f"{type(data[section]).__name__}")
    out = {"model": dict(data.get("model") or {}), "train": dict(data.get("train") or {})}
    if "model_name" in data:
        out["model_name"] = str(data["model_name"])
    return out


def coerce(field: str, value, kind: str, default=None):
    """``value`` checked against ``kind`` ("int", "float", "bool", "str", "list", "dict", "number", "any";
    a trailing "?" also allows None), converted where that is lossless (``"1e-3"`` -> 0.001, ``2.0`` -> 2).

    Raises `InputError` naming the field, the value and what was expected."""
    optional = kind.endswith("?")
    kind = kind.rstrip("?")
    if value is None and (optional or kind == "any"):
        return None
    shown = "" if default is None else f" (default {default!r})"

    def bad():
        return InputError(f"{field} = {value!r} is not {_KIND_WORDS.get(kind, kind)}{shown}")

    if kind == "any":
        return value
    if kind == "bool":
        if isinstance(value, bool):
            return value
        raise bad()
    if kind == "str":
        if isinstance(value, str):
            return value
        raise bad()
    if kind == "list":
        if isinstance(value, (list, tuple)):
            return list(value)
        raise bad()
    if kind == "dict":
        if isinstance(value, dict):
            return dict(value)
        raise bad()
    if isinstance(value, bool) or value is None:
        raise bad()
    if isinstance(value, str):  # YAML reads 1e-3 (no dot) as a string
        try:
            value = float(value) if kind != "int" or not value.strip().lstrip("+-").isdigit() else int(value)
        except ValueError:
            raise bad() from None
    if not isinstance(value, (int, float)):
        raise bad()
    if kind == "int":
        if isinstance(value, float):
            if not (math.isfinite(value) and value.is_integer()):
                raise bad()
            return int(value)
        return int(value)
    if kind == "number":
        return value
    return float(value)


def kind_of(default) -> str:
    """The kind (see `coerce`) a config value must have, judged from its default."""
    if isinstance(default, bool):
        return "bool"
    if isinstance(default, int):
        return "int"
    if isinstance(default, float):
        return "float"
    if isinstance(default, str):
        return "str"
    if isinstance(default, (list, tuple)):
        return "list"
    if isinstance(default, dict):
        return "dict"
    return "any"


def model_config(model_name: str, overrides: dict | None) -> dict:
    """``overrides`` for model ``model_name`` checked against the model's ``defaults``: unknown keys are
    refused naming the allowed ones, values must have their default's type (an int default takes an
    integer, a float default a number, ...); a key whose default is None takes anything but a string
    that is not a number (the registered models' None defaults are all numbers or lists)."""
    import learned

    defaults = learned.get(model_name).defaults
    overrides = dict(overrides or {})
    unknown = sorted(set(overrides) - set(defaults))
    if unknown:
        raise InputError(f"unknown model config key(s) {unknown} for model {model_name!r}; allowed: {sorted(defaults)}")
    out = {}
    for key, value in overrides.items():
        kind = kind_of(defaults[key])
        if kind == "any" and isinstance(value, str):
            kind = "number?"
        out[key] = coerce(f"model.{key}", value, kind, defaults[key])
    return out


def train_config(overrides: dict | None = None) -> dict:
    """TRAIN_DEFAULTS with ``overrides``, checked (types, then ranges)."""
    overrides = dict(overrides or {})
    unknown = sorted(set(overrides) - set(TRAIN_DEFAULTS))
    if unknown:
        raise InputError(f"unknown train config key(s) {unknown}; allowed: {sorted(TRAIN_DEFAULTS)}")
    cfg = {**TRAIN_DEFAULTS, **overrides}
    for key, kind in TRAIN_TYPES.items():
        cfg[key] = coerce(f"train.{key}", cfg[key], kind, TRAIN_DEFAULTS[key])
    for key in ("steps", "batch_size", "log_every", "val_every", "checkpoint_every", "keep_checkpoints",
                "num_threads", "val_windows", "val_trajectories"):
        check_range(f"train.{key}", cfg[key], 1)
    check_range("train.val_rollout_steps", cfg["val_rollout_steps"], 0)
    check_range("train.lr", cfg["lr"], 0.0, low_open=True)
    check_range("train.lr_final", cfg["lr_final"], 0.0, cfg["lr"])
    check_range("train.lr_decay_steps", cfg["lr_decay_steps"], 0.0, low_open=True)
    check_range("train.pushforward_steps", cfg["pushforward_steps"], 0)
    if cfg["checkpoint_minutes"] is not None:
        check_range("train.checkpoint_minutes", cfg["checkpoint_minutes"], 0.0, low_open=True)
    if cfg["grad_clip"] is not None:
        check_range("train.grad_clip", cfg["grad_clip"], 0.0, low_open=True)
    if cfg["average_decay"] is not None:
        check_range("train.average_decay", cfg["average_decay"], 0.0, 1.0, low_open=True, high_open=True)
    cfg["reflect_axes"] = [coerce(f"train.reflect_axes[{i}]", a, "int") for i, a in enumerate(cfg["reflect_axes"])]
    probs = cfg["pushforward_probs"]
    if probs is not None:
        probs = cfg["pushforward_probs"] = [coerce(f"train.pushforward_probs[{i}]", p, "float")
                                            for i, p in enumerate(probs)]
        if len(probs) != cfg["pushforward_steps"] + 1 or min(probs) < 0 or sum(probs) <= 0:
            raise InputError(f"train.pushforward_probs = {probs!r} must be {cfg['pushforward_steps'] + 1} "
                             f"non-negative weights (one per k = 0..pushforward_steps), not all zero")
    return cfg


def learning_rate_factor(step: int, cfg: dict) -> float:
    """lr(step) / lr for the exponential decay in the module docstring."""
    lr, final = float(cfg["lr"]), float(cfg["lr_final"])
    return (final + (lr - final) * 0.1 ** (step / float(cfg["lr_decay_steps"]))) / lr
