"""HCMT against MeshGraphNets on FEM impact-plate and deforming-plate data (Yu et al., ICLR 2024, table 1).

1. data: `simengine generate` of `scenes/impact_plate.py` (HCMT's Impact Plate) and `scenes/deforming_plate.py`
   (MeshGraphNets' DeformingPlate), skipped when the dataset folder is complete (``--impact-data``,
   ``--deforming-data`` point at existing ones);
2. `hcmt` and `meshgraphnets` (with the same contact edges as world edges, stress output and the same per-axis
   constraints) trained through the platform trainer (what `simengine train` runs): same splits, steps, batch,
   learning-rate schedule and training noise;
3. rollouts of the test split (`learned.rollout.rollout_split`, what `simengine rollout` runs), timed per step;
   the FEM simulator timed producing the same number of frames of a scene of the same distribution;
4. HCMT's metrics: per step RMSE = sqrt(mean over nodes |e|^2) of position and of von Mises stress, averaged over
   rollout steps 1..h for h in {1, 50, all}; position reported x10^3 (mm), stress in MPa (x10^3 of GPa); the
   constant-velocity baseline (x_{t+1} = 2 x_t - x_{t-1} on the free axes, stress held) beside them;
5. a side-by-side stress animation, HCMT against the FEM ground truth (``--gif``, default docs/hcmt_stress.gif).

Writes OUT/study.json and OUT/study.md (the README table), the runs and rollouts.

    python scenes/hcmt_study.py --out runs/hcmt_study --quick   # ~20 min on 2 CPU cores: 6 + 3 trajectories
    python scenes/hcmt_study.py --out runs/hcmt_study             # 12 + 6 trajectories, 2000 steps, latent 64
"""
import argparse
import json
import os
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
HORIZONS = (1, 50, None)  # None: the whole rollout
FIXED_AXES = {3: [0, 1, 2], 7: [0]}  # HANDLE: every axis; SYMMETRIC: x (the symmetry plane's normal)
QUICK = dict(impact=(6, 1, 1), deforming=(3, 1, 1), steps=200, deforming_steps=100, latent=32)
FULL = dict(impact=(12, 1, 3), deforming=(6, 1, 2), steps=2000, deforming_steps=1000, latent=64)


def dataset(script: str, root: str, counts, workers: int) -> str:
    """Generate ``root`` from a scene script unless it already holds every split (shards are resumed)."""
    from simengine.generate import generate_dataset

    if all(os.path.exists(os.path.join(root, f)) for f in ("metadata.json", "train.h5", "test.h5")):
        return root
    train, valid, test = counts
    started = time.time()
    generate_dataset(os.path.join(HERE, script), root, {"train": train, "valid": valid, "test": test},
                     workers=workers, seed=0, progress=True)
    print(f"generated {root} in {time.time() - started:.0f} s", flush=True)
    return root


def model_configs(latent: int, noise: float, levels: int) -> dict:
    common = dict(latent=latent, fixed_axes=FIXED_AXES, noise_std=noise)
    return {"hcmt": dict(common, heads=4, levels=levels, cmt_blocks=2, stress=True),
            "meshgraphnets": dict(common, message_passing_steps=15, contact=True, stress=True)}


