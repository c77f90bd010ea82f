"""Action-conditioned learned dynamics of ropes and cloth (PGND, GS-Dynamics, GNS) judged against the simulator.

Zhang et al., "Particle-Grid Neural Dynamics for Learning Deformable Object Models from RGB-D Videos", RSS 2025;
Zhang et al., "Dynamic 3D Gaussian Tracking for Graph-Based Neural Dynamics Modeling", CoRL 2024. Both papers
score 10-step rollouts on held-out robot episodes with the mean distance error (MDE), Chamfer distance and EMD
against a constant-position baseline. Here the episodes come from the deformables simulator (`rope_pull.py`,
`cloth_lift.py`: random grasp points, paths, stiffness and damping per episode), so every particle is known:

1. data: `simengine generate` of each scene (train / test episodes split by episode, never mixed);
2. `pgnd`, `gs_dynamics` and `gns` trained through the platform trainer (what `simengine train` runs) for the
   same number of steps, training time measured;
3. 10-step rollouts from every 10th frame of the test episodes (the same target frames for every model:
   frames s..s+9 from s = 6, GNS's 6 input frames), scored by MDE, Chamfer and exact EMD per step and at step 10,
   beside the constant-position baseline (the last observed frame held);
4. rendering metrics at step 10: textured Gaussians on the episode's frame-0 bodies
   (`simengine.gaussians.gaussians_on_trajectory`) moved by linear blend skinning with the predicted particles
   and with the true ones, rendered through 4 cameras of 64² (`render_views`): PSNR of the RGB images and IoU of
   the masks (alpha > 0.5), for the model and for constant position.

5. the physics baseline of the PGND paper: the deformables simulator with the stiffness and damping identified
   (`simengine.deformables.differentiable.identify`, 30 frames, 10 L-BFGS iterations) on the first training
   episode, each test episode re-simulated with them under its own gripper actions (its geometry, mass, bend
   stiffness and ground friction as built). It rolls out from frame 0, not from each window's start (a
   simulator state cannot yet be restarted mid-grasp), so its windows carry the error of all earlier frames;
6. ``--tracked``: the same models trained on TRACKED Gaussians instead of the simulator's particles, as the papers
   train on real videos. Each training and validation episode is filmed (`simengine render`: 4 views of 128²) and
   tracked (`simengine track --quick`: Dynamic 3D Gaussians seeded from the fused RGB-D cloud); the tracked
   Gaussian centres become the particles of ``data/<scene>_tracked`` (gripper actions kept). Those models are
   scored on the same TRUE test episodes, so the table gives the tracked-versus-true training gap.

7. ``--planning``: `rope_planning.py` (MPPI with the learned models and with the identified simulator) on this
   study's rope models, written to OUT/planning.

    python scenes/deformable_dynamics_study.py --out runs/deformable_study                  # rope and cloth
    python scenes/deformable_dynamics_study.py --out /tmp/deformable_quick --quick            # ~15 min, rope
    python scenes/deformable_dynamics_study.py --out /tmp/deformable_quick --quick --identified --planning
    python scenes/deformable_dynamics_study.py --out /tmp/deformable_quick --quick --tracked   # + ~30 min tracking

Writes OUT/study.json and OUT/study.md (the README table).
"""
import argparse
import json
import os
import sys
import time

import numpy as np

HORIZON = 10
FIRST_TARGET = 6
MODELS = {  # name -> model config (CPU-sized; the papers' widths are 512 (GS-Dynamics) and 64/128 (PGND))
    "pgnd": {"latent": 128},
    "gs_dynamics": {},
    "gns": {"latent": 64, "message_passing_steps": 5},
}


def generate(scene: str, out: str, train: int, test: int, duration: float, seed: int) -> str:
    """``simengine generate`` of scenes/<scene>.py shortened to ``duration`` seconds; returns the dataset folder."""
    from simengine.cli import main as cli

    here = os.path.dirname(os.path.abspath(__file__))
    data = os.path.join(out, "data", scene)
    if os.path.exists(os.path.join(data, "metadata.json")):
        return data
    os.makedirs(os.path.join(out, "scripts"), exist_ok=True)
    script = os.path.join(out, "scripts", f"{scene}_study.py")
    with open(script, "w") as f:
        f.write(f"import sys\nsys.path.insert(0, {here!r})\nfrom {scene} import make_scene  # noqa: F401\n"
                f"RUN = dict(duration={duration}, record_every=2)\n")
    code = cli(["generate", script, "--out", data, "--train", str(train), "--valid", "1", "--test", str(test),
                "--seed", str(seed), "--quiet"])
    if code:
        raise SystemExit(f"generate {scene} failed ({code})")
    return data


