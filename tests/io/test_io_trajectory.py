import numpy as np
import pytest

from simengine import Trajectory
from simengine.errors import DatasetError, InputError


def test_save_load_roundtrip(tmp_path):
    rng = np.random.default_rng(0)
    pos = rng.random((5, 7, 3)).astype(np.float32)
    vel = rng.random((5, 7, 3)).astype(np.float32)
    traj = Trajectory(pos, np.arange(7) % 2, dt=0.01, extras={"velocity": vel}, metadata={"solver": "x"})
    path = traj.save(tmp_path / "t.h5")
    back = Trajectory.load(path)
    np.testing.assert_array_equal(back.position, pos)
    np.testing.assert_array_equal(back.velocity, vel)
    assert back.dt == pytest.approx(0.01)
    assert back.metadata["solver"] == "x"


def test_bad_shapes_and_keys():
    with pytest.raises(InputError, match="particle_type"):
        Trajectory(np.zeros((2, 3, 2)), np.zeros(4))
    with pytest.raises(InputError, match="unknown trajectory key"):
        Trajectory(np.zeros((2, 3, 2)), np.zeros(3), extras={"bogus": np.zeros(3)})


def test_corrupt_file_names_the_file(tmp_path):
    bad = tmp_path / "bad.h5"
    bad.write_bytes(b"not an hdf5 file")
    with pytest.raises(DatasetError, match="bad.h5"):
        Trajectory.load(bad)
