"""Datasets of tracked Gaussians: what GS-Dynamics and PGND train on when the objects come from videos.

Each episode of a simulated dataset is filmed (`simengine.gaussians.video.render_video`: textured Gaussians on the
bodies, 4 orbit views) and tracked (`simengine.gaussians.track.track_views`: Dynamic 3D Gaussians seeded from the
fused RGB-D cloud, never from the simulation). The tracked Gaussian centres become the particles of a new
trajectory, which keeps the episode's gripper ``action`` rows. A model trained on such a dataset and scored on the
simulator's own test episodes measures what tracking costs a learned simulator: the papers can only train on
tracks, here the true particles are known.

    from simengine.gaussians.dataset import tracked_dataset
    tracked_dataset("data/rope_pull", "data/rope_pull_tracked", work="runs/tracking")   # train + valid tracked

Both steps write files under ``work`` and are resumed from them (tracking per frame).
"""
from __future__ import annotations

import os

import numpy as np

from simengine.errors import InputError

#: per-frame keys carried over from the source episode (sliced to the tracked frames)
CARRIED_KEYS = ("action",)
#: source metadata that indexes the simulated particles, so does not describe the tracked Gaussians
PARTICLE_METADATA = ("bodies", "pinned")


def tracked_trajectory(trajectory, work: str, *, config=None, frames: int | None = None, size: int = 128,
                       views: int = 4, seed: int = 0, progress: bool = False):
    """One episode filmed and tracked: a `Trajectory` of the tracked Gaussian centres (T, G, 3).

    Args:
        trajectory: a 3D simulated `Trajectory` with object particles.
        work: folder for ``views.h5`` and ``tracked.h5`` (reused and resumed when present).
        config: `simengine.gaussians.track.TrackConfig` (default: ``simengine track --quick``'s settings).
        frames: film and track only the first ``frames`` frames (default all).
        size, views, seed: images' width and height, number of orbit cameras, seed of the Gaussians' texture.
    Returns a `Trajectory`: ``position`` the tracked centres, ``particle_type`` the source's first object type
    for every Gaussian, ``dt`` the source's, the source's per-frame ``action`` (when present), and the source's
    metadata (the scene: grippers, colliders, ...; not what indexes its particles, ``PARTICLE_METADATA``) with
    the tracking settings and Gaussian count added.
    """
    from simengine.gaussians.track import QUICK, TrackConfig, load_tracked, track
    from simengine.gaussians.video import render_video
    from simengine.io import Trajectory

    if trajectory.dim != 3:
        raise InputError(f"a {trajectory.dim}D trajectory: tracked datasets are made of 3D bodies only")
    os.makedirs(work, exist_ok=True)
    views_path, tracked_path = os.path.join(work, "views.h5"), os.path.join(work, "tracked.h5")
    if not os.path.exists(views_path):
        render_video(trajectory, views_path, views=views, size=size, frames=frames, seed=seed, progress=progress,
                     source=trajectory.metadata.get("name"))
    track(views_path, tracked_path, config or TrackConfig(**QUICK), frames=frames, progress=progress)
    tracked = load_tracked(tracked_path)
    position = tracked["position"].astype(np.float32)
    kind = np.full(position.shape[1], int(trajectory.particle_type[0]), dtype=np.int32)
    extras = {k: np.asarray(trajectory.extras[k][:len(position)]) for k in CARRIED_KEYS if k in trajectory.extras}
    meta = {k: v for k, v in trajectory.metadata.items() if k not in PARTICLE_METADATA}
    meta.update(tracked=True, tracking=tracked["metadata"].get("settings", {}), gaussians=int(position.shape[1]))
    return Trajectory(position=position, particle_type=kind, dt=trajectory.dt, extras=extras, metadata=meta)


def tracked_dataset(data: str, out: str, *, work: str, splits=("train", "valid"), config=None,
                    frames: int | None = None, size: int = 128, progress: bool = False) -> dict:
    """Write ``out``: the ``splits`` of dataset ``data`` replaced by their tracked Gaussians (`tracked_trajectory`,
    one work folder per episode under ``work``), the other splits copied as they are (the test split stays the
    simulator's particles, to score on). Returns the new dataset's metadata; an ``out`` already complete is kept."""
    from simengine.io import load_split, read_metadata, write_dataset
    from simengine.io.dataset import split_path

    if os.path.exists(os.path.join(out, "metadata.json")):
        return read_metadata(out)
    unknown = set(splits) - {"train", "valid", "test"}
    if unknown:
        raise InputError(f"splits = {sorted(unknown)} are not among ['test', 'train', 'valid']")
    meta = read_metadata(data)
    result = {}
    for split in ("train", "valid", "test"):
        if not os.path.exists(split_path(data, split, must_exist=False)):  # a split the source does not have
            continue
        episodes = load_split(data, split)
        if split in splits:
            episodes = [tracked_trajectory(traj, os.path.join(work, f"{split}_{traj.metadata['name']}"),
                                           config=config, frames=frames, size=size, progress=progress)
                        for traj in episodes]
        result[split] = episodes
    keep = {k: meta[k] for k in ("bounds", "gravity", "write_every", "scene_script", "simulator") if k in meta}
    return write_dataset(out, result, metadata={**keep, "tracked_from": os.path.abspath(data),
                                                 "tracked_splits": list(splits)})
