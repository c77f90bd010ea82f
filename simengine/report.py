"""Comparison report: the error-vs-step plot, the metrics table, animations, one ``report.html``.

The HTML is a single self-contained page (images and GIFs referenced by relative paths beside it),
written with the standard library only. Every table row shows the prediction next to the
constant-velocity baseline, and the better of the two is set in bold.
"""
from __future__ import annotations

import html
import os

import numpy as np

STYLE = """body{font-family:sans-serif;max-width:1100px;margin:2em auto;color:#222}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 10px;text-align:right}
th{background:#f3f3f3}td.name{text-align:left}.bad{color:#b00}img{max-width:100%}
.gifs{display:flex;flex-wrap:wrap;gap:12px}.note{color:#555}"""

LABELS = {"prediction": "prediction", "constant_velocity": "constant velocity",
          "constant_position": "constant position"}


def plot_error_vs_step(metrics: dict, path: str, title: str = "position MSE vs rollout step") -> str:
    """Mean position MSE per rollout step (log scale), prediction and baseline, horizons marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.0), dpi=110)
    for key, style in zip(metrics["per_step"], ("-", "--", ":", "-.")):
        curve = np.asarray(metrics["per_step"][key], dtype=float)
        ax.plot(np.arange(1, len(curve) + 1), np.maximum(curve, 1e-30), style, label=LABELS.get(key, key))
    for h in metrics["summary"]["prediction"]["mse"]:
        if h != "all":
            ax.axvline(int(h), color="#ddd", lw=0.8, zorder=0)
    ax.set_yscale("log")
    ax.set_xlabel("rollout step")
    ax.set_ylabel("position MSE (mean over particles and axes)")
    ax.set_title(title)
    ax.legend()
    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path


def plot_training_curve(csv_path: str, path: str) -> str | None:
    """Training loss and validation rollout MSE against step from a run's ``metrics.csv``."""
    import csv

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if not os.path.exists(csv_path):
        return None
    with open(csv_path) as f:
        rows = list(csv.DictReader(f))
    if not rows:
        return None
    fig, ax = plt.subplots(figsize=(6.4, 3.6), dpi=110)
    steps = [int(r["step"]) for r in rows]
    ax.plot(steps, [float(r["loss"]) for r in rows], label="training loss (normalised)")
    val = [(int(r["step"]), float(r["val_rollout_mse"])) for r in rows if r.get("val_rollout_mse")]
    if val:
        ax2 = ax.twinx()
        ax2.plot(*zip(*val), "o-", color="C1", label="validation rollout MSE")
        ax2.set_yscale("log")
        ax2.set_ylabel("validation rollout MSE")
        ax2.legend(loc="upper center")
    ax.set_yscale("log")
    ax.set_xlabel("training step")
    ax.set_ylabel("training loss")
    ax.legend(loc="upper right")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def _fmt(value) -> str:
    return "–" if value is None or (isinstance(value, float) and not np.isfinite(value)) else f"{value:.3e}"


def metrics_table(metrics: dict) -> str:
    """HTML table: one row per figure, columns prediction / each baseline / best baseline ÷ prediction."""
    summary = metrics["summary"]
    pred = summary["prediction"]
    bases = [k for k in summary if k != "prediction"]
    rows = [(f"position MSE, horizon {h}" if h != "all" else "position MSE, whole rollout",
             pred["mse"][h], [summary[b]["mse"].get(h) for b in bases]) for h in pred["mse"]]
    rows += [(f"mean distance error, horizon {h}" if h != "all" else "mean distance error, whole rollout",
              pred["mde"][h], [summary[b]["mde"].get(h) for b in bases]) for h in pred.get("mde", {})]
    for name, key in (("Sinkhorn divergence", "sinkhorn"), ("kinetic-energy MSE", "kinetic_energy_mse"),
                      ("Chamfer distance (simengine)", "chamfer"), ("earth mover's distance (simengine)", "emd"),
                      ("Sinkhorn divergence, last frame (simengine)", "sinkhorn_last")):
        if key in pred:
            rows.append((name, pred[key], [summary[b].get(key) for b in bases]))
    out = ["<table><tr><th>figure (lower is better)</th><th>prediction</th>"
           + "".join(f"<th>{html.escape(LABELS.get(b, b))}</th>" for b in bases)
           + "<th>best baseline / prediction</th></tr>"]
    for name, p, others in rows:
        known = [b for b in others if b is not None]
        best = min(known) if known else None
        better = p is not None and best is not None and p <= best
        ratio = best / p if p and best is not None and p > 0 else None
        cells = [f"<b>{_fmt(p)}</b>" if better else _fmt(p)]
        cells += [f"<b>{_fmt(b)}</b>" if not better and b is not None and b == best else _fmt(b) for b in others]
        out.append(f"<tr><td class=name>{html.escape(name)}</td>" + "".join(f"<td>{c}</td>" for c in cells)
                   + f"<td>{'–' if ratio is None else f'{ratio:.1f}×'}</td></tr>")
    out.append("</table>")
    return "\n".join(out)


def divergence_note(metrics: dict) -> str:
    if not metrics["diverged"]:
        return "<p class=note>No rollout diverged.</p>"
    items = "".join(f"<li>{html.escape(str(d['name']))}: step {d['step']} ({html.escape(str(d['reason']))})</li>"
                    for d in metrics["diverged"])
    return ("<p class=bad>Diverged rollouts (frames after the divergence repeat the last valid one):</p>"
            f"<ul>{items}</ul>")


