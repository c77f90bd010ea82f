"""Tracked-Gaussian datasets: a simulated rope episode filmed and tracked becomes a trajectory of tracked centres
that lie on the rope and keep the episode's actions; the test split stays the simulator's particles."""
import numpy as np
import pytest

from simengine.errors import InputError
from simengine.io import Trajectory, load_split, write_dataset
from simengine.io.types import ParticleType


def rope_episode(name, frames=3, n=40, shift=0.0):
    """A 0.3 m rope of ``n`` particles on the floor sliding along x, with a one-gripper ``action`` per frame."""
    s = np.linspace(-0.15, 0.15, n)
    pos = np.stack([np.stack([s + shift + 0.004 * t, np.full(n, 0.01), 0.02 * np.sin(8 * s)], 1)
                    for t in range(frames)]).astype(np.float32)
    action = np.zeros((frames, 1, 8), np.float32)
    action[:, 0, 0] = 0.004 * np.arange(frames)
    action[:, 0, 6] = 1.0  # identity quaternion (x, y, z, w)
    scene = {"grippers": [{"name": "gripper0", "radius": 0.012}], "bodies": [{"name": "rope0", "count": n}],
             "colliders": [{"shape": "plane", "normal": [0.0, 1.0, 0.0], "offset": 0.0, "friction": 0.3 + shift}]}
    return Trajectory(position=pos, particle_type=np.full(n, int(ParticleType.ROPE), np.int32), dt=1 / 30,
                      extras={"action": action}, metadata={"name": name, **scene})


@pytest.fixture
def rope_data(tmp_path):
    root = tmp_path / "rope"
    write_dataset(root, {"train": [rope_episode("00000")], "valid": [rope_episode("00000", shift=0.01)],
                         "test": [rope_episode("00000", shift=-0.01)]},
                  metadata={"bounds": [[-0.5, 0.5], [0.0, 0.5], [-0.5, 0.5]]})
    return root


def test_tracked_dataset_holds_tracked_centres_on_the_rope_with_the_actions(rope_data, tmp_path):
    pytest.importorskip("open3d")  # seeding fuses the RGB-D frames with open3d
    from simengine.gaussians.dataset import tracked_dataset
    from simengine.gaussians.track import TrackConfig

    out = tmp_path / "rope_tracked"
    config = TrackConfig(init_iters=8, iters=2, voxel=0.02)  # few iterations: the positions come from the seeds
    meta = tracked_dataset(rope_data, out, work=tmp_path / "work", config=config, size=64, splits=("train",))
    assert meta["tracked_splits"] == ["train"] and meta["bounds"][1] == [0.0, 0.5]
    # the scene (grippers, colliders) stays described, as the action-conditioned models read it; not the bodies
    assert meta["grippers"] == [{"name": "gripper0", "radius": 0.012}]
    episode = meta["varying_parameters"]["train"][0]
    assert episode["colliders"][0]["friction"] == 0.3 and episode.get("bodies") is None
    source = load_split(rope_data, "train")[0]
    tracked = load_split(out, "train")[0]
    assert tracked.position.shape[0] == 3 and tracked.position.shape[1] >= 10
    assert (tracked.particle_type == ParticleType.ROPE).all()
    np.testing.assert_array_equal(tracked.extras["action"], source.extras["action"])
    for t in range(3):  # every tracked centre lies on the rope (the rope's Gaussians are ~1-2 cm across)
        gap = np.linalg.norm(tracked.position[t][:, None] - source.position[t][None], axis=-1).min(1)
        assert np.median(gap) < 0.01 and gap.max() < 0.03, (t, np.median(gap), gap.max())
    for split in ("valid", "test"):  # not tracked: the simulator's particles (models are scored on the test split)
        np.testing.assert_array_equal(load_split(out, split)[0].position, load_split(rope_data, split)[0].position)
    again = tracked_dataset(rope_data, out, work=tmp_path / "elsewhere")  # complete: kept as it is
    assert again == meta and not (tmp_path / "elsewhere").exists()


def test_tracked_dataset_refuses_unknown_splits_and_2d_trajectories(rope_data, tmp_path):
    from simengine.gaussians.dataset import tracked_dataset, tracked_trajectory

    with pytest.raises(InputError, match="splits"):
        tracked_dataset(rope_data, tmp_path / "out", work=tmp_path / "work", splits=("train", "holdout"))
    flat = Trajectory(position=np.zeros((2, 4, 2), np.float32), particle_type=np.zeros(4, np.int32))
    with pytest.raises(InputError, match="2D"):
        tracked_trajectory(flat, tmp_path / "work2")
