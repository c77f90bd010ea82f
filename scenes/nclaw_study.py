"""NCLaw generalisation study (2D or 3D): a material learned from ONE cube trajectory vs GNS on the same data.

Ma et al., "Learning Neural Constitutive Laws from Motion Observations for Generalizable PDE
Dynamics", ICML 2023, sec. 5: a law trained on one trajectory of a simple shape is run on new shapes,
velocities, boundaries and time spans, beside a GNS (Sanchez-Gonzalez et al. 2020) trained on the
same single trajectory. Here, per material (jelly: fixed-corotated; plasticine: von Mises; sand:
Drucker-Prager; water), in 2D or 3D (3D test shapes: the meshes of `assets/`):

1. ground truth with the simulator's own material (`nclaw_scenes`): the training cube (0.6 s) and
   the test scenes below, each written as a LagrangeBench-layout dataset;
2. `nclaw` and `gns` trained through the platform trainer (what `simengine train` runs);
3. rollouts: NCLaw in each test scene re-created from its metadata (`simulate_trajectory`), GNS with
   `learned.rollout.rollout_split`; both scored by `simengine compare --start 6` (GNS needs 6 frames);
4. also scored: the untrained law (the generic elastic material NCLaw starts from), and, for jelly,
   Young's modulus identified from the same trajectory (`learned.nclaw.identify`).

Writes OUT/study.json and OUT/study.md (the table for the README), datasets, runs and comparisons.

    python scenes/nclaw_study.py --out runs/nclaw_study             # about an hour on 2 CPU cores
    python scenes/nclaw_study.py --out runs/nclaw_study_3d --dim 3 --iterations 80 --gns-steps 1000
    python scenes/nclaw_study.py --out runs/nclaw_sand_water --materials sand water --iterations 80
    python scenes/nclaw_study.py --out /tmp/nclaw_quick --quick     # smoke test (~15 min)
"""
import argparse
import copy
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from nclaw_scenes import DENSITY, RECORD_EVERY, make_body_scene  # noqa: E402

TRAIN_DURATION = 0.6
START = 6  # first scored frame, for both models (GNS's 6 input frames)
VARIANTS = {  # dim -> name -> (make_body_scene overrides, duration)
    2: {"seen cube": ({}, TRAIN_DURATION),
        "disk": ({"shape": "disk"}, TRAIN_DURATION),
        "pillar": ({"shape": "pillar", "center": (0.45, 0.4)}, TRAIN_DURATION),
        "new velocity": ({"velocity": (-1.0, 1.2)}, TRAIN_DURATION),
        "slope": ({"boundary": "slope", "center": (0.3, 0.6), "velocity": (0.5, 0.0)}, TRAIN_DURATION),
        "pool": ({"boundary": "pool", "center": (0.5, 0.65)}, TRAIN_DURATION),
        "long (2.5x time)": ({}, 2.5 * TRAIN_DURATION)},
    3: {"seen cube": ({}, TRAIN_DURATION),
        "bunny mesh": ({"shape": "bunny"}, TRAIN_DURATION),
        "torus mesh": ({"shape": "torus", "center": (0.45, 0.45, 0.5)}, TRAIN_DURATION),
        "dumbbell mesh": ({"shape": "dumbbell"}, TRAIN_DURATION),
        "new velocity": ({"velocity": (-1.0, 1.2, -0.6)}, TRAIN_DURATION),
        "slope": ({"boundary": "slope", "center": (0.3, 0.6, 0.5), "velocity": (0.5, 0.0, 0.0)}, TRAIN_DURATION),
        "long (2.5x time)": ({}, 2.5 * TRAIN_DURATION)},
}
MULTI = {  # two bodies thrown at each other (materials: the first two studied)
    2: ({"material": "jelly", "center": (0.3, 0.35), "velocity": (0.8, 0.0),
         "extra_bodies": (("plasticine", "disk", (0.72, 0.45), (-0.8, 0.0)),)}, TRAIN_DURATION),
    3: ({"material": "jelly", "shape": "bunny", "center": (0.3, 0.35, 0.5), "velocity": (0.8, 0.0, 0.0),
         "extra_bodies": (("plasticine", "cube", (0.72, 0.4, 0.5), (-0.8, 0.0, 0.0)),)}, TRAIN_DURATION),
}
MATERIAL_NAMES = {"jelly": "elastic", "plasticine": "plasticine", "sand": "sand", "water": "fluid"}  # Material.name


