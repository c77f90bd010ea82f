"""Dataset folders: exact round trip, derived metadata, LagrangeBench folders loading unchanged."""
import json
import os

import h5py
import numpy as np
import pytest

from simengine import Trajectory
from simengine.errors import DatasetError, InputError
from simengine.io import Dataset, load_dataset, read_metadata, write_dataset
from simengine.io.types import ParticleType


def walk(rng, frames=6, particles=12, dim=2, **meta):
    pos = rng.random((1, particles, dim)) + np.cumsum(rng.normal(0, 0.01, (frames, particles, dim)), 0)
    ptype = np.where(np.arange(particles) < particles - 2, ParticleType.FLUID, ParticleType.SOLID_WALL)
    extras = {"velocity": rng.normal(size=(frames, particles, dim)).astype(np.float32),
              "material_id": np.arange(particles) % 3}
    return Trajectory(pos, ptype, dt=0.02, extras=extras, metadata={"solver": "walk", "write_every": 4, **meta})


def test_round_trip_is_exact(tmp_path):
    rng = np.random.default_rng(1)
    splits = {"train": [walk(rng, E=float(i)) for i in range(3)], "valid": [walk(rng, particles=7)],
              "test": [walk(rng, frames=9)]}
    write_dataset(tmp_path, splits, {"seed": 3})
    for split, trajs in splits.items():
        ds = load_dataset(tmp_path, split)
        assert len(ds) == len(trajs) and ds.keys == [f"{i:05d}" for i in range(len(trajs))]
        for back, orig in zip(ds, trajs):
            np.testing.assert_array_equal(back.position, orig.position)
            np.testing.assert_array_equal(back.particle_type, orig.particle_type)
            np.testing.assert_array_equal(back.velocity, orig.velocity)
            np.testing.assert_array_equal(back.material_id, orig.material_id)
            assert back.dt == orig.dt and back.metadata == orig.metadata
        np.testing.assert_array_equal(ds.position(0, slice(2, 4)), trajs[0].position[2:4])
    assert len(load_dataset(tmp_path, "train")[1:]) == 2


def test_derived_metadata(tmp_path):
    rng = np.random.default_rng(2)
    trajs = [walk(rng, E=1.0 * i, nu=0.3) for i in range(2)]
    meta = write_dataset(tmp_path, {"train": trajs, "valid": [walk(rng, particles=20, E=5.0, nu=0.3)]},
                         {"scene_script": "x.py", "seed": 7})
    assert meta == read_metadata(tmp_path, normalize=False)
    assert meta["dim"] == 2 and meta["write_every"] == 4
    assert meta["dt"] == pytest.approx(0.02 / 4)  # solver step = frame spacing / write_every
    assert meta["num_trajs_train"] == 2 and meta["num_trajs_valid"] == 1 and "num_trajs_test" not in meta
    assert meta["sequence_length_train"] == 6 and meta["num_particles_max"] == 20
    every = np.concatenate([t.position.reshape(-1, 2) for t in trajs]
                           + [load_dataset(tmp_path, "valid")[0].position.reshape(-1, 2)])
    np.testing.assert_allclose(np.array(meta["bounds"]), np.stack([every.min(0), every.max(0)], 1), rtol=1e-6)
    assert meta["solver"] == "walk" and meta["nu"] == 0.3 and meta["scene_script"] == "x.py" and meta["seed"] == 7
    assert meta["varying_parameters"] == {"train": [{"E": 0.0}, {"E": 1.0}], "valid": [{"E": 5.0}]}
    assert meta["periodic_boundary_conditions"] == [False, False]
    assert len(meta["vel_mean"]) == 2 and len(meta["acc_std"]) == 2


def test_particle_spacing_is_estimated_on_a_lattice(tmp_path):
    # a square lattice of spacing h: nearest neighbours are exactly h apart
    h = 0.04
    grid = np.stack(np.meshgrid(np.arange(10) * h, np.arange(8) * h, indexing="ij"), -1).reshape(-1, 2)
    traj = Trajectory(np.repeat(grid[None], 4, 0), np.zeros(len(grid)), dt=0.1)
    meta = write_dataset(tmp_path, {"train": [traj]})
    assert meta["dx"] == pytest.approx(h, rel=1e-6)
    assert meta["default_connectivity_radius"] == pytest.approx(0.058)  # 1.45 h to two digits


def test_periodic_needs_bounds_and_bad_input(tmp_path):
    rng = np.random.default_rng(3)
    with pytest.raises(InputError, match="bounds"):
        write_dataset(tmp_path / "a", {"train": [walk(rng, periodic=True)]})
    meta = write_dataset(tmp_path / "b", {"train": [walk(rng, periodic=True, bounds=[[0, 2], [0, 1]])]})
    assert meta["periodic_boundary_conditions"] == [True, True] and meta["bounds"] == [[0, 2], [0, 1]]
    with pytest.raises(InputError, match="split names"):
        write_dataset(tmp_path / "c", {"training": [walk(rng)]})
    with pytest.raises(InputError, match="dim"):
        write_dataset(tmp_path / "d", {"train": [walk(rng), walk(rng, dim=3)]})
    with pytest.raises(InputError, match="split 'valid' has no trajectories"):
        write_dataset(tmp_path / "e", {"train": [walk(rng)], "valid": []})


