"""Checkpoints: everything needed to resume training exactly, or to roll a model out later.

A checkpoint (``RUN/checkpoints/last.pt``, ``best.pt``, ``step_0001000.pt``) is a torch zip file of::

    format, model_name, model_config, model_state (with the dataset summary), optimizer, scheduler,
    step, train_config, rng {torch, numpy, python, sampler, noise}, best_val,
    dataset {path, metadata_sha256}, average (moving-average weights, or None)

Safety: a checkpoint holds only tensors and plain containers (dict, list, tuple, str, int, float, bool,
None): the numpy and Python RNG states are stored as dicts and lists of ints (`rng_state`). Every file is
read with ``torch.load(weights_only=True)``, so loading a checkpoint can never run code; a file that needs
more than that (another program's pickle, a crafted file, a checkpoint of format 1, which pickled numpy
objects) is refused with a one-line `InputError`. `save_checkpoint` refuses, before writing, a state that
would not load that way.
"""
from __future__ import annotations

import collections
import glob
import os
import pickle
import random
import warnings

import numpy as np
import torch

from simengine.errors import InputError
from simengine.io import atomic_path

FORMAT = 2
_PLAIN = (str, int, float, bool, type(None))


def checkpoint_dir(run_dir: str) -> str:
    return os.path.join(run_dir, "checkpoints")


def plain_state(obj, where: str = "checkpoint"):
    """A copy of ``obj`` that ``torch.load(weights_only=True)`` reads back: tensors and plain containers.

    numpy arrays become tensors, numpy scalars Python numbers; anything else raises TypeError naming
    where it is (a programming error: a checkpoint must never need arbitrary unpickling).
    """
    if isinstance(obj, torch.Tensor):
        return obj
    if isinstance(obj, np.ndarray):
        return torch.from_numpy(np.ascontiguousarray(obj))
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, _PLAIN):
        return obj
    if isinstance(obj, dict):
        out = collections.OrderedDict() if isinstance(obj, collections.OrderedDict) else {}
        for k, v in obj.items():
            if not isinstance(k, (str, int)):
                raise TypeError(f"{where}: key {k!r} of type {type(k).__name__} cannot be stored in a checkpoint")
            out[k] = plain_state(v, f"{where}.{k}")
        return out
    if isinstance(obj, (list, tuple)):
        items = [plain_state(v, f"{where}[{i}]") for i, v in enumerate(obj)]
        return items if isinstance(obj, list) else tuple(items)
    raise TypeError(f"{where}: a {type(obj).__module__}.{type(obj).__name__} cannot be stored in a checkpoint "
                    f"(only tensors, numbers, strings and plain containers load with weights_only=True)")


def save_checkpoint(path: str, state: dict) -> str:
    """Write ``state`` atomically (a crash never leaves a half-written checkpoint)."""
    state = plain_state({"format": FORMAT, **state})
    with atomic_path(path) as tmp:
        torch.save(state, tmp)
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


def _refusal_reason(exc: Exception) -> str:
    """The one informative line of torch's weights-only error (which object it would have unpickled)."""
    boilerplate = ("Weights only load failed", "Please file an issue", "Check the documentation", "In PyTorch 2.6")
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    lines = [line for line in lines if not line.startswith(boilerplate)]
    reason = lines[0] if lines else type(exc).__name__
    reason = reason.replace("WeightsUnpickler error:", "").strip() or type(exc).__name__
    return reason if len(reason) <= 200 else reason[:197] + "..."


def load_checkpoint(path: str) -> dict:
    """Read a checkpoint (``weights_only=True``: never runs code) and check that it is one."""
    try:
        with warnings.catch_warnings():  # e.g. "Detected pickle protocol 4": the answer is the error below
            warnings.simplefilter("ignore")
            state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        raise InputError(f"{path}: refusing to unpickle objects other than tensors and plain containers "
                         f"(weights_only=True): {_refusal_reason(exc)}; a checkpoint of simengine format < "
                         f"{FORMAT} is refused too (train again)") from None
    except Exception as exc:
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise InputError(f"{path}: not a readable simengine checkpoint ({reason})") from None
    if not isinstance(state, dict) or state.get("format") != FORMAT or "model_name" not in state:
        found = state.get("format") if isinstance(state, dict) else type(state).__name__
        raise InputError(f"{path}: not a simengine checkpoint of format {FORMAT} (found format {found!r})")
    return state


# ----- RNG states in plain form --------------------------------------------------------------------------
def numpy_rng_state() -> dict:
    """numpy's global RNG state as plain values (``bit_generator``, ``key`` list, ``pos``, ``has_gauss``,
    ``gauss``)."""
    state = np.random.get_state(legacy=False)
    if state.get("bit_generator") != "MT19937":  # np.random.seed always makes an MT19937
        raise TypeError(f"numpy's global RNG is a {state.get('bit_generator')}, not MT19937")
    return {"bit_generator": "MT19937", "key": [int(v) for v in state["state"]["key"]],
            "pos": int(state["state"]["pos"]), "has_gauss": int(state["has_gauss"]), "gauss": float(state["gauss"])}


def set_numpy_rng_state(state: dict) -> None:
    np.random.set_state({"bit_generator": state["bit_generator"],
                         "state": {"key": np.asarray(state["key"], dtype=np.uint32), "pos": int(state["pos"])},
                         "has_gauss": int(state["has_gauss"]), "gauss": float(state["gauss"])})


def python_rng_state() -> list:
    """Python's `random` state as ``[version, [ints], gauss_next]``."""
    version, internal, gauss = random.getstate()
    return [int(version), [int(v) for v in internal], gauss]


def set_python_rng_state(state) -> None:
    version, internal, gauss = state
    random.setstate((int(version), tuple(int(v) for v in internal), gauss))


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