def write_report(path: str, title: str, sections) -> str:
    """Write an HTML page of ``sections``: (heading, inner HTML) pairs."""
    body = "\n".join(f"<h2>{html.escape(h)}</h2>\n{inner}" for h, inner in sections)
    page = (f"<!doctype html><html><head><meta charset=utf-8><title>{html.escape(title)}</title>"
            f"<style>{STYLE}</style></head><body><h1>{html.escape(title)}</h1>\n{body}\n</body></html>\n")
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w") as f:
        f.write(page)
    return path


def image(relpath: str, caption: str = "") -> str:
    cap = f"<br><span class=note>{html.escape(caption)}</span>" if caption else ""
    return f"<figure><img src=\"{html.escape(relpath)}\">{cap}</figure>"


def _sinkhorn_particles(settings: dict) -> str:
    points = settings.get("sinkhorn_points")
    return "all particles" if not points else (f"NOT LagrangeBench's value: estimated on {points} random particles "
                                               "per trajectory, the same in every frame")


def compare_sections(metrics: dict, report_dir: str, plot: str, gifs: list, prefix: str = "") -> list:
    """The comparison's report sections; paths are made relative to ``report_dir``."""
    def rel(p):
        return os.path.relpath(p, report_dir)

    s = metrics["settings"]
    setting = (f"<p class=note>{s['num_trajectories']} trajectories. LagrangeBench's definitions: horizon n is "
               f"the mean MSE of rollout steps 1..n (only n below the rollout length); Sinkhorn ("
               f"{_sinkhorn_particles(s)}, "
               f"ε = {'0.05 · mean cost' if s.get('epsilon') is None else s.get('epsilon')}, OTT's solver "
               f"to threshold 1e-4) and kinetic energy (velocities inside the rollout, dx = {s.get('dx'):.4g}) "
               f"on rollout frames 0, s, 2s, … with metrics stride s = {s.get('stride')}. simengine's own: "
               f"Chamfer on the same frames with at most {s.get('max_points') or 'all'} particles, Sinkhorn "
               f"at the last frame.</p>")
    gif_html = "<div class=gifs>" + "".join(image(rel(g), os.path.basename(g)) for g in gifs) + "</div>"
    return [(f"{prefix}Metrics", metrics_table(metrics) + setting + divergence_note(metrics)),
            (f"{prefix}Error vs rollout step", image(rel(plot))),
            (f"{prefix}Prediction (left) and ground truth (right)", gif_html if gifs else
             "<p class=note>no animation written</p>")]


def write_comparison(preds, truths, out_dir: str, *, title: str = "Rollout comparison", start=None,
                     gifs: int = 2, stride: int = 1, max_points: int | None = 512, epsilon=None,
                     progress: bool = True, extra_sections=(), dx: float | None = None, box=None,
                     periodic=None, sinkhorn_points: int | None = None, baselines=("constant_velocity",),
                     emd_points: int | None = None) -> dict:
    """Compare trajectory lists, write ``metrics.json``, ``error_vs_step.png``, GIFs, ``report.html``.

    ``stride``: LagrangeBench's metrics stride (1 at its inference, 10 in its training validation).
    ``sinkhorn_points``: None (every particle, LagrangeBench's definition) or a subsample for a cheaper
    Sinkhorn estimate, stated in the report.
    ``baselines``, ``emd_points``: see `simengine.metrics.compare_trajectory`.
    ``dx``: the dataset's particle spacing (its metadata.json ``dx``) for the kinetic energy; None takes the
    first ground-truth trajectory's own ``dx``, else 1. ``box``/``periodic``: periodic axes (minimum image).
    Returns the metrics (also in ``out_dir/metrics.json``).
    """
    import json

    from simengine.metrics import compare_sets

    truth0 = truths[0]
    dx = float(dx if dx is not None else truth0.metadata.get("dx") or 1.0)
    metrics = compare_sets(preds, truths, start=start, progress=progress, dt=float(truth0.dt), dx=dx,
                           stride=stride, max_points=max_points, epsilon=epsilon, box=box, periodic=periodic,
                           sinkhorn_points=sinkhorn_points, baselines=tuple(baselines), emd_points=emd_points)
    os.makedirs(out_dir, exist_ok=True)
    plot = plot_error_vs_step(metrics, os.path.join(out_dir, "error_vs_step.png"))
    written = []
    if gifs:
        from simengine.preview import side_by_side_gif

        by_name = {t.metadata.get("name"): t for t in truths}
        for i, pred in enumerate(preds[:gifs]):
            truth = by_name.get(pred.metadata.get("name"), truths[min(i, len(truths) - 1)])
            name = pred.metadata.get("name") or f"{i:05d}"
            written.append(side_by_side_gif(pred, truth, os.path.join(out_dir, f"rollout_{name}.gif")))
    with open(os.path.join(out_dir, "metrics.json"), "w") as f:
        json.dump(_json_safe(metrics), f, indent=1)
    sections = list(extra_sections) + compare_sections(metrics, out_dir, plot, written)
    write_report(os.path.join(out_dir, "report.html"), title, sections)
    metrics["files"] = {"plot": plot, "gifs": written, "report": os.path.join(out_dir, "report.html")}
    return metrics


def _json_safe(obj):
    """Non-finite floats become None (strict JSON)."""
    if isinstance(obj, dict):
        return {k: _json_safe(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_json_safe(v) for v in obj]
    if isinstance(obj, float) and not np.isfinite(obj):
        return None
    return obj
