"""NCLaw through the platform: `simengine train nclaw` / rollout / compare on a tiny 2D jelly set, the
scene re-created from metadata (colliders included), and the learned law against GNS on a new shape."""
import json
import os

import numpy as np
import pytest
import torch
from torch import nn

import learned
from learned.data import collate, load_split
from learned.nclaw import ConstitutiveLaw, polar_rotation, simulate_trajectory
from learned.train import Trainer, load_checkpoint, model_from_checkpoint
from simengine import Scene, materials, shapes
from simengine.cli import main as cli
from simengine.errors import DatasetError
from simengine.io import write_dataset

E, NU, DENSITY = 5.0e3, 0.3, 1000.0


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def jelly_run(shape, velocity=(1.0, -1.0), duration=0.12, slope=False):
    scene = Scene(dim=2, domain=(1.0, 1.0), grid_res=16, seed=0, dt=2e-3)
    if slope:
        scene.add_collider(shapes.Plane(normal=(0.4, 1.0), offset=0.42), friction=0.2)
    scene.add_body(shape, materials.Elastic(youngs_modulus=E, poisson_ratio=NU), density=DENSITY, velocity=velocity)
    return scene.run(duration=duration, record_every=5, progress=False)


@pytest.fixture(scope="module")
def jelly_dataset(tmp_path_factory):
    """train: one 64-particle cube, 13 frames; test: a disk (new shape) thrown the other way."""
    root = tmp_path_factory.mktemp("nclaw_jelly")
    cube = jelly_run(shapes.Box(lower=(0.35, 0.3), size=(0.25, 0.25)))
    disk = jelly_run(shapes.Sphere(center=(0.5, 0.42), radius=0.14), velocity=(-0.8, -1.2))
    write_dataset(root, {"train": [cube], "test": [disk]})
    return str(root)


class FixedCorotated(nn.Module):
    def forward(self, F):
        mu, lam = E / (2 * (1 + NU)), E * NU / ((1 + NU) * (1 - 2 * NU))
        J = F[:, 0, 0] * F[:, 1, 1] - F[:, 0, 1] * F[:, 1, 0]
        eye = torch.eye(2, dtype=F.dtype)
        return 2 * mu * (F - polar_rotation(F)) @ F.transpose(1, 2) + (lam * (J - 1) * J)[:, None, None] * eye


def test_replay_recreates_the_scene_with_its_collider():
    """The true law, run in the scene re-created from metadata, reproduces the recorded motion."""
    truth = jelly_run(shapes.Sphere(center=(0.5, 0.5), radius=0.12), velocity=(0.0, -1.5), duration=0.2, slope=True)
    truth.metadata["name"] = "slope"
    pred = simulate_trajectory({"elastic": ConstitutiveLaw(FixedCorotated())}, truth, {"elastic": DENSITY})
    assert pred.metadata["diverged_at"] is None
    assert np.abs(truth.position[-1] - truth.position[0]).max() > 0.15  # it slid down the slope
    assert np.abs(pred.position - truth.position).max() < 1e-4
    # Without the collider the body would fall through the slope: the collider really was rebuilt.
    truth.metadata["colliders"] = []
    flat = simulate_trajectory({"elastic": ConstitutiveLaw(FixedCorotated())}, truth, {"elastic": DENSITY})
    assert np.abs(flat.position[-1] - truth.position[-1]).max() > 0.05


def test_train_rollout_compare_through_the_cli(jelly_dataset, tmp_path):
    run = str(tmp_path / "run")
    sets = ["--set", "train.batch_size=1", "--set", "train.num_threads=1", "--set", "train.lr=1e-2",
            "--set", "train.val_every=100", "--set", "model.teacher_start=2", "--set", "model.teacher_end=4",
            "--set", "model.teacher_ramp=2", "--set", "model.width=16"]
    assert cli(["train", "nclaw", "--data", jelly_dataset, "--out", run, "--steps", "2", "--quiet", *sets]) == 0
    state = load_checkpoint(os.path.join(run, "checkpoints", "last.pt"))
    assert state["step"] == 2 and state["model_state"]["iteration"] == 2
    model = model_from_checkpoint(state)
    assert model.summary["scene"]["dx"] == 1 / 16 and model.config["density"] == DENSITY
    assert cli(["rollout", run, "--data", jelly_dataset, "--split", "test", "--quiet"]) == 0
    assert cli(["compare", run, "--data", jelly_dataset, "--split", "test", "--gifs", "0", "--quiet"]) == 0
    with open(os.path.join(run, "compare", "metrics.json")) as f:
        metrics = json.load(f)
    assert metrics["summary"]["prediction"]["mse"]  # per-horizon errors were written


