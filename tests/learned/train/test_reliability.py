"""Trainer reliability: safe checkpoint loading, interrupts, checked resume, checked data and config,
determinism, visible validation. Tiny models on the toy datasets of tests/learned/conftest.py."""
import csv
import os
import pickle
import shutil
import signal
import subprocess
import sys

import numpy as np
import pytest
import torch

from learned.data.synthetic import ballistic_trajectory, write_toy_dataset
from learned.train import Trainer, load_checkpoint, save_checkpoint
from simengine.cli import main as cli
from simengine.errors import DatasetError, InputError
from tests.learned.train.runs import metrics_rows, signal_after_rows

TINY = dict(latent=16, message_passing_steps=1, graph_backend="torch")
FAST = dict(num_threads=1, val_every=1000, checkpoint_every=1000, log_every=1000, val_windows=2,
            val_rollout_steps=3, val_trajectories=1)
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
CLI_TINY = ["--quiet", "--set", "model.latent=16", "--set", "model.message_passing_steps=1",
            "--set", "model.graph_backend=torch", "--set", "train.num_threads=1", "--set", "train.val_windows=2",
            "--set", "train.val_rollout_steps=3", "--set", "train.val_trajectories=1"]


def one_error_line(err: str, command: str = "train") -> str:
    lines = [line for line in err.strip().splitlines() if line.strip()]
    assert "Traceback" not in err
    errors = [line for line in lines if line.startswith(f"simengine {command}: error:")]
    assert len(errors) == 1, err
    return errors[0]


# ----- 1. checkpoints never run code ---------------------------------------------------------------------
class _SystemPayload:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


class _ExecPayload:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (exec, (f"open({self.marker!r}, 'w').close()",))


def _evil_files(tmp_path):
    """(path, marker) pairs: a torch zip checkpoint and a bare pickle, each with a payload."""
    files = []
    for i, payload in enumerate((_SystemPayload, _ExecPayload)):
        marker = str(tmp_path / f"pwned{i}")
        zipped = str(tmp_path / f"evil{i}.pt")
        torch.save({"format": 2, "model_name": "gns", "model_config": {}, "x": payload(marker)}, zipped)
        files.append((zipped, marker))
        marker = str(tmp_path / f"pwned_raw{i}")
        raw = str(tmp_path / f"evil_raw{i}.pt")
        with open(raw, "wb") as f:
            pickle.dump({"format": 2, "model_name": "gns", "x": payload(marker)}, f)
        files.append((raw, marker))
    return files


def test_rollout_refuses_a_checkpoint_that_would_run_code(ballistic_dataset, tmp_path, capsys):
    for path, marker in _evil_files(tmp_path):
        code = cli(["rollout", path, "--data", ballistic_dataset, "--quiet", "--out", str(tmp_path / "out")])
        err = capsys.readouterr().err
        assert code == 1
        assert not os.path.exists(marker), f"{path} ran its payload"
        line = one_error_line(err, "rollout")
        assert "refusing to unpickle" in line and "weights_only=True" in line and path in line


def test_train_resume_refuses_a_last_pt_that_would_run_code(ballistic_dataset, tmp_path, capsys):
    (path, marker), = [f for f in _evil_files(tmp_path) if f[0].endswith("evil0.pt")]
    run = tmp_path / "run"
    os.makedirs(run / "checkpoints")
    (run / "config.yaml").write_text("model_name: gns\n")
    shutil.copy(path, run / "checkpoints" / "last.pt")
    code = cli(["train", "gns", "--data", ballistic_dataset, "--out", str(run), "--steps", "1"] + CLI_TINY)
    err = capsys.readouterr().err
    assert code == 1 and not os.path.exists(marker)
    assert "last.pt: refusing to unpickle" in one_error_line(err)