def tracked_data(data: str, out: str):
    """``<data>_tracked`` (`simengine.gaussians.dataset.tracked_dataset`: train and valid episodes filmed and
    tracked with ``simengine track --quick``'s settings, work files under OUT/tracking); returns the folder and the
    wall time (s) spent here."""
    from simengine.gaussians.dataset import tracked_dataset

    target = data.rstrip(os.sep) + "_tracked"
    start = time.perf_counter()
    tracked_dataset(data, target, work=os.path.join(out, "tracking", os.path.basename(data.rstrip(os.sep))))
    return target, time.perf_counter() - start


def episode_scene(scene: str, split_index: int, index: int, seed: int):
    """The deformables scene of episode ``index`` of a split, as `simengine generate` seeded it."""
    import importlib

    from simengine.generate.script import episode_rng

    here = os.path.dirname(os.path.abspath(__file__))
    if here not in sys.path:
        sys.path.insert(0, here)
    return importlib.import_module(scene).make_scene(episode_rng(seed, split_index, index))


def identified_simulator(scene: str, data: str, seed: int, frames: int = 30, iterations: int = 10) -> dict:
    """The identified-simulator baseline (module docstring, item 5), scored on the same windows as the models."""
    from simengine.deformables.differentiable import identify
    from simengine.io import load_split, read_metadata

    meta = read_metadata(data)
    record_every = int(meta.get("write_every", 2))
    train0 = episode_scene(scene, 0, 0, seed)
    body = train0.bodies[0]
    start = time.perf_counter()
    fit = identify(train0, load_split(data, "train")[0].position[:frames], record_every=record_every, body=body,
                   iterations=iterations)
    seconds = time.perf_counter() - start
    test = load_split(data, "test")
    scores, baseline = [], []
    for index, truth in enumerate(test):
        sim = episode_scene(scene, 2, index, seed)
        sim.set_stiffness(sim.bodies[0], fit["stiffness"])
        sim.damping = float(fit["damping"])
        rollout = sim.run(duration=(truth.num_frames - 1) * truth.dt, record_every=record_every, progress=False)
        position = rollout.position[:truth.num_frames]
        for s in range(FIRST_TARGET, truth.num_frames - HORIZON - 1, HORIZON):
            scores.append(score(position[s:s + HORIZON], truth.position[s:s + HORIZON]))
            baseline.append(score(np.repeat(truth.position[s - 1][None], HORIZON, 0), truth.position[s:s + HORIZON]))
    return {"model": summarise(scores), "constant_position": summarise(baseline), "windows": len(scores),
            "identified": {k: fit[k] for k in ("stiffness", "damping", "loss", "evaluations")},
            "identify_seconds": seconds, "rollout_ms_per_step": None, "rendering_step10": {}}


def summarise(rows) -> dict:
    """Mean over windows of each metric's per-step curve: step 10, mean over steps 1-10, the curve."""
    out = {}
    for key in ("mde", "chamfer", "emd"):
        curve = np.mean([r[key] for r in rows], axis=0)
        out[key] = {"step10": float(curve[-1]), "mean": float(curve.mean()), "per_step": curve.tolist()}
    return out


