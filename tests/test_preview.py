"""Previews: files written, frames counted, particles drawn where they are and in their type's colour."""
import imageio.v2 as imageio
import numpy as np
import pytest

from simengine import Trajectory
from simengine.errors import InputError
from simengine.io.types import ParticleType
from simengine.preview import COLORS, _camera, side_by_side_gif, trajectory_bounds, write_previews


def blob_trajectory(dim=2, frames=12, n=300, corner=0.15):
    """A small square blob of sand that falls from the top left towards the bottom left."""
    rng = np.random.default_rng(0)
    start = rng.uniform(corner - 0.05, corner + 0.05, size=(n, dim))
    start[:, 1] += 0.6
    drop = np.linspace(0.0, 0.5, frames)
    pos = start[None] - drop[:, None, None] * np.eye(dim)[1]
    bounds = [[0.0, 1.0]] * dim
    return Trajectory(pos, np.full(n, ParticleType.SAND), dt=0.02, metadata={"bounds": bounds})


def coloured_pixels(image, hex_color, tol=40):
    target = np.array([int(hex_color[i:i + 2], 16) for i in (1, 3, 5)])
    return np.argwhere(np.abs(image[..., :3].astype(int) - target).sum(-1) < tol)


def test_write_previews_2d_draws_the_blob_where_it_is(tmp_path):
    traj = blob_trajectory()
    out = write_previews(traj, tmp_path, name="sand", max_frames=6, panels=1)
    gif = imageio.mimread(out["gif"])
    assert len(gif) == 6
    first, last = (coloured_pixels(frame, COLORS[ParticleType.SAND]) for frame in (gif[0], gif[-1]))
    assert len(first) > 20 and len(last) > 20
    h, w = gif[0].shape[:2]
    # the blob sits in the left third throughout, starts in the upper half and ends in the lower half
    assert first[:, 1].mean() < w / 3 and last[:, 1].mean() < w / 3
    assert first[:, 0].mean() < h / 2 < last[:, 0].mean()
    png = imageio.imread(out["png"])  # panels=1: the last frame alone
    assert len(coloured_pixels(png, COLORS[ParticleType.SAND])) > 20


def test_write_previews_3d_projects_height_upwards(tmp_path):
    traj = blob_trajectory(dim=3, frames=4, n=500)
    out = write_previews(traj, tmp_path, max_frames=4, panels=2, view=(-30.0, 20.0))
    gif = imageio.mimread(out["gif"])
    assert len(gif) == 4
    sand = COLORS[ParticleType.SAND]
    # shaded by depth, so match the hue loosely: reddish-yellow pixels, well away from the grey box lines
    top = coloured_pixels(gif[0], sand, tol=160)
    bottom = coloured_pixels(gif[-1], sand, tol=160)
    assert len(top) > 20 and top[:, 0].mean() < bottom[:, 0].mean()


def test_camera_is_orthonormal_and_y_is_up():
    right, up, toward = _camera((-35.0, 25.0))
    basis = np.stack([right, up, toward])
    assert np.allclose(basis @ basis.T, np.eye(3))
    assert np.allclose(np.cross(right, up), toward)  # right-handed: the viewer looks along -toward
    assert up[1] > 0.9


def test_bounds_fall_back_from_metadata_to_domain_to_data():
    traj = blob_trajectory()
    assert np.allclose(trajectory_bounds(traj), [[0, 1], [0, 1]])
    traj.metadata = {"domain": [2.0, 1.0]}
    assert np.allclose(trajectory_bounds(traj), [[0, 2], [0, 1]])
    traj.metadata = {}
    b = trajectory_bounds(traj)
    assert np.all(b[:, 0] < traj.position.min((0, 1))) and np.all(b[:, 1] > traj.position.max((0, 1)))


def test_side_by_side_gif_has_two_panels(tmp_path):
    truth = blob_trajectory(frames=5)
    pred = blob_trajectory(frames=5, corner=0.8)  # the prediction drifted to the right
    path = side_by_side_gif(pred, truth, tmp_path / "cmp" / "pred_vs_truth.gif")
    frames = imageio.mimread(path)
    assert len(frames) == 5
    pix = coloured_pixels(frames[0], COLORS[ParticleType.SAND])
    w = frames[0].shape[1]
    left_panel, right_panel = pix[pix[:, 1] < w / 2], pix[pix[:, 1] >= w / 2]
    # prediction panel (left): blob at its right edge; truth panel (right): blob at its left edge
    assert left_panel[:, 1].mean() > 0.3 * w and right_panel[:, 1].mean() < 0.7 * w
    with pytest.raises(InputError, match="3-D"):
        side_by_side_gif(blob_trajectory(dim=3), truth, tmp_path / "bad.gif")


def test_plane_collider_is_drawn_on_its_solid_side(tmp_path):
    # a 2D slope solid below the line y = 0.5 - 0.5 x: grey fill at the bottom left, none at the top right
    traj = blob_trajectory(frames=2)
    normal = np.array([0.5, 1.0]) / np.hypot(0.5, 1.0)
    traj.metadata["colliders"] = [{"shape": {"type": "Plane", "normal": normal.tolist(),
                                             "offset": float(0.5 * normal[1])}}]
    png = imageio.imread(write_previews(traj, tmp_path, max_frames=2, panels=1)["png"])
    grey = coloured_pixels(png, "#dadada", tol=30)  # the fill's colour, blended at alpha 0.35 on white
    h, w = png.shape[:2]
    assert len(grey) > 1000
    assert grey[:, 0].mean() > 0.55 * h and grey[:, 1].mean() < 0.5 * w  # lower left