def test_checkpoints_hold_only_tensors_and_plain_values(ballistic_dataset, tmp_path):
    run = str(tmp_path / "run")
    Trainer("gns", ballistic_dataset, run, TINY, {**FAST, "steps": 2, "average_decay": 0.9}, progress=False).run()
    state = torch.load(os.path.join(run, "checkpoints", "last.pt"), weights_only=True)  # no error: plain
    assert state["format"] == 2 and state["step"] == 2
    assert isinstance(state["rng"]["numpy"]["key"], list) and isinstance(state["rng"]["python"], list)
    assert state["dataset"]["path"] == os.path.abspath(ballistic_dataset)
    assert len(state["dataset"]["metadata_sha256"]) == 64
    with pytest.raises(TypeError, match="cannot be stored in a checkpoint"):
        save_checkpoint(str(tmp_path / "x.pt"), {"model_name": "gns", "bad": object()})
    assert not os.path.exists(tmp_path / "x.pt")


# ----- 2. interrupts save the work -----------------------------------------------------------------------
def _train_cmd(data, out, steps):
    return [sys.executable, "-m", "simengine", "train", "gns", "--data", data, "--out", out, "--steps", str(steps),
            "--set", "train.log_every=1", "--set", "train.val_every=100000", "--set", "train.checkpoint_every=100000",
            "--set", "train.lr=1e-3"] + CLI_TINY


_metrics = metrics_rows


