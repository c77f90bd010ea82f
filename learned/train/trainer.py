"""Model-agnostic training loop: Adam, exponential lr decay, validation, checkpoints, exact resume.

The loop only calls the `learned.base.LearnedSimulator` contract (``training_step``, ``rollout``,
``window_frames``, ``data_keys``); it never looks at which model it trains.

Determinism: the model is initialised after ``torch.manual_seed(seed)``; window sampling and training
noise draw from two generators whose states are checkpointed with the model, optimiser, scheduler and
global RNGs, so a resumed run computes the same next loss as an uninterrupted one. Two runs with the same
seed, data, config, torch build and ``num_threads`` give bit-identical losses on the CPU: training steps
and validation run under ``torch.use_deterministic_algorithms`` (warn-only). Without it they did not:
the backward pass of the graph networks' gathers (``nodes[senders]``) accumulates into the node
gradients with ``index_put_(accumulate=True)``, which torch runs on several CPU threads with atomic
float additions (ATen's ``index_put`` kernel, parallel above 32768 elements), so the summation order,
and the last bits of the gradients, changed from run to run; the difference grew until the losses
visibly diverged after a few hundred steps. With one thread, or deterministic mode, the order is fixed.
Not covered: a different ``num_threads`` (matrix products split their sums differently: same losses to
~1e-6, not bit-identical), another machine or torch/BLAS build, and CUDA kernels without a deterministic
variant (torch warns about them; ``CUBLAS_WORKSPACE_CONFIG`` is set for cuBLAS when training on CUDA).
Nothing time-based changes the computation: ``checkpoint_minutes`` only decides when ``last.pt`` is
written, and saving reads the state without changing it.

Interrupts: during `run`, SIGINT (Ctrl-C) and SIGTERM finish the current training step, write
``checkpoints/last.pt`` (atomically) and raise `Interrupted` (a `KeyboardInterrupt`); a signal during
validation stops the validation at once (that step's metrics row then has no validation values). A second
signal stops at once and keeps the last checkpoint written. ``last.pt`` is also written every
``checkpoint_minutes`` of wall-clock time besides every ``checkpoint_every`` steps.

Safety: the run folder is claimed with `simengine.io.outputs.claim_output_dir` (kind "run": never a dataset,
another command's output or an existing file); checkpoints load with ``weights_only=True``
(`learned.train.checkpoint`); the dataset's identity (path, sha256 of metadata.json) is recorded and a
resume on other data is refused unless ``allow_other_data``; every trajectory of the train and valid splits
is checked for NaN/inf positions (and float keys the model reads) before training.

Cost on the CPU (measured on this repository's shared 2-core machine, 2 torch threads, default GNS:
latent 128, 10 message-passing steps, batch 2, Warp radius graph): two windows of 1009 particles with
~10 neighbours each take about 1.2 s per training step (3-4 s before deterministic mode: the parallel
atomic adds it replaces were slow), a single-sample forward pass about 0.3 s; the cost grows linearly with
particles x neighbours. A validation with the defaults (16 one-step windows + 2 rollouts of 20 steps = 56
forward passes) takes 15-30 s there, like 15-25 training steps: 1-2 % of the time at ``val_every`` 1000.
Validation shows its own progress bar and logs its duration (``val_s``); ``val_windows``,
``val_trajectories`` and ``val_rollout_steps`` bound it.

Run folder: ``config.yaml`` (resolved, usable as ``--config``), ``metrics.csv`` (step, loss, lr, val_loss,
val_rollout_mse, elapsed_s, val_s), ``checkpoints/{last,best,step_N}.pt``.
"""
from __future__ import annotations

import contextlib
import csv
import os
import random
import signal
import sys
import threading
import time

import numpy as np
import torch

