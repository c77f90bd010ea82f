"""`simengine generate SCRIPT --out DIR --train 20 --valid 4 --test 4 --workers 2 --seed 0`."""


def add_arguments(parser):
    parser.add_argument("script", help="scene script defining make_scene(rng) and RUN")
    parser.add_argument("--out", required=True, help="dataset folder (train/valid/test.h5 + metadata.json)")
    parser.add_argument("--train", type=int, default=20, help="number of training trajectories (default 20)")
    parser.add_argument("--valid", type=int, default=4, help="number of validation trajectories (default 4)")
    parser.add_argument("--test", type=int, default=4, help="number of test trajectories (default 4)")
    parser.add_argument("--workers", type=int, default=2, help="parallel worker processes (default 2)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the whole dataset (default 0)")
    parser.add_argument("--device", default=None, help="cpu, cuda or cuda:N, passed to the scene")
    parser.add_argument("--keep-shards", action="store_true",
                        help="keep the per-trajectory files in DIR/.shards after merging")
    parser.add_argument("--overwrite", action="store_true",
                        help="discard data that a job with another script/RUN/seed/device left in DIR")
    parser.add_argument("--scheduler", default=None,
                        help="run on a Dask distributed cluster at this address (tcp://HOST:PORT)")
    parser.add_argument("--scheduler-file", default=None, help="the Dask scheduler's JSON file instead of an address")
    parser.add_argument("--shard-range", default=None, metavar="START:STOP",
                        help="simulate only trajectories START..STOP-1 of the job (numbered train, valid, test) and "
                             "assemble nothing (e.g. one SLURM array task each)")
    parser.add_argument("--assemble-only", action="store_true",
                        help="simulate nothing: write the splits and metadata from the shards earlier runs left")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def parse_range(text):
    from simengine.errors import InputError

    start, sep, stop = str(text).partition(":")
    try:
        return int(start), int(stop)
    except ValueError:
        raise InputError(f"--shard-range = {text!r} must be START:STOP (two integers)") from None


def main(args) -> int:
    from simengine.generate import generate_dataset

    shard_range = parse_range(args.shard_range) if args.shard_range is not None else None
    meta = generate_dataset(args.script, args.out, {"train": args.train, "valid": args.valid, "test": args.test},
                            workers=args.workers, seed=args.seed, device=args.device,
                            keep_shards=args.keep_shards or shard_range is not None, overwrite=args.overwrite,
                            progress=not args.quiet, scheduler=args.scheduler, scheduler_file=args.scheduler_file,
                            shard_range=shard_range, assemble_only=args.assemble_only)
    if shard_range is not None:
        print(f"wrote shards {shard_range[0]}..{shard_range[1] - 1} of {meta['shards_total']} into {args.out}/.shards; "
              "run with --assemble-only once every range is done")
        return 0
    counts = ", ".join(f"{s} {meta[f'num_trajs_{s}']}" for s in ("train", "valid", "test")
                       if f"num_trajs_{s}" in meta)
    print(f"wrote {args.out}: {counts} trajectories, dim {meta['dim']}, "
          f"up to {meta['num_particles_max']} particles; `simengine inspect {args.out}` shows more")
    return 0
