"""Data-parallel training with torchrun (`learned.train.distributed`): two CPU processes (gloo) train like one
process on the same global batch, hold equal parameters, and a run stopped by SIGTERM and resumed equals the
uninterrupted run. Each torchrun start costs ~10 s (the launcher, then torch, Warp and simengine imported by
every rank), so this file starts it three times; the rest runs in this process (the batch-size error as one
rank of two, normaliser statistics over two "ranks", the slicing of the training noise)."""
import os
import signal
import subprocess
import sys
import threading

import numpy as np
import pytest
import torch

from learned.data.noise import particle_shard, random_walk_noise
from learned.nn.normalizer import OnlineNormalizer, reduced_statistics
from learned.train import load_checkpoint
from learned.train.distributed import World, check_same_parameters
from simengine.cli import main as cli
from tests.learned.train.runs import metrics_rows, signal_after_rows

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
# a tiny GNS; batches of 4 windows (2 per process); validation and checkpoints (on rank 0) every 10 steps
SETTINGS = ["--quiet", "--set", "model.latent=16", "--set", "model.message_passing_steps=1",
            "--set", "model.graph_backend=torch", "--set", "train.num_threads=1", "--set", "train.batch_size=4",
            "--set", "train.lr=1e-3", "--set", "train.log_every=1", "--set", "train.val_every=10",
            "--set", "train.checkpoint_every=10", "--set", "train.val_windows=2",
            "--set", "train.val_rollout_steps=3", "--set", "train.val_trajectories=1"]
STEPS = 20

# `simengine train` under torchrun, each rank then saving its final parameters to RUN.rankR.pt
DUMP = """
import sys, torch
from learned.train import trainer
run = trainer.Trainer.run
def dumping_run(self, *args, **kwargs):
    row = run(self, *args, **kwargs)
    torch.save(self.model.state_dict(), f"{self.run_dir}.rank{self.world.rank}.pt")
    return row
trainer.Trainer.run = dumping_run
from simengine.cli import main
sys.exit(main(sys.argv[1:]))
"""


def _torchrun(script_args: list, processes: int = 2) -> list:
    return [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={processes}",
            "--monitor-interval=0.1"] + script_args


def _train_args(data, run, steps) -> list:
    return ["train", "gns", "--data", data, "--out", run, "--steps", str(steps)] + SETTINGS


_metrics = metrics_rows


def _assert_same_state(a: dict, b: dict, **tolerance):
    """Equal state_dicts: tensors within ``tolerance`` (default: bit for bit), other entries equal."""
    assert a.keys() == b.keys()
    for name, value in a.items():
        if torch.is_tensor(value):
            torch.testing.assert_close(value, b[name], **(tolerance or {"rtol": 0, "atol": 0}), msg=name)
        else:
            assert value == b[name], name


def _env() -> dict:
    return {**os.environ, "PYTHONPATH": REPO + os.pathsep + os.environ.get("PYTHONPATH", "")}