from learned.data import WindowDataset, collate, describe, load_split, random_reflections
from learned.data.noise import particle_shard
from learned.data.source import check_finite, dataset_identity, split_path
from learned.nn.normalizer import reduced_statistics
from learned.train import checkpoint as ckpt
from learned.train.averaging import WeightAverage
from learned.train.config import RESUMABLE_CHANGES, TRAIN_DEFAULTS, learning_rate_factor, model_config, train_config
from learned.train.distributed import World, check_same_parameters, data_parallel
from simengine.errors import DatasetError, InputError

CSV_FIELDS = ("step", "loss", "lr", "val_loss", "val_rollout_mse", "elapsed_s", "val_s")
RUN_FILES = ("config.yaml", "metrics.csv", "checkpoints")
SIGNAL_NAMES = {signal.SIGINT: "SIGINT", signal.SIGTERM: "SIGTERM"}


class Interrupted(KeyboardInterrupt):
    """Training stopped by a signal. ``signum``: SIGINT or SIGTERM; ``step``: the step reached;
    ``saved``: the checkpoint written for it (None when the state was not consistent, see ``kept``);
    ``kept``: the step of the newest checkpoint on disk."""

    def __init__(self, signum: int, step: int, saved: str | None, kept: int | None):
        self.signum, self.step, self.saved, self.kept = signum, step, saved, kept
        name = SIGNAL_NAMES.get(signum, f"signal {signum}")
        if saved:
            text = f"{name} at step {step}: saved {saved}"
        else:
            text = f"{name} during step {step + 1}: " + (f"the checkpoint of step {kept} is kept" if kept is not None
                                                         else "no checkpoint was written yet")
        super().__init__(text)


@contextlib.contextmanager
def deterministic_algorithms():
    """``torch.use_deterministic_algorithms(True, warn_only=True)`` for the duration (see module docstring);
    the previous setting is restored. Uninitialised memory is not filled (the fill only costs time)."""
    enabled = torch.are_deterministic_algorithms_enabled()
    fill = torch.utils.deterministic.fill_uninitialized_memory
    if not enabled:
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.utils.deterministic.fill_uninitialized_memory = False
    try:
        yield
    finally:
        if not enabled:
            torch.use_deterministic_algorithms(False)
            torch.utils.deterministic.fill_uninitialized_memory = fill


