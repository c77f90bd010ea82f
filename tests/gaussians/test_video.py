"""Multi-view videos (`simengine.gaussians.video`): the views.h5 round trip, atomic writing, frame-size checks, and
the render pipeline on a small rigidly moving body whose every Gaussian is known."""
import os

import numpy as np
import pytest

from simengine.errors import DatasetError, InputError
from simengine.gaussians.camera import look_at, orbit_cameras
from simengine.gaussians.lbs import quat_to_matrix
from simengine.gaussians.video import ViewsWriter, fit_cameras, read_views, render_video, write_movie, write_views
from simengine.io import Trajectory
from simengine.io.types import ParticleType


def spinning_block(T=4, omega=0.3):
    """A 5x4x3 block of particles turning about +y and sliding along +x, and two static wall particles."""
    g = np.stack(np.meshgrid(np.arange(5), np.arange(4), np.arange(3), indexing="ij"), -1).reshape(-1, 3) * 0.02
    g = g - g.mean(0) + [0.0, 0.1, 0.0]
    c = g.mean(0)
    frames, Rs = [], []
    for t in range(T):
        a = omega * t
        R = np.array([[np.cos(a), 0, np.sin(a)], [0, 1, 0], [-np.sin(a), 0, np.cos(a)]])
        frames.append((g - c) @ R.T + c + [0.01 * t, 0, 0])
        Rs.append(R)
    walls = np.array([[2.0, 0, 0], g.max(0) + 0.005])  # one wall particle right beside the block: no bone
    pos = np.concatenate([np.repeat(walls[None], T, 0), np.stack(frames)], 1)
    ptype = np.r_[[int(ParticleType.SOLID_WALL)] * 2, [int(ParticleType.ELASTIC)] * len(g)]
    traj = Trajectory(pos, ptype, dt=0.05, metadata={"simulator": "test", "seed": 7})
    return traj, Rs, c


def fake_frames(T, V=2, H=6, W=8, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.uniform(size=(T, V, H, W, 3)), rng.uniform(size=(T, V, H, W)).astype(np.float32),
            rng.uniform(0.5, 2.0, size=(T, V, H, W)).astype(np.float32))


def test_views_round_trip(tmp_path):
    cams = orbit_cameras((0, 0, 0), 1.0, count=2, width=8, height=6)
    rgb, alpha, depth = fake_frames(3)
    gt = {"position": np.random.default_rng(1).normal(size=(3, 5, 3)), "rotation": np.tile([1.0, 0, 0, 0], (3, 5, 1)),
          "scale": np.full((5, 3), 0.01), "opacity": np.full(5, 0.9), "color": np.full((5, 3), 0.5),
          "parent": np.arange(5)}
    path = write_views(tmp_path / "v" / "views.h5", rgb, alpha, depth, cams, ground_truth=gt, dt=0.1,
                       metadata={"scene": "x", "frames": np.arange(3)})
    views = read_views(path)
    assert (views.num_frames, views.num_views, views.height, views.width) == (3, 2, 6, 8) and len(views) == 3
    assert views.dt == pytest.approx(0.1) and views.metadata == {"scene": "x", "frames": [0, 1, 2]}
    assert [c.name for c in views.cameras] == ["view0", "view1"]
    assert np.array_equal(views.cameras[1].world_to_camera, cams[1].world_to_camera)
    f = views.frame(2)
    assert f["rgb"].dtype == np.float32 and f["rgb"].shape == (2, 6, 8, 3)
    assert np.abs(f["rgb"] - rgb[2]).max() <= 0.5 / 255 + 1e-6  # 8-bit colour
    assert np.array_equal(f["alpha"], alpha[2]) and np.array_equal(f["depth"], depth[2])
    assert np.array_equal(views.frame(-1)["depth"], depth[2])
    assert np.allclose(views.ground_truth["position"], gt["position"], atol=1e-6)
    assert sorted(views.ground_truth) == ["color", "opacity", "parent", "position", "rotation", "scale"]
    assert len(views.gaussians(1)) == 5
    with pytest.raises(InputError, match="frame = 3"):
        views.frame(3)
    assert [n for n in os.listdir(tmp_path / "v") if n != "views.h5"] == []  # no temporary file left


def test_frames_of_different_sizes_are_refused_and_nothing_is_written(tmp_path):
    cams = orbit_cameras((0, 0, 0), 1.0, count=2, width=8, height=6)
    path = tmp_path / "views.h5"
    rgb, alpha, depth = fake_frames(2)
    write_views(path, rgb, alpha, depth, cams)  # an earlier, complete file
    before = path.read_bytes()
    with pytest.raises(InputError, match=r"frame 1: rgb has shape \(2, 6, 7, 3\), expected \(2, 6, 8, 3\)"):
        with ViewsWriter(path, cams) as writer:
            writer.add(rgb[0], alpha[0], depth[0])
            writer.add(rgb[1][:, :, :7], alpha[1], depth[1])
    assert path.read_bytes() == before and os.listdir(tmp_path) == ["views.h5"]  # atomic: the old file stays
    small = look_at((0, 0, 1), (0, 0, 0), width=4, height=6, name="small")
    with pytest.raises(InputError, match="camera 'small' is 4x6"):
        ViewsWriter(path, [cams[0], small])
    with pytest.raises(InputError, match="ground_truth has 1 frames but 2"):
        with ViewsWriter(tmp_path / "b.h5", cams) as writer:
            for t in range(2):
                writer.add(rgb[t], alpha[t], depth[t])
            writer.set_ground_truth(position=np.zeros((1, 2, 3)), rotation=np.zeros((1, 2, 4)),
                                    scale=np.ones((2, 3)), opacity=np.ones(2), color=np.ones((2, 3)))
    assert not (tmp_path / "b.h5").exists()