def slug(name: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in name).strip("_")


def ground_truth(out: str, materials: list, dim: int) -> dict:
    """Datasets: data/<material>/train (one trajectory) and data/<material>/<variant> (test split)."""
    from simengine.io import write_dataset

    paths = {}
    for material in materials:
        train = make_body_scene(material, dim=dim).run(duration=TRAIN_DURATION, record_every=RECORD_EVERY,
                                                       progress=False)
        paths[(material, "train")] = os.path.join(out, "data", material, "train")
        write_dataset(paths[(material, "train")], {"train": [train]})
        for variant, (overrides, duration) in VARIANTS[dim].items():
            traj = make_body_scene(material, dim=dim, **overrides).run(duration=duration, record_every=RECORD_EVERY,
                                                              progress=False)
            paths[(material, variant)] = os.path.join(out, "data", material, slug(variant))
            write_dataset(paths[(material, variant)], {"test": [traj]})
    if len(materials) > 1:
        overrides, duration = MULTI[dim]  # its two bodies take the first two materials studied
        (_, *extra), = overrides["extra_bodies"]
        overrides = {**overrides, "material": materials[0], "extra_bodies": ((materials[1], *extra),)}
        traj = make_body_scene(dim=dim, **overrides).run(duration=duration, record_every=RECORD_EVERY, progress=False)
        paths[("multi", "multi-material")] = os.path.join(out, "data", "multi")
        write_dataset(paths[("multi", "multi-material")], {"test": [traj]})
        from learned.data import load_split
        both = [load_split(paths[(m, "train")], "train")[0] for m in materials[:2]]
        paths[("multi", "train")] = os.path.join(out, "data", "multi_train")
        write_dataset(paths[("multi", "train")], {"train": both})
    return paths


def train(model: str, data: str, run: str, model_config: dict, train_config: dict, reuse: bool = False):
    """Train through the platform trainer -> (model, model before training, seconds, error or None).

    A `SimulationError` (an inverted element, a non-finite stress) stops training; it is recorded and
    the last checkpoint is used. ``reuse``: load a finished run's last checkpoint instead of training
    (the untrained model is rebuilt: same seed, same initialisation)."""
    import csv

    from learned.train import Trainer, load_checkpoint, model_from_checkpoint
    from simengine.errors import SimulationError

    last = os.path.join(run, "checkpoints", "last.pt")
    if reuse and os.path.exists(last) and load_checkpoint(last)["step"] == train_config["steps"]:
        initial = Trainer(model, data, run + "_initial", model_config=model_config,
                          train_overrides={**train_config, "steps": 1}, fresh=True, progress=False).model
        with open(os.path.join(run, "metrics.csv")) as f:
            seconds = float(list(csv.DictReader(f))[-1]["elapsed_s"])
        return model_from_checkpoint(last).eval(), initial.eval(), seconds, None
    started = time.time()
    trainer = Trainer(model, data, run, model_config=model_config, train_overrides=train_config, fresh=True,
                      progress=True)
    initial = copy.deepcopy(trainer.model)
    error = None
    try:
        trainer.run()
        trained = trainer.model
    except SimulationError as exc:
        error = f"training stopped at step {trainer.step + 1}: {exc}"
        print(error, flush=True)
        trained = model_from_checkpoint(last) if os.path.exists(last) else initial
    return trained.eval(), initial.eval(), time.time() - started, error


