"""Dynamic 3D Gaussian tracking on a synthetic rope rendered by the torch splatter; scoring; resume; NaN stop."""
import math

import numpy as np
import pytest
import torch

from simengine.errors import InputError, SimulationError
from simengine.gaussians.score import summarise, tracking_error
from simengine.gaussians.synthetic import depth_seeds, synthetic_rope_views
from simengine.gaussians.track import MemoryViews, TrackConfig, load_tracked, ssim, track_views


def _views(T, size=128, count=4):
    return synthetic_rope_views(T, size=size, count=count)


def _fuse(views, voxel):
    """Frame 0's depth maps unprojected (pixels with alpha > 0.5) and voxel-averaged: the seeds."""
    return depth_seeds(views, voxel)


def test_ssim_matches_a_direct_convolution():
    a, b = torch.rand(2, 3, 20, 24, dtype=torch.float64), torch.rand(2, 3, 20, 24, dtype=torch.float64)
    x = torch.arange(11, dtype=torch.float64) - 5
    g = torch.exp(-x * x / (2 * 1.5 ** 2))
    g = g / g.sum()
    w = (g[:, None] * g[None, :]).expand(3, 1, 11, 11)

    def blur(t):
        return torch.nn.functional.conv2d(t, w, padding=5, groups=3)

    ma, mb = blur(a), blur(b)
    va, vb, cab = blur(a * a) - ma ** 2, blur(b * b) - mb ** 2, blur(a * b) - ma * mb
    ref = ((2 * ma * mb + 1e-4) * (2 * cab + 9e-4) / ((ma ** 2 + mb ** 2 + 1e-4) * (va + vb + 9e-4))).mean()
    assert float(ssim(a, b)) == pytest.approx(float(ref), rel=1e-10)
    assert float(ssim(a, a)) == pytest.approx(1.0, abs=1e-12)


def test_tracking_error_of_a_rigid_motion_with_offsets():
    # ground truth: 3 Gaussians rotating 90 degrees about z and translating; tracked points offset from them
    c = math.cos(math.pi / 4)
    mu0 = np.array([[0.0, 0, 0], [1, 0, 0], [0, 1, 0]])
    q = np.array([[[1.0, 0, 0, 0]] * 3, [[c, 0, 0, c]] * 3])
    Rz = np.array([[0.0, -1, 0], [1, 0, 0], [0, 0, 1]])
    mu = np.stack([mu0, mu0 @ Rz.T + [0.1, 0, 0]])
    x0 = mu0 + [0.01, 0.0, 0.0]
    x1 = x0 @ Rz.T + [0.1, 0, 0]
    x1[2] += [0.0, 0.0, 0.004]  # 4 mm off for the third
    r = tracking_error(np.stack([x0, x1]), mu, q)
    assert np.allclose(r["error_mm"][0], 0.0, atol=1e-9)
    assert np.allclose(r["error_mm"][1], [0.0, 0.0, 4.0], atol=1e-9)
    assert np.allclose(r["seed_mm"], 10.0)
    assert r["within"][5.0][1] == 1.0 and r["median_mm"][1] == pytest.approx(0.0, abs=1e-9)
    s = summarise(r)
    assert s["episode"]["within_5mm"] == 1.0 and s["mean_mm"][1] == pytest.approx(4.0 / 3)
    with pytest.raises(InputError, match="oracle correspondence"):
        tracking_error(np.stack([x0, x1])[:, :2], mu, q, oracle=True)


def test_tracks_a_synthetic_rope_to_within_5_mm(tmp_path):
    torch.set_num_threads(1)  # 2 threads on a shared 2-core machine run several times slower
    views = _views(4)
    points, colors = _fuse(views, 0.009)
    out = track_views(views, tmp_path / "tracked.h5", TrackConfig(init_iters=60, iters=20), points=points,
                      colors=colors, progress=False)
    tracked = load_tracked(out)
    assert tracked["position"].shape == (4, len(points), 3) and tracked["rotation"].shape == (4, len(points), 4)
    r = tracking_error(tracked["position"], views.ground_truth["position"], views.ground_truth["rotation"])
    # the rope moves ~6 mm per frame; a pixel is 5.2 mm at 0.8 m
    assert r["mean_mm"].max() < 5.0
    assert r["seed_mm"].mean() < 5.0
    moved = np.linalg.norm(views.ground_truth["position"][3] - views.ground_truth["position"][0], axis=1).mean()
    assert moved > 15e-3  # the error is not small because nothing moved
    assert tracked["metadata"]["tracked_frames"] == 4