def test_failed_write_keeps_the_old_file_and_no_temporaries(tmp_path):
    rng = np.random.default_rng(4)
    write_dataset(tmp_path, {"train": [walk(rng)]})
    before = open(tmp_path / "train.h5", "rb").read()
    with pytest.raises(InputError, match="Trajectory objects or trajectory file paths"):
        write_dataset(tmp_path, {"train": [walk(rng), 42]})
    assert open(tmp_path / "train.h5", "rb").read() == before
    assert sorted(os.listdir(tmp_path)) == ["train.h5"]  # stale metadata.json gone: incomplete, and says so


def lagrangebench_folder(path, rng, dim=2, frames=7, gns_style=False):
    """A folder as LagrangeBench's own generator writes it: raw h5py, no attributes, int64 types."""
    os.makedirs(path)
    for split, count in (("train", 2), ("valid", 1), ("test", 1)):
        with h5py.File(path / f"{split}.h5", "w") as f:
            for j in range(count):
                f.create_dataset(f"{j:05d}/particle_type", data=np.array([0, 0, 0, 1], dtype=np.int64))
                f.create_dataset(f"{j:05d}/position", data=rng.random((frames, 4, dim)), dtype=np.float32,
                                 compression="gzip")
    meta = {"case": "TGV", "solver": "SPH", "dim": dim, "dx": 0.1, "dt": 0.0004, "t_end": 1.0,
            "write_every": 100, "sequence_length_train": frames, "num_trajs_train": 2,
            "sequence_length_test": frames, "num_trajs_test": 1, "num_particles_max": 4,
            "periodic_boundary_conditions": [True] * dim, "bounds": [[0.0, 1.0]] * dim,
            "default_connectivity_radius": 0.145, "vel_mean": [0.0] * dim, "vel_std": [1.0] * dim,
            "acc_mean": [0.0] * dim, "acc_std": [1.0] * dim}
    if gns_style:  # DeepMind GNS metadata converted by LagrangeBench: 3 pbc flags, no write_every/dim
        meta = {k: v for k, v in meta.items() if k not in ("write_every", "dim", "sequence_length_train")}
        meta.update(sequence_length=frames - 1, periodic_boundary_conditions=[False, False, False])
    (path / "metadata.json").write_text(json.dumps(meta))
    return meta


@pytest.mark.parametrize("gns_style", [False, True])
def test_lagrangebench_folder_loads_unchanged(tmp_path, gns_style):
    lagrangebench_folder(tmp_path / "lb", np.random.default_rng(5), gns_style=gns_style)
    with h5py.File(tmp_path / "lb" / "train.h5") as f:
        raw = f["00001/position"][()]
    ds = load_dataset(tmp_path / "lb", "train")
    traj = ds[1]
    np.testing.assert_array_equal(traj.position, raw)
    assert traj.particle_type.tolist() == [0, 0, 0, 1] and traj.metadata == {}
    assert traj.dt == pytest.approx(0.0004 * (1 if gns_style else 100))  # frame = dt * write_every
    meta = ds.metadata
    assert meta["dim"] == 2 and len(meta["periodic_boundary_conditions"]) == 2


def test_key_variants_load(tmp_path):
    os.makedirs(tmp_path / "v")
    with h5py.File(tmp_path / "v" / "train.h5", "w") as f:
        f["00000/positions"] = np.ones((3, 2, 3), np.float32)
        f["00000/particle_types"] = np.zeros(2, np.int64)
    (tmp_path / "v" / "metadata.json").write_text(json.dumps({"dt": 0.1}))
    traj = Dataset(tmp_path / "v", "train")[0]
    assert traj.position.shape == (3, 2, 3) and read_metadata(tmp_path / "v")["dim"] == 3


def test_missing_split_names_the_file(tmp_path):
    write_dataset(tmp_path, {"train": [walk(np.random.default_rng(6))]})
    with pytest.raises(DatasetError, match="test.h5: missing"):
        load_dataset(tmp_path, "test")
    with pytest.raises(InputError, match="split = 'training'"):
        load_dataset(tmp_path, "training")


def test_shard_files_and_objects_give_the_same_dataset(tmp_path):
    rng = np.random.default_rng(7)
    trajs = [walk(rng, dt=0.005) for _ in range(2)]  # a solver's own "dt" (its step) in the metadata
    paths = [t.save(tmp_path / f"shard{i}.h5") for i, t in enumerate(trajs)]
    from_files = write_dataset(tmp_path / "files", {"train": paths})
    from_objects = write_dataset(tmp_path / "objects", {"train": trajs})
    assert from_files == from_objects and from_files["dt"] == pytest.approx(0.02 / 4)
    for a, b, orig in zip(load_dataset(tmp_path / "files"), load_dataset(tmp_path / "objects"), trajs):
        assert a.metadata == b.metadata == orig.metadata and a.dt == b.dt == orig.dt == 0.02
        np.testing.assert_array_equal(a.velocity, b.velocity)
