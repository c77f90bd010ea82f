"""The README's FEM picture: one impact-plate trajectory (`scenes/impact_plate.py`, seed 0) drawn at a few instants
with its von Mises stress as a colour map (the half model mirrored about its symmetry axis), saved as
docs/fem_impact.png. Instants: before the impact, the contact (the highest stress), the bending waves running
out to the clamps, and the largest deflection of the plate's centre.

    .venv/bin/python benchmarks/fem_picture.py [--seed 0] [--out docs/fem_impact.png]
"""
from __future__ import annotations

import argparse
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
SCENES = os.path.join(HERE, "..", "scenes")


def pick_frames(stress, plate_centre_y):
    """(before, contact, waves, deflected) frame indices."""
    contact = int(np.argmax(stress.max(axis=1)))
    deflected = int(np.argmax(np.abs(plate_centre_y - plate_centre_y[0])))
    return sorted({0, contact, min(3 * contact, len(stress) - 1), deflected})


def draw(position, stress, node_type, cells, mesh_pos, frame_dt, title, out):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.collections import PolyCollection
    from matplotlib.tri import Triangulation

    ball = node_type == 1
    plate = ~ball
    plate_cells = cells[~ball[cells].any(axis=1)]
    ball_cells = cells[ball[cells].all(axis=1)]
    centre = plate & (mesh_pos[:, 0] < 1e-9)
    frames = pick_frames(stress[:, plate], position[:, centre, 1].mean(axis=1))
    vmax = 1.5 * float(np.percentile(stress[:, plate], 99, axis=1).max()) / 1e6  # the contact spike saturates
    length = mesh_pos[plate, 0].max()
    bottom = position[:, plate, 1].min()
    top = mesh_pos[ball, 1].mean()  # the lower half of the disk
    fig, axes = plt.subplots(len(frames), 1, figsize=(10, 0.95 * len(frames) + 0.9), sharex=True)
    axes = np.atleast_1d(axes)
    for ax, f in zip(axes, frames):
        x = position[f].astype(np.float64)
        for side in (1.0, -1.0):  # the half model and its mirror image
            tri = Triangulation(side * x[:, 0], x[:, 1], plate_cells if side > 0 else plate_cells[:, ::-1])
            image = ax.tripcolor(tri, stress[f] / 1e6, shading="gouraud", cmap="inferno", vmin=0.0, vmax=vmax)
            polygons = np.stack([side * x[ball_cells, 0], x[ball_cells, 1]], -1)
            ax.add_collection(PolyCollection(polygons, facecolors="0.7", edgecolors="none"))
        ax.set_xlim(-length, length)
        ax.set_ylim(bottom - 0.15 * (top - bottom), top)
        ax.set_aspect("equal")
        ax.set_yticks([])
        ax.text(0.005, 0.92, f"t = {f * frame_dt * 1e3:.2f} ms", transform=ax.transAxes, fontsize=9, va="top")
    axes[-1].set_xlabel("x (m)")
    fig.suptitle(title, fontsize=10)
    fig.colorbar(image, ax=axes, label="von Mises stress (MPa)", fraction=0.03, pad=0.01, extend="max")
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    fig.savefig(out, dpi=110, bbox_inches="tight")
    return frames, vmax


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=os.path.join(HERE, "..", "docs", "fem_impact.png"))
    args = parser.parse_args(argv)
    sys.path.insert(0, SCENES)
    import impact_plate

    scene = impact_plate.make_scene(np.random.default_rng(args.seed))
    traj = scene.run(duration=impact_plate.RUN["duration"], record_every=50, progress=False)
    info = traj.metadata
    plate, disk = info["bodies"][0], info["bodies"][1]
    title = (f"impact plate, seed {args.seed} (half model mirrored): {plate['cells']} plane-stress triangles, "
             f"E = {plate['material']['youngs_modulus'] / 1e9:.2f} GPa; rigid disk at {-disk['velocity'][1]:.1f} m/s")
    frames, vmax = draw(traj.position, traj.stress, traj.node_type, traj.cells, traj.mesh_pos,
                        info["dt"] * info["write_every"], title, args.out)
    print(f"wrote {args.out}: frames {frames} of {len(traj.position)}, colour scale 0-{vmax:.2f} MPa "
          f"(peak {traj.stress.max() / 1e6:.1f} MPa)")


if __name__ == "__main__":
    main()
