"""`simengine run`: the scene-script protocol end to end, with tiny scripts that need no solver."""
import os
import textwrap

import numpy as np
import pytest

from simengine import Trajectory
from simengine.cli import main as cli

BALLISTIC = '''
import numpy as np
from simengine import Trajectory

RUN = dict(duration=0.5, record_every=5)
PREVIEW = dict(max_frames=5, panels=2)


class Throw:
    """Particles thrown with random velocities under gravity: x(t) = x0 + v0 t + g t^2 / 2."""

    def __init__(self, rng):
        self.x0 = rng.uniform(0.2, 0.4, size=(50, 2))
        self.v0 = rng.uniform(0.0, 1.0, size=(50, 2))

    def run(self, duration, record_every):
        t = np.arange(0, duration + 1e-9, 0.01 * record_every)
        g = np.array([0.0, -9.8])
        pos = self.x0 + self.v0 * t[:, None, None] + 0.5 * g * t[:, None, None] ** 2
        return Trajectory(pos, np.zeros(50), dt=0.01 * record_every,
                          metadata={"bounds": [[0, 1], [-1, 1]], "t_end": duration})


def make_scene(rng):
    return Throw(rng)
'''


def write_script(tmp_path, text, name="throw.py"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return str(path)


def test_run_writes_trajectory_and_previews(tmp_path, capsys):
    script = write_script(tmp_path, BALLISTIC)
    assert cli(["run", script, "--out", str(tmp_path / "out"), "--seed", "3"]) == 0
    traj = Trajectory.load(tmp_path / "out" / "trajectory.h5")
    assert traj.position.shape == (11, 50, 2)
    assert traj.dt == pytest.approx(0.05)
    assert traj.metadata["seed"] == 3 and traj.metadata["scene_script"] == "throw.py"
    # the seed reaches make_scene as numpy.random.default_rng(seed)
    rng = np.random.default_rng(3)
    assert np.allclose(traj.position[0], rng.uniform(0.2, 0.4, size=(50, 2)))
    # physics survives the round trip: constant acceleration g in the second differences
    acc = np.diff(traj.position.astype(np.float64), 2, axis=0) / traj.dt ** 2
    assert np.allclose(acc[..., 1], -9.8, atol=1e-3) and np.allclose(acc[..., 0], 0.0, atol=1e-3)
    assert os.path.getsize(tmp_path / "out" / "preview.png") > 0
    assert os.path.getsize(tmp_path / "out" / "preview.gif") > 0
    assert "trajectory.h5" in capsys.readouterr().out


def test_default_folder_and_no_preview(tmp_path, monkeypatch):
    script = write_script(tmp_path, BALLISTIC, name="my_scene.py")
    monkeypatch.chdir(tmp_path)
    assert cli(["run", script, "--no-preview"]) == 0
    assert sorted(os.listdir(tmp_path / "runs" / "my_scene")) == ["trajectory.h5"]


def test_seeds_are_deterministic(tmp_path):
    script = write_script(tmp_path, BALLISTIC)
    for out, seed in (("a", 1), ("b", 1), ("c", 2)):
        assert cli(["run", script, "--out", str(tmp_path / out), "--seed", str(seed), "--no-preview"]) == 0
    a, b, c = (Trajectory.load(tmp_path / o / "trajectory.h5").position for o in "abc")
    assert np.array_equal(a, b) and not np.allclose(a, c)


def test_bad_scripts_fail_with_a_message(tmp_path, capsys):
    no_scene = write_script(tmp_path, "RUN = dict()\n", name="empty.py")
    assert cli(["run", no_scene, "--out", str(tmp_path / "x")]) == 1
    assert "make_scene" in capsys.readouterr().err
    assert cli(["run", str(tmp_path / "missing.py")]) == 1
    assert "does not exist" in capsys.readouterr().err
    blows_up = write_script(tmp_path, BALLISTIC.replace("return Trajectory(pos,", "pos[3, 7] = np.nan\n"
                                                        "        return Trajectory(pos,"), name="nan.py")
    assert cli(["run", blows_up, "--out", str(tmp_path / "nan")]) == 1
    err = capsys.readouterr().err
    assert "frame 3" in err and "particle 7" in err
    assert not os.path.exists(tmp_path / "nan" / "trajectory.h5")  # never a NaN file
