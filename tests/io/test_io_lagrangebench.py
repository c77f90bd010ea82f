"""Our folders meet what LagrangeBench's loader and case set-up read from them.

`LagrangeBenchReader` restates, in a few lines written for this test, the logic of
lagrangebench/data/data.py (H5Dataset: metadata.json, keys listed in file order, the sequence length
of "00000", training windows located by bisection over cumulative counts, validation trajectories cut
into input_seq_length + extra_seq_length chunks, matscipy padding to num_particles_max with type -1)
and the metadata uses in case_setup/case.py, runner.py and data_gen/gen_dataset.py (bounds -> box,
periodic flags, connectivity radius, normalisation statistics of per-frame velocities/accelerations of
fluid particles, with jax-md's periodic displacement).
"""
import bisect
import json

import h5py
import numpy as np
import pytest

from simengine import Trajectory
from simengine.io import compute_statistics, write_dataset
from simengine.io.types import ParticleType

PAD = -1


class LagrangeBenchReader:
    def __init__(self, root, split, input_seq_length=6, extra_seq_length=0):
        self.metadata = json.loads((root / "metadata.json").read_text())
        self.path = root / f"{split}.h5"
        with h5py.File(self.path, "r") as f:
            self.keys = list(f.keys())
            self.sequence_length = f["00000/position"].shape[0]
        if split == "train":
            self.subseq = input_seq_length + 1 + extra_seq_length
            per_traj = self.sequence_length - self.subseq + 1
            self.cumulative = np.cumsum([per_traj] * len(self.keys)).tolist()
            self.num_samples = sum([per_traj] * len(self.keys))
        else:
            assert extra_seq_length > 0
            self.subseq = input_seq_length + extra_seq_length
            self.n_chunks = self.sequence_length // self.subseq
            self.num_samples = self.n_chunks * len(self.keys)
        assert self.sequence_length >= self.subseq

    def window(self, idx):
        traj = bisect.bisect(self.cumulative, idx)
        start = idx - (self.cumulative[traj - 1] if traj else 0)
        with h5py.File(self.path, "r") as f:
            group = f[self.keys[traj]]
            return group["position"][start:start + self.subseq].transpose(1, 0, 2), group["particle_type"][:]

    def chunk(self, idx):
        traj, part = divmod(idx, self.n_chunks)
        with h5py.File(self.path, "r") as f:
            group = f[self.keys[traj]]
            lo = part * self.subseq
            return group["position"][lo:lo + self.subseq].transpose(1, 0, 2), group["particle_type"][:]

    def matscipy_pad(self, pos, ptype):
        pad = self.metadata["num_particles_max"] - pos.shape[0]
        return (np.pad(pos, ((0, pad), (0, 0), (0, 0))),
                np.pad(ptype, (0, pad), constant_values=PAD))


def jaxmd_periodic_displacement(a, b, side):
    """jax_md.space.periodic: wrap a - b into [-side/2, side/2)."""
    return np.mod(a - b + 0.5 * side, side) - 0.5 * side


def lagrangebench_statistics(root, splits):
    """gen_dataset.compute_statistics_h5, two passes over fluid (type 0) particles."""
    meta = json.loads((root / "metadata.json").read_text())
    bounds = np.array(meta["bounds"])
    side = bounds[:, 1] - bounds[:, 0]
    disp = (lambda a, b: jaxmd_periodic_displacement(a, b, side)) if any(meta["periodic_boundary_conditions"]) \
        else (lambda a, b: a - b)
    result = {}
    for stage in ("mean", "std"):
        vel_parts, acc_parts = [], []
        for split in splits:
            with h5py.File(root / f"{split}.h5", "r") as f:
                for _, group in f.items():
                    tag = group["particle_type"][:]
                    r = group["position"][:][:, tag == 0].astype(np.float64)
                    vel = disp(r[1:], r[:-1])
                    acc = vel[1:] - vel[:-1]
                    if stage == "mean":
                        vel_parts.append(vel.mean((0, 1)))
                        acc_parts.append(acc.mean((0, 1)))
                    else:
                        vel_parts.append(np.square(vel - result["vel_mean"]).mean((0, 1)))
                        acc_parts.append(np.square(acc - result["acc_mean"]).mean((0, 1)))
        if stage == "mean":
            result["vel_mean"], result["acc_mean"] = np.mean(vel_parts, 0), np.mean(acc_parts, 0)
        else:
            result["vel_std"] = np.sqrt(np.mean(vel_parts, 0))
            result["acc_std"] = np.sqrt(np.mean(acc_parts, 0))
    return {k: np.where(v < 1e-7, 1.0, v) if k.endswith("std") else v for k, v in result.items()}


