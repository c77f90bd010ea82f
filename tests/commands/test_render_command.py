"""`simengine render` (multi-view videos of a trajectory's bodies) and `simengine inspect --export-ply` end to end,
on small synthetic trajectories."""
import json
import os

import numpy as np
import pytest

from simengine.cli import main as cli
from simengine.io import Trajectory
from simengine.io.types import ParticleType


def sheet_trajectory(T=3):
    """A 6 x 6 sheet of cloth particles sliding and tilting, plus one pinned particle (not filmed)."""
    g = np.stack(np.meshgrid(np.arange(6), [0], np.arange(6), indexing="ij"), -1).reshape(-1, 3) * 0.02
    frames = []
    for t in range(T):
        p = g + [0.01 * t, 0.0, 0.0]
        p[:, 1] = 0.05 + 0.1 * t * p[:, 0]  # tilting
        frames.append(np.concatenate([[[0.0, 0.3, 0.0]], p]))
    ptype = np.r_[int(ParticleType.PINNED), [int(ParticleType.CLOTH)] * len(g)]
    return Trajectory(np.stack(frames), ptype, dt=0.04, metadata={"simulator": "deformables", "seed": 3})


@pytest.fixture
def traj_file(tmp_path):
    return str(sheet_trajectory().save(tmp_path / "run" / "trajectory.h5"))


def test_render_writes_views_and_a_movie(tmp_path, traj_file, capsys):
    from simengine.gaussians.video import read_views

    out = tmp_path / "views"
    assert cli(["render", traj_file, "--out", str(out), "--views", "2", "--size", "24", "--per-particle", "2",
                "--texture", "checkers", "--quiet"]) == 0
    assert sorted(os.listdir(out)) == ["views.gif", "views.h5"]
    views = read_views(out / "views.h5")
    assert (views.num_frames, views.num_views, views.height) == (3, 2, 24)
    assert views.dt == pytest.approx(0.04)
    assert views.metadata["texture"] == "checkers" and views.metadata["source"].endswith("trajectory.h5:00000")
    assert views.ground_truth["position"].shape == (3, 72, 3)  # 36 cloth particles x 2; the pinned one skipped
    assert np.all(views.ground_truth["parent"] >= 1)
    assert all((views.frame(t)["alpha"] > 0.5).any(axis=(1, 2)).all() for t in range(3))
    assert "views.h5" in capsys.readouterr().out
    # a second run into its own folder is allowed (every 2nd frame, at most 1)
    assert cli(["render", traj_file, "--out", str(out), "--views", "2", "--size", "24", "--every", "2",
                "--frames", "1", "--no-movie", "--quiet"]) == 0
    assert read_views(out / "views.h5").num_frames == 1


def test_render_defaults_to_a_views_folder_inside_the_run(tmp_path, traj_file):
    run = os.path.dirname(traj_file)
    assert cli(["render", run, "--views", "1", "--size", "16", "--per-particle", "1", "--no-movie", "--quiet"]) == 0
    assert os.path.isfile(os.path.join(run, "views", "views.h5"))


def test_render_refuses_folders_it_did_not_write(tmp_path, traj_file, capsys):
    args = ["--views", "1", "--size", "16", "--per-particle", "1", "--quiet"]
    dataset = tmp_path / "data"
    dataset.mkdir()
    (dataset / "metadata.json").write_text(json.dumps({"dim": 3}))
    assert cli(["render", traj_file, "--out", str(dataset), *args]) == 1
    assert "holds a dataset" in capsys.readouterr().err and sorted(os.listdir(dataset)) == ["metadata.json"]
    run = os.path.dirname(traj_file)
    assert cli(["render", traj_file, "--out", run, *args]) == 1  # a `simengine run` folder
    assert "holds a scene-run" in capsys.readouterr().err
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "views.gif").write_bytes(b"someone else's")
    assert cli(["render", traj_file, "--out", str(mine), *args]) == 1
    assert "pass --overwrite" in capsys.readouterr().err
    assert (mine / "views.gif").read_bytes() == b"someone else's"
    assert cli(["render", traj_file, "--out", str(mine), "--overwrite", *args]) == 0
    assert (mine / "views.h5").is_file() and (mine / "views.gif").read_bytes()[:3] == b"GIF"


