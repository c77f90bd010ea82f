"""Windows of consecutive frames for training, and batching of graphs of different sizes.

A *window* is ``frames`` consecutive recorded frames of one trajectory: the model's ``input_frames``
past positions plus the target frame(s) after them. A *batch* concatenates windows along the
particle axis (the PyG convention), so trajectories with different particle counts batch together:

    position        (W, N_total, D)   float32
    particle_type   (N_total,)        int64
    batch           (N_total,)        int64, sample index of each particle
    num_particles   (B,)              int64
    <key> "TN"      (W, N_total, ...) per-frame per-particle keys (velocity, F, ...)
    <key> "N"       (N_total, ...)    per-particle keys (mass, material_params, species)
    <key> "T"       (B, W, ...)       per-frame keys (action, time)
    cells           (C_total, K)      vertex indices shifted by each sample's particle offset
    mesh_pos, node_type (N_total, ...) per-vertex mesh keys;  cell (B, ...) per-sample box
    initial_position (N_total, D)     the trajectory's first frame (a rest shape for meshes)
"""
from __future__ import annotations

import numpy as np
import torch

from simengine.errors import DatasetError, InputError
from simengine.io import OPTIONAL_KEYS

# Keys of OPTIONAL_KEYS' free ("-") kind and how they batch.
_PER_NODE_FREE = ("mesh_pos", "node_type")
_PER_SAMPLE_FREE = ("cell",)
_INDEX_FREE = ("cells",)


def key_layout(key: str) -> str:
    """'TN', 'N', 'T', 'node', 'sample' or 'index': how `key` is windowed and batched."""
    if key == "initial_position" or key in _PER_NODE_FREE:
        return "node"
    if key in _PER_SAMPLE_FREE:
        return "sample"
    if key in _INDEX_FREE:
        return "index"
    layout = OPTIONAL_KEYS.get(key)
    if layout is None:
        raise InputError(f"unknown trajectory key {key!r}; allowed: {sorted(OPTIONAL_KEYS)}")
    if layout == "-":
        return "sample"
    return layout


def metadata_features(traj, paths) -> np.ndarray:
    """(N, P) per-particle features read from the trajectory's metadata, one column per path.

    A path is dot-separated keys and list indices into ``traj.metadata``, e.g.
    ``"boundary_friction"`` (one value for every particle) or ``"materials.{material_id}.friction_angle"``
    (``{material_id}`` indexes by each particle's ``material_id`` key, for multi-material scenes).
    Conditioning on material parameters follows Choi & Kumar's GNS for granular flows (2023).
    """
    n = traj.num_particles
    name = traj.metadata.get("name", "?")
    columns = []
    for path in paths:
        per_particle = "{material_id}" in path
        ids = np.asarray(traj.extras.get("material_id", np.zeros(n, int))).reshape(-1) if per_particle else [0]
        values = {}
        for material in np.unique(ids):
            value = traj.metadata
            for part in path.replace("{material_id}", str(int(material))).split("."):
                try:
                    value = value[int(part)] if isinstance(value, (list, tuple)) else value[part]
                except (KeyError, IndexError, ValueError, TypeError):
                    raise DatasetError(f"trajectory {name!r}: metadata has no {path!r} (failed at {part!r})") from None
            values[int(material)] = float(value)
        columns.append(np.array([values[int(i)] for i in ids]) if per_particle else np.full(n, values[0]))
    return np.stack(columns, 1).astype(np.float32) if columns else np.zeros((n, 0), np.float32)


class WindowDataset(torch.utils.data.Dataset):
    """All windows of ``frames`` consecutive frames over a list of trajectories.

    Args:
        trajectories: `simengine.io.Trajectory` objects (held in memory as torch tensors).
        frames: window length W = input frames + target frames.
        keys: optional trajectory keys to include (each must be present in every trajectory).
        stride: distance between the first frames of consecutive windows.
        metadata_paths: build ``material_params`` (N, P) from these metadata paths
            (`metadata_features`) instead of reading it from the trajectories.
    """

    def __init__(self, trajectories, frames: int, keys=(), stride: int = 1, metadata_paths=()):
        if frames < 1:
            raise InputError(f"frames = {frames} is outside the allowed range [1, inf)")
        self.frames, self.keys = int(frames), tuple(keys)
        self.items = []
        self._data = []
        derived = {"initial_position"} | ({"material_params"} if metadata_paths else set())
        for t, traj in enumerate(trajectories):
            missing = [k for k in self.keys if k not in derived and k not in traj.extras]
            if missing:
                name = traj.metadata.get("name", t)
                raise DatasetError(f"trajectory {name!r} lacks key(s) {missing} (it has {sorted(traj.extras)})")
            data = {"position": torch.from_numpy(np.ascontiguousarray(traj.position, dtype=np.float32)),
                    "particle_type": torch.from_numpy(traj.particle_type.astype(np.int64))}
            for key in self.keys:
                if key == "material_params" and metadata_paths:
                    value = metadata_features(traj, metadata_paths)
                else:
                    value = traj.position[0] if key == "initial_position" else traj.extras[key]
                value = np.asarray(value)
                data[key] = torch.from_numpy(value.astype(np.float32) if value.dtype.kind == "f"
                                             else value.astype(np.int64))
            self._data.append(data)
            self.items += [(t, s) for s in range(0, traj.num_frames - self.frames + 1, stride)]
        if not self.items:
            longest = max((t.num_frames for t in trajectories), default=0)
            raise DatasetError(f"no window of {self.frames} frames fits: the longest trajectory has {longest}")

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> dict:
        t, start = self.items[index]
        return self.window(t, start, self.frames)

    def window(self, traj_index: int, start: int, frames: int) -> dict:
        """Frames ``start .. start + frames - 1`` of trajectory ``traj_index`` as one sample."""
        data = self._data[traj_index]
        stop = start + frames
        sample = {"position": data["position"][start:stop], "particle_type": data["particle_type"]}
        for key in self.keys:
            sample[key] = data[key][start:stop] if key_layout(key) in ("TN", "T") else data[key]
        return sample

    def trajectory(self, traj_index: int) -> dict:
        """A whole trajectory as one sample (all frames)."""
        return self.window(traj_index, 0, self._data[traj_index]["position"].shape[0])


def collate(samples) -> dict:
    """Batch samples of possibly different particle counts (layout in the module docstring)."""
    frames = {s["position"].shape[0] for s in samples}
    if len(frames) != 1:
        raise InputError(f"samples of a batch need one window length, got {sorted(frames)}")
    counts = [s["position"].shape[1] for s in samples]
    batch = {
        "position": torch.cat([s["position"] for s in samples], 1),
        "particle_type": torch.cat([s["particle_type"] for s in samples]),
        "batch": torch.repeat_interleave(torch.arange(len(samples)), torch.tensor(counts)),
        "num_particles": torch.tensor(counts),
    }
    offsets = np.cumsum([0] + counts[:-1])
    for key in samples[0]:
        if key in batch:
            continue
        layout = key_layout(key)
        values = [s[key] for s in samples]
        if layout == "TN":
            batch[key] = torch.cat(values, 1)
        elif layout in ("N", "node"):
            batch[key] = torch.cat(values, 0)
        elif layout in ("T", "sample"):
            batch[key] = torch.stack(values, 0)
        else:  # index arrays: shift vertex ids into the concatenated numbering
            batch[key] = torch.cat([v + int(o) for v, o in zip(values, offsets)], 0)
    return batch


def batch_to(batch: dict, device) -> dict:
    """Move every tensor of a batch to ``device``."""
    return {k: v.to(device) if torch.is_tensor(v) else v for k, v in batch.items()}