def prediction_video(run: str, data: str, path: str, steps: int = 30, episode: int = 0, size: int = 160,
                     start: int = 30, elevation: float = 60.0) -> str:
    """A GIF of the model in ``run`` rolled out ``steps`` frames on its own predictions from frame ``start`` of
    test episode ``episode`` (by default while the gripper drags the lifted rope sideways), under the episode's
    gripper actions: textured Gaussians moved by linear blend skinning with the predicted particles (left) and
    with the simulated ones (right), one camera at ``elevation`` degrees."""
    import imageio.v2 as imageio
    import torch

    from learned.data.windows import WindowDataset, collate
    from learned.train import load_checkpoint, model_from_checkpoint
    from simengine.gaussians import gaussians_on_trajectory, skin_gaussians
    from simengine.gaussians.render import render_views
    from simengine.gaussians.video import fit_cameras
    from simengine.io import load_split

    model = model_from_checkpoint(load_checkpoint(os.path.join(run, "checkpoints", "last.pt"))).eval()
    truth = load_split(data, "test")[episode]
    h = model.input_frames
    start = max(start, h)
    steps = min(steps, truth.num_frames - start)
    keys = model.data_keys(tuple(truth.extras) + ("initial_position",))
    batch = collate([WindowDataset([truth], 1, keys).window(0, start - h, h + steps)])
    with torch.no_grad():
        predicted = model.rollout(batch, steps).position.numpy()
    true = truth.position[start:start + steps]
    gaussians = gaussians_on_trajectory(truth, per_particle=8, seed=0)
    camera = fit_cameras(np.concatenate([true.reshape(-1, 3), predicted.reshape(-1, 3)]), views=1, size=size,
                         elevation=elevation)
    frames = []
    for positions in (predicted, true):
        moved = skin_gaussians(gaussians, np.concatenate([truth.position[:1], positions]),
                               particle_type=truth.particle_type)
        images = []
        for t in range(1, steps + 1):
            with torch.no_grad():
                out = render_views(**gaussians.moved(moved["position"][t], moved["rotation"][t]).tensors(),
                                   cameras=camera, background=(1.0, 1.0, 1.0))
            images.append((255 * out["rgb"][0].clamp(0, 1).numpy()).astype(np.uint8))
        frames.append(images)
    gap = np.full((size, 4, 3), 255, np.uint8)
    movie = [np.concatenate([a, gap, b], axis=1) for a, b in zip(*frames)]
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    imageio.mimsave(path, movie, format="GIF", duration=1000.0 * truth.dt, loop=0)
    return path


GEOMETRY_KEYS = ("radius", "grid_spacing", "attach_radius", "control_points")


def geometry(run: str) -> dict:
    """The length scales and point counts a model took from its dataset (``GEOMETRY_KEYS``), read from the model
    trained on the simulator's particles: the model trained on tracked Gaussians (a denser cloud) gets the same,
    so the two differ in their training data only, and both run on the true test particles."""
    from learned.train import load_checkpoint, model_from_checkpoint

    config = model_from_checkpoint(load_checkpoint(os.path.join(run, "checkpoints", "last.pt"))).config
    return {k: config[k] for k in GEOMETRY_KEYS if config.get(k) is not None}


def train(model: str, data: str, run: str, steps: int, config: dict) -> float:
    """Train ``model`` for ``steps`` steps (a finished run is resumed at no cost); returns the training wall time
    (s) as the run's metrics.csv records it (``elapsed_s`` of its last row)."""
    import csv

    from learned.train import Trainer

    trainer = Trainer(model, data, run, model_config=config,
                      train_overrides=dict(steps=steps, batch_size=4, lr=1e-3, lr_final=1e-5, lr_decay_steps=steps,
                                           val_every=max(steps, 1), num_threads=1), progress=True)
    trainer.run()
    with open(os.path.join(run, "metrics.csv")) as f:
        return float(list(csv.DictReader(f))[-1]["elapsed_s"])


def windows(model, trajectories):
    """(episode, batch dict, truth (HORIZON, N, 3), last observed frame (N, 3)) for every 10th target frame of each
    episode."""
    import torch

    from learned.data.windows import WindowDataset, collate

    h = model.input_frames
    keys = model.data_keys(tuple(trajectories[0].extras) + ("initial_position",))
    data = WindowDataset(trajectories, 1, keys)
    for t, traj in enumerate(trajectories):
        for s in range(FIRST_TARGET, traj.num_frames - HORIZON - 1, HORIZON):
            sample = data.window(t, s - h, h + HORIZON + 1)
            truth = torch.as_tensor(traj.position[s:s + HORIZON], dtype=torch.float32)
            yield t, collate([sample]), truth, torch.as_tensor(traj.position[s - 1], dtype=torch.float32)


def score(pred, truth) -> dict:
    """MDE, Chamfer (squared distances, as `simengine compare`) and EMD per step of (H, N, 3) arrays."""
    from simengine.metrics import chamfer_distance, earth_movers_distance, mean_distance_error

    pred, truth = np.asarray(pred, np.float64), np.asarray(truth, np.float64)
    return {"mde": mean_distance_error(pred, truth).tolist(),
            "chamfer": [chamfer_distance(p, q) for p, q in zip(pred, truth)],
            "emd": [earth_movers_distance(p, q) for p, q in zip(pred, truth)]}


