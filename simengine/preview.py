"""Quick-look pictures of trajectories: a PNG strip of frames and an animated GIF (matplotlib, Agg).

2D trajectories are drawn as they are; 3D ones are projected orthographically from a camera at
(azimuth, elevation) around the y (up) axis and drawn back to front, darker with depth:

    right = (cos a, 0, -sin a),  up = (-sin a sin e, cos e, -cos a sin e),
    toward viewer = (sin a cos e, sin e, cos a cos e),  screen = (p . right, p . up).

Particles are coloured by `particle_type` (walls grey). Axes stay fixed for the whole clip, taken from
``metadata["bounds"]`` (LagrangeBench ``[[lo, hi], ...]``) or ``metadata["domain"]``, else from the data.
At most `max_points` particles (a fixed random subset; 20k in the PNG, 8k in GIF frames) are drawn,
which keeps 100 frames of a 20k-particle 3D trajectory to about 6 s on one CPU core.

    write_previews(traj, "runs/sand")            # runs/sand/preview.png, runs/sand/preview.gif
    side_by_side_gif(predicted, truth, "cmp.gif")
"""
from __future__ import annotations

import os

import numpy as np

from simengine.errors import InputError
from simengine.io.types import KINEMATIC_TYPES, ParticleType

# particle type -> colour; anything unlisted falls back to DEFAULT_COLOR
COLORS = {
    ParticleType.FLUID: "#2f7fd8", ParticleType.SOLID_WALL: "#8c8c8c", ParticleType.MOVING_WALL: "#5c5c5c",
    ParticleType.RIGID_BODY: "#7a4fc0", ParticleType.ELASTIC: "#d9473b", ParticleType.SAND: "#d8a650",
    ParticleType.PLASTICINE: "#4caf50", ParticleType.SNOW: "#9fd6e8", ParticleType.NON_NEWTONIAN: "#e377c2",
    ParticleType.STAR: "#f0c419", ParticleType.SMBH: "#111111", ParticleType.ATOM: "#17becf",
}
DEFAULT_COLOR = "#444444"
DEFAULT_VIEW = (-35.0, 25.0)  # azimuth, elevation in degrees


def _rgb(hex_color):
    return np.array([int(hex_color[i:i + 2], 16) / 255.0 for i in (1, 3, 5)])


def _camera(view):
    a, e = np.radians(view)
    right = np.array([np.cos(a), 0.0, -np.sin(a)])
    up = np.array([-np.sin(a) * np.sin(e), np.cos(e), -np.cos(a) * np.sin(e)])
    toward = np.array([np.sin(a) * np.cos(e), np.sin(e), np.cos(a) * np.cos(e)])
    return right, up, toward


def trajectory_bounds(traj) -> np.ndarray:
    """(D, 2) [lower, upper] per axis for fixed axes: metadata bounds/domain, else data extent + 5%."""
    dim = traj.dim
    meta = traj.metadata or {}
    bounds = np.asarray(meta.get("bounds", []), dtype=np.float64)
    if bounds.shape == (dim, 2) and np.all(np.isfinite(bounds)):
        return bounds
    domain = np.asarray(meta.get("domain", []), dtype=np.float64).reshape(-1)
    if domain.size == dim and np.all(domain > 0):
        return np.stack([np.zeros(dim), domain], axis=1)
    lo = np.nanmin(traj.position, axis=(0, 1)).astype(np.float64)
    hi = np.nanmax(traj.position, axis=(0, 1)).astype(np.float64)
    pad = 0.05 * max(float((hi - lo).max()), 1e-6)
    return np.stack([lo - pad, hi + pad], axis=1)


