"""Runs inside LagrangeBench's own environment (build/interop-venv), never the project's.

    build/interop-venv/bin/python benchmarks/interop/lb_worker.py DATASET WORK --steps 20 --rollout 30

On a simengine dataset folder, exactly as a LagrangeBench user would: its reader (`H5Dataset`) on every
split, checked against the raw h5 arrays; a few steps of its `Trainer` on a small GNS; its `infer`
(rollout + `MetricsComputer`) on the test split at each metrics stride. Writes WORK/lb_result.json (the
checks and every metric per trajectory) and WORK/lb_rollout.npz (the predicted positions, one
(input + rollout, N, D) array per test trajectory, as LagrangeBench's rollout pickles hold them).
"""
import argparse
import glob
import json
import os
import pickle
import sys

import h5py
import numpy as np

# simengine must not be importable here: this checks the files alone
sys.path = [p for p in sys.path if os.path.abspath(p) != os.path.abspath(os.path.dirname(__file__))]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("dataset")
    parser.add_argument("work")
    parser.add_argument("--steps", type=int, default=20, help="training steps")
    parser.add_argument("--rollout", type=int, default=30, help="rollout steps (test trajectories: 6 + this)")
    parser.add_argument("--strides", type=int, nargs="+", default=[1, 10])
    parser.add_argument("--dtype", default="float32")
    args = parser.parse_args()

    from lagrangebench import Trainer, infer
    from lagrangebench.case_setup import case_builder
    from lagrangebench.defaults import check_cfg, defaults
    from lagrangebench.runner import setup_data, setup_model
    from omegaconf import OmegaConf

    if args.dtype == "float64":
        import jax

        jax.config.update("jax_enable_x64", True)
    import haiku as hk
    import jmp

    os.makedirs(args.work, exist_ok=True)
    cfg = OmegaConf.merge(defaults, OmegaConf.create({
        "mode": "all", "seed": 0, "dtype": args.dtype,
        "dataset": {"src": os.path.abspath(args.dataset), "name": "simengine"},
        "model": {"name": "gns", "latent_dim": 32, "num_mp_steps": 2, "input_seq_length": 6},
        "train": {"batch_size": 1, "step_max": args.steps, "num_workers": 0,
                  "pushforward": {"steps": [-1], "unrolls": [0], "probs": [1]}},
        "eval": {"n_rollout_steps": args.rollout, "test": True, "rollout_dir": None,
                 "train": {"n_trajs": 1, "metrics_stride": 10},
                 "infer": {"n_trajs": -1, "batch_size": 1, "metrics": ["mse", "e_kin", "sinkhorn"],
                           "out_type": "pkl"}},
        "logging": {"log_steps": max(1, args.steps // 4), "eval_steps": 10**9, "wandb": False,
                    "ckp_dir": os.path.join(args.work, "ckp"), "run_name": "interop"},
    }))
    check_cfg(cfg)
    result = {"reader": {}, "train_loss": []}

    # 1. the reader, every split, against the raw arrays
    data_train, data_valid, data_test = setup_data(cfg)
    for split, data in (("train", data_train), ("valid", data_valid), ("test", data_test)):
        with h5py.File(os.path.join(args.dataset, f"{split}.h5"), "r") as f:
            raw = {k: (f[k]["position"][()], f[k]["particle_type"][()]) for k in f}
        worst = 0.0
        for i in range(len(data)):
            pos, ptype = data[i]  # (N, T, D) window or trajectory chunk, (N,)
            if split == "train":  # windows of input_seq_length + 1 frames, trajectory by trajectory
                per = len(data) // len(raw)
                key, start = data.traj_keys[i // per], i % per
            else:
                key, start = data.traj_keys[i // data._split_valid_traj_into_n], 0
            ref_pos, ref_type = raw[key]
            ref = ref_pos[start:start + pos.shape[1]].transpose(1, 0, 2)
            worst = max(worst, float(np.abs(np.asarray(pos, np.float64) - ref).max()))
            assert np.array_equal(np.asarray(ptype), ref_type), f"{split} {key}: particle types differ"
        result["reader"][split] = {"samples": len(data), "trajectories": len(raw), "max_abs_diff": worst,
                                   "sequence_length": int(data.sequence_length)}
    metadata = data_train.metadata
    result["metadata"] = {k: metadata.get(k) for k in ("dim", "dx", "dt", "write_every", "default_connectivity_radius",
                                                       "num_particles_max", "grid_dx")}

    # 2. a few training steps (as lagrangebench.runner.train_or_infer sets them up)
    bounds = np.array(metadata["bounds"])
    case = case_builder(box=bounds[:, 1] - bounds[:, 0], metadata=metadata, input_seq_length=6,
                        cfg_neighbors=cfg.neighbors, cfg_model=cfg.model, noise_std=cfg.train.noise_std,
                        external_force_fn=data_train.external_force_fn, dtype=cfg.dtype)
    _, particle_type = data_train[0]
    model, MODEL = setup_model(cfg, metadata=metadata, homogeneous_particles=particle_type.max() == particle_type.min(),
                               has_external_force=False, normalization_stats=case.normalization_stats)
    model = hk.without_apply_rng(hk.transform_with_state(model))
    hk.mixed_precision.set_policy(MODEL, jmp.get_policy("params=float32,compute=float32,output=float32"))
    trainer = Trainer(model, case, data_train, data_valid, cfg.train, cfg.eval, cfg.logging, input_seq_length=6,
                      seed=cfg.seed)
    params, state, _ = trainer.train(step_max=args.steps, store_ckp=None)
    leaves = [np.asarray(x) for x in __import__("jax").tree_util.tree_leaves(params)]
    result["trained"] = {"steps": args.steps, "params": int(sum(x.size for x in leaves)),
                         "finite": bool(all(np.isfinite(x).all() for x in leaves))}

    # 3. its rollout and metrics on the test split, at every stride
    result["metrics"] = {}
    rollouts = None
    for stride in args.strides:
        out_dir = os.path.join(args.work, f"rollout_stride{stride}")
        os.makedirs(out_dir, exist_ok=True)
        for old in glob.glob(os.path.join(out_dir, "*.pkl")):
            os.remove(old)
        cfg_infer = OmegaConf.merge(cfg.eval.infer, {"metrics_stride": stride})
        metrics = infer(model, case, data_test, params=params, state=state, cfg_eval_infer=cfg_infer,
                        rollout_dir=out_dir, n_rollout_steps=args.rollout, seed=cfg.seed)
        per_traj = {}
        for name, m in metrics.items():
            per_traj[name] = {
                "mse": np.asarray(m["mse"], np.float64).tolist(),
                **{k: float(np.mean(m[k])) for k in m if k.startswith("mse") and k != "mse"},
                "sinkhorn": np.asarray(m["sinkhorn"], np.float64).tolist(),
                "e_kin_mse": float(m["e_kin"]["mse"]),
                "e_kin_predicted": np.asarray(m["e_kin"]["predicted"], np.float64).tolist(),
                "e_kin_target": np.asarray(m["e_kin"]["target"], np.float64).tolist(),
            }
        result["metrics"][str(stride)] = per_traj
        this = []
        for i in range(len(per_traj)):
            with open(os.path.join(out_dir, f"rollout_{i}.pkl"), "rb") as f:
                this.append(np.asarray(pickle.load(f)["predicted_rollout"]))
        if rollouts is None:
            rollouts = this
        else:  # the same model on the same data: the same rollout at every stride
            assert all(np.array_equal(a, b) for a, b in zip(rollouts, this)), "rollouts differ between strides"
    names = [data_test.traj_keys[i // data_test._split_valid_traj_into_n] for i in range(len(rollouts))]
    np.savez(os.path.join(args.work, "lb_rollout.npz"), names=np.array(names),
             **{f"rollout_{i}": r for i, r in enumerate(rollouts)})
    with open(os.path.join(args.work, "lb_result.json"), "w") as f:
        json.dump(result, f, indent=1)
    print(f"lb_worker: wrote {args.work}/lb_result.json and lb_rollout.npz")


if __name__ == "__main__":
    main()