def test_rollout_runs_each_test_trajectory_in_its_own_scene(jelly_dataset, tmp_path):
    """A law learned in the plain box, rolled out (what `simengine rollout` runs) on a test set recorded
    on a slope, runs on that slope: with the true material it reproduces the recorded motion."""
    from learned.rollout import rollout_split

    model = Trainer("nclaw", jelly_dataset, str(tmp_path / "r"), model_config=dict(width=8),
                    train_overrides=dict(batch_size=1, num_threads=1, steps=1), progress=False).model.eval()
    assert model.summary["scene"]["colliders"] == []
    model.law = ConstitutiveLaw(FixedCorotated())
    model.set_summary(model.summary)  # drop cached simulators of the old law
    truth = jelly_run(shapes.Sphere(center=(0.5, 0.5), radius=0.12), velocity=(0.0, -1.5), duration=0.2, slope=True)
    write_dataset(tmp_path / "slope", {"test": [truth]})
    pred = rollout_split(model, str(tmp_path / "slope"), "test", progress=False)[0]
    assert pred.metadata["diverged_at"] is None
    assert np.abs(pred.position - truth.position).max() < 1e-4


def test_windows_must_start_at_frame_zero(jelly_dataset, tmp_path):
    trainer = Trainer("nclaw", jelly_dataset, str(tmp_path / "r"), model_config=dict(width=8),
                      train_overrides=dict(batch_size=1, num_threads=1, steps=1), progress=False)
    model = trainer.model
    assert model.window_frames() == 13 and len(trainer.windows) == 1
    window = trainer.windows[0]
    late = {k: (v[1:] if k in ("position", "velocity") else v) for k, v in window.items()}
    with pytest.raises(DatasetError, match="frame 0"):
        model.training_step(collate([late]))
    # A batch drawn from a one-trajectory set repeats the window: it is simulated once.
    with torch.no_grad():
        once, _ = model.training_step(collate([window]), noise=False)
        twice, _ = model.training_step(collate([window, window]), noise=False)
    assert float(once) == float(twice) > 0


def test_learned_law_beats_gns_on_a_new_shape(jelly_dataset, tmp_path):
    """Both learn from the one cube trajectory; on the unseen disk the learned law's rollout is closer."""
    nclaw = Trainer("nclaw", jelly_dataset, str(tmp_path / "nclaw"),
                    model_config=dict(width=16, teacher_start=2, teacher_end=12, teacher_ramp=6, init_modulus=2e3),
                    train_overrides=dict(batch_size=1, num_threads=1, lr=1e-2, lr_final=1e-3, lr_decay_steps=8,
                                         steps=8, val_every=100), progress=False)
    losses = [nclaw.train_step() for _ in range(8)]
    assert np.isfinite(losses).all()
    gns = Trainer("gns", jelly_dataset, str(tmp_path / "gns"),
                  model_config=dict(latent=32, message_passing_steps=3, input_frames=3),
                  train_overrides=dict(batch_size=2, num_threads=1, lr=1e-3, steps=150, val_every=1000), progress=False)
    for _ in range(150):
        gns.train_step()
    truth = load_split(jelly_dataset, "test")[0]
    sample = collate([{"position": torch.from_numpy(truth.position), "particle_type":
                       torch.from_numpy(truth.particle_type.astype(np.int64)),
                       "mass": torch.from_numpy(truth.extras["mass"]),
                       "velocity": torch.from_numpy(truth.extras["velocity"]),
                       "initial_position": torch.from_numpy(truth.position[0])}])
    errors = {}
    for name, trainer in (("nclaw", nclaw), ("gns", gns)):
        model = trainer.model.eval()
        h = model.input_frames
        pred = model.rollout(sample, truth.num_frames - h).position.numpy()
        errors[name] = float(((pred[3 - h:] - truth.position[3:]) ** 2).mean())  # frames 3.. for both
    assert errors["nclaw"] < 0.1 * errors["gns"], errors
    assert "nclaw" in learned.available()


def test_training_from_positions_only(tmp_path):
    """Without recorded velocities the initial and teacher-forced velocities come from positions."""
    cube = jelly_run(shapes.Box(lower=(0.35, 0.3), size=(0.25, 0.25)), duration=0.06)
    del cube.extras["velocity"]
    root = str(tmp_path / "positions_only")
    write_dataset(root, {"train": [cube]})
    trainer = Trainer("nclaw", root, str(tmp_path / "run"), model_config=dict(width=8, teacher_start=2, teacher_end=2),
                      train_overrides=dict(batch_size=1, num_threads=1, steps=1), progress=False)
    assert "velocity" not in trainer.model.data_keys(trainer.info.keys) and trainer.model.input_frames == 2
    loss = trainer.train_step()
    assert np.isfinite(loss) and 0 < loss < 1.0  # in cells^2: the warm-start law stays within a cell
