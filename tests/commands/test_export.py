"""`simengine export DIR --format gns`: the .npz + metadata.json layout gns reads, exact round trip, refusals."""
import json
import os
import re

import numpy as np
import pytest

from simengine import Trajectory
from simengine.cli import main
from simengine.commands.export import export_dataset, read_gns_split
from simengine.errors import InputError
from simengine.io import load_dataset, read_metadata, write_dataset
from simengine.io.types import ParticleType


def traj(rng, frames, particles, types=(ParticleType.FLUID, ParticleType.SAND)):
    pos = rng.random((1, particles, 2)) + np.cumsum(rng.normal(0, 0.01, (frames, particles, 2)), 0)
    return Trajectory(pos.astype(np.float32), np.resize(np.asarray(types), particles), dt=0.01,
                      metadata={"solver": "walk", "write_every": 2})


@pytest.fixture
def dataset(tmp_path):
    rng = np.random.default_rng(0)
    root = str(tmp_path / "data")
    write_dataset(root, {"train": [traj(rng, 9, 30), traj(rng, 9, 24)], "valid": [traj(rng, 8, 30)],
                         "test": [traj(rng, 7, 30, (ParticleType.FLUID, ParticleType.SOLID_WALL))]})
    return root


def gns_load(path):
    """gns's own reader (gns/data_loader.py load_npz_data): every item of the .npz, in order."""
    with np.load(path, allow_pickle=True) as f:
        return [item for _, item in f.items()]


def test_gns_export_round_trips_exactly(dataset, tmp_path, capsys):
    out = str(tmp_path / "gns")
    assert main(["export", dataset, "--format", "gns", "--out", out]) == 0
    assert sorted(os.listdir(out)) == ["metadata.json", "test.npz", "train.npz", "valid.npz"]
    assert "gns predicts them" in capsys.readouterr().err  # the test split's walls: a warning, not a refusal
    for split in ("train", "valid", "test"):
        trajs = load_dataset(dataset, split)
        items = gns_load(os.path.join(out, f"{split}.npz"))
        assert len(items) == len(trajs)
        for (positions, types), t in zip(items, trajs):
            assert positions.dtype == np.float32 and positions.shape == t.position.shape
            np.testing.assert_array_equal(positions, t.position)
            np.testing.assert_array_equal(types, t.particle_type)
            # what gns's TrajectoriesDataset does with them
            assert np.array_equal(np.full(positions.shape[1], types, dtype=int), t.particle_type)
        assert [name for name, _, _ in read_gns_split(os.path.join(out, f"{split}.npz"))] == trajs.keys
    meta, src = json.load(open(os.path.join(out, "metadata.json"))), read_metadata(dataset)
    assert meta["sequence_length"] == 7 and meta["dim"] == 2 and meta["bounds"] == src["bounds"]
    assert meta["default_connectivity_radius"] == src["default_connectivity_radius"]
    assert meta["dt"] == pytest.approx(0.01)  # the frame interval
    for key in ("vel_mean", "vel_std", "acc_mean", "acc_std"):
        np.testing.assert_allclose(meta[key], src[key])
    # exporting again to the same folder from the same dataset is allowed (its own earlier export)
    assert main(["export", dataset, "--out", out, "--splits", "train"]) == 0


def refused(capsys, argv, pattern):
    """The CLI prints an InputError as one line and exits 1."""
    capsys.readouterr()
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert re.search(pattern, err), err


def test_export_refuses_other_folders_and_unsupported_types(dataset, tmp_path, capsys):
    other = str(tmp_path / "other_gns")
    os.makedirs(other)
    np.savez(os.path.join(other, "train.npz"), x=np.zeros(3))  # a gns dataset simengine did not write
    refused(capsys, ["export", dataset, "--out", other], "another exported dataset.*--overwrite")
    assert main(["export", dataset, "--out", other, "--overwrite"]) == 0
    assert len(gns_load(os.path.join(other, "train.npz"))) == 2

    rng = np.random.default_rng(1)
    second = str(tmp_path / "second")
    write_dataset(second, {"train": [traj(rng, 8, 10)]})
    refused(capsys, ["export", second, "--out", other], "another exported dataset")  # an export of another dataset
    refused(capsys, ["export", second, "--out", dataset, "--overwrite"], "holds a dataset")  # never into a dataset

    stars = str(tmp_path / "stars")
    write_dataset(stars, {"train": [traj(rng, 8, 10, (ParticleType.FLUID, ParticleType.STAR, ParticleType.PINNED))]})
    refused(capsys, ["export", stars, "--out", str(tmp_path / "stars_gns")], r"9 star, 15 pinned.*0\.\.8")
    with pytest.raises(InputError, match="particle types outside what gns supports"):
        export_dataset(stars, tmp_path / "stars_gns")
    assert not os.path.exists(tmp_path / "stars_gns" / "metadata.json")
