"""GIOROM study: a sparse neural-operator stepper + dense reconstruction against GNS on all particles.

Viswanath et al., "Learning Lagrangian Interaction Dynamics with Sampling-Based Model Order
Reduction" (GIOROM), TMLR; https://arxiv.org/abs/2407.03925. Per material (sand and plasticine by
default), with the 3D scenes of `scenes/giorom_scenes.py`:

1. ground truth: ``--train`` + 1 valid + ``--test`` trajectories (different seeds, split by trajectory),
   plus the test trajectories re-simulated with twice the particles per cell ("2x denser resampling");
2. `giorom` (stepper and learned reconstruction trained together) and `gns` on all particles, both
   through the platform trainer with the same number of steps and batch size;
3. measured on the held-out test trajectories:
   * reconstruction from TRUE sparse states: dense MSE of the learned kernel vs inverse-distance
     interpolation of the sparse displacements (the non-learned baseline);
   * dense rollout MSE at 50 and 100 steps (`simengine compare`, mean over steps 1..n) of GIOROM
     (sparse rollout on its own predictions, dense frames reconstructed), GNS and constant velocity;
   * wall time per rollout step (graph building and reconstruction included) of both models;
   * the 2x denser resampling queried without retraining (reconstruction from true sparse states).

Writes OUT/study.json and OUT/study.md, datasets, runs, rollouts and comparisons.

    python scenes/giorom_study.py --out runs/giorom_study              # 20k particles: many hours (GNS on 20k)
    python scenes/giorom_study.py --out /tmp/giorom_quick --quick      # ~2.5k particles (grid 20, 245 sparse)
    python scenes/giorom_study.py --out /tmp/giorom_20k --grid-res 40 --train 1 --duration 0.12 --no-train \
        --materials sand --recon-steps 100                            # 20k: reconstruction and step timing only

--quick (grid 20, 2 training + 1 valid + 1 test trajectory per material, 200 steps of each model at batch 1,
100 reconstruction steps) ran in 12.8 min wall from scratch (522 s user CPU, one thread) on the shared 2-core
machine at load average 2.4-4.1 (3.4 on average); per stage: data 68 s, GIOROM training 150 s, GNS training
381 s, reconstruction stage 44 s, scores 18 s, rollouts 13 s + 62 s, comparisons 9 s, timings 9 s, GIF 7 s
(OUT/study.md lists them). Measured (MSE in m^2 at 50 / 100 rollout steps):

    material    recon learned / IDW   2x denser   GIOROM           GNS              constant velocity  s/step G / GNS
    sand        8.32e-6 / 5.36e-5     -17 %       1.73e-2/2.85e-2  2.05e-2/3.22e-2  2.09e-2/7.24e-2    0.087 / 0.401
    plasticine  2.38e-6 / 2.08e-5     -9 %        5.53e-2/1.32e-1  2.46e-2/6.68e-2  2.65e-2/1.54e-1    0.053 / 0.298

Sand meets issue 17's rollout targets (0.84x / 0.89x GNS, below constant velocity); plasticine does not (2.25x /
1.97x, above constant velocity at 50). ``--seed 1`` swaps them (sand 1.64x / 4.34x, plasticine 0.20x / 0.30x):
with one test trajectory and 200 steps at batch 1 the rollout figures are mostly seed noise (README).
Before, --quick took 65-80 min: `compare` scored Sinkhorn on every particle (~4 s per frame at 2.5k particles,
~14 min per comparison at load 4); it now uses 256 random particles (``--sinkhorn-points``), which the MSE does
not depend on.
"""
import argparse
import contextlib
import json
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from giorom_scenes import RUN, make_giorom_scene  # noqa: E402

START = 6  # first scored frame (6 input frames for both models)
SEEDS = {"sand": 1, "plasticine": 2, "jelly": 3, "water": 4}
# (start, final) learning rate per model and the input noise of both: each model's best of those tried on the
# --quick sand data (README; GIOROM 1e-3/3e-3 to 1e-5/3e-4 and 1e-2, GNS 1e-3 and 3e-3; noise 3e-4, 1e-3, 3e-3)
LR = {"giorom": (3e-3, 3e-4), "gns": (1e-3, 1e-5)}
NOISE_STD = 1e-3