class _Painter:
    """Projection, colours and limits for one trajectory, shared by every frame drawn from it."""

    def __init__(self, traj, max_points=20000, view=None, point_size=None, seed=0):
        self.dim = traj.dim
        n = traj.num_particles
        self.subset = np.arange(n)
        if n > max_points:
            self.subset = np.sort(np.random.default_rng(seed).choice(n, max_points, replace=False))
        kinds = traj.particle_type[self.subset]
        self.colors = np.array([_rgb(COLORS.get(int(k), DEFAULT_COLOR)) for k in kinds]).reshape(-1, 3)
        self.types_present = sorted({int(k) for k in kinds})
        self.size = point_size or float(np.clip(3.0e4 / max(len(self.subset), 1), 0.3, 12.0))
        self.sizes = np.where(np.isin(kinds, [int(k) for k in KINEMATIC_TYPES]), 0.5 * self.size, self.size)
        self.bounds = trajectory_bounds(traj)
        self.colliders = [c.get("shape") for c in (traj.metadata or {}).get("colliders", []) if isinstance(c, dict)]
        self.camera = _camera(view or DEFAULT_VIEW) if self.dim == 3 else None
        if self.dim == 3:  # limits from the projected corners of the bounds box
            corners = np.array(np.meshgrid(*self.bounds, indexing="ij")).reshape(3, -1).T
            screen = self.project(corners)[0]
            self.limits = np.stack([screen.min(0), screen.max(0)], axis=1)
        else:
            self.limits = self.bounds[:2]

    def project(self, points):
        """(M, D) -> (screen (M, 2), shade (M,) in [0.55, 1], draw order (M,))."""
        if self.dim == 2:
            return points[:, :2], np.ones(len(points)), np.arange(len(points))
        right, up, toward = self.camera
        screen = np.stack([points @ right, points @ up], axis=1)
        depth = points @ toward
        span = np.ptp(depth) if len(depth) else 0.0
        shade = 0.55 + 0.45 * ((depth - depth.min()) / span if span > 0 else np.ones_like(depth))
        return screen, shade, np.argsort(depth, kind="stable")

    def frame_arrays(self, positions):
        pts = np.asarray(positions, dtype=np.float64)[self.subset]
        screen, shade, order = self.project(pts)
        return screen[order], (self.colors * shade[:, None])[order], self.sizes[order]

    def setup_axes(self, ax, title=None):
        ax.set_xlim(*self.limits[0])
        ax.set_ylim(*self.limits[1])
        ax.set_aspect("equal")
        ax.set_xticks([])
        ax.set_yticks([])
        if self.dim == 3:
            self._draw_box(ax, *self.bounds.T)
        for shape in self.colliders:
            draw = COLLIDER_DRAWERS.get(shape.get("type") if isinstance(shape, dict) else None)
            if draw is not None:
                draw(self, ax, shape)
        if title:
            ax.set_title(title, fontsize=9)

    def _draw_box(self, ax, lo, hi, color="#bbbbbb"):
        lo, hi = np.asarray(lo, float), np.asarray(hi, float)
        for axis in range(3):
            for corner in np.array(np.meshgrid([0, 1], [0, 1], indexing="ij")).reshape(2, -1).T:
                start = lo.copy()
                others = [b for b in range(3) if b != axis]
                start[others] = np.where(corner == 1, hi[others], lo[others])
                end = start.copy()
                end[axis] = hi[axis]
                seg = self.project(np.stack([start, end]))[0]
                ax.plot(seg[:, 0], seg[:, 1], color=color, lw=0.6, zorder=0)

    def legend(self, ax):
        from matplotlib.lines import Line2D

        names = {int(k): k.name.lower().replace("_", " ") for k in ParticleType}
        handles = [Line2D([], [], ls="", marker="o", color=COLORS.get(k, DEFAULT_COLOR), label=names.get(k, k))
                   for k in self.types_present]
        ax.legend(handles=handles, loc="upper right", fontsize=7, frameon=False, handletextpad=0.1)


# ---- static colliders from metadata["colliders"][i]["shape"] (a `shapes` describe() dict) ----------
def _plane_section(painter, shape):
    """The part of the bounds box inside a Plane collider: 2D, its polygon; 3D, the cut face."""
    n, offset = np.asarray(shape["normal"], float), float(shape["offset"])
    lo, hi = painter.bounds[:, 0], painter.bounds[:, 1]
    corners = np.array(np.meshgrid(*painter.bounds, indexing="ij")).reshape(painter.dim, -1).T
    points = [c for c in corners if c @ n - offset <= 0] if painter.dim == 2 else []
    for axis in range(painter.dim):  # where the plane crosses each box edge along `axis`
        if abs(n[axis]) < 1e-12:
            continue
        for c in corners[corners[:, axis] == lo[axis]]:
            t = (offset - c @ n + c[axis] * n[axis]) / n[axis]
            if lo[axis] <= t <= hi[axis]:
                q = c.copy()
                q[axis] = t
                points.append(q)
    if len(points) < painter.dim:
        return None
    screen = painter.project(np.array(points))[0]
    centre = screen.mean(0)
    return screen[np.argsort(np.arctan2(*(screen - centre).T[::-1]))]


def _draw_plane(painter, ax, shape):
    polygon = _plane_section(painter, shape)
    if polygon is not None:
        ax.fill(polygon[:, 0], polygon[:, 1], color="#9e9e9e", alpha=0.35, lw=0.8, ec="#777777", zorder=0)


def _draw_box_collider(painter, ax, shape):
    lower, size = np.asarray(shape["lower"], float), np.asarray(shape["size"], float)
    if painter.dim == 3:
        painter._draw_box(ax, lower, lower + size, color="#555555")
    else:
        ax.add_patch(matplotlib_patches().Rectangle(lower, *size, color="#9e9e9e", alpha=0.6, zorder=0))


def _draw_sphere(painter, ax, shape):
    centre = painter.project(np.asarray(shape["center"], float)[None])[0][0]
    ax.add_patch(matplotlib_patches().Circle(centre, shape["radius"], color="#9e9e9e", alpha=0.5, zorder=0))


def matplotlib_patches():
    import matplotlib.patches

    return matplotlib.patches


COLLIDER_DRAWERS = {"Plane": _draw_plane, "Box": _draw_box_collider, "Sphere": _draw_sphere}