def _small_views(T):
    torch.set_num_threads(1)
    return _views(T, size=32, count=2)


def test_resume_continues_from_the_last_frame(tmp_path):
    views = _small_views(3)
    points, colors = _fuse(views, 0.02)
    cfg = TrackConfig(init_iters=5, iters=3)
    full = load_tracked(track_views(views, tmp_path / "full.h5", cfg, points=points, colors=colors, progress=False))
    part = tmp_path / "part.h5"
    track_views(views, part, cfg, points=points, colors=colors, progress=False, frames=2)
    assert load_tracked(part)["position"].shape[0] == 2
    resumed = load_tracked(track_views(views, part, cfg, points=points, colors=colors, progress=False))
    assert resumed["position"].shape[0] == 3
    assert np.allclose(resumed["position"], full["position"], atol=1e-6)
    assert np.allclose(resumed["rotation"], full["rotation"], atol=1e-6)
    with pytest.raises(InputError, match="exists from another run"):
        track_views(views, part, cfg, points=points, colors=colors, progress=False, oracle=True)


class _BrokenViews(MemoryViews):
    def frame(self, t):
        out = dict(super().frame(t))
        if t == 2:
            out["rgb"] = np.full_like(out["rgb"], np.nan)
        return out


def test_non_finite_loss_stops_naming_the_frame_and_keeps_earlier_frames(tmp_path):
    good = _small_views(4)
    views = _BrokenViews(good.cameras, good.rgb, good.alpha, good.depth, dt=good.dt)
    points, colors = _fuse(good, 0.02)
    path = tmp_path / "t.h5"
    with pytest.raises(SimulationError, match="tracking frame 2: the loss became non-finite"):
        track_views(views, path, TrackConfig(init_iters=3, iters=2), points=points, colors=colors, progress=False)
    kept = load_tracked(path)
    assert kept["position"].shape[0] == 2 and np.isfinite(kept["position"]).all()


def test_track_command_resumes_and_compare_reports_the_tracking_error(tmp_path, capsys):
    pytest.importorskip("open3d")  # seeding fuses the RGB-D frames with open3d
    import json

    from simengine.cli import main
    from simengine.gaussians.video import write_views

    views = _small_views(3)
    path = write_views(tmp_path / "views.h5", views.rgb, views.alpha, views.depth, views.cameras,
                       ground_truth=views.ground_truth, dt=views.dt, metadata={"background": [0.0, 0.0, 0.0]})
    out = tmp_path / "tracked.h5"
    argv = ["track", str(tmp_path), "--out", str(out), "--init-iters", "3", "--iters", "2", "--voxel", "0.02",
            "--quiet", "--threads", "1"]
    assert main(argv + ["--frames", "2"]) == 0
    assert load_tracked(out)["position"].shape[0] == 2
    assert main(argv) == 0  # resumes: tracks frame 2 only
    tracked = load_tracked(out)
    assert tracked["position"].shape[0] == 3 and tracked["metadata"]["views"] == str(path)
    summary = json.loads((tmp_path / "tracked_error.json").read_text())
    assert summary["frames"] == 3 and len(summary["within"]["5mm"]) == 3
    assert "tracking error over 3 frames" in capsys.readouterr().out
    assert main(["compare", "--pred", str(out), "--truth", str(path), "--out", str(tmp_path / "cmp")]) == 0
    metrics = json.loads((tmp_path / "cmp" / "metrics.json").read_text())
    assert metrics["kind"] == "tracking" and metrics["mean_mm"] == summary["mean_mm"]
    assert (tmp_path / "cmp" / "tracking_error.png").stat().st_size > 0


def test_oracle_seeding_keeps_the_ground_truth_correspondence(tmp_path):
    views = _small_views(2)
    out = track_views(views, tmp_path / "o.h5", TrackConfig(init_iters=2, iters=2, max_gaussians=50), oracle=True,
                      progress=False)
    tracked = load_tracked(out)
    index = tracked["seed_index"]
    assert tracked["metadata"]["oracle"] and index.shape == (50,) and len(np.unique(index)) == 50
    gt = views.ground_truth
    # 2 Adam steps of at most 0.5 mm on frame 0: the seeds stay at their ground-truth Gaussians
    assert np.abs(tracked["position"][0] - gt["position"][0][index]).max() < 1.5e-3
    r = tracking_error(tracked["position"], gt["position"], gt["rotation"], oracle=True, match=index)
    assert np.allclose(r["seed_mm"], np.linalg.norm(tracked["position"][0] - gt["position"][0][index], axis=1) * 1e3,
                       atol=1e-3)
