"""Checkpoints: everything needed to resume training exactly, or to roll a model out later.

A checkpoint (``RUN/checkpoints/last.pt``, ``best.pt``, ``step_0001000.pt``) is a torch pickle of::

    format, model_name, model_config, model_state (with the dataset summary), optimizer, scheduler,
    step, train_config, rng {torch, numpy, python, sampler, noise}, best_val, dataset,
    average (moving-average weights, or None)
"""
from __future__ import annotations

import glob
import os

import torch

from simengine.errors import InputError
from simengine.io import atomic_path

FORMAT = 1


def checkpoint_dir(run_dir: str) -> str:
    return os.path.join(run_dir, "checkpoints")


def save_checkpoint(path: str, state: dict) -> str:
    """Write ``state`` atomically (a crash never leaves a half-written checkpoint)."""
    with atomic_path(path) as tmp:
        torch.save({"format": FORMAT, **state}, tmp)
    return path


def prune_checkpoints(run_dir: str, keep: int) -> None:
    """Keep the ``keep`` most recent ``step_*.pt`` files (``last.pt`` and ``best.pt`` stay)."""
    steps = sorted(glob.glob(os.path.join(checkpoint_dir(run_dir), "step_*.pt")))
    for path in steps[:-keep] if keep > 0 else steps:
        os.remove(path)


def resolve_checkpoint(run_or_path: str, which: str = "best") -> str:
    """The checkpoint file for a run folder (``best.pt``, else ``last.pt``) or an explicit file."""
    if os.path.isfile(run_or_path):
        return run_or_path
    folder = checkpoint_dir(run_or_path)
    candidates = {"best": ["best.pt", "last.pt"], "last": ["last.pt"]}.get(which)
    if candidates is None:
        path = which if os.path.isabs(which) else os.path.join(folder, which)
        candidates = [path]
    for name in candidates:
        path = os.path.join(folder, name)
        if os.path.isfile(path):
            return path
    raise InputError(f"{run_or_path}: no checkpoint {candidates} (train first with `simengine train`)")


def load_checkpoint(path: str) -> dict:
    """Read a checkpoint and check that it is one (clear error otherwise)."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as exc:
        raise InputError(f"{path}: not a readable simengine checkpoint ({exc})") from exc
    if not isinstance(state, dict) or state.get("format") != FORMAT or "model_name" not in state:
        raise InputError(f"{path}: not a simengine checkpoint of format {FORMAT}")
    return state


def model_from_checkpoint(state_or_path, expected_name: str | None = None, averaged: bool = True):
    """Rebuild the registered model a checkpoint was trained as, with its weights and dataset summary
    (the moving-average weights when the run kept them and ``averaged``, else the raw ones)."""
    import learned

    state = load_checkpoint(state_or_path) if isinstance(state_or_path, str) else state_or_path
    name = state["model_name"]
    if expected_name is not None and name != expected_name:
        raise InputError(f"checkpoint holds model {name!r}, expected {expected_name!r}")
    if name not in learned.available():
        raise InputError(f"checkpoint model {name!r} is not registered; available: {learned.available()}")
    model = learned.create(name, **state["model_config"])
    try:
        model.load_state_dict(state["model_state"])
    except RuntimeError as exc:
        raise InputError(f"checkpoint weights do not fit model {name!r} with config "
                         f"{state['model_config']}: {str(exc).splitlines()[0]}") from exc
    if averaged and state.get("average"):
        from learned.train.averaging import copy_parameters

        copy_parameters(model, state["average"]["shadow"])
    return model
