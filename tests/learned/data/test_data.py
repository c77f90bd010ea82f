"""Data pipeline: windows, batching of different graph sizes, noise statistics, dataset checks."""
import numpy as np
import pytest
import torch

from learned.data import WindowDataset, collate, describe, gaussian_noise, load_split, random_walk_noise
from simengine.errors import DatasetError
from simengine.io import Trajectory


def _traj(frames, particles, cells=None):
    pos = np.arange(frames * particles * 2, dtype=np.float32).reshape(frames, particles, 2)
    extras = {"velocity": pos * 2, "mass": np.ones(particles)}
    if cells is not None:
        extras["cells"] = cells
    return Trajectory(pos, np.zeros(particles), extras=extras)


def test_windows_cover_every_start_and_slice_per_frame_keys():
    ds = WindowDataset([_traj(5, 3), _traj(4, 2)], frames=3, keys=("velocity", "mass"))
    assert len(ds) == (5 - 3 + 1) + (4 - 3 + 1)
    sample = ds[1]  # trajectory 0, frames 1..3
    np.testing.assert_array_equal(sample["position"], _traj(5, 3).position[1:4])
    np.testing.assert_array_equal(sample["velocity"], 2 * _traj(5, 3).position[1:4])
    assert sample["mass"].shape == (3,)
    with pytest.raises(DatasetError, match="lacks key"):
        WindowDataset([_traj(5, 3)], frames=3, keys=("stress",))
    with pytest.raises(DatasetError, match="no window of 9 frames"):
        WindowDataset([_traj(5, 3)], frames=9)


def test_collate_concatenates_graphs_of_different_sizes():
    a = _traj(3, 3, cells=np.array([[0, 1, 2]]))
    b = _traj(3, 4, cells=np.array([[0, 1, 2], [1, 2, 3]]))
    ds = WindowDataset([a, b], frames=2, keys=("velocity", "mass", "cells"))
    batch = collate([ds.window(0, 0, 2), ds.window(1, 1, 2)])
    assert batch["position"].shape == (2, 7, 2)
    assert batch["batch"].tolist() == [0, 0, 0, 1, 1, 1, 1]
    assert batch["num_particles"].tolist() == [3, 4]
    assert batch["cells"].tolist() == [[0, 1, 2], [3, 4, 5], [4, 5, 6]]  # second mesh shifted by 3
    np.testing.assert_array_equal(batch["position"][:, 3:], b.position[1:3])
    assert batch["mass"].shape == (7,)


def test_random_walk_noise_statistics():
    gen = torch.Generator().manual_seed(0)
    pos = torch.zeros(6, 20000, 2)
    fixed = torch.zeros(20000, dtype=torch.bool)
    fixed[:10] = True
    noise = random_walk_noise(pos, 0.1, fixed, generator=gen)
    assert torch.all(noise[0] == 0) and torch.all(noise[:, :10] == 0)
    velocity_noise = noise[1:, 10:] - noise[:-1, 10:]  # (5, N, 2), a random walk in time
    walk_steps = torch.cat([velocity_noise[:1], velocity_noise[1:] - velocity_noise[:-1]])
    assert float(walk_steps.std()) == pytest.approx(0.1 / np.sqrt(5), rel=0.02)
    assert float(velocity_noise[-1].std()) == pytest.approx(0.1, rel=0.02)  # the last velocity: std 0.1
    assert float(velocity_noise[0].std()) == pytest.approx(0.1 / np.sqrt(5), rel=0.02)
    g = gaussian_noise(pos, 0.2, fixed, generator=gen)
    assert torch.all(g[:-1] == 0) and float(g[-1, 10:].std()) == pytest.approx(0.2, rel=0.02)


def test_describe_reads_metadata_and_statistics(ballistic_dataset):
    info = describe(ballistic_dataset)
    assert info.dim == 2 and info.particle_types == (0, 1)
    assert info.radius == pytest.approx(0.1) and info.stats["acc_mean"][1] < 0  # gravity pulls down
    trajs = load_split(ballistic_dataset, "test")
    assert [t.metadata["name"] for t in trajs] == ["00000", "00001"]
    with pytest.raises(DatasetError, match="no valid.h5"):
        load_split(ballistic_dataset + "/nowhere", "valid")


def test_metadata_features_per_trajectory_and_per_material():
    from learned.data import metadata_features

    traj = _traj(3, 4)
    traj.extras["material_id"] = np.array([0, 1, 1, 0])
    traj.metadata.update({"boundary_friction": 0.4, "materials": [{"friction_angle": 30.0}, {"friction_angle": 35.0}]})
    feats = metadata_features(traj, ["boundary_friction", "materials.{material_id}.friction_angle"])
    np.testing.assert_allclose(feats, [[0.4, 30.0], [0.4, 35.0], [0.4, 35.0], [0.4, 30.0]])
    with pytest.raises(DatasetError, match="no 'materials.5.friction_angle'"):
        metadata_features(traj, ["materials.5.friction_angle"])
    ds = WindowDataset([traj], 2, keys=("material_params",), metadata_paths=["boundary_friction"])
    assert ds[0]["material_params"].shape == (4, 1)


def test_reflection_mirrors_positions_and_velocities():
    from learned.data import reflect
    from simengine.errors import InputError

    batch = collate([WindowDataset([_traj(3, 2)], 2, keys=("velocity",))[0]])
    out = reflect(batch, 0, 0.0, 10.0)
    torch.testing.assert_close(out["position"][..., 0], 10.0 - batch["position"][..., 0])
    torch.testing.assert_close(out["position"][..., 1], batch["position"][..., 1])
    torch.testing.assert_close(out["velocity"][..., 0], -batch["velocity"][..., 0])
    with pytest.raises(InputError, match="stress"):
        reflect({**batch, "stress": torch.zeros(2, 2, 2, 2)}, 0, 0.0, 1.0)
