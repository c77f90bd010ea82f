"""Corrupt, truncated and inconsistent datasets give errors that name the file and the key."""
import json

import h5py
import numpy as np
import pytest

from simengine import Trajectory
from simengine.errors import DatasetError
from simengine.io import load_dataset, read_metadata, validate_dataset, write_dataset


@pytest.fixture
def folder(tmp_path):
    rng = np.random.default_rng(0)
    trajs = [Trajectory(rng.random((6, 40, 2)), np.arange(40) % 2, dt=0.1,
                        extras={"velocity": rng.random((6, 40, 2)), "material_id": np.arange(40) % 3})
             for _ in range(2)]
    write_dataset(tmp_path, {"train": trajs, "valid": trajs[:1]})
    return tmp_path


def chunk_offset(path, key):
    with h5py.File(path) as f:
        info = f[key].id.get_chunk_info(0)
        return info.byte_offset, info.size


def flip_bytes(path, offset, count=4):
    data = bytearray(path.read_bytes())
    for i in range(offset, offset + count):
        data[i] ^= 0xFF
    path.write_bytes(bytes(data))


def test_valid_dataset_passes(folder):
    report = validate_dataset(folder)
    assert report.ok, report.errors
    train = report.splits["train"]
    assert train.num_trajs == 2 and train.frames == [6, 6] and train.particles == [40, 40]
    assert train.particle_types == {0: 40, 1: 40} and train.materials == {0: 28, 1: 26, 2: 26}
    assert train.keys == {"velocity", "material_id"}
    report.raise_for_errors()


def test_truncated_file(folder):
    path = folder / "train.h5"
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    report = validate_dataset(folder)
    assert not report.ok and "train.h5" in report.errors[0] and "truncated" in report.errors[0]
    with pytest.raises(DatasetError, match="train.h5"):
        load_dataset(folder, "train")
    with pytest.raises(DatasetError, match="train.h5"):
        report.raise_for_errors()


@pytest.mark.parametrize("key", ["position", "particle_type", "velocity"])
def test_flipped_bytes_name_file_and_key(folder, key):
    path = folder / "train.h5"
    offset, size = chunk_offset(path, f"00001/{key}")
    flip_bytes(path, offset + size // 2)
    errors = validate_dataset(folder).errors
    assert len(errors) == 1 and "train.h5" in errors[0] and f"/00001/{key}" in errors[0]
    load_dataset(folder, "train")[0]  # the other trajectory still reads
    with pytest.raises(DatasetError, match=f"train.h5.*00001/{key}.*corrupt"):
        load_dataset(folder, "train")[1]


def test_removed_key(folder):
    with h5py.File(folder / "valid.h5", "a") as f:
        del f["00000/particle_type"]
    report = validate_dataset(folder)
    assert report.errors == [f"{folder / 'valid.h5'}: /00000 has no key 'particle_type'"]
    with pytest.raises(DatasetError, match="valid.h5.*no key 'particle_type'"):
        load_dataset(folder, "valid")[0]


@pytest.mark.parametrize("text, message", [
    ("{not json", "not valid JSON"),
    ('["a list"]', "JSON object"),
    (None, "dim = 5 is not one of 1, 2, 3"),
    ({"dt": -1.0}, r"dt = -1.0 is outside the allowed range \(0, inf\)"),
    ({"bounds": [[0, 1]]}, "bounds"),
    ({"periodic_boundary_conditions": [True]}, "periodic_boundary_conditions.*needs dim = 2"),
    ({"vel_std": [1.0, float("nan")]}, "vel_std"),
])
def test_bad_metadata(folder, text, message):
    meta = json.loads((folder / "metadata.json").read_text())
    if text is None:
        meta["dim"] = 5
    elif isinstance(text, dict):
        meta.update(text)
    (folder / "metadata.json").write_text(text if isinstance(text, str) else json.dumps(meta))
    with pytest.raises(DatasetError, match=f"metadata.json.*{message}"):
        read_metadata(folder)
    report = validate_dataset(folder)
    assert not report.ok and "metadata.json" in report.errors[0]


def test_missing_metadata(folder):
    (folder / "metadata.json").unlink()
    assert "metadata.json: missing" in validate_dataset(folder).errors[0]


def test_inconsistent_with_metadata(folder):
    meta = json.loads((folder / "metadata.json").read_text())
    meta.update(num_trajs_train=3, num_particles_max=10, sequence_length_valid=7)
    (folder / "metadata.json").write_text(json.dumps(meta))
    errors = validate_dataset(folder).errors
    assert any("train.h5: holds 2 trajectories, metadata.json num_trajs_train = 3" in e for e in errors)
    assert any("train.h5: a trajectory has 40 particles > metadata.json num_particles_max = 10" in e for e in errors)
    assert any("valid.h5: '00000' has 6 frames, metadata.json sequence_length_valid = 7" in e for e in errors)
    assert len(errors) == 4  # num_particles_max is also exceeded in valid.h5


def test_nan_positions_are_an_error(tmp_path):
    pos = np.zeros((4, 5, 2))
    pos[2, 3, 1] = np.nan
    with h5py.File(tmp_path / "train.h5", "w") as f:  # as a careless writer would
        f["00000/position"] = pos.astype(np.float32)
        f["00000/particle_type"] = np.zeros(5, np.int32)
    (tmp_path / "metadata.json").write_text(json.dumps({"dim": 2, "dt": 0.1}))
    errors = validate_dataset(tmp_path).errors
    assert errors == [f"{tmp_path / 'train.h5'}: /00000/position is not finite at frame 2, particle 3 (1 values)"]
