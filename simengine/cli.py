"""The `simengine` command line.

Each subcommand lives in its own module under `simengine.commands` exposing
``add_arguments(parser)`` and ``main(args) -> int``; they are imported only when used.
"""
import argparse
import importlib
import sys

# name -> (module, one-line help)
COMMANDS = {
    "run": ("simengine.commands.run", "run a scene script and write its trajectory and previews"),
    "generate": ("simengine.commands.generate", "generate a dataset from a scene script in parallel workers"),
    "inspect": ("simengine.commands.inspect", "validate a dataset and print a summary"),
    "train": ("simengine.commands.train", "train a learned simulator"),
    "rollout": ("simengine.commands.rollout", "roll a trained model out on a dataset split"),
    "compare": ("simengine.commands.compare", "compare predicted against ground-truth trajectories"),
}


def main(argv=None) -> int:
    from simengine.errors import DatasetError, InputError, SimulationError

    argv = sys.argv[1:] if argv is None else list(argv)
    parser = argparse.ArgumentParser(prog="simengine", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module, help_text) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.set_defaults(_module=module)
        if argv[:1] == [name]:
            importlib.import_module(module).add_arguments(p)
    args = parser.parse_args(argv)
    if not args.command:
        parser.print_help()
        return 2
    try:
        return int(importlib.import_module(args._module).main(args) or 0)
    except (InputError, DatasetError, SimulationError) as exc:
        print(f"simengine {args.command}: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"simengine {args.command}: interrupted; finished work is kept, run again to resume",
              file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
