"""`simengine rollout RUN --data DIR --split test [--checkpoint best|last|FILE] [--steps N]`.

Writes ``RUN/rollout/<split>.h5`` (+ metadata.json) in the dataset's own format.
Registered as a `simengine` command through the ``simengine.commands`` entry point ``rollout``.
"""

HELP = "roll a trained model out on a dataset split"


def add_arguments(parser):
    parser.add_argument("run", help="run folder written by `simengine train` (or a checkpoint file)")
    parser.add_argument("--data", required=True, help="dataset folder")
    parser.add_argument("--split", default="test", choices=("train", "valid", "test"))
    parser.add_argument("--checkpoint", default="best", help="best (default), last, or a file name")
    parser.add_argument("--steps", type=int, default=None, help="predict at most N steps per trajectory")
    parser.add_argument("--limit", type=int, default=None, help="only the first N trajectories")
    parser.add_argument("--out", default=None, help="output folder (default RUN/rollout)")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace files in --out that simengine did not write (never a dataset or a run)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="model.KEY=VALUE",
                        help="change a rollout-time model setting, e.g. --set model.thermostat_temperature=100")


def main(args) -> int:
    import os

    import torch

    from learned.rollout import rollout_split
    from learned.train import model_from_checkpoint, resolve_checkpoint
    from simengine.errors import check_range
    from simengine.io.outputs import claim_output_dir

    for name in ("steps", "limit"):
        if getattr(args, name) is not None:
            check_range(f"--{name}", getattr(args, name), 1, None)
    torch.set_num_threads(min(2, os.cpu_count() or 1))
    path = resolve_checkpoint(args.run, args.checkpoint)
    if args.overrides:  # rollout-time settings the model allows to differ from training (e.g. a thermostat)
        from learned.commands.train import parse_overrides
        from learned.train.checkpoint import load_checkpoint

        state = load_checkpoint(path)
        state["model_config"].update(parse_overrides(args.overrides, {"model": {}, "train": {}})["model"])
        model = model_from_checkpoint(state)
    else:
        model = model_from_checkpoint(path)
    run_dir = args.run if os.path.isdir(args.run) else os.path.dirname(os.path.dirname(path))
    out = claim_output_dir(args.out or os.path.join(run_dir, "rollout"), "rollout",
                           [f"{args.split}.h5", "metadata.json"], overwrite=args.overwrite, command="simengine rollout")
    preds = rollout_split(model, args.data, args.split, out, steps=args.steps, limit=args.limit,
                          progress=not args.quiet)
    diverged = [p.metadata["name"] for p in preds if p.metadata.get("diverged_at")]
    print(f"wrote {len(preds)} {args.split} rollouts of {model.name} ({os.path.basename(path)}) to "
          f"{out}/{args.split}.h5" + (f"; diverged: {diverged}" if diverged else ""))
    return 0