def train(name: str, data: str, run: str, model_config: dict, steps: int, threads: int):
    """Train through the platform trainer -> (model, seconds)."""
    from learned.train import Trainer

    train_config = dict(steps=steps, batch_size=1, lr=1e-3, lr_final=1e-5, lr_decay_steps=steps, seed=0,
                        log_every=25, val_every=steps, val_windows=8, val_rollout_steps=10, val_trajectories=1,
                        checkpoint_every=max(steps // 2, 1), num_threads=threads, grad_clip=1.0)
    started = time.time()
    trainer = Trainer(name, data, run, model_config=model_config, train_overrides=train_config, fresh=True,
                      progress=True)
    trainer.run()
    return trainer.model.eval(), time.time() - started


def rmse_by_horizon(pred, truth, start: int, key: str = "position", scale: float = 1.0) -> dict:
    """HCMT's metric averaged over trajectories: {"1": .., "50": .., "all": ..} of the mean over steps 1..h of
    sqrt(mean over nodes of |pred - truth|^2) (frames start, start + 1, ... are steps 1, 2, ...), x ``scale``."""
    out = {}
    for h in HORIZONS:
        values = []
        for p, t in zip(pred, truth):
            a = np.asarray(p.position if key == "position" else p.extras[key], np.float64)[start:]
            b = np.asarray(t.position if key == "position" else t.extras[key], np.float64)[start:len(a) + start]
            err = (a - b).reshape(len(a), a.shape[1], -1)
            per_step = np.sqrt((err ** 2).sum(-1).mean(-1))
            values.append(per_step[:h].mean())
        out["all" if h is None else str(h)] = float(np.mean(values)) * scale
    return out


def constant_velocity(truths, start: int, fixed_axes: dict):
    """The baseline's rollouts: free axes extrapolated at the last input velocity, fixed axes and kinematic
    particles from ground truth, stress held at its last input value."""
    from simengine.io import KINEMATIC_TYPES, Trajectory

    out = []
    for t in truths:
        x = np.asarray(t.position, np.float64)
        fixed = np.isin(t.particle_type, [int(k) for k in KINEMATIC_TYPES])[:, None].repeat(t.dim, 1)
        types = np.asarray(t.extras["node_type"]).reshape(-1)
        for node_type, axes in fixed_axes.items():
            for a in axes:
                if a < t.dim:
                    fixed[types == node_type, a] = True
        pred = x.copy()
        for k in range(start, len(x)):
            guess = 2 * pred[k - 1] - pred[k - 2]
            pred[k] = np.where(fixed, x[k], guess)
        stress = np.asarray(t.extras["stress"]).copy()
        stress[start:] = stress[start - 1]
        out.append(Trajectory(pred.astype(np.float32), t.particle_type, dt=t.dt, extras={"stress": stress}))
    return out


def fem_seconds_per_frame(script: str, frames: int, seed: int = 0) -> tuple:
    """(seconds per recorded frame, nodes) of the FEM simulator on one scene of the script (one thread)."""
    sys.path.insert(0, HERE)
    module = __import__(script.removesuffix(".py"))
    scene = module.make_scene(np.random.default_rng(seed))
    inner = getattr(scene, "scene", scene)
    model, _ = inner.build()
    every = module.RUN.get("record_every") or max(1, int(round(1.0 / (module.FRAMES_PER_SECOND * model.dt))))
    inner.run(duration=every * model.dt, record_every=every, progress=False)  # kernels loaded before timing
    started = time.time()
    traj = inner.run(duration=frames * every * model.dt, record_every=every, progress=False)
    return (time.time() - started) / max(traj.num_frames - 1, 1), traj.num_particles


def stress_gif(pred, truth, path: str, start: int, max_frames: int = 60) -> str:
    """Two panels over time, HCMT's stress above the FEM's, on each one's own deformed mesh (MPa)."""
    import imageio.v2 as imageio
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.collections import PolyCollection
    from matplotlib.figure import Figure
    from matplotlib.tri import Triangulation

    types = np.asarray(truth.extras["node_type"]).reshape(-1)
    cells = np.asarray(truth.extras["cells"])
    ball = types == 1
    plate_cells, ball_cells = cells[~ball[cells].any(1)], cells[ball[cells].all(1)]
    length = float(np.asarray(truth.extras["mesh_pos"])[~ball, 0].max())
    vmax = float(np.percentile(np.asarray(truth.extras["stress"])[:, ~ball], 99.5)) / 1e6
    x_all = np.asarray(truth.position)
    lo = float(x_all[:, ~ball, 1].min()) - 1e-3
    hi = float(x_all[:, ball, 1].mean(1).max())  # the lower half of the impactor at its highest
    frames = np.unique(np.linspace(start, truth.num_frames - 1, max_frames).round().astype(int))
    images = []
    for k in frames:
        fig = Figure(figsize=(7, 4.2), dpi=80)
        FigureCanvasAgg(fig)
        axes = fig.subplots(2, 1, sharex=True)
        for ax, traj, label in zip(axes, (pred, truth), ("HCMT", "FEM (ground truth)")):
            x = np.asarray(traj.position[k], np.float64)
            s = np.asarray(traj.extras["stress"][k], np.float64) / 1e6
            image = ax.tripcolor(Triangulation(x[:, 0], x[:, 1], plate_cells), s, shading="gouraud",
                                 cmap="inferno", vmin=0.0, vmax=vmax)
            ax.add_collection(PolyCollection(x[ball_cells], facecolors="0.7", edgecolors="none"))
            ax.set_xlim(0.0, 0.3 * length)
            ax.set_ylim(lo, hi)
            ax.set_aspect("auto")  # the box fills the panel: the vertical scale is stretched (about 2x)
            ax.set_yticks([])
            ax.set_title(f"{label}, t = {k * truth.dt * 1e3:.3f} ms", fontsize=9)
        fig.colorbar(image, ax=list(axes), label="von Mises (MPa)", fraction=0.03, pad=0.01, extend="max")
        fig.canvas.draw()
        images.append(np.asarray(fig.canvas.buffer_rgba())[..., :3].copy())
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    imageio.mimsave(path, images, duration=100, loop=0)
    return path


def study_dataset(label, data, args, steps, latent, noise, levels, gif=None) -> dict:
    from learned.rollout import rollout_split
    from simengine.io import load_split

    truths = load_split(data, "test")
    result = {"dataset": data, "test_trajectories": len(truths), "frames": int(truths[0].num_frames),
              "nodes": [int(t.num_particles) for t in truths], "steps": steps, "latent": latent, "noise_std": noise,
              "levels": levels, "models": {}}
    start = 2
    for name, config in model_configs(latent, noise, levels).items():
        run = os.path.join(args.out, f"{label.replace(' ', '_')}_{name}")
        model, seconds = train(name, data, run, config, steps, args.threads)
        started = time.time()
        preds = rollout_split(model, data, "test", os.path.join(run, "rollout"), progress=False)
        rollout_seconds = time.time() - started
        total_steps = sum(t.num_frames - start for t in truths)
        result["models"][name] = {
            "train_seconds": seconds, "seconds_per_step": seconds / steps,
            "rollout_seconds_per_step": rollout_seconds / total_steps,
            "diverged": [p.metadata["name"] for p in preds if p.metadata.get("diverged_at")],
            "position_rmse_x1e3": rmse_by_horizon(preds, truths, start, "position", 1e3),
            "stress_rmse_mpa": rmse_by_horizon(preds, truths, start, "stress", 1e-6)}
        print(label, name, json.dumps(result["models"][name]), flush=True)
        if gif and name == "hcmt":
            result["gif"] = stress_gif(preds[0], truths[0], gif, start)
    cv = constant_velocity(truths, start, FIXED_AXES)
    result["models"]["constant velocity"] = {
        "position_rmse_x1e3": rmse_by_horizon(cv, truths, start, "position", 1e3),
        "stress_rmse_mpa": rmse_by_horizon(cv, truths, start, "stress", 1e-6)}
    return result


def table(results: dict) -> str:
    lines = ["| data | model | position RMSE ×10³ (1 / 50 / all) | stress RMSE MPa (1 / 50 / all) | "
             "training s (s/step) | rollout ms/step |", "|---|---|---|---|---|---|"]
    for label, res in results["datasets"].items():
        for name, m in res["models"].items():
            p, s = m["position_rmse_x1e3"], m["stress_rmse_mpa"]
            train = f"{m['train_seconds']:.0f} ({m['seconds_per_step']:.2f})" if "train_seconds" in m else "–"
            roll = f"{1e3 * m['rollout_seconds_per_step']:.0f}" if "rollout_seconds_per_step" in m else "–"
            lines.append(f"| {label} | {name} | {p['1']:.4g} / {p['50']:.4g} / {p['all']:.4g} | "
                         f"{s['1']:.4g} / {s['50']:.4g} / {s['all']:.4g} | {train} | {roll} |")
    lines.append("")
    for label, res in results["datasets"].items():
        if "fem_seconds_per_frame" in res:
            lines.append(f"{label}: FEM {1e3 * res['fem_seconds_per_frame']:.0f} ms per recorded frame "
                         f"({res['fem_nodes']} nodes, one thread); HCMT "
                         f"{1e3 * res['models']['hcmt']['rollout_seconds_per_step']:.0f} ms per step, "
                         f"MeshGraphNets {1e3 * res['models']['meshgraphnets']['rollout_seconds_per_step']:.0f} ms.")
        h, g = res["models"]["hcmt"], res["models"]["meshgraphnets"]
        gain = 1 - h["position_rmse_x1e3"]["all"] / g["position_rmse_x1e3"]["all"]
        lines.append(f"{label}: HCMT's whole-rollout position RMSE is {100 * abs(gain):.0f} % "
                     f"{'below' if gain >= 0 else 'above'} MeshGraphNets' (paper's claim: at least 20 % below) "
                     f"after {res['steps']} steps each.")
    return "\n".join(lines) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="study folder (runs, rollouts, study.json, study.md)")
    parser.add_argument("--quick", action="store_true", help="small data and models, ~20 minutes")
    parser.add_argument("--data-root", default=None, help="where generated datasets go (default OUT/data)")
    parser.add_argument("--impact-data", default=None, help="an existing impact-plate dataset")
    parser.add_argument("--deforming-data", default=None, help="an existing deforming-plate dataset")
    parser.add_argument("--steps", type=int, default=None, help="training steps on impact plate (each model)")
    parser.add_argument("--deforming-steps", type=int, default=None, help="training steps on deforming plate")
    parser.add_argument("--latent", type=int, default=None)
    parser.add_argument("--no-deforming", action="store_true", help="impact plate only")
    parser.add_argument("--workers", type=int, default=2, help="generation workers")
    parser.add_argument("--threads", type=int, default=1, help="torch threads for training")
    parser.add_argument("--gif", default=os.path.join(REPO, "docs", "hcmt_stress.gif"))
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    preset = QUICK if args.quick else FULL
    latent = args.latent or preset["latent"]
    os.makedirs(args.out, exist_ok=True)
    data_root = args.data_root or os.path.join(args.out, "data")
    started = time.time()
    results = {"quick": args.quick, "load_average_start": os.getloadavg(), "datasets": {}}
    impact = args.impact_data or dataset("impact_plate.py", os.path.join(data_root, "impact_plate"), preset["impact"],
                                         args.workers)
    # noise: a fraction of the per-frame displacement scale of each dataset (the paper's 3e-3 is in its units);
    # levels: bi-stride pooling halves the mesh's hop diameter per level: the long impact plate takes HCMT's 7,
    # the deforming plate (about 20 hops across) 5
    res = study_dataset("impact plate", impact, args, args.steps or preset["steps"], latent, 3e-7, 7, gif=args.gif)
    res["fem_seconds_per_frame"], res["fem_nodes"] = fem_seconds_per_frame("impact_plate.py", 20)
    results["datasets"]["impact plate"] = res
    if not args.no_deforming:
        deforming = args.deforming_data or dataset("deforming_plate.py", os.path.join(data_root, "deforming_plate"),
                                                   preset["deforming"], args.workers)
        res = study_dataset("deforming plate", deforming, args, args.deforming_steps or preset["deforming_steps"],
                            latent, 3e-5, 5)
        res["fem_seconds_per_frame"], res["fem_nodes"] = fem_seconds_per_frame("deforming_plate.py", 5)
        results["datasets"]["deforming plate"] = res
    results["seconds"] = time.time() - started
    results["load_average_end"] = os.getloadavg()
    with open(os.path.join(args.out, "study.json"), "w") as f:
        json.dump(results, f, indent=2)
    text = table(results)
    with open(os.path.join(args.out, "study.md"), "w") as f:
        f.write(text)
    print(text)
    print(f"study done in {results['seconds'] / 60:.1f} min; {args.out}/study.json, study.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