@contextlib.contextmanager
def stage(timings: dict, name: str):
    """Add the wall seconds of the block to ``timings[name]`` (the per-stage profile in study.json)."""
    started = time.time()
    try:
        yield
    finally:
        timings[name] = timings.get(name, 0.0) + time.time() - started


def simulate(material: str, seed: int, index: int, grid_res: int, duration: float, ppc: int = 8):
    rng = np.random.default_rng([seed, SEEDS[material], index])
    scene = make_giorom_scene(material, rng, grid_res=grid_res, particles_per_cell=ppc)
    traj = scene.run(duration=duration, record_every=RUN["record_every"], progress=False)
    traj.extras = {k: v for k, v in traj.extras.items() if k in ("velocity", "material_id")}  # keep files small
    traj.metadata["name"] = f"{material}_{index:03d}"
    return traj


def ground_truth(out: str, materials, grid_res: int, n_train: int, n_test: int, duration: float,
                 seed: int = 0) -> tuple:
    """data/<material> (train/valid/test) and data/<material>_dense2x (test, 16 particles per cell).

    Returns (paths, seconds per trajectory per material and its 2x denser set, total seconds per material)."""
    from simengine.io import write_dataset

    paths, timings, totals = {}, {}, {}
    for material in materials:
        path = os.path.join(out, "data", material)
        dense = path + "_dense2x"
        paths[material], paths[material + "_dense2x"] = path, dense
        if os.path.exists(os.path.join(dense, "metadata.json")):
            continue
        started = first = time.time()
        trajs = [simulate(material, seed, i, grid_res, duration) for i in range(n_train + 1 + n_test)]
        timings[material] = (time.time() - started) / len(trajs)
        write_dataset(path, {"train": trajs[:n_train], "valid": trajs[n_train:n_train + 1],
                             "test": trajs[n_train + 1:]})
        started = time.time()
        tests = [simulate(material, seed, i, grid_res, duration, ppc=16) for i in range(n_train + 1, len(trajs))]
        timings[material + "_dense2x"] = (time.time() - started) / len(tests)
        write_dataset(dense, {"test": tests})
        totals[material] = time.time() - first
        print(f"{material}: {len(trajs)} trajectories of {trajs[0].num_particles} particles, "
              f"{timings[material]:.1f} s each; {len(tests)} of {tests[0].num_particles} (2x denser), "
              f"{timings[material + '_dense2x']:.1f} s each", flush=True)
    return paths, timings, totals


def train(model: str, data: str, run: str, model_config: dict, train_config: dict, reuse: bool = False):
    """Train through the platform trainer (what `simengine train` runs) -> (model, seconds)."""
    import csv

    from learned.train import Trainer, load_checkpoint, model_from_checkpoint

    last = os.path.join(run, "checkpoints", "last.pt")
    if reuse and os.path.exists(last) and load_checkpoint(last)["step"] == train_config["steps"]:
        with open(os.path.join(run, "metrics.csv")) as f:
            seconds = float(list(csv.DictReader(f))[-1]["elapsed_s"])
        return model_from_checkpoint(last).eval(), seconds
    started = time.time()
    trainer = Trainer(model, data, run, model_config=model_config, train_overrides=train_config, fresh=True,
                      progress=False)
    trainer.run()
    return trainer.model.eval(), time.time() - started


def fit_reconstruction(model, data: str, steps: int, queries: int = 4096, lr: float = 1e-3) -> float:
    """Second stage (optional): train only the reconstruction kernel on the train split's frames, from the true
    sparse displacements to random dense points. Returns seconds."""
    import torch

    from learned.data import load_split

    if steps <= 0:
        return 0.0
    started = time.time()
    trajs = load_split(data, "train")
    gen = torch.Generator().manual_seed(0)
    opt = torch.optim.Adam(model.recon.parameters(), lr=lr)
    model.train()
    for step in range(steps):
        traj = trajs[int(torch.randint(len(trajs), (1,), generator=gen))]
        frame = int(torch.randint(1, traj.num_frames, (1,), generator=gen))
        pos = torch.from_numpy(traj.position[[0, frame]]).float()
        batch = {"position": pos, "initial_position": pos[0], "particle_type": torch.from_numpy(traj.particle_type)}
        index = model.subset(pos[0])
        model.config["recon_queries"], saved = queries, model.config["recon_queries"]
        loss = model.reconstruction_loss(batch, index, generator=gen)
        model.config["recon_queries"] = saved
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    return time.time() - started


