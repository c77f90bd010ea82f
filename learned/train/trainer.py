"""Model-agnostic training loop: Adam, exponential lr decay, validation, checkpoints, exact resume.

The loop only calls the `learned.base.LearnedSimulator` contract (``training_step``, ``rollout``,
``window_frames``, ``data_keys``); it never looks at which model it trains. Determinism: the model
is initialised after ``torch.manual_seed(seed)``; window sampling and training noise draw from two
generators whose states are checkpointed with the model, optimiser, scheduler and global RNGs, so
a resumed run computes the same next loss as an uninterrupted one.

With ``average_decay`` set, an exponential moving average of the weights (`learned.train.averaging`)
is validated and stored beside the raw weights; rollouts use it.

Run folder: ``config.yaml`` (resolved), ``metrics.csv`` (step, loss, lr, val_loss, val_rollout_mse,
elapsed_s), ``checkpoints/{last,best,step_N}.pt``.
"""
from __future__ import annotations

import csv
import os
import random
import time

import numpy as np
import torch

from learned.data import WindowDataset, collate, describe, load_split, random_reflections
from learned.data.source import split_path
from learned.train import checkpoint as ckpt
from learned.train.averaging import WeightAverage
from learned.train.config import RESUMABLE_CHANGES, learning_rate_factor, train_config
from simengine.errors import InputError

CSV_FIELDS = ("step", "loss", "lr", "val_loss", "val_rollout_mse", "elapsed_s")


