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
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def main(args) -> int:
    from simengine.generate import generate_dataset

    meta = generate_dataset(args.script, args.out, {"train": args.train, "valid": args.valid, "test": args.test},
                            workers=args.workers, seed=args.seed, device=args.device,
                            keep_shards=args.keep_shards, overwrite=args.overwrite, progress=not args.quiet)
    counts = ", ".join(f"{s} {meta[f'num_trajs_{s}']}" for s in ("train", "valid", "test")
                       if f"num_trajs_{s}" in meta)
    print(f"wrote {args.out}: {counts} trajectories, dim {meta['dim']}, "
          f"up to {meta['num_particles_max']} particles; `simengine inspect {args.out}` shows more")
    return 0