def reconstruction_errors(model, data: str, split: str = "test", num_sparse: int | None = None,
                          methods=("learned", "mls", "idw")) -> dict:
    """Dense MSE (m^2) of the reconstruction from TRUE sparse states, frames START..end, per method."""
    import torch

    from learned.data import load_split

    out = {method: [] for method in methods}
    saved = model.config["num_sparse"]
    for traj in load_split(data, split):
        pos = torch.from_numpy(traj.position).float()
        if num_sparse is not None:
            model.config["num_sparse"] = num_sparse
        index = model.subset(pos[0])
        model.config["num_sparse"] = saved
        nb = model._neighbors(pos[0], pos[0, index])
        with torch.no_grad():
            for method in out:
                dense = model.reconstruct(pos[START:, index], pos[0, index], pos[0], method, neighbors=nb)
                out[method].append(float(((dense - pos[START:]) ** 2).mean()))
        out.setdefault("num_sparse", []).append(int(index.numel()))
        out.setdefault("num_particles", []).append(int(traj.num_particles))
    return {k: float(np.mean(v)) if k not in ("num_sparse", "num_particles") else v for k, v in out.items()}


def compare(pred_dir: str, truth_dir: str, out: str, sinkhorn_points: int | None = None) -> dict:
    """`simengine compare --pred P --truth T --start 6` (in this process), summarised. ``sinkhorn_points``:
    Sinkhorn on that many random particles (None: every particle); it does not enter the MSE."""
    from simengine.cli import main as simengine

    extra = [] if sinkhorn_points is None else ["--sinkhorn-points", str(sinkhorn_points)]
    if simengine(["compare", "--pred", pred_dir, "--truth", truth_dir, "--split", "test", "--start", str(START),
                  "--gifs", "0", "--quiet", "--out", out, *extra]) != 0:
        raise RuntimeError(f"simengine compare failed for {pred_dir}")
    with open(os.path.join(out, "metrics.json")) as f:
        summary = json.load(f)["summary"]
    return {who: {"mse_50": summary[who]["mse"].get("50"), "mse_100": summary[who]["mse"].get("100"),
                  "mse_all": summary[who]["mse"]["all"], "chamfer": summary[who].get("chamfer")}
            for who in ("prediction", "constant_velocity")}


def time_rollout(model, data: str, steps: int) -> tuple:
    """(seconds per rollout step, one-time seconds per trajectory) on the first test trajectory.

    Per step: graph building, the stepper and the dense reconstruction of the frame; one-time: what a rollout
    pays once (GIOROM: the farthest-point subset and the reconstruction's neighbour lists; the subset cache is
    cleared first). From two rollouts: T(1 + steps) - T(1) = steps x per step."""
    import torch

    from learned.data import WindowDataset, collate, load_split

    traj = load_split(data, "test", limit=1)
    sample = collate([WindowDataset(traj, 1, model.data_keys(tuple(traj[0].extras))).trajectory(0)])
    seconds = []
    for count in (1, 1 + steps):
        if hasattr(model, "_subsets"):
            model._subsets.clear()
        started = time.time()
        with torch.no_grad():
            model.rollout(sample, count)
        seconds.append(time.time() - started)
    per_step = max(seconds[1] - seconds[0], 0.0) / steps
    return per_step, max(seconds[0] - per_step, 0.0)