def compare(pred_dir: str, truth_dir: str, out: str, gifs: int = 1) -> dict:
    """`simengine compare --pred P --truth T --start 6` (in this process), summarised."""
    from simengine.cli import main as simengine

    if simengine(["compare", "--pred", pred_dir, "--truth", truth_dir, "--split", "test", "--start", str(START),
                  "--gifs", str(gifs), "--quiet", "--out", out]) != 0:
        raise RuntimeError(f"simengine compare failed for {pred_dir}")
    with open(os.path.join(out, "metrics.json")) as f:
        metrics = json.load(f)
    summary = metrics["summary"]["prediction"]
    return {"mse_all": summary["mse"]["all"], "mse_20": summary["mse"].get("20"),
            "chamfer": summary["chamfer"], "diverged": [d["step"] for d in metrics["diverged"]]}


def nclaw_rollout(laws: dict, truth_dir: str, pred_dir: str):
    from learned.data import load_split
    from learned.nclaw import simulate_trajectory
    from learned.rollout import write_split
    from simengine.io import read_metadata

    truths = load_split(truth_dir, "test")
    densities = {name: DENSITY for name in laws}
    preds = [simulate_trajectory(laws, t, densities) for t in truths]
    write_split(pred_dir, "test", preds, read_metadata(truth_dir))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", required=True)
    parser.add_argument("--dim", type=int, default=2, choices=(2, 3))
    parser.add_argument("--materials", nargs="+", default=["jelly", "plasticine"], choices=sorted(MATERIAL_NAMES))
    parser.add_argument("--iterations", type=int, default=60, help="NCLaw training steps (whole trajectories)")
    parser.add_argument("--gns-steps", type=int, default=2000)
    parser.add_argument("--quick", action="store_true", help="3 NCLaw iterations, 100 GNS steps (smoke test)")
    parser.add_argument("--reuse", action="store_true", help="use finished training runs found in OUT/runs")
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(1)
    iterations, gns_steps = (3, 100) if args.quick else (args.iterations, args.gns_steps)
    out = os.path.abspath(args.out)
    paths = ground_truth(out, args.materials, args.dim)  # deterministic: rewritten identically on --reuse
    results, laws, timings, errors = [], {}, {}, {}
    nclaw_train = dict(batch_size=1, num_threads=1, lr=1e-3, lr_final=1e-4, lr_decay_steps=iterations,
                       steps=iterations, val_every=10**9, checkpoint_every=max(iterations // 4, 1))
    gns_train = dict(batch_size=2, num_threads=1, lr=1e-3, lr_final=1e-5, lr_decay_steps=gns_steps, steps=gns_steps,
                     val_every=10**9, checkpoint_every=max(gns_steps // 4, 1))
    # GNS-10-128 costs ~1 s per step here (256 particles, ~13k edges, one CPU core): a 5-step, 64-wide
    # GNS is ~8x cheaper; both see the same single trajectory.
    gns_model = dict(latent=64, message_passing_steps=5)
    nclaw_model = dict(teacher_start=5, teacher_end=60, teacher_ramp=max(iterations * 2 // 3, 1), init_modulus=1e4)
    gns_models = {}
    for material in args.materials:
        train_dir = paths[(material, "train")]
        model, initial, seconds, errors[f"nclaw_{material}"] = train(
            "nclaw", train_dir, os.path.join(out, "runs", f"nclaw_{material}"), nclaw_model, nclaw_train,
            args.reuse)
        laws[material] = (model.law, initial.law)
        timings[f"nclaw_{material}_s"] = seconds
        gns, _, seconds, errors[f"gns_{material}"] = train(
            "gns", train_dir, os.path.join(out, "runs", f"gns_{material}"), gns_model, gns_train, args.reuse)
        gns_models[material] = gns
        timings[f"gns_{material}_s"] = seconds
    if len(args.materials) > 1:
        gns, _, seconds, errors["gns_multi"] = train(
            "gns", paths[("multi", "train")], os.path.join(out, "runs", "gns_multi"), gns_model, gns_train,
            args.reuse)
        gns_models["multi"] = gns
        timings["gns_multi_s"] = seconds

    from learned.rollout import rollout_split

    cases = [(m, v) for m in args.materials for v in VARIANTS[args.dim]]
    cases += [("multi", "multi-material")] if len(args.materials) > 1 else []
    for material, variant in cases:
        truth_dir = paths[(material, variant)]
        mats = args.materials[:2] if material == "multi" else [material]
        base = os.path.join(out, "eval", material, slug(variant))
        row = {"material": material, "scene": variant}
        for label, which in (("nclaw", 0), ("initial law", 1)):
            pred_dir = os.path.join(base, slug(label))
            nclaw_rollout({MATERIAL_NAMES[m]: laws[m][which] for m in mats}, truth_dir, pred_dir)
            row[label] = compare(pred_dir, truth_dir, os.path.join(pred_dir, "compare"), gifs=1 - which)
        pred_dir = os.path.join(base, "gns")
        rollout_split(gns_models[material], truth_dir, "test", out_dir=pred_dir, progress=False)
        row["gns"] = compare(pred_dir, truth_dir, os.path.join(pred_dir, "compare"))
        results.append(row)
        print(f"{material:>10} {variant:<18} nclaw {row['nclaw']['mse_all']:.3e}  gns {row['gns']['mse_all']:.3e}  "
              f"initial law {row['initial law']['mse_all']:.3e}", flush=True)

    sysid = None
    if "jelly" in args.materials:
        sysid = identify_jelly(paths[("jelly", "train")], evaluations=4 if args.quick else 20)
    summary = {"results": results, "timings_s": timings, "training_errors": errors, "sysid": sysid, "settings": {
        "dim": args.dim, "iterations": iterations, "gns_steps": gns_steps, "nclaw_train": nclaw_train,
        "nclaw_model": nclaw_model, "gns_train": gns_train, "gns_model": gns_model, "start_frame": START,
        "frame_dt": 0.01}}
    with open(os.path.join(out, "study.json"), "w") as f:
        json.dump(summary, f, indent=2)
    with open(os.path.join(out, "study.md"), "w") as f:
        f.write(markdown(summary))
    print(markdown(summary))
    return 0


def identify_jelly(train_dir: str, evaluations: int) -> dict:
    """Young's modulus of the jelly from its one training trajectory (start 4x too low)."""
    from learned.data import load_split
    from learned.nclaw import build_solver, identify, scene_spec

    truth = load_split(train_dir, "train")[0]
    mass = truth.extras["mass"].astype(float)
    solver = build_solver(scene_spec(truth.metadata), mass, mass / DENSITY, "float64")
    solver.particles.nu.fill_(0.3)
    started = time.time()
    result = identify(solver, truth.position[0], truth.extras["velocity"][0], truth.position, RECORD_EVERY,
                      {"youngs_modulus": 5e3}, iterations=evaluations, progress=False)
    return {"true": 2e4, "initial": 5e3, "identified": result.best_values["youngs_modulus"],
            "evaluations": len(result.history), "seconds": time.time() - started}


def markdown(summary: dict) -> str:
    lines = ["| material | test scene | NCLaw MSE | GNS MSE | untrained law MSE | NCLaw Chamfer | GNS Chamfer |",
             "|---|---|---|---|---|---|---|"]
    for r in summary["results"]:
        def cell(key):
            d = r[key]
            return f"{d['mse_all']:.2e}" + (f" (diverged @{d['diverged'][0]})" if d["diverged"] else "")
        lines.append(f"| {r['material']} | {r['scene']} | {cell('nclaw')} | {cell('gns')} | {cell('initial law')} | "
                     f"{r['nclaw']['chamfer']:.2e} | {r['gns']['chamfer']:.2e} |")
    s = summary["settings"]
    lines.append(f"\nPosition MSE (m^2, domain 1 m) averaged over frames {s['start_frame']}..end; "
                 f"NCLaw {s['iterations']} training steps, GNS ({s['gns_model']}) {s['gns_steps']}.")
    for name, error in summary.get("training_errors", {}).items():
        if error:
            lines.append(f"{name}: {error}")
    if summary.get("sysid"):
        d = summary["sysid"]
        lines.append(f"Jelly E identified from the training trajectory: {d['identified']:.6g} Pa "
                     f"(true {d['true']:.4g}, start {d['initial']:.4g}; {d['evaluations']} evaluations, "
                     f"{d['seconds']:.0f} s).")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