class Trainer:
    """Train model ``model_name`` on dataset ``data_dir``, writing to ``run_dir``.

    If ``run_dir`` holds a checkpoint and ``fresh`` is False, training resumes from it; the model
    name and config must then match, and the dataset must be the one it was trained on (same
    metadata.json hash) unless ``allow_other_data`` (clear errors otherwise). ``overwrite``: let the run
    folder replace files named like a run's that simengine did not write.
    """

    def __init__(self, model_name: str, data_dir: str, run_dir: str, model_config: dict | None = None,
                 train_overrides: dict | None = None, fresh: bool = False, progress: bool = True,
                 allow_other_data: bool = False, overwrite: bool = False):
        import learned
        from simengine.io.outputs import claim_output_dir

        self.run_dir, self.data_dir = run_dir, data_dir
        self.world = world = World.from_env()
        self.progress = progress and world.main
        self.cfg = train_config(train_overrides)
        model_overrides = _checked_model_config(model_name, model_config)
        self.device = torch.device(world.device(self.cfg["device"], _resolve_device(self.cfg["device"])))
        if world.distributed and int(self.cfg["batch_size"]) % world.size:
            raise InputError(f"train.batch_size = {self.cfg['batch_size']} does not divide among the {world.size} "
                             f"processes of this run (WORLD_SIZE): each takes an equal part of every batch; use a "
                             f"multiple of {world.size}")
        if self.device.type == "cuda":  # deterministic cuBLAS (must be set before its first use)
            os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.set_num_threads(int(self.cfg["num_threads"]))
        world.init(self.device)

        def claim():  # rank 0 only: the run folder is written by rank 0
            claim_output_dir(run_dir, "run", RUN_FILES, overwrite=overwrite, command="simengine train")
            if fresh and os.path.isdir(ckpt.checkpoint_dir(run_dir)):
                for path in os.listdir(ckpt.checkpoint_dir(run_dir)):
                    os.remove(os.path.join(ckpt.checkpoint_dir(run_dir), path))
                if os.path.exists(os.path.join(run_dir, "metrics.csv")):
                    os.remove(os.path.join(run_dir, "metrics.csv"))

        def read_train_split():
            trajectories = load_split(data_dir, "train")
            # before describe(): it may compute and store statistics, which NaN positions would poison
            check_finite(data_dir, "train", trajectories)
            return trajectories, describe(data_dir, "train", trajectories)

        world.rank_zero_first(claim, then=lambda: None)
        last = os.path.join(ckpt.checkpoint_dir(run_dir), "last.pt")
        state = ckpt.load_checkpoint(last) if os.path.exists(last) and not fresh else None
        # rank 0 first: describe() may store missing statistics in metadata.json
        self.train_set, self.info = world.rank_zero_first(read_train_split)
        self.identity = dataset_identity(data_dir)
        self._seed_everything(int(self.cfg["seed"]))
        if state is None:
            cls = learned.get(model_name)
            try:
                self.model = cls.from_dataset(self.info, **model_overrides)
            except (InputError, DatasetError):
                raise
            except (TypeError, ValueError) as exc:  # a value of the right type the model still cannot use
                raise InputError(f"model {model_name!r} with config {model_overrides}: "
                                 f"{type(exc).__name__}: {exc}") from None
            self.step, self.best_val = 0, float("inf")
        else:
            self._check_resume(state, model_name, model_overrides, allow_other_data)
            self.model = ckpt.model_from_checkpoint(state, averaged=False)
            self.model.check_dataset(self.info)
            self.step, self.best_val = int(state["step"]), float(state.get("best_val", float("inf")))
        self.model.to(self.device)

        max_pf = int(self.cfg["pushforward_steps"])
        keys = self.model.data_keys(self.info.keys)
        check_finite(data_dir, "train", self.train_set, keys, include_position=False)
        paths = self.model.metadata_paths
        self.windows = WindowDataset(self.train_set, self.model.window_frames(max_pf), keys, metadata_paths=paths)
        self.valid_windows = self.valid_set = None
        world.rank_zero_first(lambda: self._setup_validation(keys), then=lambda: None)  # rank 0 validates
        self._parallel = None
        if world.distributed:  # the loss goes through DistributedDataParallel.forward: gradients are averaged
            self._parallel = data_parallel(TrainingStep(self.model), self.device)
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=float(self.cfg["lr"]))
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer, lambda s: learning_rate_factor(s, self.cfg))
        self.sampler = torch.Generator().manual_seed(int(self.cfg["seed"]))
        self.noise = torch.Generator(device=self.device).manual_seed(int(self.cfg["seed"]) + 1)
        decay = self.cfg["average_decay"]
        self.average = WeightAverage(self.model, decay) if decay else None
        if state is not None:
            if self.average is not None and state.get("average"):
                self.average.load_state_dict(state["average"])
            self.optimizer.load_state_dict(state["optimizer"])
            self.scheduler.load_state_dict(state["scheduler"])
            self._restore_rng(state["rng"])
        self._saved_step = self.step if state is not None else None
        self._in_step = False
        self._stop_signal = None
        self._signalled = False  # this process received SIGINT/SIGTERM (not: another rank did)
        self._interruptible = False
        self._last_save = time.monotonic()
        world.rank_zero_first(self._write_config, then=lambda: None)

    # ----- set-up ----------------------------------------------------------------------------------
    @staticmethod
    def _seed_everything(seed):
        random.seed(seed)
        np.random.seed(seed)
        torch.manual_seed(seed)

    def _check_resume(self, state, model_name, model_config, allow_other_data):
        if state["model_name"] != model_name:
            raise InputError(f"{self.run_dir} holds a checkpoint of model {state['model_name']!r}, not "
                             f"{model_name!r}; choose another --out or pass --fresh")
        saved = state["model_config"]
        changed = sorted(k for k, v in (model_config or {}).items() if _plain(saved.get(k)) != _plain(v))
        if changed:
            raise InputError(f"{self.run_dir}: checkpoint model config differs in {changed} "
                             f"(checkpoint: {[saved.get(k) for k in changed]}, requested: "
                             f"{[model_config[k] for k in changed]}); pass --fresh to start over")
        old = state["train_config"]
        changed = sorted(k for k in self.cfg if k not in RESUMABLE_CHANGES
                         and _plain(old.get(k, TRAIN_DEFAULTS.get(k))) != _plain(self.cfg[k]))
        if changed:
            raise InputError(f"{self.run_dir}: checkpoint train config differs in {changed} (checkpoint: "
                             f"{[old.get(k) for k in changed]}, requested: {[self.cfg[k] for k in changed]}); "
                             f"pass --fresh to start over")
        trained_on = state.get("dataset")
        if isinstance(trained_on, dict) and trained_on.get("metadata_sha256") and not allow_other_data:
            if trained_on["metadata_sha256"] != self.identity["metadata_sha256"]:
                raise InputError(
                    f"{self.run_dir} was trained on {trained_on.get('path')} (metadata.json sha256 "
                    f"{trained_on['metadata_sha256'][:12]}), but --data {self.identity['path']} is other data "
                    f"(sha256 {self.identity['metadata_sha256'][:12]}); pass --allow-other-data to resume on it, "
                    f"or --fresh to start over")

    def _setup_validation(self, keys):
        self.valid_windows = self.valid_set = None
        try:
            split_path(self.data_dir, "valid")
        except Exception:
            return
        self.valid_set = load_split(self.data_dir, "valid")
        check_finite(self.data_dir, "valid", self.valid_set, keys)
        self.model.check_dataset(describe(self.data_dir, "valid", self.valid_set))
        paths = self.model.metadata_paths
        windows = WindowDataset(self.valid_set, self.model.window_frames(0), keys, metadata_paths=paths)
        count = min(int(self.cfg["val_windows"]), len(windows))
        self.valid_indices = np.linspace(0, len(windows) - 1, count).round().astype(int).tolist()
        self.valid_windows = windows
        self.valid_full = WindowDataset(self.valid_set, 1, keys, metadata_paths=paths)

    def _write_config(self):
        import yaml

        from simengine.io import atomic_path

        os.makedirs(self.run_dir, exist_ok=True)
        config = {"model_name": self.model.name, "data": self.identity["path"],
                  "data_metadata_sha256": self.identity["metadata_sha256"],
                  "model": _plain(self.model.config), "train": _plain(self.cfg)}
        with atomic_path(os.path.join(self.run_dir, "config.yaml")) as tmp, open(tmp, "w") as f:
            yaml.safe_dump(config, f, sort_keys=False)

    # ----- RNG state (plain values: checkpoints load with weights_only=True) -----------------------
    def _rng_state(self):
        return {"torch": torch.get_rng_state(), "numpy": ckpt.numpy_rng_state(), "python": ckpt.python_rng_state(),
                "sampler": self.sampler.get_state(), "noise": self.noise.get_state()}

    def _restore_rng(self, rng):
        torch.set_rng_state(rng["torch"])
        ckpt.set_numpy_rng_state(rng["numpy"])
        ckpt.set_python_rng_state(rng["python"])
        self.sampler.set_state(rng["sampler"])
        self.noise.set_state(rng["noise"])

    # ----- loop --------------------------------------------------------------------------------------
    def sample_batch(self) -> tuple:
        """Next training batch and its pushforward depth, drawn from the sampler generator (with several
        processes: this rank's part of the global batch)."""
        batch, pushforward, _ = self._draw()
        return batch, pushforward

    def _draw(self) -> tuple:
        """(batch, pushforward, shard): every rank draws the same global batch and keeps its part; ``shard`` is
        (particles in the global batch, index of this rank's first one), None for one process."""
        idx = torch.randint(len(self.windows), (int(self.cfg["batch_size"]),), generator=self.sampler)
        pushforward = 0
        max_pf = int(self.cfg["pushforward_steps"])
        if max_pf:
            probs = self.cfg["pushforward_probs"] or [1.0] * (max_pf + 1)
            pushforward = int(torch.multinomial(torch.tensor(probs, dtype=torch.float64), 1,
                                                generator=self.sampler))
        shard = None
        if self.world.distributed:
            part = len(idx) // self.world.size
            counts = [self.windows[int(i)]["position"].shape[1] for i in idx]
            shard = (sum(counts), sum(counts[:self.world.rank * part]))
            idx = idx[self.world.rank * part:(self.world.rank + 1) * part]
        batch = collate([self.windows[int(i)] for i in idx])
        if self.cfg["reflect_axes"]:
            batch = random_reflections(batch, self.cfg["reflect_axes"], self.info.bounds, self.sampler)
        if pushforward < max_pf:  # use the frames right after the inputs
            frames = self.model.window_frames(pushforward)
            batch = self.model._frames(batch, 0, frames)
        return {k: v.to(self.device) for k, v in batch.items()}, pushforward, shard

    def _parallel_loss(self, batch: dict, pushforward: int, shard: tuple) -> tuple:
        """(loss to differentiate, global batch loss) on this rank's part of the batch.

        The model's loss is a mean over ``logs["weight"]`` terms (default: the windows); weighting each
        rank's mean by its share of the terms of all ranks (times the world size, which the gradient
        averaging divides out) makes the gradient that of the global batch's mean, as in one process."""
        with particle_shard(*shard), reduced_statistics(self.world.all_reduce):
            loss, logs = self._parallel(batch, generator=self.noise, pushforward=pushforward)
        weight = float(logs.get("weight", int(batch["num_particles"].numel())))
        total = self.world.all_reduce(torch.tensor([float(loss.detach()) * weight, weight], dtype=torch.float64,
                                                   device=self.device))
        if not float(total[1]) > 0:
            raise InputError(f"step {self.step + 1}: the global batch has no loss terms on any process")
        return loss * (weight * self.world.size / float(total[1])), total[0] / total[1]

    def train_step(self) -> float:
        self._in_step = True
        self.model.train()
        with deterministic_algorithms():
            batch, pushforward, shard = self._draw()
            if self._parallel is None:
                loss, _ = self.model.training_step(batch, generator=self.noise, pushforward=pushforward)
                value = loss
            else:
                loss, value = self._parallel_loss(batch, pushforward, shard)
            if not torch.isfinite(value):
                raise InputError(f"training loss became {float(value)} at step {self.step + 1} (the data was checked "
                                 f"finite): lower train.lr (now {self.cfg['lr']}) or set train.grad_clip")
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if self.cfg["grad_clip"]:
                torch.nn.utils.clip_grad_norm_(self.model.parameters(), float(self.cfg["grad_clip"]))
            self.optimizer.step()
            self.scheduler.step()
            if self.average is not None:
                self.average.update(self.model)
        self.step += 1
        self._in_step = False
        return float(value.detach())

    def validate(self, progress: bool = False) -> dict:
        """One-step loss (no noise) on fixed windows and position MSE of short rollouts, with the
        averaged weights when ``average_decay`` is set (those are the ones rolled out later).
        ``progress``: show a progress bar over its forward passes."""
        if self.valid_windows is None:
            return {}
        from tqdm.auto import tqdm

        steps = int(self.cfg["val_rollout_steps"])
        trajectories = min(int(self.cfg["val_trajectories"]), len(self.valid_set)) if steps else 0
        bar = tqdm(total=len(self.valid_indices) + trajectories * steps, desc=f"validate step {self.step}",
                   unit="pass", leave=False, disable=not progress, dynamic_ncols=True)
        try:
            with deterministic_algorithms():
                if self.average is None:
                    return self._validate(bar)
                with self.average.applied(self.model):
                    return self._validate(bar)
        finally:
            bar.close()

    @torch.no_grad()
    def _validate(self, bar) -> dict:
        self.model.eval()
        losses = []
        for i in self.valid_indices:
            batch = {k: v.to(self.device) for k, v in collate([self.valid_windows[i]]).items()}
            losses.append(float(self.model.training_step(batch, noise=False)[0]))
            bar.update(1)
        out = {"val_loss": float(np.mean(losses))}
        steps = int(self.cfg["val_rollout_steps"])
        if steps:
            errors = []
            h = self.model.input_frames
            for t in range(min(int(self.cfg["val_trajectories"]), len(self.valid_set))):
                frames = min(h + steps, self.valid_set[t].num_frames)
                sample = collate([self.valid_full.window(t, 0, frames)])
                sample = {k: v.to(self.device) for k, v in sample.items()}
                result = self.model.rollout(sample, frames - h, progress=bar)
                errors.append(float(((result.position - sample["position"][h:]) ** 2).mean()))
                bar.update(steps - (frames - h))  # a short trajectory: account for the steps it lacks
            out["val_rollout_mse"] = float(np.mean(errors))
        return out

    def _state(self) -> dict:
        return {"model_name": self.model.name, "model_config": self.model.config,
                "model_state": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
                "scheduler": self.scheduler.state_dict(), "step": self.step, "train_config": self.cfg,
                "rng": self._rng_state(), "best_val": self.best_val,
                "average": None if self.average is None else self.average.state_dict(),
                "dataset": dict(self.identity), "world_size": self.world.size}

    def save(self, best: bool = False):
        """Write ``last.pt``, ``step_N.pt`` (and ``best.pt``); rank 0 only (the others return at once)."""
        if not self.world.main:
            return
        state = self._state()
        folder = ckpt.checkpoint_dir(self.run_dir)
        ckpt.save_checkpoint(os.path.join(folder, "last.pt"), state)
        self._saved_step, self._last_save = self.step, time.monotonic()
        ckpt.save_checkpoint(os.path.join(folder, f"step_{self.step:07d}.pt"), state)
        if best:
            ckpt.save_checkpoint(os.path.join(folder, "best.pt"), state)
        ckpt.prune_checkpoints(self.run_dir, int(self.cfg["keep_checkpoints"]))

    def save_last(self) -> str:
        """Write ``checkpoints/last.pt`` only (atomically): the interrupt and ``checkpoint_minutes`` save."""
        path = os.path.join(ckpt.checkpoint_dir(self.run_dir), "last.pt")
        if self.world.main:
            ckpt.save_checkpoint(path, self._state())
        self._saved_step, self._last_save = self.step, time.monotonic()
        return path

    def _checkpoint_overdue(self) -> bool:
        minutes = self.cfg["checkpoint_minutes"]
        return minutes is not None and time.monotonic() - self._last_save >= 60.0 * float(minutes)

    # ----- signals -----------------------------------------------------------------------------------
    def _on_signal(self, signum, frame):
        first = not self._signalled  # a stop agreed with another rank is not this process's first signal
        self._signalled = True
        if self._stop_signal is None:
            self._stop_signal = signum
        if self._interruptible or not first:
            raise KeyboardInterrupt  # validation, or a second signal: stop now
        if not self.world.main:  # rank 0 speaks for all ranks
            return
        name = SIGNAL_NAMES.get(signum, f"signal {signum}")
        print(f"\nsimengine train: {name}: finishing step {self.step + 1}, then saving checkpoints/last.pt "
              f"(send it again to stop at once)", file=sys.stderr, flush=True)

    @contextlib.contextmanager
    def _signal_handlers(self):
        """SIGINT and SIGTERM handled by `_on_signal` (main thread only); then the previous handlers restored
        (several processes stopped by a signal: ignored, see below)."""
        previous = {}
        if threading.current_thread() is threading.main_thread():
            for signum in (signal.SIGINT, signal.SIGTERM):
                try:
                    previous[signum] = signal.signal(signum, self._on_signal)
                except (ValueError, OSError):  # not allowed here: a plain KeyboardInterrupt still saves
                    pass
        try:
            yield
        finally:
            # Several processes stopping on a signal: torchrun signals every rank, and a rank stopped by the
            # agreement with another may receive its own signal only now; it is ignored, so that this
            # process reports and exits instead of dying (the command exits right after).
            ignore = self.world.distributed and self._stop_signal is not None
            for signum, handler in previous.items():
                signal.signal(signum, signal.SIG_IGN if ignore else handler if handler is not None else signal.SIG_DFL)

    @contextlib.contextmanager
    def _interruptible_section(self):
        self._interruptible = True
        try:
            if self._stop_signal is not None:
                raise KeyboardInterrupt
            yield
        finally:
            self._interruptible = False

    def run(self, steps: int | None = None, deadline: float | None = None) -> dict:
        """Train until ``steps`` total steps (default ``train.steps``); returns the last metrics row.

        ``deadline`` (a `time.time` value): also stop after the first step that ends past it; that step is then
        treated as the last one (validated, checkpointed and logged). It only decides where training stops,
        never what a step computes (a run stopped by it resumes exactly, like one stopped at a step count).

        Raises `Interrupted` after SIGINT/SIGTERM (see the module docstring), once ``last.pt`` holds the
        step reached."""
        from tqdm.auto import tqdm

        total = int(steps if steps is not None else self.cfg["steps"])
        main = self.world.main  # rank 0 validates, logs and saves; the other ranks only train
        log = _CsvLog(os.path.join(self.run_dir, "metrics.csv"), self.step) if main else _NoLog()
        start, row = time.time(), {}
        self._stop_signal, self._signalled, self._last_save = None, False, time.monotonic()
        bar = tqdm(total=total, initial=self.step, desc=f"train {self.model.name}", unit="step",
                   disable=not self.progress, dynamic_ncols=True)
        try:
            with self._signal_handlers():
                while self.step < total:
                    loss = self.train_step()
                    bar.update(1)
                    end = self.step == total or self._past(deadline)
                    row = {"step": self.step, "loss": loss, "lr": self.scheduler.get_last_lr()[0],
                           "elapsed_s": round(time.time() - start, 3)}
                    validating = self.step % int(self.cfg["val_every"]) == 0 or end
                    scheduled = self.step % int(self.cfg["checkpoint_every"]) == 0 or end
                    if scheduled:  # several processes: all must hold the same weights (no-op for one)
                        check_same_parameters(self.world, self.model, self.step, self.device)
                    validated = False
                    if main and validating and self.valid_windows is not None:
                        began = time.time()
                        try:
                            with self._interruptible_section():
                                row.update(self.validate(progress=self.progress))
                            row["val_s"] = round(time.time() - began, 3)
                            validated = True
                            bar.set_postfix(loss=f"{loss:.3g}",
                                            val=f"{row.get('val_rollout_mse', row.get('val_loss')):.3g}")
                        except KeyboardInterrupt:
                            self._stop_signal = self._stop_signal or signal.SIGINT
                    if self.step % int(self.cfg["log_every"]) == 0 or validating or end:
                        log.write(row)
                        if not validated:
                            bar.set_postfix(loss=f"{loss:.3g}")
                    # an interrupted validation leaves no value to rank the checkpoint by: last.pt only
                    cut_short = validating and self.valid_windows is not None and not validated
                    saved = False
                    if main and scheduled and not cut_short:
                        value = row.get("val_rollout_mse", row.get("val_loss"))
                        # Without a validation split the latest checkpoint is the best one known.
                        best = self.valid_windows is None or (value is not None and value < self.best_val)
                        if best and value is not None:
                            self.best_val = value
                        self.save(best=best)
                        saved = True
                    if self.world.distributed:  # a signal that reached any rank stops all of them
                        self._stop_signal = self._agree_on_stop()
                    if main and not saved and (self._stop_signal is not None or self._checkpoint_overdue()):
                        self.save_last()
                    if self._stop_signal is not None:
                        self.world.barrier()  # nobody stops before rank 0 has written last.pt
                        raise Interrupted(self._stop_signal, self.step, os.path.join(
                            ckpt.checkpoint_dir(self.run_dir), "last.pt"), self.step)
                    if end:  # the deadline passed
                        break
        except Interrupted:
            raise
        except KeyboardInterrupt:
            # a second signal, or one no handler caught (run outside the main thread): save if consistent
            # (several processes: rank 0 alone saves, without waiting for the others, which may be gone)
            saved = None
            if not self._in_step and self._saved_step != self.step and self.world.main:
                with contextlib.suppress(KeyboardInterrupt):
                    saved = self.save_last()
            elif not self._in_step and self.world.main:
                saved = os.path.join(ckpt.checkpoint_dir(self.run_dir), "last.pt")
            raise Interrupted(self._stop_signal or signal.SIGINT, self.step, saved, self._saved_step) from None
        finally:
            bar.close()
            log.close()
        return row

    def _past(self, deadline: float | None) -> bool:
        """True once ``time.time()`` is past ``deadline`` (several processes: once it is for any of them)."""
        if deadline is None:
            return False
        past = time.time() > deadline
        if self.world.distributed:
            flag = torch.tensor([int(past)], dtype=torch.int64, device=self.device)
            past = bool(self.world.all_reduce(flag, "max").item())
        return past

    def _agree_on_stop(self):
        """Collective: the stop signal of any rank (the largest signal number), or None."""
        flag = torch.tensor([self._stop_signal or 0], dtype=torch.int64, device=self.device)
        return int(self.world.all_reduce(flag, "max").item()) or None


