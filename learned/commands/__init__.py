"""`simengine` subcommands for learned simulators (``train``, ``rollout``), found by `simengine.cli` through
the ``simengine.commands`` entry points in pyproject.toml.

Each module exposes ``HELP`` (one line), ``add_arguments(parser)`` and ``main(args) -> int``; torch and the
models are imported inside ``main`` only, so listing the commands stays cheap.
"""