def render_scores(truth, last_true, frames) -> dict:
    """PSNR (dB) and mask IoU of the Gaussians skinned with each of ``frames`` ({name: (N, 3)}) against those
    skinned with ``last_true`` (N, 3), 4 views of 64² fitted to the true frame."""
    import torch

    from simengine.gaussians import gaussians_on_trajectory, skin_gaussians
    from simengine.gaussians.render import render_views
    from simengine.gaussians.score import mask_iou, psnr
    from simengine.gaussians.video import fit_cameras

    gaussians = gaussians_on_trajectory(truth, per_particle=4, seed=0)
    cameras = fit_cameras(last_true, size=64)

    def image(positions):
        moved = skin_gaussians(gaussians, np.stack([truth.position[0], positions]), particle_type=truth.particle_type)
        with torch.no_grad():
            out = render_views(**gaussians.moved(moved["position"][-1], moved["rotation"][-1]).tensors(),
                               cameras=cameras, background=(1.0, 1.0, 1.0))
        return out["rgb"].numpy(), out["alpha"].numpy()
    rgb, alpha = image(last_true)
    out = {}
    for name, positions in frames.items():
        p_rgb, p_alpha = image(positions)
        out[name] = {"psnr": psnr(p_rgb, rgb), "iou": mask_iou(p_alpha, alpha)}
    return out


def evaluate(run: str, data: str, render_every: int = 3) -> dict:
    """10-step rollout scores of the trained model in ``run`` and of the constant-position baseline."""
    import torch

    from learned.train import load_checkpoint, model_from_checkpoint
    from simengine.io import load_split

    torch.set_num_threads(1)
    model = model_from_checkpoint(load_checkpoint(os.path.join(run, "checkpoints", "last.pt"))).eval()
    test = load_split(data, "test")
    scores, baseline, seconds, count, rendered = [], [], 0.0, 0, []
    for episode, batch, truth, last in windows(model, test):
        start = time.perf_counter()
        rollout = model.rollout(batch, HORIZON)
        seconds += time.perf_counter() - start
        scores.append(score(rollout.position.numpy(), truth.numpy()))
        baseline.append(score(last[None].expand(HORIZON, -1, -1).numpy(), truth.numpy()))
        if count % render_every == 0:
            rendered.append(render_scores(test[episode], truth[-1].numpy(), {
                "model": rollout.position[-1].numpy(), "constant_position": last.numpy()}))
        count += 1

    images = {who: {m: float(np.mean([r[who][m] for r in rendered])) for m in ("psnr", "iou")}
              for who in ("model", "constant_position")} if rendered else {}
    return {"model": summarise(scores), "constant_position": summarise(baseline), "windows": count,
            "rollout_ms_per_step": 1e3 * seconds / max(count * HORIZON, 1), "rendering_step10": images,
            "rendered_windows": len(rendered)}


