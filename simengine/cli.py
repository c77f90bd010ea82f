"""The `simengine` command line.

Built-in subcommands live in their own modules under `simengine.commands` (table `COMMANDS`); other
packages add theirs through the ``simengine.commands`` entry-point group (``learned`` registers ``train``
and ``rollout`` in pyproject.toml), so `simengine` never imports them by name. Every command module
exposes ``add_arguments(parser)``, ``main(args) -> int`` and, for entry points, a one-line ``HELP``.
A command's module is imported only when that command is used (or, for entry points, when
``simengine --help`` lists them).
"""
import argparse
import importlib
import sys

# Built-in commands: name -> (module, one-line help)
COMMANDS = {
    "run": ("simengine.commands.run", "run a scene script and write its trajectory and previews"),
    "generate": ("simengine.commands.generate", "generate a dataset from a scene script in parallel workers"),
    "inspect": ("simengine.commands.inspect", "validate a dataset and print a summary"),
    "compare": ("simengine.commands.compare", "compare predicted against ground-truth trajectories"),
    "export": ("simengine.commands.export", "write a dataset in another code's layout (gns: .npz + metadata.json)"),
    "migrate": ("simengine.commands.migrate", "update an old dataset's metadata.json (dx = particle spacing)"),
    "render": ("simengine.commands.render", "render multi-view RGB, mask and depth videos of a trajectory's bodies"),
    "track": ("simengine.commands.track", "track a multi-view video's object with dynamic 3D Gaussians, score it"),
}
# Entry-point group through which other packages add commands (value: a module path).
ENTRY_POINT_GROUP = "simengine.commands"


def plugin_commands() -> dict:
    """name -> `importlib.metadata.EntryPoint` of the commands other packages register (not loaded).

    A name taken by a built-in command stays the built-in one.
    """
    from importlib.metadata import entry_points

    found = {}
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if ep.name not in COMMANDS:
            found.setdefault(ep.name, ep)
    return dict(sorted(found.items()))


def help_text(module) -> str:
    """A command module's one-line help: its ``HELP``, else its docstring's first line."""
    text = getattr(module, "HELP", None) or (getattr(module, "__doc__", None) or "").strip()
    return text.splitlines()[0] if text else ""


def main(argv=None) -> int:
    from simengine.errors import DatasetError, InputError, SimulationError

    argv = sys.argv[1:] if argv is None else list(argv)
    parser = argparse.ArgumentParser(prog="simengine", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    listing = not argv or argv[0] in ("-h", "--help")
    for name, (module, help_line) in COMMANDS.items():
        p = sub.add_parser(name, help=help_line, description=help_line)
        p.set_defaults(_module=module)
        if argv[:1] == [name]:
            importlib.import_module(module).add_arguments(p)
    for name, ep in plugin_commands().items():
        module, help_line = None, None
        if listing or argv[:1] == [name]:
            try:
                module = ep.load()
                help_line = help_text(module)
            except Exception as exc:  # a broken plugin must not break the other commands
                if argv[:1] == [name]:
                    print(f"simengine {name}: error: cannot load {ep.value!r} (entry point of "
                          f"{ENTRY_POINT_GROUP!r}): {type(exc).__name__}: {exc}", file=sys.stderr)
                    return 1
                help_line = f"(unavailable: cannot load {ep.value}: {type(exc).__name__})"
        kwargs = {} if help_line is None else {"help": help_line, "description": help_line}
        p = sub.add_parser(name, **kwargs)
        p.set_defaults(_module=module if module is not None else ep.value)
        if module is not None and argv[:1] == [name]:
            module.add_arguments(p)
    args = parser.parse_args(argv)
    if not args.command:
        parser.print_help()
        return 2
    command = args._module if not isinstance(args._module, str) else importlib.import_module(args._module)
    try:
        return int(command.main(args) or 0)
    except (InputError, DatasetError, SimulationError) as exc:
        print(f"simengine {args.command}: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"simengine {args.command}: interrupted; finished work is kept, run again to resume",
              file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader went away (`simengine inspect --json | head`): stop quietly
        import os

        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # nothing more reaches the closed pipe at exit either
        return 1


if __name__ == "__main__":
    sys.exit(main())
