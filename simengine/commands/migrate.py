"""`simengine migrate DIR [--dry-run]`: bring an old dataset's metadata.json up to date.

Datasets generated before ``grid_dx`` existed stored the MPM grid cell as ``dx``; LagrangeBench reads
``dx`` as the particle spacing (its kinetic energy is scaled by dx^D). `migrate` moves the old value to
``grid_dx``, sets ``dx`` to the measured spacing (mean nearest-neighbour distance of the first frames,
as `simengine generate` measures it now) and records the change under ``migrations``. Every other key,
``default_connectivity_radius`` included, stays; metadata.json is replaced atomically and the
trajectories (train/valid/test.h5) are not touched. A dataset that needs nothing is left as it is.
"""
from __future__ import annotations

HELP = "update an old dataset's metadata.json (dx = particle spacing, grid_dx = MPM cell); data untouched"


def add_arguments(parser):
    parser.add_argument("dataset", help="dataset folder (metadata.json + train/valid/test.h5)")
    parser.add_argument("--dry-run", action="store_true", help="say what would change, write nothing")


def main(args) -> int:
    import os

    from simengine.errors import InputError
    from simengine.io.migrate import migrate_metadata

    if not os.path.isdir(args.dataset):
        raise InputError(f"{args.dataset} is not a dataset folder (metadata.json + train/valid/test.h5)")
    result = migrate_metadata(args.dataset, dry_run=args.dry_run)
    if not result["changed"]:
        print(f"{result['path']}: up to date (dx = {result['old']['dx']}, grid_dx = {result['old']['grid_dx']}); "
              "nothing to migrate")
        return 0
    verb = "would set" if args.dry_run else "set"
    print(f"{result['path']}: {verb} dx = {result['new']['dx']:.6g} (measured particle spacing; was "
          f"{result['old']['dx']}, the MPM grid cell, now grid_dx){'' if args.dry_run else '; trajectories untouched'}")
    return 0
