"""Trainer: overfitting one window, exact resume, pushforward, clear errors; rollout behaviour."""
import numpy as np
import pytest
import torch

import learned
from learned.base import LearnedSimulator
from learned.data import collate, describe
from learned.data.synthetic import ballistic_trajectory, write_toy_dataset
from learned.train import Trainer, model_from_checkpoint, resolve_checkpoint
from simengine.errors import DatasetError, InputError

TINY = dict(latent=24, message_passing_steps=2, graph_backend="torch")
FAST = dict(num_threads=1, val_every=1000, checkpoint_every=1000, log_every=1000, val_windows=2,
            val_rollout_steps=5, val_trajectories=1)


def test_one_step_overfit_of_a_single_window(tmp_path):
    # one trajectory of exactly 7 frames: a single training window
    root = write_toy_dataset(tmp_path / "one", lambda rng: ballistic_trajectory(rng, frames=7, particles=12),
                             counts=(("train", 1),))
    trainer = Trainer("gns", root, str(tmp_path / "run"), model_config={**TINY, "noise_std": 0.0},
                      train_overrides={**FAST, "lr": 3e-3, "lr_final": 3e-3, "steps": 250}, progress=False)
    assert len(trainer.windows) == 1
    first = trainer.train_step()
    for _ in range(249):
        last = trainer.train_step()
    assert last < 0.01 * first


def test_resume_gives_the_same_next_loss(ballistic_dataset, tmp_path):
    cfg = {**FAST, "steps": 6, "checkpoint_every": 3, "pushforward_steps": 1, "pushforward_probs": [1, 1],
           "average_decay": 0.9,
           "lr": 1e-3, "val_every": 3}
    straight = Trainer("gns", ballistic_dataset, str(tmp_path / "a"), TINY, cfg, progress=False)
    losses = [straight.train_step() for _ in range(6)]
    interrupted = Trainer("gns", ballistic_dataset, str(tmp_path / "b"), TINY, cfg, progress=False)
    interrupted.run(3)  # validates and checkpoints at step 3
    resumed = Trainer("gns", ballistic_dataset, str(tmp_path / "b"), TINY, cfg, progress=False)
    assert resumed.step == 3
    assert [resumed.train_step() for _ in range(3)] == losses[3:]
    rows = open(tmp_path / "b" / "metrics.csv").read().splitlines()
    assert rows[0].startswith("step,loss") and rows[1].startswith("3,")


def test_resume_refuses_another_model_or_config(ballistic_dataset, tmp_path):
    run = str(tmp_path / "run")
    Trainer("gns", ballistic_dataset, run, TINY, {**FAST, "steps": 1}, progress=False).run()
    with pytest.raises(InputError, match="differs in \\['latent'\\]"):
        Trainer("gns", ballistic_dataset, run, {**TINY, "latent": 8}, {**FAST, "steps": 2}, progress=False)
    with pytest.raises(InputError, match="not 'meshgraphnets'"):
        Trainer("meshgraphnets", ballistic_dataset, run, {}, {**FAST, "steps": 2}, progress=False)
    with pytest.raises(InputError, match="train config differs in \\['lr'\\]"):
        Trainer("gns", ballistic_dataset, run, TINY, {**FAST, "steps": 2, "lr": 0.5}, progress=False)
    # a checkpoint holds its own config: loading rebuilds the same model
    model = model_from_checkpoint(resolve_checkpoint(run, "last"))
    assert model.config["latent"] == 24 and model.summary["particle_types"] == [0, 1]


def test_dataset_mismatches_are_named(ballistic_dataset, mesh_dataset, tmp_path):
    gns = learned.get("gns").from_dataset(describe(ballistic_dataset), **TINY)
    info = describe(ballistic_dataset)
    info.particle_types = (0, 1, 5)
    with pytest.raises(InputError, match=r"particle type\(s\) \[5\]"):
        gns.check_dataset(info)
    info = describe(ballistic_dataset)
    info.dim = 3
    with pytest.raises(InputError, match="expects dimension 2"):
        gns.check_dataset(info)
    with pytest.raises(DatasetError, match="needs key\\(s\\) \\['cells'\\]"):
        Trainer("meshgraphnets", ballistic_dataset, str(tmp_path / "m"), {}, FAST, progress=False)
    with pytest.raises(InputError, match="unknown train config"):
        Trainer("gns", ballistic_dataset, str(tmp_path / "g"), TINY, {"stepz": 3}, progress=False)


class _Drifter(LearnedSimulator):
    """Moves every particle by +shift per step (a deliberately broken 'model')."""

    defaults = {"input_frames": 2, "shift": 0.2}

    def predict_next(self, window):
        return {"position": window["position"][-1] + self.config["shift"]}


def test_rollout_stops_at_divergence_and_keeps_kinematic_particles(ballistic_dataset):
    from learned.data import WindowDataset, load_split

    traj = load_split(ballistic_dataset, "test")[0]
    batch = collate([WindowDataset([traj], 1).trajectory(0)])
    model = _Drifter()
    model.set_summary({"bounds": [[0, 1], [0, 1]], "periodic": [False, False]})
    result = model.rollout(batch, 20, margin=0.5)
    # particles start in [0.1, 0.9]; +0.2 per step leaves [-0.5, 1.5] by step 4 at the latest
    assert result.diverged_at is not None and result.diverged_at <= 4 and "left the domain" in result.reason
    assert result.position.shape == (20,) + traj.position.shape[1:]
    walls = traj.particle_type == 1
    np.testing.assert_array_equal(result.position[0, walls].numpy(), traj.position[2, walls])
    assert torch.equal(result.position[-1], result.position[result.diverged_at - 2])  # frozen afterwards
    model.config["shift"] = float("nan")
    assert model.rollout(batch, 3).reason.startswith("non-finite")


def test_weight_average_is_stored_and_used_for_rollout(ballistic_dataset, tmp_path):
    from learned.train import load_checkpoint

    run = str(tmp_path / "ema")
    trainer = Trainer("gns", ballistic_dataset, run, TINY, {**FAST, "steps": 4, "average_decay": 0.5, "lr": 1e-2},
                      progress=False)
    trainer.run()
    state = load_checkpoint(resolve_checkpoint(run, "last"))
    averaged, raw = model_from_checkpoint(state), model_from_checkpoint(state, averaged=False)
    name, param = next(iter(raw.named_parameters()))
    torch.testing.assert_close(param, trainer.model.get_parameter(name))
    torch.testing.assert_close(averaged.get_parameter(name), state["average"]["shadow"][name])
    assert not torch.equal(averaged.get_parameter(name), param)


def test_a_passed_deadline_ends_the_run_after_one_step_validated_and_saved(ballistic_dataset, tmp_path):
    from learned.train import load_checkpoint

    run = str(tmp_path / "deadline")
    cfg = {**FAST, "steps": 6}
    trainer = Trainer("gns", ballistic_dataset, run, TINY, cfg, progress=False)
    row = trainer.run(deadline=0.0)  # long past: the first step is the last
    assert trainer.step == 1 and row["step"] == 1 and "val_loss" in row
    assert load_checkpoint(resolve_checkpoint(run, "last"))["step"] == 1
    trainer.run()  # no deadline: on to train.steps
    assert trainer.step == 6
    # stopping at a deadline changes nothing that a step computes
    straight = Trainer("gns", ballistic_dataset, str(tmp_path / "straight"), TINY, cfg, progress=False)
    straight.run()
    for (name, a), b in zip(straight.model.named_parameters(), trainer.model.parameters()):
        assert torch.equal(a, b), name
