"""`simengine compare RUN --data DIR --split test`, or `simengine compare --pred A --truth B`.

Writes ``metrics.json``, ``error_vs_step.png``, side-by-side GIFs and ``report.html`` into
``RUN/compare`` (or ``--out``). A and B are dataset folders (read at ``--split``) or h5 files.
"""

# Dataset kinds (metadata "kind") with their own comparison, "module:function(preds, truths, out, ...)".
KIND_COMPARISONS = {"md": "simengine.md.compare:write_md_comparison"}


def add_arguments(parser):
    parser.add_argument("run", nargs="?", default=None, help="run folder whose RUN/rollout/<split>.h5 to compare")
    parser.add_argument("--data", default=None, help="ground-truth dataset folder (with RUN)")
    parser.add_argument("--split", default="test", choices=("train", "valid", "test"))
    parser.add_argument("--pred", default=None, help="predicted trajectories: dataset folder or h5 file")
    parser.add_argument("--truth", default=None, help="ground-truth trajectories: dataset folder or h5 file")
    parser.add_argument("--out", default=None, help="output folder (default RUN/compare or PRED_compare)")
    parser.add_argument("--start", type=int, default=None,
                        help="first predicted frame (default: the prediction's rollout_start)")
    parser.add_argument("--gifs", type=int, default=2, help="side-by-side animations to write (default 2)")
    parser.add_argument("--stride", type=int, default=10, help="Chamfer/Sinkhorn on every k-th frame (10)")
    parser.add_argument("--max-points", type=int, default=512, help="particles used by Chamfer/Sinkhorn (512)")
    parser.add_argument("--epsilon", type=float, default=None, help="Sinkhorn ε (default 0.05 x mean cost)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def main(args) -> int:
    import os

    from learned.data import load_split
    from simengine.errors import InputError
    from simengine.report import write_comparison

    if args.run is not None:
        if args.data is None or args.pred or args.truth:
            raise InputError("compare RUN needs --data DIR (and no --pred/--truth)")
        pred_src = os.path.join(args.run, "rollout")
        if not os.path.exists(os.path.join(pred_src, f"{args.split}.h5")):
            raise InputError(f"no rollout at {pred_src}/{args.split}.h5; run `simengine rollout {args.run} "
                             f"--data {args.data} --split {args.split}` first")
        truth_src, out = args.data, args.out or os.path.join(args.run, "compare")
    else:
        if not (args.pred and args.truth):
            raise InputError("give RUN --data DIR, or both --pred A and --truth B")
        pred_src, truth_src = args.pred, args.truth
        out = args.out or (os.path.join(pred_src, "compare") if os.path.isdir(pred_src)
                           else os.path.splitext(pred_src)[0] + "_compare")
    preds, truths = load_split(pred_src, args.split), load_split(truth_src, args.split)
    start = args.start
    kind = truths[0].metadata.get("kind")
    if kind in KIND_COMPARISONS:  # e.g. MD: structure, dynamics and energy beside positions
        import importlib

        module, function = KIND_COMPARISONS[kind].split(":")
        metrics = getattr(importlib.import_module(module), function)(
            preds, truths, out, title=f"{pred_src} vs {truth_src} ({args.split})", start=start,
            progress=not args.quiet)
        print(metrics["text"])
        print(f"wrote {out}/metrics.json and {out}/report.html")
        return 0
    if start is None and any("rollout_start" not in p.metadata for p in preds):
        raise InputError(f"{pred_src} does not record where its rollout starts; pass --start FRAME")
    metrics = write_comparison(preds, truths, out, title=f"{pred_src} vs {truth_src} ({args.split})",
                               start=start, gifs=args.gifs, stride=args.stride, max_points=args.max_points,
                               epsilon=args.epsilon, progress=not args.quiet)
    pred, base = metrics["summary"]["prediction"]["mse"], metrics["summary"]["constant_velocity"]["mse"]
    for h in pred:
        print(f"MSE{h:>4}: prediction {pred[h]:.3e}   constant velocity {base[h]:.3e}")
    if metrics["diverged"]:
        print(f"diverged: {metrics['diverged']}")
    print(f"wrote {out}/metrics.json and {out}/report.html")
    return 0