class TrainingStep(torch.nn.Module):
    """A model's ``training_step`` as ``forward``: the module `DistributedDataParallel` wraps, so that the loss
    is computed inside the wrapper's forward and the backward pass synchronises the gradients (calling
    ``training_step`` on the bare model would skip that, and the ranks would drift apart)."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, batch: dict, generator=None, pushforward: int = 0):
        return self.model.training_step(batch, generator=generator, pushforward=pushforward)


class _NoLog:
    """metrics.csv stand-in on ranks other than 0."""

    def write(self, row: dict):
        pass

    def close(self):
        pass


class _CsvLog:
    """metrics.csv, appended to; rows after ``step`` (left by an interrupted run) are dropped."""

    def __init__(self, path: str, step: int):
        rows = []
        if os.path.exists(path):
            with open(path) as f:
                rows = [r for r in csv.DictReader(f) if int(r["step"]) <= step]
        self.file = open(path, "w", newline="")
        self.writer = csv.DictWriter(self.file, fieldnames=CSV_FIELDS, extrasaction="ignore")
        self.writer.writeheader()
        self.writer.writerows(rows)
        self.file.flush()

    def write(self, row: dict):
        self.writer.writerow({k: row.get(k, "") for k in CSV_FIELDS})
        self.file.flush()

    def close(self):
        self.file.close()


def _checked_model_config(model_name: str, overrides: dict | None) -> dict:
    """`learned.train.config.model_config` (keys and types checked against the model's defaults)."""
    import learned

    learned.get(model_name)  # an unknown model: UnknownModelError naming the registered ones
    return model_config(model_name, overrides)


def _resolve_device(device) -> str:
    """``train.device`` checked by `simengine.runtime.resolve_device` (and against this torch build)."""
    from simengine.runtime import resolve_device

    try:
        name = resolve_device(device)
    except InputError as exc:
        text = str(exc)
        raise InputError(f"train.{text}" if text.startswith("device") else f"train.device: {text}") from None
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise InputError(f"train.device = {device!r}: this torch build ({torch.__version__}) has no CUDA support; "
                         f"use 'cpu' or install a CUDA build of torch")
    return name


def _plain(obj):
    """YAML-safe copy of a config (tuples to lists, numpy scalars to Python, keys to strings)."""
    if isinstance(obj, dict):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    if isinstance(obj, np.generic):
        return obj.item()
    return obj
