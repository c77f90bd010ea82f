"""`make interop`: LagrangeBench 0.2.0 takes a simengine dataset and simengine's metrics agree with its own.

    make interop        # builds build/interop-venv (LagrangeBench in its own environment), then runs this
    python benchmarks/interop/run_lagrangebench.py --lb-python build/interop-venv/bin/python

Steps, on a freshly generated small 2D water + sand dataset (`benchmarks/interop/water_sand.py`):

1. `simengine generate` writes it; its metadata ``dx`` must be within 10 % of the measured particle
   spacing (mean nearest-neighbour distance of every trajectory's first frame, computed here with numpy).
2. In LagrangeBench's environment (`lb_worker.py`): its reader on every split (arrays equal to the
   h5 files'), a few training steps of its GNS, its rollout and its metrics on the test split at metrics
   strides 1 and 10.
3. Its predicted rollout is written as a simengine rollout and `simengine compare` scores it at the same
   strides; position MSE (every step, every mse{n}) must agree within 1e-6 (relative), Sinkhorn and
   e_kin MSE within 1 %.

Prints one line per check and exits 1 when any fails. Not part of `make test` (the build takes minutes).
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
INPUT = 6  # LagrangeBench's input_seq_length


def measured_spacing(root) -> float:
    """Mean nearest-neighbour distance over the particles of every first frame (numpy, brute force)."""
    import h5py

    total, count = 0.0, 0
    for split in ("train", "valid", "test"):
        with h5py.File(os.path.join(root, f"{split}.h5"), "r") as f:
            for key in f:
                x = f[key]["position"][0].astype(np.float64)
                d = np.sqrt(((x[:, None] - x[None]) ** 2).sum(-1))
                np.fill_diagonal(d, np.inf)
                total += d.min(1).sum()
                count += len(x)
    return total / count


def run(cmd, **kw):
    print("$", " ".join(cmd), flush=True)
    subprocess.run(cmd, check=True, **kw)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lb-python", default=os.path.join(ROOT, "build", "interop-venv", "bin", "python"))
    parser.add_argument("--out", default=os.path.join(ROOT, "build", "interop"))
    parser.add_argument("--steps", type=int, default=20, help="LagrangeBench training steps")
    parser.add_argument("--rollout", type=int, default=30, help="rollout steps")
    parser.add_argument("--strides", type=int, nargs="+", default=[1, 10])
    args = parser.parse_args()

    from simengine.io import Trajectory, load_split, read_metadata, write_dataset

    t0 = time.time()
    args.out, lb_python = os.path.abspath(args.out), os.path.abspath(args.lb_python)
    if not os.path.exists(lb_python):
        print(f"interop: no LagrangeBench environment at {args.lb_python}; `make interop` builds it")
        return 1
    if os.path.exists(args.out):
        shutil.rmtree(args.out)
    data, work = os.path.join(args.out, "data"), os.path.join(args.out, "lb")
    simengine = [sys.executable, "-m", "simengine.cli"]
    run([*simengine, "generate", os.path.join(HERE, "water_sand.py"), "--out", data, "--train", "2", "--valid", "1",
         "--test", "2", "--workers", "2", "--quiet"])
    checks = []

    def check(name, ok, detail):
        checks.append(ok)
        print(f"{'PASS' if ok else 'FAIL'}  {name}: {detail}", flush=True)

    meta = read_metadata(data)
    spacing = measured_spacing(data)
    check("metadata dx vs measured spacing", abs(meta["dx"] / spacing - 1) <= 0.10,
          f"dx {meta['dx']:.6g}, measured {spacing:.6g} ({meta['dx'] / spacing - 1:+.2%}; limit 10 %); grid_dx "
          f"{meta.get('grid_dx')}, connectivity radius {meta['default_connectivity_radius']}")

    run([lb_python, os.path.join(HERE, "lb_worker.py"), data, work, "--steps", str(args.steps), "--rollout",
         str(args.rollout), "--strides", *map(str, args.strides)], cwd=args.out)
    lb = json.load(open(os.path.join(work, "lb_result.json")))
    reader = lb["reader"]
    check("LagrangeBench reader", all(r["max_abs_diff"] == 0.0 for r in reader.values()),
          ", ".join(f"{s}: {r['trajectories']} traj, {r['samples']} samples, T {r['sequence_length']}, "
                    f"max |diff| {r['max_abs_diff']:g}" for s, r in reader.items()))
    check("LagrangeBench training", lb["trained"]["finite"],
          f"{lb['trained']['steps']} steps of GNS ({lb['trained']['params']} parameters), finite parameters")
    check("LagrangeBench metadata dx", lb["metadata"]["dx"] == meta["dx"], f"it reads dx = {lb['metadata']['dx']}")

    # LagrangeBench's rollout as a simengine rollout: the input frames and its predictions
    truths = {t.metadata["name"]: t for t in load_split(data, "test")}
    with np.load(os.path.join(work, "lb_rollout.npz")) as f:
        names = [str(n) for n in f["names"]]
        preds = [Trajectory(f[f"rollout_{i}"], truths[n].particle_type, dt=truths[n].dt,
                            metadata={"name": n, "rollout_start": INPUT}) for i, n in enumerate(names)]
    exact = all(np.array_equal(p.position, np.load(os.path.join(work, "lb_rollout.npz"))[f"rollout_{i}"])
                for i, p in enumerate(preds))
    check("rollout stored exactly", exact, "float32 positions written to h5 unchanged")
    rollout = os.path.join(args.out, "rollout")
    write_dataset(rollout, {"test": preds}, {"simengine_output": "rollout"}, statistics=False)

    for stride in args.strides:
        out = os.path.join(args.out, f"compare_stride{stride}")
        run([*simengine, "compare", "--pred", rollout, "--truth", data, "--split", "test", "--stride", str(stride),
             "--gifs", "0", "--out", out, "--quiet"])
        ours = json.load(open(os.path.join(out, "metrics.json")))
        theirs = lb["metrics"][str(stride)]
        by_name = {t["name"]: t["prediction"] for t in ours["trajectories"]}
        worst = {"mse": 0.0, "mse_n": 0.0, "sinkhorn": 0.0, "e_kin": 0.0}
        figures = []
        for i, name in enumerate(names):
            lbm, sem = theirs[f"rollout_{i}"], by_name[name]
            rel = np.abs(np.array(sem["per_step"]) / np.array(lbm["mse"]) - 1)
            worst["mse"] = max(worst["mse"], float(rel.max()))
            for key, value in lbm.items():
                if key.startswith("mse") and key != "mse":
                    n = key[3:]
                    if n not in sem["mse"]:
                        worst["mse_n"] = np.inf
                    else:
                        worst["mse_n"] = max(worst["mse_n"], abs(sem["mse"][n] / value - 1))
            extra = set(sem["mse"]) - {k[3:] for k in lbm if k.startswith("mse") and k != "mse"} - {"all"}
            if extra:
                worst["mse_n"] = np.inf
            worst["sinkhorn"] = max(worst["sinkhorn"], abs(sem["sinkhorn"] / np.mean(lbm["sinkhorn"]) - 1))
            worst["e_kin"] = max(worst["e_kin"], abs(sem["kinetic_energy_mse"] / lbm["e_kin_mse"] - 1))
            figures.append(f"{name}: MSE{args.rollout} {np.mean(lbm['mse']):.4e} vs {np.mean(sem['per_step']):.4e}, "
                           f"Sinkhorn {np.mean(lbm['sinkhorn']):.5e} vs {sem['sinkhorn']:.5e}, "
                           f"e_kin MSE {lbm['e_kin_mse']:.5e} vs {sem['kinetic_energy_mse']:.5e}")
        print(f"  stride {stride} (LagrangeBench vs simengine compare): " + "; ".join(figures))
        check(f"stride {stride}: position MSE per step", worst["mse"] <= 1e-6,
              f"max relative difference {worst['mse']:.2e} over {args.rollout} steps (limit 1e-6)")
        horizons = ", ".join(h for h in ours["summary"]["prediction"]["mse"] if h != "all")
        check(f"stride {stride}: mse{{n}} horizons", worst["mse_n"] <= 1e-6,
              f"same horizons (mse{horizons.replace(', ', ', mse')}), max relative difference {worst['mse_n']:.2e}")
        check(f"stride {stride}: Sinkhorn", worst["sinkhorn"] <= 0.01,
              f"max relative difference {worst['sinkhorn']:.2e} (limit 1 %)")
        check(f"stride {stride}: e_kin MSE", worst["e_kin"] <= 0.01,
              f"max relative difference {worst['e_kin']:.2e} (limit 1 %)")
    print(f"interop: {sum(checks)}/{len(checks)} checks passed in {time.time() - t0:.0f} s")
    return 0 if all(checks) else 1


if __name__ == "__main__":
    sys.exit(main())
