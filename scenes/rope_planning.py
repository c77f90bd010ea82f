"""Planning rope manipulation with a learned model, executed in the true simulator (GS-Dynamics / PGND, sec. 5).

Task (one per held-out rope episode of `deformable_dynamics_study.py`): from the episode's start (the rope at rest
on the ground, grasped near one end at t = 0.2 s), bring the rope to the shape the episode reached at
``--goal-time`` seconds. The planner does not see the episode's gripper path: it chooses ``--waypoints`` gripper
positions (equally spaced in time, linear in between) by MPPI (`learned.planning.mppi`) on the Chamfer distance
between the model's predicted final rope and the target. The plan is then executed in the true simulator (the
episode's own scene: same rope, stiffness, damping, friction) and scored there: final Chamfer distance and success
(RMS nearest-point distance under ``--success-mm``).

Planners compared on the same tasks: each trained learned model (rolling every candidate out in one batch), and
the physics baseline of PGND's paper: the deformables simulator with stiffness and damping identified
(`simengine.deformables.identify`) from the first training episode, rolling candidates out one by one.

    python scenes/rope_planning.py --study runs/deformable_study --out runs/rope_planning
    python scenes/rope_planning.py --study /tmp/deformable_quick --out /tmp/rope_planning --quick
"""
import argparse
import json
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import rope_pull  # noqa: E402

GRASP_TIME = 0.2
UP = (0.0, 0.0, 0.0, 1.0)


def episode_scene(split_index: int, index: int, seed: int):
    """The deformables scene of episode ``index`` of a split, as `simengine generate` made it."""
    from simengine.generate.script import episode_rng

    return rope_pull.make_scene(episode_rng(seed, split_index, index))


def keyframes(grasp, plan, goal_time):
    """Gripper keyframes: still and open until GRASP_TIME, closed, then through the (W, 3) plan's waypoints."""
    times = GRASP_TIME + (goal_time - GRASP_TIME) * np.arange(1, len(plan) + 1) / len(plan)
    return [(0.0, grasp, UP, False), (GRASP_TIME, grasp, UP, True)] + [
        (float(t), np.asarray(p, dtype=np.float64), UP, True) for t, p in zip(times, plan)]


def actions(grasp, plan, goal_time, frames, frame_dt):
    """(frames, 1, 8) per-frame gripper rows (position, quaternion x-y-z-w, closed), as the simulator records."""
    from simengine.deformables.gripper import Gripper

    g = Gripper(0.01, keyframes(grasp, plan, goal_time))
    rows = []
    for f in range(frames):
        p, q, _ = g.pose(f * frame_dt)
        rows.append([*p, *q, float(f * frame_dt > GRASP_TIME + 1e-9)])
    return np.asarray(rows, dtype=np.float32)[:, None, :]


def simulate(scene, grasp, plan, goal_time, record_every):
    """Run ``scene`` with the plan's gripper path; the final frame's positions (N, 3)."""
    from simengine.deformables.gripper import Gripper

    scene.grippers[0] = Gripper(scene.grippers[0].radius, keyframes(grasp, plan, goal_time), scene.grippers[0].name)
    traj = scene.run(goal_time, record_every=record_every, progress=False)
    return traj.position[-1]


def chamfer(a, b) -> float:
    from simengine.metrics import chamfer_distance

    return chamfer_distance(a, b)


def learned_cost(model, truth, grasp, goal_frames, goal_time, frame_dt, target):
    """Cost of a batch of plans (K, W, 3) by one batched rollout of ``model`` from the episode's first frames."""
    import torch

    from learned.data.windows import collate

    h = model.input_frames
    base = {"position": torch.as_tensor(truth.position[:h]), "particle_type": torch.as_tensor(
        truth.particle_type.astype(np.int64)), "initial_position": torch.as_tensor(truth.position[0])}

    def cost(plans):
        samples = [{**base, "action": torch.as_tensor(actions(grasp, p, goal_time, goal_frames + 2, frame_dt))}
                   for p in plans]
        batch = collate(samples)
        with torch.no_grad():
            out = model.rollout(batch, goal_frames - h + 1).position[-1].numpy()
        n = truth.num_particles
        return np.array([chamfer(out[k * n:(k + 1) * n], target) for k in range(len(plans))])
    return cost


def identified_parameters(study: str, seed: int, frames: int, record_every: int, iterations: int) -> dict:
    """Stiffness and damping identified from the first training episode (its first ``frames`` frames), by
    ``iterations`` L-BFGS iterations through the differentiable simulator."""
    from simengine.deformables.differentiable import identify
    from simengine.io import load_split

    observed = load_split(os.path.join(study, "data", "rope_pull"), "train")[0].position[:frames]
    scene = episode_scene(0, 0, seed)
    body = scene.bodies[0]
    guess = dict(stiffness_guess=10 ** 3.0, damping_guess=0.6)  # the centres of the scene's random ranges
    return identify(scene, observed, record_every=record_every, body=body, iterations=iterations, **guess)


