"""Layers point one way: ``kernels`` <- ``simengine`` <- ``learned``.

* nothing under ``simengine/`` imports ``learned`` (anywhere in a file, functions included);
* nothing under ``kernels/`` imports ``simengine``, ``learned`` or ``torch``;
* the modules of ``simengine/io`` import each other without a cycle;
* ``learned``'s commands reach the ``simengine`` CLI through entry points, and ``simengine compare``
  dispatches on the dataset's simulator.
"""
from __future__ import annotations

import ast
import os
import subprocess
import sys

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def python_files(package: str):
    for folder, dirs, files in os.walk(os.path.join(ROOT, package)):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__")
        for name in sorted(files):
            if name.endswith(".py"):
                yield os.path.join(folder, name)


def module_name(path: str) -> str:
    parts = os.path.splitext(os.path.relpath(path, ROOT))[0].split(os.sep)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: str):
    """(line, imported module, names) for every import statement in the file, at any depth; relative
    imports resolved against the file's package. ``names`` are the names of a ``from ... import``."""
    with open(path, encoding="utf-8") as f:
        tree = ast.parse(f.read(), filename=path)
    module = module_name(path)
    package = module if path.endswith("__init__.py") else module.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name, ()
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module
            yield node.lineno, target, tuple(alias.name for alias in node.names)


def top(name: str) -> str:
    return name.split(".")[0]


def test_simengine_never_imports_learned():
    bad = [f"{os.path.relpath(p, ROOT)}:{line} imports {target}"
           for p in python_files("simengine") for line, target, _ in imports(p) if top(target) == "learned"]
    assert not bad, "simengine must not import learned (layers: kernels <- simengine <- learned):\n" + "\n".join(bad)


def test_kernels_import_neither_simengine_nor_learned_nor_torch():
    bad = [f"{os.path.relpath(p, ROOT)}:{line} imports {target}"
           for p in python_files("kernels") for line, target, _ in imports(p)
           if top(target) in ("simengine", "learned", "torch")]
    assert not bad, "kernels may import only Warp/NumPy-level code:\n" + "\n".join(bad)


def import_graph(package: str) -> dict:
    """module -> set of modules of the same package it imports (module level and inside functions).

    ``from pkg import name`` counts as importing ``pkg.name`` when that is a module, else ``pkg``
    (its ``__init__``). The implicit import of a parent package is not an edge.
    """
    paths = {module_name(p): p for p in python_files(package.replace(".", os.sep))}
    graph = {m: set() for m in paths}
    for module, path in paths.items():
        for _, target, names in imports(path):
            if target not in paths:
                continue
            submodules = [f"{target}.{n}" for n in names if f"{target}.{n}" in paths]
            if submodules:
                graph[module].update(submodules)
            if not names or len(submodules) < len(names):
                graph[module].add(target)
        graph[module].discard(module)
    return graph


def find_cycle(graph: dict):
    """One cycle of ``graph`` as a list [a, b, ..., a], or None."""
    state, stack = {}, []

    def visit(node):
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == "open":
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state:
                cycle = visit(nxt)
                if cycle:
                    return cycle
        stack.pop()
        state[node] = "done"
        return None

    for node in sorted(graph):
        if node not in state:
            cycle = visit(node)
            if cycle:
                return cycle
    return None


def test_find_cycle_names_the_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == ["a", "b", "c", "a"]


def test_simengine_io_has_no_import_cycle():
    graph = import_graph("simengine.io")
    assert "simengine.io.dataset" in graph and "simengine.io.statistics" in graph["simengine.io.dataset"]
    cycle = find_cycle(graph)
    assert cycle is None, "simengine/io import cycle: " + " -> ".join(cycle)


def test_statistics_is_pure_maths():
    graph = import_graph("simengine.io")
    assert not graph["simengine.io.statistics"] & {"simengine.io", "simengine.io.dataset", "simengine.io.metadata"}


# ----- the CLI: commands from entry points; compare dispatches on the simulator ------------------------------------

def test_help_lists_the_entry_point_commands(capsys):
    from simengine.cli import COMMANDS, main, plugin_commands

    assert {"train", "rollout"} <= set(plugin_commands()) and not {"train", "rollout"} & set(COMMANDS)
    with pytest.raises(SystemExit) as exit_:
        main(["--help"])
    assert exit_.value.code == 0
    listing = capsys.readouterr().out
    for name, text in [("train", "train a learned simulator"), ("rollout", "roll a trained model out"),
                       ("compare", "compare predicted"), ("run", "run a scene script")]:
        assert any(line.split()[:1] == [name] and text in line for line in listing.splitlines()), (name, listing)
    assert main([]) == 2  # no command: the same listing, exit status 2
    assert "train a learned simulator" in capsys.readouterr().out


def test_listing_commands_does_not_import_torch():
    code = ("import sys\nfrom simengine.cli import main\ntry:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
            "print('TORCH' if 'torch' in sys.modules else 'NO TORCH')")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "NO TORCH"


def test_simulator_from_legacy_metadata():
    from simengine.commands.compare import COMPARISONS, compare_md, compare_particles, comparison_for, simulator_of

    assert simulator_of({"simulator": "mpm", "kind": "md"}) == "mpm"
    assert simulator_of({"kind": "md"}) == "md"
    assert simulator_of({"solver": "mls-mpm"}) == "mpm"
    assert simulator_of({"solver": "simengine.nbody (KETJU-style regions)"}) == "nbody"
    assert simulator_of({"solver": "SPH"}) is None and simulator_of({}) is None
    assert COMPARISONS.names() == ["deformables", "fem", "md", "mpm", "nbody"]
    assert comparison_for(None, None) is compare_particles and comparison_for("md", "x") is compare_md
    assert comparison_for("nbody", "x") is compare_particles


def test_compare_rejects_an_unknown_simulator(tmp_path, capsys):
    from simengine.cli import main
    from simengine.io import Trajectory, write_dataset

    rng = np.random.default_rng(0)
    traj = Trajectory(rng.random((5, 4, 2)).astype(np.float32), np.zeros(4, np.int32), dt=0.1)
    data = str(tmp_path / "data")
    write_dataset(data, {"test": [traj]}, {"simulator": "foo"})
    capsys.readouterr()
    assert main(["compare", "--pred", data, "--truth", data, "--start", "2", "--gifs", "0", "--quiet",
                 "--out", str(tmp_path / "cmp")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert "simulator = 'foo'" in err[0] and os.path.join(data, "metadata.json") in err[0]
    assert "['deformables', 'fem', 'md', 'mpm', 'nbody']" in err[0]
    assert not os.path.exists(tmp_path / "cmp")