def swirling_box(rng, frames=16, fluid=30, walls=6, particles_extra=0):
    """Fluid particles on noisy circles in a periodic unit box (they cross its faces), static walls."""
    n = fluid + particles_extra
    centre, radius = rng.random((n, 2)), rng.uniform(0.05, 0.2, n)
    phase, omega = rng.uniform(0, 2 * np.pi, n), rng.uniform(0.1, 0.3, n)
    angle = phase + omega * np.arange(frames)[:, None]  # (T, n)
    circle = np.stack([np.cos(angle), np.sin(angle)], -1)  # (T, n, 2)
    fluid_pos = centre + radius[:, None] * circle
    wall = np.repeat(rng.random((1, walls, 2)), frames, 0)
    pos = np.concatenate([fluid_pos, wall], 1) % 1.0
    ptype = np.r_[np.full(n, ParticleType.FLUID), np.full(walls, ParticleType.SOLID_WALL)]
    meta = {"solver": "swirl", "periodic": True, "bounds": [[0.0, 1.0], [0.0, 1.0]], "dx": 0.05, "write_every": 10}
    return Trajectory(pos, ptype, dt=0.01, extras={"mass": np.ones(len(ptype))}, metadata=meta)


@pytest.fixture
def our_folder(tmp_path):
    rng = np.random.default_rng(0)
    write_dataset(tmp_path, {"train": [swirling_box(rng) for _ in range(3)],
                             "valid": [swirling_box(rng, particles_extra=-4)], "test": [swirling_box(rng)]})
    return tmp_path


def test_lagrangebench_reader_accepts_our_folder(our_folder):
    train = LagrangeBenchReader(our_folder, "train", input_seq_length=6, extra_seq_length=2)
    assert train.keys == ["00000", "00001", "00002"] and train.sequence_length == 16
    assert train.num_samples == 3 * (16 - 9 + 1)
    pos, ptype = train.window(train.num_samples - 1)  # last window of the last trajectory
    assert pos.shape == (36, 9, 2) and pos.dtype == np.float32 and ptype.dtype.kind == "i"
    with h5py.File(our_folder / "train.h5") as f:
        np.testing.assert_array_equal(pos, f["00002/position"][7:16].transpose(1, 0, 2))

    valid = LagrangeBenchReader(our_folder, "valid", input_seq_length=6, extra_seq_length=2)
    assert valid.num_samples == 16 // 8
    pos, ptype = valid.matscipy_pad(*valid.chunk(1))
    assert pos.shape == (36, 8, 2) and (ptype == PAD).sum() == 4  # padded up to num_particles_max

    meta = train.metadata
    for key in ("dim", "dx", "dt", "write_every", "default_connectivity_radius", "num_particles_max"):
        assert isinstance(meta[key], (int, float)) and meta[key] > 0, key
    box = np.array(meta["bounds"])[:, 1] - np.array(meta["bounds"])[:, 0]
    assert box.shape == (meta["dim"],) and np.all(box > 0)
    assert len(meta["periodic_boundary_conditions"]) == meta["dim"] and any(meta["periodic_boundary_conditions"])
    assert meta["dt"] * meta["write_every"] == pytest.approx(0.01)
    for key in ("vel_mean", "vel_std", "acc_mean", "acc_std"):
        assert np.shape(meta[key]) == (meta["dim"],)
    # case_builder's target: normalised acceleration from three positions, finite and O(1)
    pos, _ = train.window(0)
    vel0 = jaxmd_periodic_displacement(pos[:, 1], pos[:, 0], box)
    vel1 = jaxmd_periodic_displacement(pos[:, 2], pos[:, 1], box)
    target = (vel1 - vel0 - np.array(meta["acc_mean"])) / np.array(meta["acc_std"])
    assert np.all(np.isfinite(target)) and np.abs(target).max() < 20


@pytest.mark.parametrize("splits", [("train",), ("train", "valid", "test")])
def test_statistics_equal_lagrangebench_s(our_folder, splits):
    with h5py.File(our_folder / "train.h5") as f:  # the data do wrap around the periodic box
        assert np.abs(np.diff(f["00000/position"][()], axis=0)).max() > 0.5
    ours = compute_statistics(our_folder, splits=splits, store=False)
    theirs = lagrangebench_statistics(our_folder, splits)
    for key, value in theirs.items():
        np.testing.assert_allclose(ours[key], value, rtol=1e-9, atol=1e-12, err_msg=key)
    stored = json.loads((our_folder / "metadata.json").read_text())
    if splits == ("train",):  # what write_dataset stored is the train-split statistics
        np.testing.assert_allclose(stored["acc_std"], theirs["acc_std"], rtol=1e-9)