def test_read_views_refuses_foreign_files(tmp_path):
    traj, _, _ = spinning_block(T=2)
    traj.save(tmp_path / "t.h5")
    with pytest.raises(DatasetError, match="not a simengine views file"):
        read_views(tmp_path / "t.h5")
    (tmp_path / "x.h5").write_text("nope")
    with pytest.raises(DatasetError, match="not a readable HDF5"):
        read_views(tmp_path / "x.h5")


def test_render_video_films_a_rigid_body_with_exact_ground_truth(tmp_path):
    traj, Rs, c = spinning_block(T=4)
    out = render_video(traj, tmp_path / "views.h5", views=3, size=32, every=1, frames=3, seed=1, per_particle=2,
                       progress=False, source="test.h5")
    views = read_views(out["path"])
    assert views.num_frames == 3 and views.num_views == 3 and views.height == 32
    assert views.dt == pytest.approx(0.05)
    assert views.metadata["source"] == "test.h5" and views.metadata["source_frames"] == [0, 1, 2]
    assert views.metadata["simulator"] == "test" and views.metadata["trajectory_seed"] == 7
    gt = views.ground_truth
    rest = gt["position"][0].astype(np.float64)
    assert np.all(gt["parent"] >= 2)  # the walls carry no Gaussians
    for t in range(3):  # the skinned Gaussians follow the rigid motion (float32 storage)
        want = (rest - c) @ Rs[t].T + c + [0.01 * t, 0, 0]
        assert np.abs(gt["position"][t] - want).max() < 1e-5
        assert np.abs(quat_to_matrix(gt["rotation"][t]) - Rs[t] @ quat_to_matrix(gt["rotation"][0])).max() < 1e-5
    for t in range(3):
        f = views.frame(t)
        for v, cam in enumerate(views.cameras):
            covered = f["alpha"][v] > 0.5
            assert 0.02 < covered.mean() < 0.9  # the object fills a good part of each view, not all of it
            # depth of covered pixels lies within the object's depth range in that camera
            z = cam.to_camera(gt["position"][t])[:, 2]
            assert z.min() - 0.01 < f["depth"][v][covered].min() and f["depth"][v][covered].max() < z.max() + 0.01
            assert np.all(f["depth"][v][f["alpha"][v] < 1e-4] == 0)
    gif = write_movie(views, tmp_path / "views.gif")
    import imageio.v2 as imageio

    movie = imageio.mimread(gif)
    assert len(movie) == 3 and movie[0].shape[:2] == (64, 64)  # 2 x 2 grid of 32 px views (one left white)


def test_fit_cameras_frame_the_points_tightly():
    points = np.random.default_rng(0).uniform([-0.3, 0.0, -0.1], [0.2, 0.15, 0.3], size=(500, 3))
    cams = fit_cameras(points, views=4, size=64, border=0.1)
    centre = 0.5 * (points.min(0) + points.max(0))
    distance = np.linalg.norm(cams[0].center - centre)
    assert all(np.linalg.norm(c.center - centre) == pytest.approx(distance) for c in cams)

    def inside(cameras):
        return all(np.all((c.project(points)[0] >= 6.4) & (c.project(points)[0] <= 57.6)) for c in cameras)

    assert inside(cams)  # every point within the 10 % border of every view ...
    assert not inside(fit_cameras(points, views=4, size=64, distance=0.97 * distance))  # ... and no closer
    assert np.allclose(fit_cameras(points, views=2, size=64, distance=2.0)[1].center,
                       centre + 2.0 * np.array([-np.cos(np.radians(30)) * np.sin(np.radians(45)), 0.5,
                                                -np.cos(np.radians(30)) * np.cos(np.radians(45))]))


def test_a_camera_that_sees_nothing_is_named(tmp_path):
    traj, _, _ = spinning_block(T=2)
    good = fit_cameras(traj.position[0, 2:], views=2, size=16)
    away = look_at((0, 0.1, 1.0), (0, 0.1, 3.0), width=16, height=16, name="away")
    with pytest.raises(InputError, match="camera 'away' sees nothing of the object at frame 0"):
        render_video(traj, tmp_path / "views.h5", cameras=[*good, away], progress=False)
    assert not (tmp_path / "views.h5").exists()
    with pytest.raises(InputError, match="every"):
        render_video(traj, tmp_path / "views.h5", every=0, progress=False)