def table(results: dict) -> str:
    lines = ["| scene | model | train steps | train time | MDE step 10 (mm) | MDE mean 1–10 (mm) | Chamfer step 10 "
             "(mm²) | EMD step 10 (mm) | constant position MDE step 10 (mm) | model / baseline MDE | ms per step | "
             "PSNR / mask IoU step 10 (constant position) |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for scene, models in results.items():
        for name, r in models.items():
            m, b = r["scores"]["model"], r["scores"]["constant_position"]
            lines.append(f"| {scene} | {name} | {r['steps']} | {r['train_seconds'] / 60:.1f} min | "
                         f"{1e3 * m['mde']['step10']:.2f} | {1e3 * m['mde']['mean']:.2f} | "
                         f"{1e6 * m['chamfer']['step10']:.2f} | {1e3 * m['emd']['step10']:.2f} | "
                         f"{1e3 * b['mde']['step10']:.2f} | {m['mde']['step10'] / b['mde']['step10']:.2f} | "
                         f"{_ms(r['scores']['rollout_ms_per_step'])} | {_images(r['scores'])} |")
    return "\n".join(lines)


def _ms(value) -> str:
    return "–" if value is None else f"{value:.1f}"


def _images(scores) -> str:
    r = scores.get("rendering_step10") or {}
    if not r:
        return "–"
    m, b = r["model"], r["constant_position"]
    return f"{m['psnr']:.1f} dB / {m['iou']:.2f} ({b['psnr']:.1f} dB / {b['iou']:.2f})"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", required=True)
    parser.add_argument("--scenes", nargs="+", default=["rope_pull", "cloth_lift"])
    parser.add_argument("--models", nargs="+", default=list(MODELS))
    parser.add_argument("--train", type=int, default=24, help="training episodes per scene")
    parser.add_argument("--test", type=int, default=4, help="test episodes per scene")
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per episode")
    parser.add_argument("--steps", type=int, default=3000, help="training steps per model")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true", help="rope only, 6 short episodes, 400 steps (~15 min)")
    parser.add_argument("--planning", action="store_true",
                        help="then run rope_planning.py on this study's rope models (its --quick with --quick)")
    parser.add_argument("--video", default=None, help="GIF of GS-Dynamics' 30-frame rollout (left) beside the "
                        "simulation (right), first test episode of the first scene")
    parser.add_argument("--identified", action="store_true",
                        help="also score the simulator with parameters identified on a training episode")
    parser.add_argument("--tracked", action="store_true",
                        help="also train every model on tracked Gaussians of the episodes (rows '<model> (tracked)')")
    args = parser.parse_args(argv)
    if args.quick:
        args.scenes, args.train, args.test, args.duration, args.steps = ["rope_pull"], 6, 2, 2.5, 400
    os.makedirs(args.out, exist_ok=True)
    results = {}
    for scene in args.scenes:
        data = generate(scene, args.out, args.train, args.test, args.duration, args.seed)
        results[scene] = {}
        for name in args.models:
            run = os.path.join(args.out, "runs", scene, name)
            seconds = train(name, data, run, args.steps, MODELS[name])
            results[scene][name] = {"steps": args.steps, "train_seconds": seconds, "scores": evaluate(run, data)}
            print(f"{scene} {name}: MDE@10 {1e3 * results[scene][name]['scores']['model']['mde']['step10']:.2f} mm "
                  f"(constant position "
                  f"{1e3 * results[scene][name]['scores']['constant_position']['mde']['step10']:.2f} mm)", flush=True)
        if args.identified:
            scores = identified_simulator(scene, data, args.seed)
            results[scene]["identified simulator"] = {"steps": 0, "train_seconds": scores["identify_seconds"],
                                                      "scores": scores}
            print(f"{scene} identified simulator {scores['identified']}: MDE@10 "
                  f"{1e3 * scores['model']['mde']['step10']:.2f} mm", flush=True)
        if args.tracked:
            tracked, seconds = tracked_data(data, args.out)
            print(f"{scene}: tracked dataset {tracked} ({seconds / 60:.1f} min of rendering and tracking)", flush=True)
            for name in args.models:
                run = os.path.join(args.out, "runs", scene, f"{name}_tracked")
                config = {**MODELS[name], **geometry(os.path.join(args.out, "runs", scene, name))}
                seconds = train(name, tracked, run, args.steps, config)
                results[scene][f"{name} (tracked)"] = {"steps": args.steps, "train_seconds": seconds,
                                                      "scores": evaluate(run, data)}
                mde = results[scene][f"{name} (tracked)"]["scores"]["model"]["mde"]["step10"]
                print(f"{scene} {name} trained on tracked Gaussians: MDE@10 {1e3 * mde:.2f} mm", flush=True)
    if args.planning and "rope_pull" in args.scenes:
        sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
        import rope_planning

        rope_planning.main(["--study", args.out, "--out", os.path.join(args.out, "planning")]
                           + (["--quick"] if args.quick else []))
    if args.video:
        scene = args.scenes[0]
        model = "gs_dynamics" if "gs_dynamics" in args.models else args.models[0]
        print("video:", prediction_video(os.path.join(args.out, "runs", scene, model),
                                         os.path.join(args.out, "data", scene), args.video), flush=True)
    settings = {k: getattr(args, k) for k in ("scenes", "models", "train", "test", "duration", "steps", "seed",
                                              "tracked", "identified")}
    with open(os.path.join(args.out, "study.json"), "w") as f:
        json.dump({"settings": settings, "results": results}, f, indent=1)
    text = table(results)
    with open(os.path.join(args.out, "study.md"), "w") as f:
        f.write(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