def plot_frame(ax, traj, frame: int = -1, painter=None, title=None, **painter_args):
    """Draw frame `frame` of `traj` on the matplotlib axes `ax`; returns the scatter artist."""
    painter = painter or _Painter(traj, **painter_args)
    painter.setup_axes(ax, title)
    screen, colors, sizes = painter.frame_arrays(traj.position[frame])
    artist = ax.scatter(screen[:, 0], screen[:, 1], c=colors, s=sizes, linewidths=0, zorder=1)
    return artist


def _frame_indices(num_frames, max_frames):
    count = max(1, min(num_frames, max_frames))
    return np.unique(np.linspace(0, num_frames - 1, count).round().astype(int))


def _figure(width, height, dpi):
    """A matplotlib Figure on the Agg canvas (no pyplot, no GUI backend, thread-safe enough)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=dpi)
    FigureCanvasAgg(fig)
    return fig


def _render_gif(trajs, titles, path, max_frames, fps, panel_size, reference=0, **painter_args):
    """One GIF with a panel per trajectory, frames kept in step (the shortest one sets the length);
    every panel uses the axes of ``trajs[reference]``."""
    import imageio.v2 as imageio

    fig = _figure(panel_size * len(trajs), panel_size, 80)
    axes = fig.subplots(1, len(trajs), squeeze=False)[0]
    painters = [_Painter(t, **painter_args) for t in trajs]
    painters = [_share_limits(p, painters[reference]) for p in painters]
    num_frames = min(t.num_frames for t in trajs)
    artists = []
    for ax, traj, painter, title in zip(axes, trajs, painters, titles):
        artists.append(plot_frame(ax, traj, 0, painter=painter, title=title))
        painter.legend(ax)
    clock = fig.text(0.01, 0.01, "", fontsize=8)
    fig.tight_layout()
    # Blitting: the axes, colliders and titles are drawn once; each frame restores that background and
    # draws only the particles, the legends above them and the clock (a full redraw per frame cost ~3x).
    moving = [*artists, clock]
    for artist in moving:
        artist.set_visible(False)
    fig.canvas.draw()
    background = fig.canvas.copy_from_bbox(fig.bbox)
    for artist in moving:
        artist.set_visible(True)
    images = []
    for k in _frame_indices(num_frames, max_frames):
        fig.canvas.restore_region(background)
        for ax, artist, traj, painter in zip(axes, artists, trajs, painters):
            screen, colors, sizes = painter.frame_arrays(traj.position[k])
            artist.set_offsets(screen)
            artist.set_facecolors(colors)
            artist.set_sizes(sizes)
            ax.draw_artist(artist)
            if ax.get_legend() is not None:
                ax.draw_artist(ax.get_legend())
        clock.set_text(f"t = {k * trajs[0].dt:.3f}")
        fig.draw_artist(clock)
        images.append(np.asarray(fig.canvas.buffer_rgba())[..., :3].copy())
    imageio.mimsave(path, images, duration=1000.0 / fps, loop=0)
    return path


def _share_limits(painter, reference):
    if painter is not reference and painter.dim == reference.dim:
        painter.limits, painter.bounds = reference.limits, reference.bounds
    return painter


def write_previews(traj, out_dir, name: str = "preview", max_frames: int = 100, panels: int = 4,
                   fps: float = 15.0, **painter_args) -> dict:
    """Write ``out_dir/name.png`` (`panels` frames from first to last) and ``out_dir/name.gif``.

    `painter_args`: ``max_points`` (20000), ``view`` ((azimuth, elevation) degrees, 3D), ``point_size``.
    Returns ``{"png": path, "gif": path}``.
    """
    os.makedirs(out_dir, exist_ok=True)
    png = os.path.join(out_dir, f"{name}.png")
    painter = _Painter(traj, **painter_args)
    frames = _frame_indices(traj.num_frames, panels)
    fig = _figure(3.2 * len(frames), 3.4, 100)
    for ax, k in zip(fig.subplots(1, len(frames), squeeze=False)[0], frames):
        plot_frame(ax, traj, k, painter=painter, title=f"frame {k}, t = {k * traj.dt:.3f}")
    painter.legend(ax)
    fig.tight_layout()
    fig.savefig(png)
    # a 320-pixel GIF frame shows no more with 20k points than with 8k, at 2.5x the drawing time
    gif_args = {"max_points": 8000, **painter_args}
    gif = _render_gif([traj], [name], os.path.join(out_dir, f"{name}.gif"), max_frames, fps, 4.0, **gif_args)
    return {"png": png, "gif": gif}


def side_by_side_gif(pred, truth, path, max_frames: int = 100, fps: float = 15.0,
                     titles=("prediction", "ground truth"), **painter_args) -> str:
    """Animated GIF with `pred` and `truth` (Trajectories) in two panels on the same axes."""
    if pred.dim != truth.dim:
        raise InputError(f"pred is {pred.dim}-D but truth is {truth.dim}-D; both must have the same dim")
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    return _render_gif([pred, truth], list(titles), path, max_frames, fps, 3.6, reference=1, **painter_args)