class Trainer:
    """Train model ``model_name`` on dataset ``data_dir``, writing to ``run_dir``.

    If ``run_dir`` holds a checkpoint and ``fresh`` is False, training resumes from it; the model
    name and config must then match (a clear error otherwise).
    """

    def __init__(self, model_name: str, data_dir: str, run_dir: str, model_config: dict | None = None,
                 train_overrides: dict | None = None, fresh: bool = False, progress: bool = True):
        import learned

        self.run_dir, self.data_dir, self.progress = run_dir, data_dir, progress
        self.cfg = train_config(train_overrides)
        torch.set_num_threads(int(self.cfg["num_threads"]))
        self.device = torch.device(self.cfg["device"])
        last = os.path.join(ckpt.checkpoint_dir(run_dir), "last.pt")
        state = ckpt.load_checkpoint(last) if os.path.exists(last) and not fresh else None
        if fresh and os.path.isdir(ckpt.checkpoint_dir(run_dir)):
            for path in os.listdir(ckpt.checkpoint_dir(run_dir)):
                os.remove(os.path.join(ckpt.checkpoint_dir(run_dir), path))
            if os.path.exists(os.path.join(run_dir, "metrics.csv")):
                os.remove(os.path.join(run_dir, "metrics.csv"))

        self.train_set = load_split(data_dir, "train")
        self.info = describe(data_dir, "train", self.train_set)
        self._seed_everything(int(self.cfg["seed"]))
        if state is None:
            cls = learned.get(model_name)
            self.model = cls.from_dataset(self.info, **(model_config or {}))
            self.step, self.best_val = 0, float("inf")
        else:
            self._check_resume(state, model_name, model_config)
            self.model = ckpt.model_from_checkpoint(state, averaged=False)
            self.model.check_dataset(self.info)
            self.step, self.best_val = int(state["step"]), float(state.get("best_val", float("inf")))
        self.model.to(self.device)

        max_pf = int(self.cfg["pushforward_steps"])
        keys = self.model.data_keys(self.info.keys)
        paths = self.model.metadata_paths
        self.windows = WindowDataset(self.train_set, self.model.window_frames(max_pf), keys, metadata_paths=paths)
        self._setup_validation(keys)
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
        self._write_config()

    # ----- set-up ----------------------------------------------------------------------------------
    @staticmethod
    def _seed_everything(seed):
        random.seed(seed)
        np.random.seed(seed)
        torch.manual_seed(seed)

    def _check_resume(self, state, model_name, model_config):
        if state["model_name"] != model_name:
            raise InputError(f"{self.run_dir} holds a checkpoint of model {state['model_name']!r}, not "
                             f"{model_name!r}; choose another --out or pass --fresh")
        saved = state["model_config"]
        changed = sorted(k for k, v in (model_config or {}).items() if saved.get(k) != v)
        if changed:
            raise InputError(f"{self.run_dir}: checkpoint model config differs in {changed} "
                             f"(checkpoint: {[saved.get(k) for k in changed]}, requested: "
                             f"{[model_config[k] for k in changed]}); pass --fresh to start over")
        old = state["train_config"]
        changed = sorted(k for k in self.cfg if k not in RESUMABLE_CHANGES and old.get(k) != self.cfg[k])
        if changed:
            raise InputError(f"{self.run_dir}: checkpoint train config differs in {changed} (checkpoint: "
                             f"{[old.get(k) for k in changed]}, requested: {[self.cfg[k] for k in changed]}); "
                             f"pass --fresh to start over")

    def _setup_validation(self, keys):
        self.valid_windows = self.valid_set = None
        try:
            split_path(self.data_dir, "valid")
        except Exception:
            return
        self.valid_set = load_split(self.data_dir, "valid")
        self.model.check_dataset(describe(self.data_dir, "valid", self.valid_set))
        paths = self.model.metadata_paths
        windows = WindowDataset(self.valid_set, self.model.window_frames(0), keys, metadata_paths=paths)
        count = min(int(self.cfg["val_windows"]), len(windows))
        self.valid_indices = np.linspace(0, len(windows) - 1, count).round().astype(int).tolist()
        self.valid_windows = windows
        self.valid_full = WindowDataset(self.valid_set, 1, keys, metadata_paths=paths)

    def _write_config(self):
        import yaml

        os.makedirs(self.run_dir, exist_ok=True)
        with open(os.path.join(self.run_dir, "config.yaml"), "w") as f:
            yaml.safe_dump({"model_name": self.model.name, "data": os.path.abspath(self.data_dir),
                            "model": _plain(self.model.config), "train": _plain(self.cfg)}, f, sort_keys=False)

    # ----- RNG state ---------------------------------------------------------------------------------
    def _rng_state(self):
        return {"torch": torch.get_rng_state(), "numpy": np.random.get_state(), "python": random.getstate(),
                "sampler": self.sampler.get_state(), "noise": self.noise.get_state()}

    def _restore_rng(self, rng):
        torch.set_rng_state(rng["torch"])
        np.random.set_state(rng["numpy"])
        random.setstate(rng["python"])
        self.sampler.set_state(rng["sampler"])
        self.noise.set_state(rng["noise"])

    # ----- loop --------------------------------------------------------------------------------------
    def sample_batch(self) -> tuple:
        """Next training batch and its pushforward depth, drawn from the sampler generator."""
        idx = torch.randint(len(self.windows), (int(self.cfg["batch_size"]),), generator=self.sampler)
        pushforward = 0
        max_pf = int(self.cfg["pushforward_steps"])
        if max_pf:
            probs = self.cfg["pushforward_probs"] or [1.0] * (max_pf + 1)
            pushforward = int(torch.multinomial(torch.tensor(probs, dtype=torch.float64), 1,
                                                generator=self.sampler))
        batch = collate([self.windows[int(i)] for i in idx])
        if self.cfg["reflect_axes"]:
            batch = random_reflections(batch, self.cfg["reflect_axes"], self.info.bounds, self.sampler)
        if pushforward < max_pf:  # use the frames right after the inputs
            frames = self.model.window_frames(pushforward)
            batch = self.model._frames(batch, 0, frames)
        return {k: v.to(self.device) for k, v in batch.items()}, pushforward

    def train_step(self) -> float:
        self.model.train()
        batch, pushforward = self.sample_batch()
        loss, _ = self.model.training_step(batch, generator=self.noise, pushforward=pushforward)
        if not torch.isfinite(loss):
            raise InputError(f"training loss became {float(loss)} at step {self.step + 1}; lower train.lr")
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if self.cfg["grad_clip"]:
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), float(self.cfg["grad_clip"]))
        self.optimizer.step()
        self.scheduler.step()
        if self.average is not None:
            self.average.update(self.model)
        self.step += 1
        return float(loss.detach())

    def validate(self) -> dict:
        """One-step loss (no noise) on fixed windows and position MSE of short rollouts, with the
        averaged weights when ``average_decay`` is set (those are the ones rolled out later)."""
        if self.valid_windows is None:
            return {}
        if self.average is None:
            return self._validate()
        with self.average.applied(self.model):
            return self._validate()

    @torch.no_grad()
    def _validate(self) -> dict:
        self.model.eval()
        losses = []
        for i in self.valid_indices:
            batch = {k: v.to(self.device) for k, v in collate([self.valid_windows[i]]).items()}
            losses.append(float(self.model.training_step(batch, noise=False)[0]))
        out = {"val_loss": float(np.mean(losses))}
        steps = int(self.cfg["val_rollout_steps"])
        if steps:
            errors = []
            h = self.model.input_frames
            for t in range(min(int(self.cfg["val_trajectories"]), len(self.valid_set))):
                frames = min(h + steps, self.valid_set[t].num_frames)
                sample = collate([self.valid_full.window(t, 0, frames)])
                sample = {k: v.to(self.device) for k, v in sample.items()}
                result = self.model.rollout(sample, frames - h)
                errors.append(float(((result.position - sample["position"][h:]) ** 2).mean()))
            out["val_rollout_mse"] = float(np.mean(errors))
        return out

    def save(self, best: bool = False):
        state = {"model_name": self.model.name, "model_config": self.model.config,
                 "model_state": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
                 "scheduler": self.scheduler.state_dict(), "step": self.step, "train_config": self.cfg,
                 "rng": self._rng_state(), "best_val": self.best_val,
                 "average": None if self.average is None else self.average.state_dict(),
                 "dataset": os.path.abspath(self.data_dir)}
        folder = ckpt.checkpoint_dir(self.run_dir)
        ckpt.save_checkpoint(os.path.join(folder, "last.pt"), state)
        ckpt.save_checkpoint(os.path.join(folder, f"step_{self.step:07d}.pt"), state)
        if best:
            ckpt.save_checkpoint(os.path.join(folder, "best.pt"), state)
        ckpt.prune_checkpoints(self.run_dir, int(self.cfg["keep_checkpoints"]))

    def run(self, steps: int | None = None) -> dict:
        """Train until ``steps`` total steps (default ``train.steps``); returns the last metrics row."""
        from tqdm.auto import tqdm

        total = int(steps if steps is not None else self.cfg["steps"])
        log = _CsvLog(os.path.join(self.run_dir, "metrics.csv"), self.step)
        start, row = time.time(), {}
        bar = tqdm(total=total, initial=self.step, desc=f"train {self.model.name}", unit="step",
                   disable=not self.progress, dynamic_ncols=True)
        try:
            while self.step < total:
                loss = self.train_step()
                bar.update(1)
                end = self.step == total
                row = {"step": self.step, "loss": loss, "lr": self.scheduler.get_last_lr()[0],
                       "elapsed_s": round(time.time() - start, 3)}
                if self.step % int(self.cfg["val_every"]) == 0 or end:
                    row.update(self.validate())
                    bar.set_postfix(loss=f"{loss:.3g}", val=f"{row.get('val_rollout_mse', float('nan')):.3g}")
                if self.step % int(self.cfg["log_every"]) == 0 or "val_loss" in row or end:
                    log.write(row)
                    bar.set_postfix(loss=f"{loss:.3g}")
                if self.step % int(self.cfg["checkpoint_every"]) == 0 or end:
                    value = row.get("val_rollout_mse", row.get("val_loss"))
                    # Without a validation split the latest checkpoint is the best one known.
                    best = self.valid_windows is None or (value is not None and value < self.best_val)
                    if best and value is not None:
                        self.best_val = value
                    self.save(best=best)
        finally:
            bar.close()
            log.close()
        return row


class _CsvLog:
    """metrics.csv, appended to; rows after ``step`` (left by an interrupted run) are dropped."""

    def __init__(self, path: str, step: int):
        rows = []
        if os.path.exists(path):
            with open(path) as f:
                rows = [r for r in csv.DictReader(f) if int(r["step"]) <= step]
        self.file = open(path, "w", newline="")
        self.writer = csv.DictWriter(self.file, fieldnames=CSV_FIELDS)
        self.writer.writeheader()
        self.writer.writerows(rows)
        self.file.flush()

    def write(self, row: dict):
        self.writer.writerow({k: row.get(k, "") for k in CSV_FIELDS})
        self.file.flush()

    def close(self):
        self.file.close()


def _plain(obj):
    """YAML-safe copy of a config (tuples to lists, numpy scalars to Python)."""
    if isinstance(obj, dict):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    if isinstance(obj, np.generic):
        return obj.item()
    return obj
