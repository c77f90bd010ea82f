"""GNS speed on the demo data: training steps/s, rollout steps/s, and the learned rollout against the
MLS-MPM simulation that produced the same frames.

    .venv/bin/python benchmarks/gns.py [--data runs/demo/data] [--threads 2] [--steps 20] [--rollout-only]

Uses the demo dataset when `make demo` has made it (else generates 2 train + 1 test trajectories of
`scenes/sand_collapse.py` into benchmarks/out/learned_data) and a freshly built demo-configuration GNS
(its rollout's speed does not depend on the weights). One rollout step = one recorded frame = 40 MPM
substeps. The MPM run repeats test trajectory 0 (same scene script and seed: same particles, frames and
frame spacing); the script prints how closely the re-run matches the recorded frames. Torch threads
beyond the free cores are very slow: on a busy machine pass ``--threads 1``.
"""
import argparse
import inspect
import os
import shutil
import sys
import tempfile
import time

import numpy as np
import torch

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, HERE)

from learned.data import WindowDataset, collate, describe, load_split  # noqa: E402
from learned.demo import MODEL, SCENE, TRAIN  # noqa: E402
from learned.train import Trainer  # noqa: E402


def training_rate(data, model_config, steps, threads, label):
    out = tempfile.mkdtemp(prefix=f"gns_bench_{label}_")  # a new folder: nothing of an earlier run to claim
    cfg = {**TRAIN, "steps": 10 ** 6, "num_threads": threads}
    trainer = Trainer("gns", data, out, model_config=model_config, train_overrides=cfg, fresh=True, progress=False)
    rate = float("nan")  # steps 0: only the model is wanted (the rollout's speed does not depend on its weights)
    if steps > 0:
        for _ in range(2):  # warm-up: Warp kernel load, allocator
            trainer.train_step()
        start = time.perf_counter()
        for _ in range(steps):
            trainer.train_step()
        rate = steps / (time.perf_counter() - start)
    shutil.rmtree(out, ignore_errors=True)
    return rate, trainer.model


def rollout_rate(model, data):
    truth = load_split(data, "test")[0]
    model.eval()
    batch = collate([WindowDataset([truth], 1, model.data_keys(describe(data, "test").keys)).trajectory(0)])
    steps = truth.num_frames - model.input_frames
    model.rollout(collate([WindowDataset([truth], 1).window(0, 0, model.input_frames + 2)]), 2)  # warm-up
    start = time.perf_counter()
    result = model.rollout(batch, steps)
    return steps / (time.perf_counter() - start), steps, truth, result


def mpm_rate(data, truth):
    """Re-simulate test trajectory 0 with its own seed; frames per second of wall time."""
    from learned.data import read_metadata
    from simengine.generate.script import load_scene_script

    meta = read_metadata(data)
    module = load_scene_script(meta.get("scene_script", SCENE))
    rng = np.random.default_rng(np.random.SeedSequence([int(meta.get("seed", 0)), 2, 0]))
    scene = module.make_scene(rng)
    run_args = dict(module.RUN)
    if "progress" in inspect.signature(scene.run).parameters:
        run_args["progress"] = False
    start = time.perf_counter()
    traj = scene.run(**run_args)
    seconds = time.perf_counter() - start
    return (traj.num_frames - 1) / seconds, traj


def same_frames(traj, truth) -> str:
    """How the re-simulated trajectory matches the recorded one: particles, frames, frame spacing and the
    largest position difference (round-off after a kernel change grows over a granular flow's substeps)."""
    if traj.position.shape != truth.position.shape:
        return f"different shapes {traj.position.shape} vs {truth.position.shape}"
    spacing = f"frame spacing {traj.dt:.4g} s" + ("" if np.isclose(traj.dt, truth.dt) else f" vs {truth.dt:.4g} s")
    diff = float(np.abs(traj.position - truth.position).max())
    return (f"{traj.num_particles} particles, {traj.num_frames} frames, {spacing}; "
            f"max |x - x_recorded| = {diff:.1e}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=os.path.join(HERE, "runs", "demo", "data"))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--steps", type=int, default=20, help="timed training steps")
    parser.add_argument("--rollout-only", action="store_true", help="skip the training timings")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    data = args.data
    if not os.path.exists(os.path.join(data, "metadata.json")):
        from simengine.generate import generate_dataset

        data = os.path.join(HERE, "benchmarks", "out", "learned_data")
        print(f"no demo data at {args.data}; generating 2 train + 1 test trajectories into {data}")
        generate_dataset(SCENE, data, {"train": 2, "test": 1}, workers=2, seed=0, progress=False)
    info = describe(data, "test")
    print(f"data: {data} ({info.num_particles_max} particles max, {info.num_frames_min} frames), "
          f"torch threads {args.threads}")
    steps = 0 if args.rollout_only else args.steps
    demo_rate, model = training_rate(data, MODEL, steps, args.threads, "demo")
    reference_rate, _ = training_rate(data, {}, steps and max(3, steps // 5), args.threads, "reference")
    roll_rate, steps, truth, _ = rollout_rate(model, data)
    mpm, traj = mpm_rate(data, truth)
    print(f"{'GNS training, demo config (latent 64, 5 MP steps, r 0.015)':<62}{demo_rate:8.2f} steps/s")
    print(f"{'GNS training, reference config (latent 128, 10 MP steps)':<62}{reference_rate:8.2f} steps/s")
    print(f"{'GNS rollout, demo config, %d particles' % truth.num_particles:<62}{roll_rate:8.2f} frames/s")
    print(f"{'MLS-MPM (Warp, CPU) producing the same frames':<62}{mpm:8.2f} frames/s")
    print(f"{'speed-up of the learned rollout over MPM':<62}{roll_rate / mpm:8.2f} x")
    print(f"MPM re-run of test trajectory 0 (same scene and seed): {same_frames(traj, truth)}")
    print(f"(one frame = {traj.metadata.get('write_every', '?')} MPM substeps; torch threads "
          f"{args.threads}; load average {' '.join(f'{x:.2f}' for x in os.getloadavg())} on {os.cpu_count()} cores)")


if __name__ == "__main__":
    main()
