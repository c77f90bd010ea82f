"""`make demo`: MPM sand data -> GNS training -> rollout -> comparison -> ``runs/demo/report.html``.

1. generate a small 2D granular-collapse dataset with the Warp MLS-MPM solver
   (``scenes/sand_collapse_coarse.py``: the columns of ``scenes/sand_collapse.py`` on a 32^2 grid,
   ~250-550 particles, 101 frames of 0.01 s per trajectory);
2. train GNS on it (a reduced configuration that fits a 2-core CPU in a few minutes, below);
3. roll the model out on the test split from frame 6 to the end (95 steps);
4. compare against ground truth and the constant-velocity baseline and write the report.

Demo GNS configuration (the reference one is `learned.models.gns.GNS.defaults`): latent 64 instead of
128, 5 message-passing steps instead of 10, connectivity radius 0.03 (3 particle spacings) instead of the
dataset's 0.045, wall distances seen up to 4 radii (the solver's walls sit 3 grid cells inside the unit
box), the past accelerations as node features (``acceleration_features``) and predictions averaged with
their left-right mirror image (``mirror_axes``: the collapse is mirror symmetric; without it a rollout drifts
sideways). Training: 700 steps of 4 windows, each batch mirrored left-right with probability 1/2, Adam from
3e-3 decaying by 10x over the run. Issue 19 measured each of these (README, "The
demo"). Training and rollout run on the GPU when torch sees one (``cuda``), else on the CPU; the MPM
data are generated on the CPU either way (Warp, 2 worker processes). Every stage is seeded; a finished
stage is reused when ``make demo`` runs again (dataset and checkpoints are resumable).

    python -m learned.demo [--out runs/demo] [--steps N] [--budget SECONDS]
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCENE = os.path.join(HERE, "scenes", "sand_collapse_coarse.py")
SPLITS = {"train": 12, "valid": 2, "test": 3}
MODEL = dict(latent=64, message_passing_steps=5, radius=0.03, boundary_clip=4.0, noise_std=3e-4,
             acceleration_features=True, mirror_axes=[0])
TRAIN = dict(steps=700, batch_size=4, lr=3e-3, lr_final=1e-5, lr_decay_steps=700, reflect_axes=[0],
             val_every=350, val_windows=16, val_rollout_steps=20, val_trajectories=1, checkpoint_every=350, seed=0)
TRAIN_BUDGET_S = 420.0  # training stops early (and says so) past this, so the demo stays < 10 min


def train_with_budget(trainer, steps: int, budget_s: float) -> bool:
    """Train to ``steps``; stop after the first step past ``budget_s`` seconds. True if all steps ran.

    The budget is a deadline of `learned.train.Trainer.run`: validation and checkpoints stay at
    ``val_every``/``checkpoint_every`` and the step where the budget ran out (not every 100 steps)."""
    trainer.run(steps, deadline=time.time() + budget_s)
    return trainer.step >= steps


def train(data: str, run: str, steps: int, threads: int, budget_s: float, device: str = "cpu"):
    """Train (or resume) the demo GNS; returns (trainer, completed). The learning rate decays over ``steps``."""
    from learned.train import Trainer
    from simengine.errors import InputError

    cfg = {**TRAIN, "steps": steps, "lr_decay_steps": steps, "num_threads": threads, "device": device}
    try:
        trainer = Trainer("gns", data, run, model_config=MODEL, train_overrides=cfg)
    except InputError:  # a run left by another demo configuration
        trainer = Trainer("gns", data, run, model_config=MODEL, train_overrides=cfg, fresh=True)
    completed = train_with_budget(trainer, steps, budget_s)
    if not completed:
        print(f"training stopped at step {trainer.step} of {steps}: the {budget_s:.0f} s budget ran out")
    return trainer, completed


def write_demo_report(out: str, run: str, metrics: dict, steps: int, completed: bool,
                      where: str, times: dict) -> str:
    """``out/report.html``: the demo's set-up, training curve, comparison and wall times."""
    from simengine.report import compare_sections, image, plot_training_curve, write_report

    rollout = json.load(open(os.path.join(run, "rollout", "metadata.json")))["rollout"]
    summary = (f"<p>Data: {sum(SPLITS.values())} MLS-MPM sand-collapse trajectories {SPLITS} from "
               f"<code>scenes/sand_collapse.py</code> (seed 0). Model: GNS {MODEL}; {steps} training steps "
               f"({'complete' if completed else 'stopped by the time budget'}) on {where}; "
               f"its final weights rolled out at {rollout['steps_per_second']:.1f} steps/s.</p>")
    sections = [("Demo", summary)]
    curve = plot_training_curve(os.path.join(run, "metrics.csv"), os.path.join(out, "training.png"))
    if curve:
        sections.append(("Training", image(os.path.relpath(curve, out))))
    compare = os.path.join(run, "compare")
    sections += compare_sections(metrics, out, os.path.join(compare, "error_vs_step.png"), metrics["files"]["gifs"])
    rows = "".join(f"<tr><td class=name>{k}</td><td>{v:.1f} s</td></tr>" for k, v in times.items())
    sections.append(("Wall time", f"<table>{rows}</table>"))
    return write_report(os.path.join(out, "report.html"), "simengine demo: GNS on MPM sand collapse", sections)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m learned.demo", description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=os.path.join("runs", "demo"))
    parser.add_argument("--steps", type=int, default=TRAIN["steps"])
    parser.add_argument("--budget", type=float, default=TRAIN_BUDGET_S, help="training time limit, seconds")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads (default 1: the run reproduces bit for bit, and the measured 5x margin "
                             "is that run's; more threads change the summation order and so the trained model)")
    args = parser.parse_args(argv)

    import torch

    from learned.data import load_split
    from learned.rollout import rollout_split
    from learned.train import model_from_checkpoint, resolve_checkpoint
    from simengine.generate import generate_dataset
    from simengine.report import write_comparison

    threads = max(1, args.threads)
    torch.set_num_threads(threads)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    where = f"the GPU ({torch.cuda.get_device_name(0)})" if device == "cuda" else f"{threads} CPU thread(s)"
    data, run = os.path.join(args.out, "data"), os.path.join(args.out, "gns")
    times, t0 = {}, time.time()
    print(f"[1/4] generating {SPLITS} sand-collapse trajectories with MLS-MPM into {data}")
    generate_dataset(SCENE, data, SPLITS, workers=2, seed=0)
    times["data generation"] = time.time() - t0

    t = time.time()
    print(f"[2/4] training GNS {MODEL} for {args.steps} steps on {where}")
    trainer, completed = train(data, run, args.steps, threads, args.budget, device)
    times["training"] = time.time() - t

    t = time.time()
    print(f"[3/4] rolling out the trained model on the test split on {where}")
    model = model_from_checkpoint(resolve_checkpoint(run, "last"))
    preds = rollout_split(model, data, "test", os.path.join(run, "rollout"), device=device)
    times["rollout"] = time.time() - t

    t = time.time()
    print("[4/4] comparing with ground truth and the constant-velocity baseline")
    metrics = write_comparison(preds, load_split(data, "test"), os.path.join(run, "compare"),
                               title="GNS on MPM sand collapse: test split", gifs=2, stride=10,
                               sinkhorn_points=512)  # every particle: ~4x the demo's whole comparison time
    times["comparison"] = time.time() - t
    times["total"] = time.time() - t0
    report = write_demo_report(args.out, run, metrics, trainer.step, completed, where, times)
    pred, base = metrics["summary"]["prediction"]["mse"], metrics["summary"]["constant_velocity"]["mse"]
    curves = metrics["per_step"]
    below = all(p < b for p, b in zip(curves["prediction"], curves["constant_velocity"]))
    ratio = base.get("20", float("nan")) / pred.get("20", float("nan"))
    with open(os.path.join(args.out, "summary.json"), "w") as f:
        json.dump({"times_s": times, "steps": trainer.step, "completed": completed, "threads": threads,
                   "device": device, "mse": pred, "constant_velocity_mse": base,
                   "constant_velocity_over_gns_mse_20": ratio, "gns_below_baseline_every_step": below,
                   "diverged": metrics["diverged"]}, f, indent=1)
    print(f"position MSE at horizon 20: GNS {pred.get('20', float('nan')):.3e}, constant velocity "
          f"{base.get('20', float('nan')):.3e} ({ratio:.1f}x lower); whole rollout: {pred['all']:.3e} vs "
          f"{base['all']:.3e}; GNS below the baseline at every step: {'yes' if below else 'no'}")
    print("wall time: " + ", ".join(f"{k} {v:.0f} s" for k, v in times.items()))
    print(f"report: {report}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