def test_sigint_saves_last_pt_and_resume_matches_an_uninterrupted_run(ballistic_dataset, tmp_path):
    env = {**os.environ, "PYTHONHASHSEED": "random"}
    run = str(tmp_path / "interrupted")
    proc = subprocess.Popen(_train_cmd(ballistic_dataset, run, 100000), cwd=REPO, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    out, err = signal_after_rows(proc, run, 12, signal.SIGINT, wait=120, timeout=60)
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "interrupted (SIGINT); saved step" in err
    reached = load_checkpoint(os.path.join(run, "checkpoints", "last.pt"))["step"]
    assert reached >= 12 and [int(r[0]) for r in _metrics(run)][-1] == reached
    final = reached + 4
    done = subprocess.run(_train_cmd(ballistic_dataset, run, final), cwd=REPO, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert f"resuming {run} at step {reached}" in done.stdout
    straight = str(tmp_path / "straight")
    done = subprocess.run(_train_cmd(ballistic_dataset, straight, final), cwd=REPO, env=env, capture_output=True,
                          text=True)
    assert done.returncode == 0, done.stderr
    assert _metrics(run) == _metrics(straight)
    assert len(_metrics(run)) == final


def test_sigterm_saves_last_pt_and_restores_the_handler(ballistic_dataset, tmp_path):
    trainer = Trainer("gns", ballistic_dataset, str(tmp_path / "run"), TINY, {**FAST, "steps": 50}, progress=False)
    step = trainer.train_step

    def step_then_signal():
        loss = step()
        if trainer.step == 3:
            os.kill(os.getpid(), signal.SIGTERM)  # arrives during the step: it is finished first
        return loss

    trainer.train_step = step_then_signal
    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(KeyboardInterrupt) as info:
        trainer.run()
    assert info.value.signum == signal.SIGTERM and info.value.step == 3
    assert signal.getsignal(signal.SIGTERM) is before
    assert load_checkpoint(info.value.saved)["step"] == 3


def test_interrupt_during_validation_stops_it_and_saves(ballistic_dataset, tmp_path):
    trainer = Trainer("gns", ballistic_dataset, str(tmp_path / "run"), TINY, {**FAST, "steps": 50, "val_every": 2},
                      progress=False)
    rollout = trainer.model.rollout

    def slow_rollout(*args, **kwargs):
        os.kill(os.getpid(), signal.SIGINT)
        return rollout(*args, **kwargs)

    trainer.model.rollout = slow_rollout
    with pytest.raises(KeyboardInterrupt) as info:
        trainer.run()
    assert info.value.step == 2 and load_checkpoint(info.value.saved)["step"] == 2
    assert not os.path.exists(tmp_path / "run" / "checkpoints" / "best.pt")


def test_last_pt_is_also_written_every_checkpoint_minutes(ballistic_dataset, tmp_path):
    trainer = Trainer("gns", ballistic_dataset, str(tmp_path / "run"), TINY,
                      {**FAST, "steps": 3, "checkpoint_minutes": 1e-9}, progress=False)
    saved, save_last = [], trainer.save_last
    trainer.save_last = lambda: saved.append(trainer.step) or save_last()
    trainer.run()
    assert saved == [1, 2]  # step 3 is the end: the full save
    for bad in (0, -1.0, "abc"):
        with pytest.raises(InputError, match="train.checkpoint_minutes"):
            Trainer("gns", ballistic_dataset, str(tmp_path / "x"), TINY, {**FAST, "checkpoint_minutes": bad})


# ----- 3. resume is checked ------------------------------------------------------------------------------
def test_resume_on_other_data_is_refused_unless_allowed(ballistic_dataset, tmp_path, capsys):
    run = str(tmp_path / "run")
    args = ["train", "gns", "--out", run, "--steps", "1"] + CLI_TINY
    assert cli(args + ["--data", ballistic_dataset]) == 0
    other = write_toy_dataset(tmp_path / "other", ballistic_trajectory, seed=1)
    capsys.readouterr()
    assert cli(args[:-len(CLI_TINY)] + ["--steps", "2", "--data", other] + CLI_TINY) == 1
    line = one_error_line(capsys.readouterr().err)
    assert os.path.abspath(ballistic_dataset) in line and os.path.abspath(other) in line
    assert "--allow-other-data" in line
    copy = shutil.copytree(ballistic_dataset, tmp_path / "copy")  # the same data elsewhere: accepted
    assert cli(["train", "gns", "--out", run, "--steps", "2", "--data", str(copy)] + CLI_TINY) == 0
    assert cli(["train", "gns", "--out", run, "--steps", "3", "--data", other, "--allow-other-data"] + CLI_TINY) == 0
    assert load_checkpoint(os.path.join(run, "checkpoints", "last.pt"))["step"] == 3


def test_a_runs_config_yaml_is_accepted_as_config(ballistic_dataset, tmp_path, capsys):
    run = str(tmp_path / "run")
    assert cli(["train", "gns", "--data", ballistic_dataset, "--out", run, "--steps", "1"] + CLI_TINY) == 0
    config = os.path.join(run, "config.yaml")
    # resuming with the run's own config, and a new run from it
    assert cli(["train", "gns", "--data", ballistic_dataset, "--out", run, "--steps", "2", "--quiet",
                "--config", config]) == 0
    new = str(tmp_path / "new")
    assert cli(["train", "gns", "--data", ballistic_dataset, "--out", new, "--steps", "1", "--quiet",
                "--config", config]) == 0
    assert load_checkpoint(os.path.join(new, "checkpoints", "last.pt"))["model_config"]["latent"] == 16
    capsys.readouterr()
    assert cli(["train", "meshgraphnets", "--data", ballistic_dataset, "--out", str(tmp_path / "m"),
                "--config", config]) == 1
    assert "config of a 'gns' run" in one_error_line(capsys.readouterr().err)


def test_out_must_be_a_run_folder(ballistic_dataset, tmp_path, capsys):
    afile = tmp_path / "file.txt"
    afile.write_text("x")
    for out in (ballistic_dataset, str(afile), os.path.join(ballistic_dataset, "run")):
        assert cli(["train", "gns", "--data", ballistic_dataset, "--out", out, "--steps", "1"] + CLI_TINY) == 1
        one_error_line(capsys.readouterr().err)
    assert sorted(os.listdir(ballistic_dataset)) == ["metadata.json", "test.h5", "train.h5", "valid.h5"]


# ----- 4. the data is checked ----------------------------------------------------------------------------
@pytest.mark.parametrize("split", ["train", "valid"])
def test_non_finite_positions_are_named_before_training(tmp_path, split):
    made = []

    def make(rng):
        traj = ballistic_trajectory(rng)
        made.append(traj)
        if len(made) == (2 if split == "train" else 4):  # train 00001, or valid 00000
            traj.position[7, 3, 1] = np.nan
        return traj

    root = write_toy_dataset(tmp_path / "nan", make)
    name = "00001" if split == "train" else "00000"
    with pytest.raises(DatasetError, match=rf"{split}\.h5: trajectory '{name}' has a non-finite position \(nan\) "
                                           r"at frame 7, particle 3"):
        Trainer("gns", root, str(tmp_path / "run"), TINY, {**FAST, "steps": 1}, progress=False)


# ----- 5. bad settings are one-line errors ---------------------------------------------------------------
@pytest.mark.parametrize("setting, expected", [
    ("model.latent=abc", "model.latent = 'abc' is not an integer"),
    ("model.radius=abc", "model.radius = 'abc' is not a number"),
    ("train.steps=abc", "train.steps = 'abc' is not an integer"),
    ("train.lr=[1]", "train.lr = [1] is not a number"),
    ("train.device=cuda", "train.device"),
    ("train.device=tpu", "train.device = 'tpu'"),
    ("model.latnt=3", "allowed: ["),
    ("train.stepz=3", "allowed: ["),
    ("latent=3", "expected model.KEY=VALUE or train.KEY=VALUE; did you mean model.latent?"),
])
def test_bad_settings_are_one_line_errors(ballistic_dataset, tmp_path, capsys, setting, expected):
    if setting == "train.device=cuda" and torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    out = str(tmp_path / "run")
    code = cli(["train", "gns", "--data", ballistic_dataset, "--out", out, "--quiet", "--set", setting])
    assert code == 1
    assert expected in one_error_line(capsys.readouterr().err)
    assert not os.path.exists(out)  # refused before anything was written


def test_unknown_model_key_on_resume_names_the_allowed_keys(ballistic_dataset, tmp_path, capsys):
    run = str(tmp_path / "run")
    assert cli(["train", "gns", "--data", ballistic_dataset, "--out", run, "--steps", "1"] + CLI_TINY) == 0
    capsys.readouterr()
    assert cli(["train", "gns", "--data", ballistic_dataset, "--out", run, "--steps", "2", "--set", "model.latnt=3"]
               + CLI_TINY) == 1
    line = one_error_line(capsys.readouterr().err)
    assert "'latnt'" in line and "allowed: [" in line and "'latent'" in line


def test_float_settings_accept_yaml_strings_like_1e_3(ballistic_dataset, tmp_path):
    trainer = Trainer("gns", ballistic_dataset, str(tmp_path / "run"), {**TINY, "noise_std": "1e-4"},
                      {**FAST, "lr": "1e-3", "steps": 2.0}, progress=False)
    assert trainer.cfg["lr"] == 1e-3 and trainer.cfg["steps"] == 2 and trainer.model.config["noise_std"] == 1e-4


# ----- 6. determinism ------------------------------------------------------------------------------------
def test_two_runs_with_two_threads_give_identical_losses(ballistic_dataset, tmp_path):
    # radius 0.3: ~25 neighbours, so the gathers' backward is large enough for torch to split it over threads
    model = dict(latent=32, message_passing_steps=2, graph_backend="torch", radius=0.3)
    runs = []
    for name in "ab":
        trainer = Trainer("gns", ballistic_dataset, str(tmp_path / name), model, {**FAST, "num_threads": 2},
                          progress=False)
        runs.append([trainer.train_step() for _ in range(25)])
    assert runs[0] == runs[1]
    assert not torch.are_deterministic_algorithms_enabled()  # the setting is restored after each step


# ----- 7. validation is visible --------------------------------------------------------------------------
def test_validation_has_its_own_progress_bar_and_logged_duration(ballistic_dataset, tmp_path, capsys):
    run = str(tmp_path / "run")
    trainer = Trainer("gns", ballistic_dataset, run, TINY, {**FAST, "steps": 2, "val_every": 1, "log_every": 1},
                      progress=True)
    trainer.run()
    err = capsys.readouterr().err
    assert "validate step 1" in err and "validate step 2" in err
    with open(os.path.join(run, "metrics.csv")) as f:
        rows = list(csv.DictReader(f))
    assert all(float(r["val_s"]) >= 0 and r["val_rollout_mse"] for r in rows)
