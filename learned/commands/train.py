"""`simengine train MODEL --data DIR --out RUN [--steps N] [--config file.yaml] [--set key=value ...]`.

Resumes from ``RUN/checkpoints/last.pt`` when present (same model, config and dataset), unless ``--fresh``;
``--config RUN/config.yaml`` (the file a run writes) is accepted. Ctrl-C or SIGTERM saves ``last.pt`` at
the step reached and exits with 130 (143 for SIGTERM); running the same command again resumes.
Registered as a `simengine` command through the ``simengine.commands`` entry point ``train``.

Several processes (data-parallel, `learned.train.distributed`)::

    python -m torch.distributed.run --standalone --nproc_per_node=2 -m simengine train gns --data D --out RUN

Rank 0 prints and writes; the other ranks stay silent and exit with rank 0's status. A user error every rank
meets alike (a setting, the data, a batch size that does not divide among the processes) is printed once, by
rank 0.
"""

HELP = "train a learned simulator"


def add_arguments(parser):
    parser.add_argument("model", help="registered model name (e.g. gns, meshgraphnets)")
    parser.add_argument("--data", required=True, help="dataset folder (train.h5, valid.h5, metadata.json)")
    parser.add_argument("--out", required=True, help="run folder: checkpoints, metrics.csv, config.yaml")
    parser.add_argument("--steps", type=int, default=None, help="total training steps (overrides the config)")
    parser.add_argument("--config", default=None,
                        help="YAML file with 'model:' and 'train:' sections (or a run's config.yaml)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="SECTION.KEY=VALUE",
                        help="override one config entry, e.g. --set model.latent=64 --set train.lr=1e-3")
    parser.add_argument("--fresh", action="store_true", help="discard checkpoints in RUN and start over")
    parser.add_argument("--allow-other-data", action="store_true",
                        help="resume RUN on a dataset other than the one it was trained on")
    parser.add_argument("--overwrite", action="store_true",
                        help="let RUN replace config.yaml/metrics.csv/checkpoints that simengine did not write")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def parse_overrides(items, config: dict, model: str | None = None) -> dict:
    """Apply ``section.key=value`` strings (values parsed as YAML) to ``config`` in place.

    With ``model``, a key the model does not have, or an unknown train key, is refused naming the allowed ones
    (types are checked by `learned.train.config` when the run is set up)."""
    import yaml

    from learned.train.config import TRAIN_DEFAULTS
    from simengine.errors import InputError

    for item in items:
        key, sep, value = item.partition("=")
        section, dot, name = key.partition(".")
        if not sep or not dot or section not in ("model", "train") or not name:
            bare = key if not dot else name
            hint = ""
            if model is not None and bare in _model_defaults(model):
                hint = f"; did you mean model.{bare}?"
            elif bare in TRAIN_DEFAULTS:
                hint = f"; did you mean train.{bare}?"
            raise InputError(f"--set {item!r}: expected model.KEY=VALUE or train.KEY=VALUE{hint}")
        if section == "train" and name not in TRAIN_DEFAULTS:
            raise InputError(f"--set {item!r}: unknown train key {name!r}; allowed: {sorted(TRAIN_DEFAULTS)}")
        if section == "model" and model is not None:
            defaults = _model_defaults(model)
            if name not in defaults:
                raise InputError(f"--set {item!r}: model {model!r} has no key {name!r}; allowed: {sorted(defaults)}")
        try:
            config[section][name] = yaml.safe_load(value)
        except yaml.YAMLError as exc:
            reason = " ".join(str(exc).split())
            raise InputError(f"--set {item!r}: the value is not valid YAML ({reason[:120]})") from None
    return config


def _model_defaults(model: str) -> dict:
    import learned

    return learned.get(model).defaults


def main(args) -> int:
    from learned.train.distributed import PeerFailed, World, shutdown
    from simengine.errors import DatasetError, InputError, SimulationError

    world = World.from_env()
    try:
        return _main(args, world)
    except PeerFailed:
        return 1  # rank 0 failed and says why
    except (InputError, DatasetError, SimulationError):
        if world.main:
            raise
        return 1  # the same error on every rank: rank 0 prints it
    finally:
        shutdown()


def _main(args, world) -> int:
    import sys

    import learned
    from learned.train import Trainer, load_config_file
    from learned.train.trainer import SIGNAL_NAMES, Interrupted
    from simengine.errors import InputError

    if args.model not in learned.available():
        raise InputError(f"model = {args.model!r} is not registered; available: {learned.available()}")
    config = load_config_file(args.config)
    run_model = config.pop("model_name", args.model)
    if run_model != args.model:
        raise InputError(f"--config {args.config} is the config of a {run_model!r} run, not of {args.model!r}")
    config = parse_overrides(args.overrides, config, model=args.model)
    if args.steps is not None:
        config["train"]["steps"] = args.steps
    trainer = Trainer(args.model, args.data, args.out, model_config=config["model"],
                      train_overrides=config["train"], fresh=args.fresh, progress=not args.quiet,
                      allow_other_data=args.allow_other_data, overwrite=args.overwrite)
    if trainer.step and world.main:
        print(f"resuming {args.out} at step {trainer.step}")
    try:
        row = trainer.run()
    except Interrupted as stop:
        what = (f"saved step {stop.step} to {stop.saved}" if stop.saved else
                f"the checkpoint of step {stop.kept} is kept" if stop.kept is not None else "no checkpoint was written")
        if world.main:
            print(f"simengine train: interrupted ({SIGNAL_NAMES.get(stop.signum, stop.signum)}); {what}; run the same "
                  f"command again to resume", file=sys.stderr)
        return 128 + int(stop.signum)  # the shell's code for a death by that signal: 130 SIGINT, 143 SIGTERM
    if world.main:
        shown = ", ".join(f"{k} {v:.4g}" for k, v in row.items() if isinstance(v, float))
        processes = f" on {world.size} processes" if world.distributed else ""
        print(f"trained {args.model} to step {trainer.step}{processes} ({shown}); checkpoints in "
              f"{args.out}/checkpoints")
    return 0
