"""`simengine render SOURCE [--out DIR] [--views 4 --size 128 --texture stripes --every k --frames N --seed s]`.

Films a simulated trajectory's bodies as textured 3D Gaussians from calibrated cameras
(`simengine.gaussians.video.render_video`): Gaussians are sampled on the object particles of frame 0
(`simengine.gaussians.bodies`), moved with the bodies by linear blend skinning (`simengine.gaussians.lbs`) and
rendered (`simengine.gaussians.render.render_views`) through ``--views`` orbit cameras around the object's
particles over the rendered frames (``--fit first``: at frame 0), as close as they can be with every particle in
every image (or at ``--distance``). Writes ``DIR/views.h5`` (RGB, alpha, depth per frame and view, the cameras
and the ground-truth Gaussians; what ``simengine track`` reads) and ``DIR/views.gif`` (``views.mp4`` when
imageio-ffmpeg is installed) for people.

SOURCE is a trajectory file (``trajectory.h5`` of `simengine run`, or a dataset split file: ``--trajectory``
picks the group), a `simengine run` folder, or a dataset folder (``--split``, ``--trajectory``). DIR defaults
to ``<run folder>/views``, ``<file stem>_views`` beside a file, or ``<dataset>_<split>_<group>_views`` beside a
dataset. The folder is claimed with `simengine.io.outputs.claim_output_dir` (kind "views"): never a dataset,
run or another command's output; files simengine did not write are replaced only with ``--overwrite``.
"""
from __future__ import annotations

import os

HELP = "render multi-view RGB, mask and depth videos of a trajectory's bodies as 3D Gaussians"
OUTPUT_FILES = ("views.h5", "views.gif", "views.mp4")


def add_arguments(parser):
    parser.add_argument("source", help="trajectory .h5 file, `simengine run` folder or dataset folder")
    parser.add_argument("--out", default=None, help="output folder (default: see `simengine render --help` text)")
    parser.add_argument("--split", default=None, choices=("train", "valid", "test"),
                        help="dataset split (default: the first of train, valid, test present)")
    parser.add_argument("--trajectory", default=None, help="trajectory group in the file (default: the first)")
    parser.add_argument("--views", type=int, default=4, help="number of orbit cameras (default 4)")
    parser.add_argument("--size", type=int, default=128, help="image width and height in pixels (default 128)")
    parser.add_argument("--texture", default="stripes", help="procedural texture: stripes, checkers, noise")
    parser.add_argument("--every", type=int, default=1, help="render every k-th frame (default 1)")
    parser.add_argument("--frames", type=int, default=None, help="render at most N frames (default all)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the Gaussians' placement and texture")
    parser.add_argument("--per-particle", type=int, default=8, help="Gaussians per particle (default 8)")
    parser.add_argument("--max-particles", type=int, default=2000,
                        help="at most this many particles carry Gaussians (a random subset; default 2000)")
    parser.add_argument("--distance", type=float, default=None, help="camera distance from the object's centre (m)")
    parser.add_argument("--elevation", type=float, default=30.0, help="camera elevation in degrees (default 30)")
    parser.add_argument("--focal", type=float, default=None, help="focal length in pixels (default 1.2 x size)")
    parser.add_argument("--fit", default="all", choices=("all", "first"),
                        help="frame the cameras on the object over all rendered frames (default) or frame 0 only")
    parser.add_argument("--device", default="cpu", help="torch device of the renderer (default cpu)")
    parser.add_argument("--no-movie", action="store_true", help="write views.h5 only")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace files in --out that simengine did not write (never a dataset or a run)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def resolve_trajectory(source, split=None, key=None):
    """(Trajectory, description, default output stem) of a trajectory file, a `simengine run` folder or a
    dataset folder (see the module docstring). Missing sources or groups raise `InputError`/`DatasetError`."""
    from simengine.errors import InputError
    from simengine.io import Trajectory
    from simengine.io.dataset import open_h5, split_path

    source = os.fspath(source)
    meta = {}
    if os.path.isdir(source):
        run_file = os.path.join(source, "trajectory.h5")
        if split is None and os.path.isfile(run_file):
            path, stem = run_file, os.path.join(source, "views")
        else:
            from simengine.io import read_metadata

            if split is None:
                split = next((s for s in ("train", "valid", "test")
                              if os.path.isfile(os.path.join(source, f"{s}.h5"))), "train")
            path = split_path(source, split)
            meta = read_metadata(source, normalize=False) if os.path.isfile(os.path.join(source, "metadata.json")) \
                else {}
            stem = None
    elif os.path.isfile(source):
        path, stem = source, os.path.splitext(source)[0] + "_views"
    else:
        raise InputError(f"{source}: no such file or folder (give a trajectory .h5, a run folder or a dataset)")
    with open_h5(path) as f:
        groups = sorted(k for k in f.keys() if hasattr(f[k], "keys"))
    if not groups:
        raise InputError(f"{path}: holds no trajectory group")
    if key is None:
        key = groups[0]
    elif key not in groups:
        raise InputError(f"--trajectory {key!r} is not in {path} (groups: {', '.join(groups[:8])}"
                         f"{', ...' if len(groups) > 8 else ''})")
    traj = Trajectory.load(path, key)
    if meta:
        traj.metadata = {**meta, **traj.metadata}
        if traj.dt == 1.0 and meta.get("dt"):
            traj.dt = float(meta["dt"]) * int(meta.get("write_every", 1))
    if stem is None:
        stem = f"{os.path.normpath(source)}_{split}_{key}_views"
    return traj, f"{path}:{key}", stem


def main(args) -> int:
    from simengine.errors import InputError, check_range
    from simengine.gaussians.bodies import TEXTURES
    from simengine.gaussians.video import movie_extension, read_views, render_video, write_movie
    from simengine.io.outputs import claim_output_dir

    TEXTURES.get(args.texture)  # an unknown texture fails before anything is read
    check_range("--views", args.views, 1, None)
    check_range("--size", args.size, 8, 4096)
    for field, value in (("--every", args.every), ("--frames", args.frames), ("--per-particle", args.per_particle),
                         ("--max-particles", args.max_particles)):
        if value is not None:
            check_range(field, value, 1, None)
    if args.distance is not None:
        check_range("--distance", args.distance, 0.0, None, low_open=True)
    traj, source, default_out = resolve_trajectory(args.source, args.split, args.trajectory)
    if traj.dim != 3:
        raise InputError(f"{source}: a {traj.dim}D trajectory; simengine render films 3D bodies only")
    out = args.out or default_out
    claim_output_dir(out, "views", OUTPUT_FILES, overwrite=args.overwrite, command="simengine render", create=False)
    result = render_video(traj, os.path.join(out, "views.h5"), views=args.views, size=args.size,
                          texture=args.texture, every=args.every, frames=args.frames, seed=args.seed,
                          per_particle=args.per_particle, max_particles=args.max_particles, distance=args.distance,
                          elevation=args.elevation, focal=args.focal, fit=args.fit, device=args.device,
                          progress=not args.quiet, source=source)
    print(f"{source}: {result['frames']} frames x {len(result['cameras'])} views of {args.size}x{args.size}, "
          f"{result['gaussians']} Gaussians in {result['seconds']:.1f} s -> {result['path']}")
    if not args.no_movie:
        movie = write_movie(read_views(result["path"]), os.path.join(out, "views" + movie_extension()))
        print(f"  movie: {movie}")
    return 0