def test_render_reports_bad_input_in_one_line(tmp_path, traj_file, capsys):
    for extra, message in ((["--texture", "plaid"], "texture"), (["--size", "2"], "--size"),
                           (["--every", "0"], "--every"), (["--trajectory", "00009"], "not in")):
        assert cli(["render", traj_file, "--out", str(tmp_path / "x"), "--quiet", *extra]) == 1
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1, err
    assert not (tmp_path / "x").exists()
    assert cli(["render", str(tmp_path / "missing.h5"), "--quiet"]) == 1
    assert "no such file" in capsys.readouterr().err
    Trajectory(np.zeros((2, 4, 2)), np.zeros(4)).save(tmp_path / "flat.h5")
    assert cli(["render", str(tmp_path / "flat.h5"), "--quiet"]) == 1
    assert "2D trajectory" in capsys.readouterr().err


def test_inspect_exports_a_frame_as_ply(tmp_path, traj_file, capsys):
    from simengine.commands.inspect import TYPE_COLOURS
    from simengine.gaussians.fusion import read_ply

    traj = Trajectory.load(traj_file)
    out = tmp_path / "frame.ply"
    assert cli(["inspect", traj_file, "--export-ply", "-1", "--out", str(out)]) == 0
    assert "frame 2" in capsys.readouterr().out
    points, colours = read_ply(out)
    assert np.array_equal(points, traj.position[-1].astype(np.float64))
    assert np.abs(colours[0] - TYPE_COLOURS[int(ParticleType.PINNED)]).max() <= 0.5 / 255 + 1e-9
    assert np.abs(colours[1:] - TYPE_COLOURS[int(ParticleType.CLOTH)]).max() <= 0.5 / 255 + 1e-9
    # an existing file needs --overwrite; frames outside the trajectory and a missing --out are refused
    assert cli(["inspect", traj_file, "--export-ply", "0", "--out", str(out)]) == 1
    assert "--overwrite" in capsys.readouterr().err
    assert cli(["inspect", traj_file, "--export-ply", "0", "--out", str(out), "--overwrite"]) == 0
    assert np.array_equal(read_ply(out)[0], traj.position[0].astype(np.float64))
    assert cli(["inspect", traj_file, "--export-ply", "3", "--out", str(tmp_path / "b.ply")]) == 1
    assert "outside the trajectory's frames" in capsys.readouterr().err
    assert cli(["inspect", traj_file, "--export-ply", "0"]) == 1
    assert "needs --out" in capsys.readouterr().err


def test_inspect_exports_from_a_dataset_and_pads_2d(tmp_path):
    from simengine.gaussians.fusion import read_ply
    from simengine.io import write_dataset

    rng = np.random.default_rng(0)
    trajs = [Trajectory(rng.uniform(size=(4, 10, 2)), np.zeros(10), dt=0.1) for _ in range(2)]
    write_dataset(tmp_path / "data", {"train": trajs, "valid": trajs[:1], "test": trajs[:1]},
                  {"bounds": [[0, 1], [0, 1]], "dt": 0.1, "write_every": 1, "dim": 2}, statistics=False)
    with __import__("h5py").File(tmp_path / "data" / "train.h5", "r") as f:
        second = sorted(f.keys())[1]
    out = tmp_path / "d.ply"
    assert cli(["inspect", str(tmp_path / "data"), "--export-ply", "1", "--trajectory", second,
                "--out", str(out)]) == 0
    points, _ = read_ply(out)
    assert np.allclose(points[:, :2], trajs[1].position[1]) and np.all(points[:, 2] == 0)
