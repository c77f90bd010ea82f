"""Where a command may write: the one place that decides, for every command.

Each command writes one kind of output folder, recognised by what it holds (no marker files are added):

    dataset     metadata.json or split files (train/valid/test.h5)          `simengine generate`
    rollout     metadata.json whose "simengine_output" is "rollout"        `simengine rollout`
    run         config.yaml with checkpoints/                              `simengine train`
    compare     metrics.json with report.html                              `simengine compare`
    scene-run   trajectory.h5                                              `simengine run`
    export      metadata.json whose "simengine_output" is "export", or a   `simengine export`
                gns dataset (train/valid/test.npz, no split h5 files)
    views       views.h5                                                   `simengine render`

`claim_output_dir` applies three rules:

1. a command writes only into a folder of its own kind or a folder that holds none of these: never into a
   dataset, a training run or another command's output, and never creates a folder inside a dataset;
2. it never replaces a file it did not create unless asked (``overwrite``, the commands' ``--overwrite``);
3. it says what it refused, naming the folder and the files, in one line (`InputError`).

``--out`` naming an existing file, where a folder is expected, is refused too.
"""
from __future__ import annotations

import json
import os

from simengine.errors import InputError

SPLIT_FILES = ("train.h5", "valid.h5", "test.h5")
#: the key a rollout writes into its metadata.json (a rollout folder is laid out like a dataset)
OUTPUT_KEY = "simengine_output"
KINDS = ("dataset", "run", "rollout", "compare", "scene-run", "export", "views")
NPZ_FILES = ("train.npz", "valid.npz", "test.npz")


def detect_kind(path) -> tuple[str | None, list]:
    """(kind, evidence files) of what a folder holds (see the module docstring), or (None, [])."""
    path = os.fspath(path)
    if not os.path.isdir(path):
        return None, []
    names = set(os.listdir(path))
    if "metadata.json" in names:
        try:
            with open(os.path.join(path, "metadata.json")) as f:
                output = json.load(f).get(OUTPUT_KEY)
            if output in ("rollout", "export"):
                return output, [f"metadata.json (a{'n' if output == 'export' else ''} {output})"]
        except (OSError, ValueError, AttributeError):
            pass
    if names & set(NPZ_FILES) and not names & set(SPLIT_FILES):
        return "export", sorted(names & {"metadata.json", *NPZ_FILES})
    dataset = sorted(names & {"metadata.json", *SPLIT_FILES})
    if dataset:
        return "dataset", dataset
    if "config.yaml" in names and "checkpoints" in names:
        return "run", ["config.yaml", "checkpoints/"]
    if {"metrics.json", "report.html"} <= names:
        return "compare", ["metrics.json", "report.html"]
    if "trajectory.h5" in names:
        return "scene-run", ["trajectory.h5"]
    if "views.h5" in names:
        return "views", ["views.h5"]
    return None, []


def claim_output_dir(path, kind: str, files=(), *, overwrite: bool = False, command: str = "this command",
                     field: str = "--out", create: bool = True) -> str:
    """Check that ``path`` may become (or is) this command's output folder of ``kind``; create it unless
    ``create`` is False; return it. Refusals are `InputError`s.

    Args:
        files: names the command will write into the folder; existing ones are refused unless the folder is
            already of this kind or ``overwrite``.
        command: the command's name for messages (e.g. ``"simengine rollout"``). field: its option name.
    """
    if kind not in KINDS:
        raise ValueError(f"unknown output kind {kind!r}")
    path = os.fspath(path)
    if os.path.exists(path) and not os.path.isdir(path):
        raise InputError(f"{field} {path} is an existing file; {command} writes a folder there: give a folder")
    if not os.path.exists(path):
        parent = os.path.dirname(os.path.abspath(path))
        found, evidence = detect_kind(parent)
        if found == "dataset":  # a subfolder would change what the dataset folder holds
            raise InputError(f"{field} {path} is inside {parent}, which holds a dataset ({', '.join(evidence)}); "
                             f"{command} never writes into a dataset: choose a folder outside it")
        if create:
            os.makedirs(path)
        return path
    found, evidence = detect_kind(path)
    if found == kind:
        return path
    if found is not None:
        raise InputError(f"{field} {path} holds a {found} ({', '.join(evidence)}); {command} writes a {kind} and "
                         f"never into a {found}: choose another folder")
    existing = [name for name in files if os.path.exists(os.path.join(path, name))]
    if existing and not overwrite:
        raise InputError(f"{field} {path} already has {', '.join(existing)}, which simengine did not write; "
                         "pass --overwrite to replace them, or choose another folder")
    return path


def claim_output_file(path, *, overwrite: bool = False, field: str = "--out") -> str:
    """A single output file: refused when it exists (unless ``overwrite``) or is a folder."""
    path = os.fspath(path)
    if os.path.isdir(path):
        raise InputError(f"{field} {path} is a folder; give a file name")
    if os.path.exists(path) and not overwrite:
        raise InputError(f"{field} {path} exists; pass --overwrite to replace it, or choose another name")
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    return path
