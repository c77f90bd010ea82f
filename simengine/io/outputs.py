"""Where a command may write: the one place that decides, for every command.

Each command writes one kind of output folder: ``dataset`` (`simengine generate`), ``run`` (`train`),
``rollout``, ``compare``, ``scene-run`` (`simengine run`), ... A folder a command creates gets a marker file
``.simengine-output.json`` naming its kind. `claim_output_dir` then applies three rules:

1. a command writes only into a folder of its own kind: never into one that holds a dataset or a training
   run (recognised by their files even without a marker: ``metadata.json`` or split files, ``config.yaml``
   with ``checkpoints/``) or another command's output, and never creates a folder inside a dataset;
2. it never replaces a file it did not create unless asked (``overwrite``, the commands' ``--overwrite``);
3. it says what it refused, naming the folder and the files, in one line (`InputError`).

``--out`` naming an existing file, where a folder is expected, is refused too.
"""
from __future__ import annotations

import json
import os

from simengine.errors import InputError

MARKER = ".simengine-output.json"
SPLIT_FILES = ("train.h5", "valid.h5", "test.h5")
KINDS = ("dataset", "run", "rollout", "compare", "scene-run", "export", "demo", "study")


def marker_kind(path) -> str | None:
    """The kind written in a folder's marker, or None."""
    try:
        with open(os.path.join(path, MARKER)) as f:
            return json.load(f).get("kind")
    except (OSError, ValueError, AttributeError):
        return None


def detect_kind(path) -> tuple[str | None, list]:
    """(kind, evidence files) of what a folder holds: its marker, else a dataset (metadata.json or split
    files) or a training run (config.yaml and checkpoints/), else (None, [])."""
    path = os.fspath(path)
    kind = marker_kind(path)
    if kind is not None:
        return kind, [MARKER]
    if not os.path.isdir(path):
        return None, []
    names = set(os.listdir(path))
    dataset = sorted(names & {"metadata.json", *SPLIT_FILES})
    if dataset:
        return "dataset", dataset
    if "config.yaml" in names and "checkpoints" in names:
        return "run", ["config.yaml", "checkpoints/"]
    return None, []


def write_marker(path, kind: str, **details) -> None:
    from simengine.io.trajectory import atomic_path

    with atomic_path(os.path.join(path, MARKER)) as tmp, open(tmp, "w") as f:
        json.dump({"kind": kind, **details}, f)


def claim_output_dir(path, kind: str, files=(), *, overwrite: bool = False, command: str = "this command",
                     field: str = "--out") -> str:
    """Make ``path`` this command's output folder of ``kind`` and return it, or refuse (`InputError`).

    Args:
        files: names the command will write into the folder; existing ones it did not create are refused
            unless ``overwrite``.
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
            raise InputError(f"{field} {path} is inside {parent}, which holds a {found} ({', '.join(evidence)}); "
                             f"{command} never writes into a {found}: choose a folder outside it")
        os.makedirs(path)
        write_marker(path, kind, command=command)
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
    write_marker(path, kind, command=command)
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