def reconstruction_gif(model, data: str, path: str) -> str:
    """docs/giorom_reconstruction.gif: the learned dense reconstruction from true sparse states vs ground truth."""
    import torch

    from learned.data import load_split
    from simengine.io import Trajectory
    from simengine.preview import side_by_side_gif

    truth = load_split(data, "test", limit=1)[0]
    pos = torch.from_numpy(truth.position).float()
    index = model.subset(pos[0])
    with torch.no_grad():
        dense = model.reconstruct(pos[:, index], pos[0, index], pos[0], "learned").numpy()
    pred = Trajectory(dense, truth.particle_type, dt=truth.dt, metadata=truth.metadata)
    return side_by_side_gif(pred, truth, path, max_frames=56, fps=12,
                            titles=(f"GIOROM reconstruction ({index.numel()} sparse nodes)",
                                    f"ground truth ({truth.num_particles} particles)"))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", required=True)
    parser.add_argument("--materials", nargs="+", default=["sand", "plasticine"], choices=sorted(SEEDS))
    parser.add_argument("--grid-res", type=int, default=40, help="MPM grid (40: ~20k particles, 20: ~2.5k)")
    parser.add_argument("--train", type=int, default=4, help="training trajectories per material")
    parser.add_argument("--test", type=int, default=1, help="test trajectories per material")
    parser.add_argument("--steps", type=int, default=1000, help="training steps of each model (same budget)")
    parser.add_argument("--recon-steps", type=int, default=300, help="reconstruction-only steps after training")
    for name, lr in LR.items():
        parser.add_argument(f"--{name}-lr", type=float, nargs=2, default=lr, metavar=("LR", "LR_FINAL"),
                            help=f"{name}'s learning rate: lr_final + (lr - lr_final) 0.1^(step / steps) "
                                 f"(default {lr[0]:g} {lr[1]:g})")
    parser.add_argument("--seed", type=int, default=0, help="both trainers' seed (initial weights, windows, noise)")
    parser.add_argument("--noise-std", type=float, default=NOISE_STD,
                        help=f"both models' random-walk input noise (default {NOISE_STD:g})")
    parser.add_argument("--duration", type=float, default=RUN["duration"], help="simulated seconds per trajectory")
    parser.add_argument("--quick", action="store_true",
                        help="grid 20 (~2.5k particles, 250 sparse nodes), 2 training trajectories, 200 steps")
    parser.add_argument("--reuse", action="store_true", help="use finished training runs found in OUT/runs")
    parser.add_argument("--no-train", action="store_true",
                        help="untrained models: only the reconstruction stage, its errors and the step timings")
    parser.add_argument("--sinkhorn-points", type=int, default=256,
                        help="`compare`'s Sinkhorn on this many random particles (not in the table; 0: every "
                             "particle: ~4 s per frame at 2.5k particles and load 4, ~14 min per comparison)")
    parser.add_argument("--gif", default=None, help="write the reconstruction GIF of the first material here")
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(1)
    if args.quick:
        args.grid_res, args.train, args.test, args.steps, args.recon_steps = 20, 2, 1, 200, 100
    out = os.path.abspath(args.out)
    started = time.time()
    paths, data_s, data_total = ground_truth(out, args.materials, args.grid_res, args.train, args.test,
                                             args.duration)
    spacing = 1.0 / args.grid_res / 2  # particle spacing at 8 particles per cell
    # the same budget for both models: steps and batch size; the study rolls out the last weights, so the
    # trainer's one validation (at the end) is a single window
    train_config = dict(batch_size=1, num_threads=1, lr_decay_steps=args.steps, steps=args.steps, seed=args.seed,
                        val_every=10**9, val_windows=1, val_rollout_steps=0,
                        checkpoint_every=max(args.steps // 2, 1), log_every=10)
    train_configs = {name: {**train_config, "lr": getattr(args, f"{name}_lr")[0],
                            "lr_final": getattr(args, f"{name}_lr")[1]} for name in LR}
    # GIOROM: the paper's layout, narrower for CPU (latent 64, 8^3 grid); GNS: 5 x 64 message passing over
    # ~24 neighbours (radius 1.8 particle spacings) instead of the dataset's 1.45 grid cells (~100 neighbours)
    configs = {"giorom": dict(latent=64, grid=8, noise_std=args.noise_std),
               "gns": dict(latent=64, message_passing_steps=5, radius=round(1.8 * spacing, 4),
                           noise_std=args.noise_std)}
    rows = []
    for material in args.materials:
        data = paths[material]
        row = {"material": material}
        stages = row["stage_s"] = {}
        models = {}
        for name, config in configs.items():
            if args.no_train:
                import learned
                from learned.data import describe

                models[name] = learned.get(name).from_dataset(describe(data), **config).eval()
                continue
            with stage(stages, f"train_{name}"):
                models[name], row[f"{name}_train_s"] = train(name, data, os.path.join(out, "runs",
                                                                                   f"{name}_{material}"),
                                                             config, train_configs[name], args.reuse)
        giorom = models["giorom"]
        with stage(stages, "recon_train"):
            row["recon_stage_s"] = fit_reconstruction(giorom, data, args.recon_steps)
        with stage(stages, "recon_eval"):
            row["reconstruction"] = reconstruction_errors(giorom, data)
            m1 = row["reconstruction"]["num_sparse"][0]
            row["reconstruction_dense2x"] = reconstruction_errors(giorom, paths[material + "_dense2x"],
                                                                  num_sparse=m1, methods=("learned", "idw"))
        from learned.rollout import rollout_split

        for name, model in models.items():
            if not args.no_train:
                pred = os.path.join(out, "eval", material, name)
                with stage(stages, f"rollout_{name}"):
                    rollout_split(model, data, "test", out_dir=pred, progress=False)
                with stage(stages, f"compare_{name}"):
                    row[name] = compare(pred, data, os.path.join(pred, "compare"), args.sinkhorn_points or None)
            with stage(stages, f"time_{name}"):
                row[f"{name}_step_s"], row[f"{name}_setup_s"] = time_rollout(model, data,
                                                                             steps=4 if args.no_train else 8)
        if args.gif and material == args.materials[0]:
            with stage(stages, "gif"):
                row["gif"] = reconstruction_gif(giorom, data, args.gif)
        rows.append(row)
        print(json.dumps(row, indent=1), flush=True)
    summary = {"rows": rows, "data_s_per_trajectory": data_s, "data_s": data_total, "seconds": time.time() - started,
               "settings": {"no_train": args.no_train, "duration": args.duration, "grid_res": args.grid_res,
                            "train": args.train,
                            "test": args.test, "steps": args.steps,
                            "recon_steps": args.recon_steps, "train_config": train_configs, "models": configs,
                            "start_frame": START, "threads": 1, "sinkhorn_points": args.sinkhorn_points or None,
                            "load": os.getloadavg()}}
    with open(os.path.join(out, "study.json"), "w") as f:
        json.dump(summary, f, indent=2)
    with open(os.path.join(out, "study.md"), "w") as f:
        f.write(markdown(summary))
    print(markdown(summary))
    return 0


def markdown(summary: dict) -> str:
    lines = ["| material | particles / sparse | recon MSE learned | MLS | IDW | learned vs IDW | 2x denser (learned) |"
             " GIOROM MSE@50 / @100 | GNS MSE@50 / @100 | const. vel. @50 / @100 |"
             " s/step GIOROM (+ once) | GNS | ratio |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]

    def pair(d):
        if d is None:
            return "not trained"
        return f"{d['mse_50']:.2e} / {d['mse_100']:.2e}" if d["mse_100"] is not None else f"{d['mse_50']:.2e} / -"

    for r in summary["rows"]:
        rec, dense = r["reconstruction"], r["reconstruction_dense2x"]
        lines.append(
            f"| {r['material']} | {rec['num_particles'][0]} / {rec['num_sparse'][0]} | {rec['learned']:.2e} | "
            f"{rec['mls']:.2e} | {rec['idw']:.2e} | {100 * (1 - rec['learned'] / rec['idw']):+.0f} % lower | "
            f"{dense['learned']:.2e} ({100 * (dense['learned'] / rec['learned'] - 1):+.0f} %) | "
            f"{pair(r.get('giorom', {}).get('prediction'))} | {pair(r.get('gns', {}).get('prediction'))} | "
            f"{pair(r.get('giorom', {}).get('constant_velocity'))} | "
            f"{r['giorom_step_s']:.3f} (+{r['giorom_setup_s']:.1f}) | "
            f"{r['gns_step_s']:.3f} | "
            f"{r['gns_step_s'] / r['giorom_step_s']:.1f}x |")
    s = summary["settings"]
    lines.append(f"\nMSE in m^2 (1 m box), frames {s['start_frame']}.. of held-out trajectories; reconstruction from "
                 f"true sparse states; both models {s['steps']} training steps (batch 1; lr " +
                 ", ".join(f"{k} {c['lr']:g} to {c['lr_final']:g}" for k, c in s["train_config"].items()) +
                 f"; input noise {s['models']['giorom'].get('noise_std', NOISE_STD):g}), reconstruction "
                 f"{s['recon_steps']} more steps; grid {s['grid_res']}^3; one thread; load {s['load']}; "
                 f"total {summary['seconds'] / 60:.1f} min.")
    stages = {"data": sum(summary.get("data_s", {}).values())}
    for r in summary["rows"]:
        for k, v in r.get("stage_s", {}).items():
            stages[k] = stages.get(k, 0.0) + v
    lines.append("\nWall seconds per stage (all materials): " +
                 ", ".join(f"{k} {v:.0f}" for k, v in stages.items()) + ".")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