def with_parameters(scene, stiffness: float, damping: float):
    """``scene`` with its rope's springs scaled to ``stiffness`` (N) and the damping rate set (1/s)."""
    scene.set_stiffness(scene.bodies[0], stiffness)
    scene.damping = float(damping)
    return scene


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--study", required=True, help="output folder of scenes/deformable_dynamics_study.py")
    parser.add_argument("--out", required=True)
    parser.add_argument("--models", nargs="+", default=["gs_dynamics", "pgnd"])
    parser.add_argument("--tasks", type=int, default=4)
    parser.add_argument("--goal-time", type=float, default=1.5)
    parser.add_argument("--waypoints", type=int, default=3)
    parser.add_argument("--samples", type=int, default=48)
    parser.add_argument("--iterations", type=int, default=6)
    parser.add_argument("--sim-samples", type=int, default=12, help="candidates per iteration for the simulator")
    parser.add_argument("--success-mm", type=float, default=15.0)
    parser.add_argument("--identify-frames", type=int, default=30, help="frames of the training episode fitted")
    parser.add_argument("--identify-iterations", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true", help="2 tasks, fewer samples (~10 min)")
    args = parser.parse_args(argv)
    if args.quick:
        args.tasks, args.samples, args.iterations, args.sim_samples = 2, 24, 4, 8
        args.identify_frames, args.identify_iterations = 15, 4
    import torch

    from learned.planning import mppi
    from learned.train import load_checkpoint, model_from_checkpoint
    from simengine.io import load_split, read_metadata

    torch.set_num_threads(1)
    data = os.path.join(args.study, "data", "rope_pull")
    meta = read_metadata(data)
    record_every = int(meta.get("write_every", 2))
    test = load_split(data, "test")
    frame_dt = float(test[0].dt)
    goal_frames = int(round(args.goal_time / frame_dt))
    os.makedirs(args.out, exist_ok=True)
    start = time.perf_counter()
    ident = identified_parameters(args.study, int(meta.get("seed", args.seed)), args.identify_frames, record_every,
                                  args.identify_iterations)
    ident_seconds = time.perf_counter() - start
    print(f"identified stiffness {ident['stiffness']:.4g} N, damping {ident['damping']:.4g} 1/s "
          f"({ident_seconds:.0f} s)", flush=True)
    planners = {name: model_from_checkpoint(load_checkpoint(os.path.join(args.study, "runs", "rope_pull", name,
                                                                         "checkpoints", "last.pt"))).eval()
                for name in args.models}
    results = {name: [] for name in [*planners, "identified simulator"]}
    for task, truth in enumerate(test[:args.tasks]):
        scene = episode_scene(2, task, int(meta.get("seed", args.seed)))
        grasp = scene.grippers[0].positions[0].copy()
        target = truth.position[goal_frames].astype(np.float64)
        initial = np.tile(grasp + np.array([0.0, 0.05, 0.0]), (args.waypoints, 1))
        costs = {name: learned_cost(model, truth, grasp, goal_frames, args.goal_time, frame_dt, target)
                 for name, model in planners.items()}

        def sim_cost(plans):
            return np.array([chamfer(simulate(with_parameters(episode_scene(2, task, int(meta.get("seed", 0))),
                                                              ident["stiffness"], ident["damping"]),
                                              grasp, p, args.goal_time, record_every), target) for p in plans])
        costs["identified simulator"] = sim_cost
        for name, cost in costs.items():
            t0 = time.perf_counter()
            samples = args.sim_samples if name == "identified simulator" else args.samples
            plan, history = mppi(cost, initial, samples=samples, iterations=args.iterations, seed=task)
            seconds = time.perf_counter() - t0
            final = simulate(episode_scene(2, task, int(meta.get("seed", 0))), grasp, plan, args.goal_time,
                             record_every)
            achieved = chamfer(final, target)
            rms = float(np.sqrt(achieved / 2.0))
            results[name].append({"task": task, "chamfer": achieved, "rms_mm": 1e3 * rms,
                                  "predicted": history[-1][1], "success": rms < args.success_mm / 1e3,
                                  "plan_seconds": seconds,
                                  "start_chamfer": chamfer(truth.position[0], target)})
            print(f"task {task} {name}: executed Chamfer {achieved:.3e} (RMS {1e3 * rms:.1f} mm), predicted "
                  f"{history[-1][1]:.3e}, {seconds:.0f} s", flush=True)
    summary = {name: {"success_rate": float(np.mean([r["success"] for r in rows])),
                      "chamfer": float(np.mean([r["chamfer"] for r in rows])),
                      "rms_mm": float(np.mean([r["rms_mm"] for r in rows])),
                      "plan_seconds": float(np.mean([r["plan_seconds"] for r in rows]))}
               for name, rows in results.items()}
    with open(os.path.join(args.out, "planning.json"), "w") as f:
        json.dump({"settings": vars(args), "identified": {k: ident[k] for k in ("stiffness", "damping", "loss")},
                   "summary": summary, "tasks": results}, f, indent=1)
    lines = ["| planner | success rate | final Chamfer (mm²) | RMS distance (mm) | planning time (s) |",
             "|---|---|---|---|---|"]
    lines += [f"| {name} | {s['success_rate']:.2f} | {1e6 * s['chamfer']:.1f} | {s['rms_mm']:.1f} | "
              f"{s['plan_seconds']:.0f} |" for name, s in summary.items()]
    with open(os.path.join(args.out, "planning.md"), "w") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
