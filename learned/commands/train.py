"""`simengine train MODEL --data DIR --out RUN [--steps N] [--config file.yaml] [--set key=value ...]`.

Resumes from ``RUN/checkpoints/last.pt`` when present (same model and config), unless ``--fresh``.
Registered as a `simengine` command through the ``simengine.commands`` entry point ``train``.
"""

HELP = "train a learned simulator"


def add_arguments(parser):
    parser.add_argument("model", help="registered model name (e.g. gns, meshgraphnets)")
    parser.add_argument("--data", required=True, help="dataset folder (train.h5, valid.h5, metadata.json)")
    parser.add_argument("--out", required=True, help="run folder: checkpoints, metrics.csv, config.yaml")
    parser.add_argument("--steps", type=int, default=None, help="total training steps (overrides the config)")
    parser.add_argument("--config", default=None, help="YAML file with 'model:' and 'train:' sections")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="SECTION.KEY=VALUE",
                        help="override one config entry, e.g. --set model.latent=64 --set train.lr=1e-3")
    parser.add_argument("--fresh", action="store_true", help="discard checkpoints in RUN and start over")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def parse_overrides(items, config: dict) -> dict:
    """Apply ``section.key=value`` strings (values parsed as YAML) to ``config`` in place."""
    import yaml

    from simengine.errors import InputError

    for item in items:
        key, sep, value = item.partition("=")
        section, dot, name = key.partition(".")
        if not sep or not dot or section not in ("model", "train"):
            raise InputError(f"--set {item!r}: expected model.KEY=VALUE or train.KEY=VALUE")
        config[section][name] = yaml.safe_load(value)
    return config


def main(args) -> int:
    import learned
    from learned.train import Trainer, load_config_file
    from simengine.errors import InputError

    if args.model not in learned.available():
        raise InputError(f"model = {args.model!r} is not registered; available: {learned.available()}")
    config = parse_overrides(args.overrides, load_config_file(args.config))
    if args.steps is not None:
        config["train"]["steps"] = args.steps
    trainer = Trainer(args.model, args.data, args.out, model_config=config["model"],
                      train_overrides=config["train"], fresh=args.fresh, progress=not args.quiet)
    if trainer.step:
        print(f"resuming {args.out} at step {trainer.step}")
    row = trainer.run()
    shown = ", ".join(f"{k} {v:.4g}" for k, v in row.items() if isinstance(v, float))
    print(f"trained {args.model} to step {trainer.step} ({shown}); checkpoints in {args.out}/checkpoints")
    return 0
