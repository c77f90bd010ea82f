"""Judging a learned MD forecaster against reference MD over the same physical time.

`simengine compare` hands datasets whose metadata says ``simulator: md`` (or, before that key, ``kind: md``)
to `write_md_comparison`, which reports, per trajectory and averaged:

* position error (minimum image, Å²) per forecast step at the LagrangeBench horizons, beside the
  constant-velocity forecast x(t₀) + v(t₀)·t from the same initial state;
* radial distribution function g(r), velocity autocorrelation, mean-squared displacement and the Einstein
  diffusion coefficient, kinetic temperature, and total-energy drift (the reference potential evaluated
  on the predicted states) — each for prediction and reference over the same frames;
* the forecast interval and its multiple of the MD time step; divergences with their step and reason.
"""
from __future__ import annotations

import json
import os

import numpy as np

from simengine.errors import InputError
from simengine.md import analysis
from simengine.md.box import Box

HORIZONS = (1, 5, 10, 20, 50, 100)


def _window(traj, start):
    """Frames start−1 .. end: the initial state and the forecast frames."""
    return traj.position[start - 1:].astype(np.float64), traj.extras["velocity"][start - 1:].astype(np.float64)


def compare_md_trajectory(pred, truth, start: int, rdf_every: int = 5, energies: bool = True) -> dict:
    """Metrics of one predicted MD trajectory against its reference (see the module docstring)."""
    if pred.num_particles != truth.num_particles:
        raise InputError(f"prediction has {pred.num_particles} atoms, reference {truth.num_particles}")
    if "velocity" not in pred.extras:
        raise InputError("an MD prediction needs predicted velocities (key 'velocity')")
    frames = min(pred.num_frames, truth.num_frames)
    if not 1 <= start < frames:
        raise InputError(f"start = {start} is outside the allowed range [1, {frames - 1}]")
    cell = np.asarray(truth.extras["cell"], dtype=np.float64).reshape(-1, 3, 3)[0]
    box = Box(cell)
    tau = float(truth.dt)
    xp, vp = _window(pred, start)
    xt, vt = _window(truth, start)
    xp, vp, xt, vt = xp[:frames - start + 1], vp[:frames - start + 1], xt[:frames - start + 1], vt[:frames - start + 1]
    steps = np.arange(1, len(xt))
    baseline = xt[0] + vt[0] * (steps * tau)[:, None, None]
    err = {"prediction": (box.minimum_image(xp[1:] - xt[1:]) ** 2).mean(axis=(1, 2)),
           "constant_velocity": (box.minimum_image(baseline - xt[1:]) ** 2).mean(axis=(1, 2))}
    out = {"name": truth.metadata.get("name"), "steps": int(len(steps)),
           "diverged_at": pred.metadata.get("diverged_at"), "reason": pred.metadata.get("divergence_reason"),
           "position_mse": {k: {str(h): float(e[:h].mean()) for h in HORIZONS if h <= len(e)} | {"all": float(e.mean())}
                            for k, e in err.items()},
           "position_mse_per_step": {k: e.tolist() for k, e in err.items()}}
    masses = np.asarray(truth.extras["mass"], dtype=np.float64)
    lag = min(len(steps), max(10, len(steps) // 2))
    for key, (x, v) in {"prediction": (xp, vp), "reference": (xt, vt)}.items():
        r, g = analysis.radial_distribution(x[1::rdf_every], cell, r_max=min(10.0, box.half_width), bins=80)
        msd = analysis.mean_squared_displacement(analysis.unwrap(x, cell), lag)
        temperature = analysis.temperatures(v[1:], masses)
        entry = {"rdf": g.tolist(), "vacf": analysis.velocity_autocorrelation(v[1:], lag).tolist(), "msd": msd.tolist(),
                 "diffusion_A2_per_fs": analysis.diffusion_coefficient(msd, tau),
                 "temperature": temperature.tolist(), "temperature_mean": float(temperature.mean()),
                 "temperature_std": float(temperature.std())}
        if energies:
            potential, kinetic = analysis.energies(truth, x, v)
            entry.update(total_energy=(potential + kinetic).tolist(),
                         **analysis.energy_drift(potential + kinetic, tau, truth.num_particles))
        out[key] = entry
    out["r"] = r.tolist()
    pred_g, true_g = np.asarray(out["prediction"]["rdf"]), np.asarray(out["reference"]["rdf"])
    out["rdf_error"] = {"max_abs": float(np.abs(pred_g - true_g).max()),
                        "rms": float(np.sqrt(((pred_g - true_g) ** 2).mean())),
                        "first_peak_height": [float(pred_g.max()), float(true_g.max())]}
    out["temperature_error"] = out["prediction"]["temperature_mean"] - out["reference"]["temperature_mean"]
    return out


def summarise(results, meta: dict) -> dict:
    """Averages over trajectories, plus the forecast interval as a multiple of the MD step."""
    def mean(get):
        values = [get(r) for r in results]
        return float(np.mean(values)) if values and all(v is not None for v in values) else None

    md_dt = meta.get("timestep_fs")
    tau = meta.get("forecast_interval_fs")
    summary = {"forecast_interval_fs": tau, "md_timestep_fs": md_dt,
               "forecast_multiple_of_md_step": (tau / md_dt) if tau and md_dt else None,
               "trajectories": len(results), "forecast_steps": mean(lambda r: r["steps"]),
               "simulated_time_fs": mean(lambda r: r["steps"] * (tau or 0.0))}
    for key in ("prediction", "constant_velocity"):
        summary[f"position_mse_{key}"] = {h: mean(lambda r, h=h, key=key: r["position_mse"][key].get(h))
                                          for h in results[0]["position_mse"][key]}
    for key in ("prediction", "reference"):
        summary[key] = {m: mean(lambda r, m=m, key=key: r[key].get(m)) for m in
                        ("temperature_mean", "temperature_std", "diffusion_A2_per_fs", "drift_ev_per_atom_per_ps",
                         "max_excursion_ev_per_atom")}
    summary["rdf_error_rms"] = mean(lambda r: r["rdf_error"]["rms"])
    summary["rdf_error_max"] = mean(lambda r: r["rdf_error"]["max_abs"])
    summary["temperature_error_K"] = mean(lambda r: r["temperature_error"])
    summary["diverged"] = [{"name": r["name"], "step": r["diverged_at"], "reason": r["reason"]}
                           for r in results if r["diverged_at"]]
    return summary


def plot_md(results, path: str) -> str:
    """One figure: g(r), VACF, MSD, temperature and total energy, prediction against reference."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    r0 = results[0]
    fig, axes = plt.subplots(1, 5, figsize=(19, 3.6), dpi=100)
    series = [("rdf", "g(r)", r0["r"]), ("vacf", "VACF", None), ("msd", "MSD (Å²)", None),
              ("temperature", "T (K)", None), ("total_energy", "E_total (eV)", None)]
    for ax, (key, label, x) in zip(axes, series):
        for who, style in (("reference", "-"), ("prediction", "--")):
            y = r0[who].get(key)
            if y is not None:
                ax.plot(x if x is not None else np.arange(len(y)), y, style, label=who)
        ax.set_title(label)
        ax.set_xlabel("r (Å)" if key == "rdf" else "forecast step")
    axes[0].legend()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def write_md_comparison(preds, truths, out_dir: str, *, title: str = "MD forecast comparison", start=None,
                        progress: bool = True, **_ignored) -> dict:
    """Compare paired lists of MD trajectories; writes metrics.json, md_observables.png, report.html."""
    from tqdm.auto import tqdm

    from simengine.report import image, write_report

    by_name = {t.metadata.get("name"): t for t in truths}
    results = []
    for i, pred in enumerate(tqdm(preds, desc="compare md", unit="traj", disable=not progress)):
        truth = by_name.get(pred.metadata.get("name"), truths[min(i, len(truths) - 1)])
        s = start if start is not None else pred.metadata.get("rollout_start")
        if s is None:
            raise InputError(f"prediction {pred.metadata.get('name')!r} does not record rollout_start; pass --start")
        results.append(compare_md_trajectory(pred, truth, int(s)))
    metrics = {"summary": summarise(results, truths[0].metadata), "trajectories": results}
    if len(results) > 1:  # sampling noise of g(r): two independent reference trajectories differ this much
        a, b = (np.asarray(r["reference"]["rdf"]) for r in results[:2])
        metrics["summary"]["rdf_reference_spread_rms"] = float(np.sqrt(((a - b) ** 2).mean()))
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, "metrics.json"), "w") as f:
        json.dump(metrics, f, indent=1, default=lambda o: None)
    plot_md(results, os.path.join(out_dir, "md_observables.png"))
    text = summary_text(metrics["summary"])
    write_report(os.path.join(out_dir, "report.html"), title,
                 [("Summary", "<pre>" + text + "</pre>"),
                  ("Observables (first trajectory)", image("md_observables.png"))])
    metrics["text"] = text
    return metrics


def summary_text(s: dict) -> str:
    def fmt(v, spec=".3e"):
        return "–" if v is None else format(v, spec)

    p, r = s["prediction"], s["reference"]
    lines = [f"forecast interval {fmt(s['forecast_interval_fs'], 'g')} fs = "
             f"{fmt(s['forecast_multiple_of_md_step'], 'g')}"
             f" x MD step; {fmt(s['forecast_steps'], '.0f')} forecast steps = {fmt(s['simulated_time_fs'], '.0f')} fs"]
    for h, v in s["position_mse_prediction"].items():
        lines.append(f"position MSE (Å², min. image) h={h:>4}: prediction {fmt(v)}   constant velocity "
                     f"{fmt(s['position_mse_constant_velocity'].get(h))}")
    lines += [f"temperature (K): prediction {fmt(p['temperature_mean'], '.2f')} ± {fmt(p['temperature_std'], '.2f')}, "
              f"reference {fmt(r['temperature_mean'], '.2f')} ± {fmt(r['temperature_std'], '.2f')}",
              f"g(r) error: RMS {fmt(s['rdf_error_rms'], '.4f')}, max {fmt(s['rdf_error_max'], '.4f')} (two reference "
              f"trajectories differ by RMS {fmt(s.get('rdf_reference_spread_rms'), '.4f')})",
              f"diffusion (Å²/fs): prediction {fmt(p['diffusion_A2_per_fs'])}, "
              f"reference {fmt(r['diffusion_A2_per_fs'])}",
              f"energy drift (eV/atom/ps): prediction {fmt(p['drift_ev_per_atom_per_ps'])}, reference "
              f"{fmt(r['drift_ev_per_atom_per_ps'])}; max |E−E0| (eV/atom): prediction "
              f"{fmt(p['max_excursion_ev_per_atom'])}, reference {fmt(r['max_excursion_ev_per_atom'])}"]
    for d in s["diverged"]:
        lines.append(f"diverged: {d['name']} at step {d['step']} ({d['reason']})")
    return "\n".join(lines)
