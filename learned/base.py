"""The contract every learned simulator keeps with the trainer, `simengine rollout` and `compare`.

The trainer, rollout and comparison never branch on a model's name; they call these methods:

* ``from_dataset(info, **config)``: build from a `learned.data.DatasetInfo`, filling
  dataset-dependent defaults (dimension, radius) and storing the normalisation statistics.
* ``data_keys``: the trajectory keys the model reads (missing ones are a clear `DatasetError`).
* ``window_frames(pushforward)``: how many consecutive frames a training window needs.
* ``training_step(batch, generator=, pushforward=, noise=) -> (loss, logs)``: one differentiable
  loss on a collated batch (`learned.data.collate`); the default adds training noise through
  ``one_step_loss`` after ``pushforward`` gradient-free steps of the model's own predictions
  (Brandstetter et al., ICLR 2022).
* ``predict_next(window) -> {"position": (N, D), ...}``: the next frame from the last
  ``input_frames`` frames.
* ``rollout(batch, steps) -> Rollout``: autoregressive prediction with kinematic particles set from
  ground truth, stopping at the first non-finite value or particle far outside the domain.

What a model learned about its dataset (dimension, particle types, statistics, box) travels in its
``state_dict`` (torch's extra-state hook), so a checkpoint is self-contained and can check that a
new dataset matches.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from learned.data.windows import key_layout
from simengine.errors import DatasetError, InputError
from simengine.io import KINEMATIC_TYPES


@dataclass
class Rollout:
    """A predicted continuation: ``position`` (steps, N, D); ``diverged_at`` is the 1-based step
    whose prediction was non-finite or left the domain (frames from there on repeat the last valid
    one), ``reason`` says what happened."""

    position: torch.Tensor
    extras: dict = field(default_factory=dict)
    diverged_at: int | None = None
    reason: str | None = None


class LearnedSimulator(nn.Module):
    """Base class: configuration handling, dataset summary, kinematic masks, pushforward, rollout."""

    defaults: dict = {"input_frames": 2}
    required_keys: tuple = ()    # trajectory keys the model cannot work without
    optional_keys: tuple = ()    # keys used when every trajectory has them
    predicted_keys: tuple = ()   # per-frame keys the model predicts besides position

    def __init__(self, **config):
        super().__init__()
        name = getattr(type(self), "registry_name", type(self).__name__)
        unknown = sorted(set(config) - set(self.defaults))
        if unknown:
            raise InputError(f"{name}: unknown config key(s) {unknown}; allowed: {sorted(self.defaults)}")
        self.config = {**self.defaults, **config}
        self.summary: dict = {}

    # ----- configuration and dataset -------------------------------------------------------------
    @property
    def name(self) -> str:
        return getattr(type(self), "registry_name", type(self).__name__)

    @property
    def input_frames(self) -> int:
        return int(self.config["input_frames"])

    @property
    def metadata_paths(self) -> tuple:
        """Metadata paths that make ``material_params`` (`learned.data.windows.metadata_features`)."""
        return tuple(self.config.get("metadata_features") or ())

    def window_frames(self, pushforward: int = 0) -> int:
        return self.input_frames + 1 + int(pushforward)

    @classmethod
    def dataset_config(cls, info, config: dict) -> dict:
        """Fill dataset-dependent config entries left unset (``dim`` by default)."""
        config = dict(config)
        if "dim" in cls.defaults and config.get("dim") is None:
            config["dim"] = info.dim
        return config

    @classmethod
    def from_dataset(cls, info, **config):
        model = cls(**cls.dataset_config(info, config))
        model.prepare(info)
        return model

    def data_keys(self, available=()) -> tuple:
        """Keys to load: the required ones and the optional ones present in ``available``."""
        return tuple(self.required_keys) + tuple(k for k in self.optional_keys if k in available)

    def check_dataset(self, info) -> None:
        """Raise a clear error unless the dataset has what this model needs and was trained on."""
        derived = {"initial_position"} | ({"material_params"} if self.metadata_paths else set())
        missing = [k for k in self.required_keys if k not in derived and k not in info.keys]
        if missing:
            raise DatasetError(f"{info.path}: model {self.name!r} needs key(s) {missing}, "
                               f"the dataset's trajectories have {list(info.keys) or 'none'}")
        dim = self.config.get("dim")
        if dim is not None and int(dim) != info.dim:
            raise InputError(f"model {self.name!r} expects dimension {dim}, dataset {info.path} has {info.dim}")
        if info.num_frames_min < self.window_frames():
            raise DatasetError(f"{info.path}: trajectories have {info.num_frames_min} frames, model "
                               f"{self.name!r} needs at least {self.window_frames()}")
        types = self.config.get("num_particle_types")  # models with a type embedding of this many rows
        if types is not None:
            outside = [t for t in info.particle_types if not 0 <= t < int(types)]
            if outside:
                raise InputError(f"{self.name}: particle types {outside} are outside [0, num_particle_types = "
                                 f"{types})")
        known = self.summary.get("particle_types")
        if known is not None:
            new = sorted(set(info.particle_types) - set(known))
            if new:
                raise InputError(f"dataset {info.path} has particle type(s) {new} that model {self.name!r} "
                                 f"was not trained on (it knows {known})")

    def prepare(self, info) -> None:
        """Check ``info`` and remember what the model needs of it (statistics, box, types)."""
        self.check_dataset(info)
        self.set_summary({
            "dim": info.dim, "particle_types": list(info.particle_types), "keys": list(info.keys),
            "stats": {k: np.asarray(v, dtype=float).tolist() for k, v in info.stats.items()},
            "bounds": None if info.bounds is None else np.asarray(info.bounds, dtype=float).tolist(),
            "periodic": np.asarray(info.periodic, dtype=bool).tolist(), "radius": info.radius,
        })

    def set_summary(self, summary: dict) -> None:
        """Store the dataset summary; subclasses derive tensors from it (statistics, box)."""
        self.summary = dict(summary)

    def get_extra_state(self):
        return {"summary": self.summary, "config": self.config}

    def set_extra_state(self, state):
        saved = state.get("config")
        if saved is not None:
            # keys added to a model after the checkpoint was written count as their defaults
            saved = {**{k: v for k, v in self.defaults.items() if k not in saved}, **saved}
            diff = sorted(k for k in set(saved) | set(self.config) if saved.get(k) != self.config.get(k))
            if diff:
                raise InputError(f"checkpoint config differs from model {self.name!r} config in {diff}")
        self.set_summary(state.get("summary", {}))

    # ----- masks and geometry ----------------------------------------------------------------------
    def kinematic_mask(self, particle_type: torch.Tensor) -> torch.Tensor:
        """(N,) bool: particles whose motion is prescribed (set from ground truth, not learned)."""
        kinematic = torch.tensor([int(t) for t in KINEMATIC_TYPES], device=particle_type.device)
        return torch.isin(particle_type, kinematic)

    def kinematic_axes(self, batch: dict) -> torch.Tensor:
        """(N, D) bool: the axes along which each particle's motion is prescribed (set from ground truth).

        Every axis of a `kinematic_mask` particle; with a ``fixed_axes`` config entry ({node type: [axes]}, e.g.
        HCMT's ``{7: [0]}``: a SYMMETRIC node is fixed along its symmetry plane's normal x only) also those
        axes of the nodes of each listed ``node_type``. Axes beyond the dimension are ignored.
        """
        position = batch["position"]
        dim = position.shape[-1]
        mask = self.kinematic_mask(batch["particle_type"])[:, None].expand(-1, dim).clone()
        by_type = self.config.get("fixed_axes") or {}
        if by_type and "node_type" in batch:
            types = batch["node_type"].reshape(-1).to(mask.device)
            for node_type, axes in dict(by_type).items():
                columns = [int(a) for a in axes if int(a) < dim]
                if columns:
                    rows = types == int(node_type)
                    mask[:, columns] |= rows[:, None]
        return mask

    def domain_limits(self, margin: float):
        """(lower, upper) (D,) beyond which a particle counts as having left the domain, or None."""
        bounds = self.summary.get("bounds")
        if bounds is None:
            return None
        b = torch.tensor(bounds, dtype=torch.float32)
        extent = b[:, 1] - b[:, 0]
        periodic = torch.tensor(self.summary.get("periodic", [False] * len(bounds)))
        pad = torch.where(periodic, torch.full_like(extent, float("inf")), margin * extent)
        return b[:, 0] - pad, b[:, 1] + pad

    # ----- training --------------------------------------------------------------------------------
    def training_step(self, batch: dict, *, generator=None, pushforward: int = 0, noise: bool = True):
        """Loss on the last target frame after ``pushforward`` unrolled steps. Returns (loss, logs)."""
        if pushforward:
            batch = self.unroll_inputs(batch, pushforward)
        return self.one_step_loss(batch, generator=generator, noise=noise)

    def one_step_loss(self, batch: dict, *, generator=None, noise: bool = True):
        raise NotImplementedError(f"{self.name} must implement one_step_loss or training_step")

    @torch.no_grad()
    def unroll_inputs(self, batch: dict, steps: int) -> dict:
        """Replace the input frames by ``steps`` of the model's own predictions (no gradient).

        ``batch["position"]`` has H + 1 + steps frames; the result has H + 1: the last H predicted
        (or, for kinematic particles, true) frames and the true target frame.
        """
        h = self.input_frames
        window = self._frames(batch, 0, h)
        fixed = self.kinematic_axes(batch)
        for step in range(steps):
            nxt = self.predict_next(window)
            truth = batch["position"][h + step]
            nxt["position"] = torch.where(fixed, truth, nxt["position"])
            window = self._shift(window, nxt, batch, h + step)
        out = self._frames(batch, steps, h + 1)
        for key in ("position",) + tuple(self.predicted_keys):
            out[key] = torch.cat([window[key], batch[key][h + steps:h + steps + 1]], 0)
        return out

    # ----- inference -------------------------------------------------------------------------------
    def predict_next(self, window: dict) -> dict:
        raise NotImplementedError(f"{self.name} must implement predict_next")

    @torch.no_grad()
    def rollout(self, batch: dict, steps: int, *, margin: float = 0.5, progress=None) -> Rollout:
        """Predict ``steps`` frames after the first ``input_frames`` frames of ``batch``.

        Frames of ``batch`` after the inputs, where present, give the kinematic particles' positions
        and any per-frame inputs (e.g. actions). ``margin``: a particle farther than ``margin`` x the
        domain extent outside the box counts as diverged.
        """
        h = self.input_frames
        available = batch["position"].shape[0]
        if available < h:
            raise InputError(f"rollout needs {h} initial frames, got {available}")
        fixed = self.kinematic_axes(batch)
        limits = self.domain_limits(margin)
        window = self._frames(batch, 0, h)
        frames, extras = [], {k: [] for k in self.predicted_keys}
        diverged_at = reason = None
        for step in range(steps):
            nxt = self.predict_next(window)
            if h + step < available:
                nxt["position"] = torch.where(fixed, batch["position"][h + step], nxt["position"])
            reason = _divergence(nxt["position"], limits)
            if reason is not None:
                diverged_at = step + 1
                break
            frames.append(nxt["position"])
            for key in self.predicted_keys:
                extras[key].append(nxt[key])
            window = self._shift(window, nxt, batch, h + step)
            if progress is not None:
                progress.update(1)
        last = frames[-1] if frames else window["position"][-1]
        frames += [last] * (steps - len(frames))
        for key in self.predicted_keys:
            last_value = extras[key][-1] if extras[key] else window[key][-1]
            extras[key] += [last_value] * (steps - len(extras[key]))
        position = torch.stack(frames) if frames else batch["position"][:0]
        extras = {k: torch.stack(v) for k, v in extras.items() if v}
        return Rollout(position, extras, diverged_at, reason)

    # ----- window helpers --------------------------------------------------------------------------
    @staticmethod
    def _frames(batch: dict, start: int, count: int) -> dict:
        """Frames ``start .. start+count-1`` of every per-frame key, other keys unchanged."""
        out = {}
        for key, value in batch.items():
            layout = key_layout_or_none(key)
            if key == "position" or layout == "TN":
                out[key] = value[start:start + count]
            elif layout == "T":
                out[key] = value[:, start:start + count]
            else:
                out[key] = value
        return out

    def _shift(self, window: dict, nxt: dict, batch: dict, frame: int) -> dict:
        """Drop the oldest frame of ``window`` and append the predicted frame ``frame``."""
        out = dict(window)
        for key, value in window.items():
            layout = "TN" if key == "position" else key_layout_or_none(key)
            if layout not in ("TN", "T"):
                continue
            if key in nxt:
                new = nxt[key][None] if layout == "TN" else nxt[key][:, None]
            else:
                source = batch[key]
                limit = source.shape[0] if layout == "TN" else source.shape[1]
                if frame >= limit:
                    raise InputError(f"rollout needs {key!r} at frame {frame}, the input has {limit} frames")
                new = source[frame:frame + 1] if layout == "TN" else source[:, frame:frame + 1]
            out[key] = torch.cat([value[1:], new], 0) if layout == "TN" else torch.cat([value[:, 1:], new], 1)
        return out


def key_layout_or_none(key: str):
    """`key_layout` for trajectory keys, None for batch bookkeeping keys (batch, num_particles...)."""
    if key in ("position", "particle_type", "batch", "num_particles"):
        return None
    try:
        return key_layout(key)
    except InputError:
        return None


def _divergence(position: torch.Tensor, limits) -> str | None:
    finite = torch.isfinite(position).all(-1)
    if not bool(finite.all()):
        i = int(torch.nonzero(~finite)[0, 0])
        return f"non-finite position of particle {i}"
    if limits is not None:
        lower, upper = (x.to(position) for x in limits)
        outside = ((position < lower) | (position > upper)).any(-1)
        if bool(outside.any()):
            i = int(torch.nonzero(outside)[0, 0])
            return f"particle {i} left the domain at {position[i].tolist()}"
    return None
