"""The train -> rollout -> compare command chain on a tiny run, and the two-set comparison."""
import json
import os

import numpy as np
import pytest

from learned.data import load_split
from learned.data.synthetic import ballistic_trajectory, write_toy_dataset
from simengine.cli import main


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("cmp")
    data = write_toy_dataset(root / "data", lambda rng: ballistic_trajectory(rng, frames=26, particles=20),
                             counts=(("train", 2), ("valid", 1), ("test", 2)))
    run = str(root / "run")
    sets = ["model.latent=16", "model.message_passing_steps=1", "model.graph_backend=torch",
            "train.num_threads=1", "train.val_every=3", "train.val_rollout_steps=4"]
    args = ["train", "gns", "--data", data, "--out", run, "--steps", "3", "--quiet"]
    assert main(args + [a for s in sets for a in ("--set", s)]) == 0
    assert main(["rollout", run, "--data", data, "--split", "test", "--quiet"]) == 0
    return data, run


def test_rollout_writes_the_dataset_format(tiny_run):
    data, run = tiny_run
    preds, truths = load_split(os.path.join(run, "rollout"), "test"), load_split(data, "test")
    assert [p.metadata["name"] for p in preds] == [t.metadata["name"] for t in truths]
    for pred, truth in zip(preds, truths):
        assert pred.position.shape == truth.position.shape and pred.metadata["rollout_start"] == 6
        np.testing.assert_array_equal(pred.position[:6], truth.position[:6])
        walls = truth.particle_type == 1
        np.testing.assert_array_equal(pred.position[:, walls], truth.position[:, walls])
        assert pred.dt == pytest.approx(truth.dt)


def test_compare_report_for_a_run(tiny_run):
    data, run = tiny_run
    assert main(["compare", run, "--data", data, "--gifs", "1", "--stride", "5", "--quiet"]) == 0
    out = os.path.join(run, "compare")
    for name in ("metrics.json", "error_vs_step.png", "report.html", "rollout_00000.gif"):
        assert os.path.getsize(os.path.join(out, name)) > 0, name
    metrics = json.load(open(os.path.join(out, "metrics.json")))
    for who in ("prediction", "constant_velocity"):
        summary = metrics["summary"][who]
        # 20-step rollouts: LagrangeBench reports mse{n} only for n below the rollout length (no 20, 50, 100)
        assert set(summary["mse"]) == {"1", "5", "10", "all"}
        assert {"chamfer", "sinkhorn", "kinetic_energy_mse"} <= set(summary)
    assert len(metrics["per_step"]["prediction"]) == 20 and metrics["settings"]["num_trajectories"] == 2
    page = open(os.path.join(out, "report.html")).read()
    assert "error_vs_step.png" in page and "rollout_00000.gif" in page and "constant velocity" in page


def test_compare_two_trajectory_sets(tiny_run, tmp_path):
    data, run = tiny_run
    out = str(tmp_path / "cmp")
    # ground truth against itself, from frame 6: every prediction figure is zero
    assert main(["compare", "--pred", data, "--truth", data, "--start", "6", "--out", out, "--gifs", "0",
                 "--quiet"]) == 0
    metrics = json.load(open(os.path.join(out, "metrics.json")))
    assert metrics["summary"]["prediction"]["mse"]["all"] == 0.0
    assert metrics["summary"]["prediction"]["sinkhorn"] == pytest.approx(0.0, abs=1e-15)
    assert metrics["summary"]["constant_velocity"]["mse"]["all"] > 0.0
    # a dataset folder records no rollout start: the command asks for one
    assert main(["compare", "--pred", data, "--truth", data, "--out", out, "--quiet"]) == 1


def test_compare_with_constant_position_and_emd(tiny_run, tmp_path, capsys):
    data, run = tiny_run
    out = str(tmp_path / "cmp2")
    assert main(["compare", run, "--data", data, "--out", out, "--gifs", "0", "--quiet", "--baselines",
                 "constant_velocity", "constant_position", "--emd-points", "8"]) == 0
    metrics = json.load(open(os.path.join(out, "metrics.json")))
    assert set(metrics["summary"]) == {"prediction", "constant_velocity", "constant_position"}
    assert {"mde", "emd"} <= set(metrics["summary"]["prediction"])
    assert "constant position" in open(os.path.join(out, "report.html")).read()
    assert "constant position" in capsys.readouterr().out
    assert main(["compare", run, "--data", data, "--out", out, "--overwrite", "--quiet", "--baselines", "zero"]) == 1
    assert "unknown baseline" in capsys.readouterr().err


def test_rollout_refuses_to_write_into_a_dataset_and_bad_counts(tiny_run, capsys):
    from tests.io.test_io_outputs import tree_digest

    data, run = tiny_run
    before = tree_digest(data)
    assert main(["rollout", run, "--data", data, "--out", data, "--quiet"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "holds a dataset" in err[0], err
    assert main(["rollout", run, "--data", data, "--out", os.path.join(data, "preds"), "--quiet"]) == 1
    assert "inside" in capsys.readouterr().err
    assert tree_digest(data) == before  # the ground truth's bytes are untouched
    assert main(["rollout", run, "--data", data, "--steps", "-1", "--quiet"]) == 1
    assert "--steps = -1 is outside the allowed range [1, inf)" in capsys.readouterr().err
