"""Roll a trained model out over a dataset split and write the predictions in the dataset's format.

For each trajectory the first ``input_frames`` frames are copied from ground truth and the rest are
predicted autoregressively (kinematic particles from ground truth). The output folder is itself a
LagrangeBench-layout dataset: ``<out>/<split>.h5`` with the same group names as the source, and
``<out>/metadata.json`` (the source's, plus a ``rollout`` entry). Each group's ``metadata``
attribute records ``rollout_start``, ``model``, ``diverged_at`` and ``divergence_reason``.
"""
from __future__ import annotations

import json
import os
import time

import numpy as np
import torch

from learned.data import WindowDataset, collate, describe, load_split, read_metadata
from learned.data.windows import batch_to, key_layout
from simengine.io import Trajectory, atomic_path, write_group


def rollout_split(model, data_dir: str, split: str = "test", out_dir: str | None = None,
                  steps: int | None = None, limit: int | None = None, progress: bool = True,
                  device=None) -> list:
    """Predict every trajectory of ``split``; write them to ``out_dir`` when given. Returns the
    predicted `Trajectory` list (same frame count as the truth unless ``steps`` shortens it).
    ``device``: move the model there and roll out on it (None: where the model is)."""
    from tqdm.auto import tqdm

    truths = load_split(data_dir, split, limit=limit)
    model.check_dataset(describe(data_dir, split, truths))
    model.eval()
    if device is not None:
        model.to(device)
    param = next(model.parameters(), None)
    device = param.device if param is not None else torch.device("cpu")
    keys = model.data_keys(tuple(k for k in truths[0].extras if all(k in t.extras for t in truths)))
    windows = WindowDataset(truths, 1, keys, metadata_paths=model.metadata_paths)
    h = model.input_frames
    total = sum(min(t.num_frames - h, steps if steps is not None else t.num_frames) for t in truths)
    predictions, started = [], time.time()
    with tqdm(total=total, desc=f"rollout {model.name} on {split}", unit="step", disable=not progress,
              dynamic_ncols=True) as bar:
        for i, truth in enumerate(truths):
            n = truth.num_frames - h if steps is None else min(steps, truth.num_frames - h)
            sample = batch_to(collate([windows.trajectory(i)]), device)
            sample["metadata"] = [truth.metadata]  # per trajectory: lets a model re-create its scene
            result = model.rollout(sample, n, progress=bar)
            position = np.concatenate([truth.position[:h], result.position.cpu().numpy()], 0)
            extras = {k: v for k, v in truth.extras.items() if key_layout(k) not in ("TN", "T")}
            for key, value in result.extras.items():
                extras[key] = np.concatenate([truth.extras[key][:h], value.cpu().numpy()], 0)
            meta = {"rollout_start": h, "model": model.name, "diverged_at": result.diverged_at,
                    "divergence_reason": result.reason, "name": truth.metadata.get("name", f"{i:05d}")}
            predictions.append(Trajectory(position, truth.particle_type, dt=truth.dt, extras=extras,
                                          metadata=meta))
    seconds = time.time() - started
    if out_dir is not None:
        info = {"model": model.name, "split": split, "source": os.path.abspath(data_dir), "seconds": seconds,
                "steps": total, "steps_per_second": total / max(seconds, 1e-9), "input_frames": h,
                "diverged": [p.metadata["name"] for p in predictions if p.metadata["diverged_at"]]}
        write_split(out_dir, split, predictions, {**read_metadata(data_dir), "rollout": info})
    return predictions


def write_split(out_dir: str, split: str, trajectories, metadata: dict) -> str:
    """Write trajectories as ``out_dir/<split>.h5`` (groups by ``metadata['name']``) + metadata.json, in a
    folder claimed as a rollout (`simengine.io.outputs`: never into a dataset, never over foreign files)."""
    import h5py

    from simengine.io.outputs import OUTPUT_KEY, claim_output_dir

    claim_output_dir(out_dir, "rollout", [f"{split}.h5", "metadata.json"], command="rollout", field="rollout folder")
    metadata = {**metadata, OUTPUT_KEY: "rollout"}  # what tells a rollout folder from a dataset
    path = os.path.join(out_dir, f"{split}.h5")
    with atomic_path(path) as tmp:
        with h5py.File(tmp, "w") as f:
            for i, traj in enumerate(trajectories):
                group = f.create_group(str(traj.metadata.get("name", f"{i:05d}")))
                write_group(group, traj)
                group.attrs["metadata"] = json.dumps(_jsonable(traj.metadata))
    with atomic_path(os.path.join(out_dir, "metadata.json")) as tmp:
        with open(tmp, "w") as f:
            json.dump(_jsonable(metadata), f, indent=2)
    return path


def _jsonable(obj):
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, (np.generic, torch.Tensor)):
        return obj.item() if obj.ndim == 0 else obj.tolist()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    return obj
