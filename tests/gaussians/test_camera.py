"""Calibrated pinhole cameras (`simengine.gaussians.camera`): the OpenCV convention, pixel centres, orbits, the
array round trip and bad input."""
import math

import numpy as np
import pytest

from simengine.errors import InputError
from simengine.gaussians.camera import Camera, cameras_from_arrays, cameras_to_arrays, look_at, orbit_cameras


def test_look_at_follows_the_opencv_convention():
    cam = look_at((0, 0, -2), (0, 0, 0), width=64, height=48, focal=100)
    assert np.allclose(cam.center, [0, 0, -2])
    # the target is straight ahead (+z), on the principal point, 2 m deep
    uv, z = cam.project([[0, 0, 0]])
    assert np.allclose(uv, [[32, 24]]) and np.allclose(z, [2])
    # world +y (up) appears upwards in the image (smaller v); looking along +z with +y up, the right-hand side
    # (image +x) is forward x up = -x
    uv, _ = cam.project([[0, 0.1, 0], [-0.1, 0, 0]])
    assert uv[0, 1] < 24 and uv[1, 0] > 32
    assert np.allclose(uv[0], [32, 24 - 100 * 0.1 / 2])
    # points behind the camera get NaN pixels
    assert np.isnan(cam.project([[0, 0, -3]])[0]).all()
    assert cam.pixel_footprint(2.0) == pytest.approx(0.02)


def test_unproject_inverts_project_at_pixel_centres():
    cam = look_at((0.4, 0.6, -1.0), (0.05, 0.0, 0.1), width=40, height=30)
    depth = np.full((30, 40), 1.3)
    depth[0, 0] = 0.0  # no return
    depth[1, 1] = np.nan
    pts = cam.unproject(depth)
    assert len(pts) == 40 * 30 - 2
    uv, z = cam.project(pts)
    j, i = np.nonzero(np.isfinite(depth) & (depth > 0))
    assert np.allclose(uv, np.stack([i + 0.5, j + 0.5], 1)) and np.allclose(z, 1.3)
    with pytest.raises(InputError, match="depth map has shape"):
        cam.unproject(np.ones((40, 30)))


def test_orbit_cameras_surround_the_target():
    target = np.array([0.1, 0.2, -0.3])
    cams = orbit_cameras(target, 0.8, count=4, elevation_deg=30.0, width=32, height=32)
    assert [c.name for c in cams] == ["view0", "view1", "view2", "view3"]
    for cam in cams:
        offset = cam.center - target
        assert np.linalg.norm(offset) == pytest.approx(0.8)
        assert math.degrees(math.asin(offset[1] / 0.8)) == pytest.approx(30.0)
        uv, _ = cam.project(target[None])
        assert np.allclose(uv, [[16, 16]])
    azimuths = sorted(math.degrees(math.atan2(c.center[2] - target[2], c.center[0] - target[0])) % 360 for c in cams)
    assert np.allclose(np.diff(azimuths), 90.0)
    with pytest.raises(InputError, match="distance"):
        orbit_cameras(target, 0.0)
    with pytest.raises(InputError, match="count"):
        orbit_cameras(target, 1.0, count=0)


def test_arrays_round_trip_through_hdf5(tmp_path):
    import h5py

    cams = orbit_cameras((0, 0, 0), 1.0, count=3, width=20, height=10, focal=30)
    arrays = cameras_to_arrays(cams)
    assert arrays["K"].shape == (3, 3, 3) and arrays["size"].tolist() == [[20, 10]] * 3
    with h5py.File(tmp_path / "c.h5", "w") as f:
        for k, v in arrays.items():
            f.create_dataset(k, data=v.astype(h5py.string_dtype()) if k == "names" else v)
    with h5py.File(tmp_path / "c.h5", "r") as f:
        back = cameras_from_arrays({k: f[k][()] for k in f})
    for a, b in zip(cams, back):
        assert a.name == b.name and (a.width, a.height) == (b.width, b.height)
        assert np.array_equal(a.K, b.K) and np.array_equal(a.world_to_camera, b.world_to_camera)


@pytest.mark.parametrize("K, message", [
    (np.diag([0.0, 100.0, 1.0]), "degenerate intrinsic"),
    (np.array([[100.0, 1.0, 10], [0, 100, 10], [0, 0, 1]]), "degenerate intrinsic"),
    (np.array([[100.0, 0, 10], [0, 100, 10], [0, 0, 2]]), "degenerate intrinsic"),
    (np.eye(2), "finite"),
])
def test_bad_intrinsics_are_refused_naming_the_camera(K, message):
    with pytest.raises(InputError, match=f"camera 'left'.*{message}"):
        Camera(K, np.eye(4), 20, 20, "left")


def test_bad_extrinsics_and_sizes_are_refused():
    K = np.array([[50.0, 0, 10], [0, 50, 10], [0, 0, 1]])
    E = np.eye(4)
    E[:3, :3] = np.diag([1.0, 1.0, -1.0])  # a reflection
    with pytest.raises(InputError, match="rigid transform"):
        Camera(K, E, 20, 20, "c")
    with pytest.raises(InputError, match="width"):
        Camera(K, np.eye(4), 0, 20, "c")
    with pytest.raises(InputError, match="coincide"):
        look_at((0, 0, 0), (0, 0, 0))
    with pytest.raises(InputError, match="parallel"):
        look_at((0, 1, 0), (0, 0, 0))
