"""Migrations of dataset metadata written by older simengine versions (`simengine migrate`).

MPM datasets written before ``grid_dx`` existed stored the grid cell as ``dx``; `migrate_metadata` moves it to
``grid_dx`` and writes the measured particle spacing as ``dx`` (`simengine.io.metadata`). Kept apart from
`simengine.io.metadata` because it reads trajectories (`simengine.io.dataset`), which imports the metadata code.
"""
from __future__ import annotations

import os

from simengine.errors import DatasetError
from simengine.io.dataset import Dataset, split_path
from simengine.io.metadata import (
    METADATA_FILE,
    SPLITS,
    SpacingAccumulator,
    legacy_grid_dx,
    read_metadata,
    write_metadata,
)


def measured_spacing(root) -> float | None:
    """``dx`` measured from a dataset folder's trajectories (first frames only are read), as
    `MetadataBuilder` measures it; None when no trajectory has two particles."""
    acc = SpacingAccumulator()
    for split in SPLITS:
        if os.path.exists(split_path(root, split, must_exist=False)):
            ds = Dataset(root, split, metadata={})
            for i in range(len(ds)):
                acc.add(ds.position(i, slice(0, 1))[0])
    return acc.result()


def migrate_metadata(root, *, dry_run: bool = False) -> dict:
    """Rewrite an old MPM dataset's metadata.json (atomically): ``grid_dx`` = the old ``dx`` (the grid
    cell), ``dx`` = the measured particle spacing; ``default_connectivity_radius`` and every other key
    stay. The split files are not touched. Returns {"changed": bool, "old": {...}, "new": {...}, "path"}.
    """
    import simengine

    raw = read_metadata(root, normalize=False)
    read_metadata(root)  # refuse to rewrite metadata that does not validate
    path = os.path.join(os.fspath(root), METADATA_FILE)
    if not legacy_grid_dx(raw):
        return {"changed": False, "path": path, "old": {"dx": raw.get("dx"), "grid_dx": raw.get("grid_dx")},
                "new": {}}
    dx = measured_spacing(root)
    if dx is None:
        raise DatasetError(f"{root}: no trajectory has two particles; the particle spacing cannot be measured")
    new = {"dx": dx, "grid_dx": raw["dx"]}
    out = dict(raw)
    out.update(new)
    out["migrations"] = [*raw.get("migrations", []),
                         {"what": "dx was the MPM grid cell: now grid_dx; dx = measured particle spacing",
                          "old_dx": raw["dx"], "by": f"simengine {simengine.__version__}"}]
    if not dry_run:
        write_metadata(root, out)
    return {"changed": True, "path": path, "old": {"dx": raw["dx"]}, "new": new}