def test_two_processes_train_like_one_and_resume_like_an_uninterrupted_run(ballistic_dataset, tmp_path):
    # 1. two processes, stopped by SIGTERM to torchrun (which forwards it to both ranks) after >= 10 steps
    stopped = str(tmp_path / "stopped")
    proc = subprocess.Popen(_torchrun(["-m", "simengine"] + _train_args(ballistic_dataset, stopped, 100000)),
                            cwd=REPO, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _, err = signal_after_rows(proc, stopped, 10, signal.SIGTERM, wait=180, timeout=120)
    assert err.count("simengine train: interrupted (SIGTERM); saved step") == 1, err  # rank 0 alone says it
    reached = load_checkpoint(os.path.join(stopped, "checkpoints", "last.pt"))["step"]
    assert reached >= 10 and int(_metrics(stopped)[-1][0]) == reached
    final = max(STEPS, reached + 5)

    # 2. the same command resumes it, on two processes
    done = subprocess.run(_torchrun(["-m", "simengine"] + _train_args(ballistic_dataset, stopped, final)),
                          cwd=REPO, env=_env(), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.count(f"resuming {stopped} at step {reached}") == 1
    assert f"trained gns to step {final} on 2 processes" in done.stdout

    # 3. the uninterrupted run on two processes, each rank saving its parameters at the end
    straight = str(tmp_path / "straight")
    script = tmp_path / "dump.py"
    script.write_text(DUMP)
    done = subprocess.run(_torchrun([str(script)] + _train_args(ballistic_dataset, straight, final)),
                          cwd=REPO, env=_env(), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    ranks = [torch.load(f"{straight}.rank{r}.pt", weights_only=True) for r in range(2)]
    _assert_same_state(ranks[0], ranks[1])  # every parameter and buffer, bit for bit

    # resumed == uninterrupted: every logged loss, learning rate and validation value, and the final weights
    assert _metrics(stopped) == _metrics(straight)
    assert len(_metrics(straight)) == final
    resumed = load_checkpoint(os.path.join(stopped, "checkpoints", "last.pt"))["model_state"]
    _assert_same_state(resumed, ranks[0])

    # 4. one process with the same global batch of 4 windows: the same losses up to float rounding
    one = str(tmp_path / "one")
    assert cli(_train_args(ballistic_dataset, one, final)) == 0
    single, double = _metrics(one), _metrics(straight)
    assert [r[0] for r in single] == [r[0] for r in double]
    np.testing.assert_allclose([float(r[1]) for r in double], [float(r[1]) for r in single], rtol=0, atol=1e-5)
    alone = load_checkpoint(os.path.join(one, "checkpoints", "last.pt"))["model_state"]
    _assert_same_state(ranks[0], alone, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("rank", [0, 1])
def test_a_batch_size_that_does_not_divide_is_reported_once(ballistic_dataset, tmp_path, capsys, monkeypatch, rank):
    # as torchrun sets them for rank `rank` of two; the check comes before any process group is joined
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", str(rank))
    monkeypatch.setenv("LOCAL_RANK", str(rank))
    args = _train_args(ballistic_dataset, str(tmp_path / "run"), 2)
    assert cli(args[:-len(SETTINGS)] + SETTINGS + ["--set", "train.batch_size=3"]) == 1
    out, err = capsys.readouterr()
    if rank == 0:
        assert out == "" and len(err.strip().splitlines()) == 1, err
        assert "train.batch_size = 3 does not divide among the 2 processes" in err and "multiple of 2" in err
    else:
        assert out == "" and err == ""  # the same error on every rank: rank 0 prints it
    assert not os.path.exists(tmp_path / "run")


def test_one_process_needs_no_process_group(monkeypatch):
    for key in ("WORLD_SIZE", "RANK", "LOCAL_RANK"):
        monkeypatch.delenv(key, raising=False)
    world = World.from_env()
    assert (world.rank, world.size, world.distributed, world.main) == (0, 1, False, True)
    check_same_parameters(world, torch.nn.Linear(2, 2), 1)  # no collective, no error
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "2")
    with pytest.raises(Exception, match="0 <= RANK < WORLD_SIZE"):
        World.from_env()


def test_normaliser_statistics_are_those_of_the_global_batch():
    # two "ranks" as two threads whose reduce sums their tensors (what all_reduce does between processes)
    barrier, slots = threading.Barrier(2), [None, None]

    def reduce_for(rank):
        def reduce(tensor):
            slots[rank] = tensor.clone()
            barrier.wait()
            total = slots[0] + slots[1]
            barrier.wait()
            tensor.copy_(total)
        return reduce

    generator = torch.Generator().manual_seed(0)
    calls = [torch.randn(7, 3, generator=generator) * 4 + 2 for _ in range(4)]
    parts = [[x[:3], x[3:]] for x in calls]
    parts[1] = [calls[1][:0], calls[1]]  # one rank may hold no row of a call
    norms = [OnlineNormalizer(3, max_accumulations=3) for _ in range(2)]

    def train(rank):
        with reduced_statistics(reduce_for(rank)):
            for part in parts:
                norms[rank](part[rank])

    threads = [threading.Thread(target=train, args=(r,)) for r in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    alone = OnlineNormalizer(3, max_accumulations=3)
    for x in calls:
        alone(x)
    for name, value in alone.state_dict().items():
        torch.testing.assert_close(norms[0].state_dict()[name], value, msg=name)
        assert torch.equal(norms[0].state_dict()[name], norms[1].state_dict()[name]), name


def test_each_rank_gets_its_slice_of_the_global_noise():
    position = torch.rand(6, 10, 2)
    whole = random_walk_noise(position, 1e-3, generator=torch.Generator().manual_seed(3))
    for start, stop in ((0, 4), (4, 10)):
        with particle_shard(10, start):
            part = random_walk_noise(position[:, start:stop], 1e-3, generator=torch.Generator().manual_seed(3))
        assert torch.equal(part, whole[:, start:stop])
