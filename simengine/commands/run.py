"""`simengine run scenes/X.py [--out DIR] [--seed S] [--device D] [--no-preview]`.

Runs one trajectory of a scene script (``make_scene(rng)`` + ``RUN``, the protocol `simengine generate`
uses) with ``rng = numpy.random.default_rng(seed)``, and writes ``DIR/trajectory.h5`` (atomically) and,
unless ``--no-preview``, ``DIR/preview.png`` and ``DIR/preview.gif`` (the script's optional ``PREVIEW``
dict is passed to `simengine.preview.write_previews`). DIR defaults to ``runs/<script stem>``.

The scene runs in a child process (`simengine.generate.workers.run_isolated`): a crash of native code is
reported naming the script, the seed and the signal, instead of ending the command silently.
"""
from __future__ import annotations

import os
import time


def add_arguments(parser):
    parser.add_argument("script", help="scene script defining make_scene(rng) and RUN")
    parser.add_argument("--out", default=None, help="output folder (default runs/<script name>)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the scene's random generator (default 0)")
    parser.add_argument("--device", default=None, help="cpu, cuda or cuda:N, passed to make_scene if it takes one")
    parser.add_argument("--no-preview", action="store_true", help="write the trajectory only")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace files in --out that simengine did not write (never a dataset or a run)")


def run_script(script, out=None, seed=0, device=None, preview=True, run_overrides=None) -> dict:
    """Run `script` once; return ``{"trajectory": path, "png": ..., "gif": ..., "seconds": ...}``.

    `run_overrides` updates the script's ``RUN`` (e.g. a shorter ``duration`` for a smoke test).
    """
    import numpy as np

    from simengine.generate.script import load_scene_script, run_scene_script

    module = load_scene_script(script)
    out = out or os.path.join("runs", os.path.splitext(os.path.basename(script))[0])
    start = time.perf_counter()
    traj = run_scene_script(module, np.random.default_rng(seed), device, run_overrides)
    traj.metadata.setdefault("scene_script", os.path.basename(script))
    traj.metadata.setdefault("seed", seed)
    result = {"trajectory": traj.save(os.path.join(out, "trajectory.h5")),
              "seconds": time.perf_counter() - start, "frames": traj.num_frames,
              "particles": traj.num_particles}
    if preview:
        from simengine.preview import write_previews

        result.update(write_previews(traj, out, **getattr(module, "PREVIEW", {})))
    return result


OUTPUT_FILES = ("trajectory.h5", "preview.png", "preview.gif")


def main(args) -> int:
    from simengine.errors import SimulationError
    from simengine.generate.script import load_scene_script
    from simengine.generate.workers import WorkerCrashed, run_isolated
    from simengine.io.outputs import claim_output_dir

    load_scene_script(args.script)  # a missing or malformed script fails here, before any folder is made
    out = args.out or os.path.join("runs", os.path.splitext(os.path.basename(args.script))[0])
    claim_output_dir(out, "scene-run", OUTPUT_FILES, overwrite=args.overwrite, command="simengine run", create=False)
    try:
        result = run_isolated(run_script, args.script, out, args.seed, args.device, not args.no_preview)
    except WorkerCrashed as crash:
        raise SimulationError(f"{args.script} (seed {args.seed}): the simulation process {crash.reason}; "
                              "nothing was written -- a crash in native code, not a blow-up") from None
    print(f"{args.script}: {result['frames']} frames x {result['particles']} particles "
          f"in {result['seconds']:.1f} s -> {result['trajectory']}")
    for key in ("png", "gif"):
        if key in result:
            print(f"  preview: {result[key]}")
    return 0
