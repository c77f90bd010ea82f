"""RGB-D fusion with open3d: the first frame's depth images of all views -> one coloured point cloud, the seed of
the tracker's Gaussians (as GS-Dynamics seeds its Gaussians from 4 real RGB-D cameras); and ``.ply`` export.

For each camera, open3d's ``RGBDImage.create_from_color_and_depth`` and ``PointCloud.create_from_rgbd_image``
back-project the valid pixels (depth > 0, finite, and ``alpha >= min_alpha`` where the frame has an ``alpha``:
the object's mask, which also drops the silhouette pixels whose depth mixes the object and the void; colours,
composited over black by the renderer, are divided by alpha, and held in 8 bits as open3d's images) with the
camera's intrinsics and its world-to-camera extrinsic (what open3d takes). open3d puts pixel ``(i, j)`` at
``(i, j)``, simengine's cameras at the pixel centre ``(i + 0.5, j + 0.5)``: the principal point is passed
shifted by half a pixel, so both agree (`Camera.unproject`). The views' clouds are merged, voxel-down-sampled
(``voxel`` metres, optional) and cleaned by open3d's statistical outlier removal (a point whose mean distance to
its ``outlier_neighbors`` nearest points exceeds the mean by ``outlier_std`` standard deviations is dropped).

open3d (PyPI ``open3d-cpu``, or ``open3d``) is imported only inside these functions; on Linux it needs the
system library ``libusb-1.0`` (Debian ``libusb-1.0-0``). Its rendering is never used (offscreen rendering
needs Vulkan and can abort the process).
"""
from __future__ import annotations

import os

import numpy as np

from simengine.errors import InputError

__all__ = ["fuse_rgbd", "write_ply", "read_ply", "import_open3d"]


def import_open3d():
    """``open3d``, or an `InputError` saying how to install it."""
    try:
        import open3d
    except ImportError as exc:  # also OSError-like failures of its shared libraries surface as ImportError
        raise InputError(f"open3d is needed for RGB-D fusion and .ply files but cannot be imported ({exc}); "
                         "install it with `pip install open3d-cpu` (Linux x86-64) or `pip install open3d`, and "
                         "Debian's libusb-1.0-0 (`apt-get install libusb-1.0-0`)") from exc
    return open3d


def _numpy(value) -> np.ndarray:
    if hasattr(value, "detach"):
        value = value.detach().cpu().numpy()
    return np.asarray(value)


def fuse_rgbd(frame, cameras, *, voxel: float | None = None, outlier_neighbors: int = 20, outlier_std: float = 2.0,
              min_alpha: float = 0.5) -> tuple[np.ndarray, np.ndarray]:
    """Fuse one frame's V depth images into a coloured point cloud (see the module docstring).

    Args:
        frame: {"rgb": (V, H, W, 3) in [0, 1] (or uint8), "depth": (V, H, W) metres (0 = no return), optional
            "alpha": (V, H, W)} -- `Views.frame(t)`'s dict; numpy arrays or torch tensors. With alpha, rgb is
            taken as composited over black (what `render_views` gives) and divided by alpha.
        cameras: V `Camera`s of size (W, H).
        voxel: voxel size (m) of the down-sampling; None keeps every point.
        outlier_neighbors, outlier_std: statistical outlier removal (0 neighbours disables it).
        min_alpha: pixels with ``alpha`` below this are ignored (when the frame has alpha).

    Returns:
        (points (M, 3) float64 world coordinates, colors (M, 3) float64 in [0, 1]).

    Raises:
        InputError: shapes that do not match the cameras, or a camera whose depth map has no valid pixel.
    """
    o3d = import_open3d()
    cameras = list(cameras)
    depth = _numpy(frame["depth"]).astype(np.float32)
    rgb = _numpy(frame["rgb"])
    rgb = rgb.astype(np.float32) / 255.0 if rgb.dtype == np.uint8 else rgb.astype(np.float32)
    alpha = _numpy(frame["alpha"]).astype(np.float32) if frame.get("alpha") is not None else None
    if voxel is not None and not voxel > 0:
        raise InputError(f"voxel = {voxel!r} is outside the allowed range (0, inf)")
    if int(outlier_neighbors) != outlier_neighbors or outlier_neighbors < 0:
        raise InputError(f"outlier_neighbors = {outlier_neighbors!r} must be an integer >= 0")
    if not outlier_std > 0:
        raise InputError(f"outlier_std = {outlier_std!r} is outside the allowed range (0, inf)")
    if depth.ndim != 3 or len(depth) != len(cameras):
        raise InputError(f"depth has shape {depth.shape}, expected (V, H, W) with V = {len(cameras)} cameras")
    points, colours = [], []
    for v, cam in enumerate(cameras):
        shape = (cam.height, cam.width)
        for key, value, want in (("depth", depth[v], shape), ("rgb", rgb[v], shape + (3,)),
                                 ("alpha", None if alpha is None else alpha[v], shape)):
            if value is not None and value.shape != want:
                raise InputError(f"camera {cam.name!r}: {key} has shape {value.shape}, expected {want}")
        d = np.where(np.isfinite(depth[v]) & (depth[v] > 0), depth[v], 0.0).astype(np.float32)
        colour = rgb[v]
        if alpha is not None:
            d[alpha[v] < min_alpha] = 0.0
            # rendered colours are composited over black: C = alpha c; the surface colour is C / alpha
            colour = colour / np.maximum(alpha[v], min_alpha)[..., None]
        if not (d > 0).any():
            what = f"no pixel with depth > 0{f' and alpha >= {min_alpha}' if alpha is not None else ''}"
            raise InputError(f"camera {cam.name!r}: the depth map has no valid pixels ({what}); the camera sees "
                             "nothing of the object")
        color = o3d.geometry.Image(np.ascontiguousarray(np.round(np.clip(colour, 0, 1) * 255).astype(np.uint8)))
        rgbd = o3d.geometry.RGBDImage.create_from_color_and_depth(
            color, o3d.geometry.Image(np.ascontiguousarray(d)), depth_scale=1.0,
            depth_trunc=float(d.max()) * 2 + 1.0, convert_rgb_to_intensity=False)
        K = cam.K
        intrinsic = o3d.camera.PinholeCameraIntrinsic(cam.width, cam.height, K[0, 0], K[1, 1], K[0, 2] - 0.5,
                                                      K[1, 2] - 0.5)
        cloud = o3d.geometry.PointCloud.create_from_rgbd_image(rgbd, intrinsic, cam.world_to_camera,
                                                               project_valid_depth_only=True)
        points.append(np.asarray(cloud.points))
        colours.append(np.asarray(cloud.colors))
    cloud = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(np.concatenate(points)))
    cloud.colors = o3d.utility.Vector3dVector(np.concatenate(colours))
    if voxel is not None:
        cloud = cloud.voxel_down_sample(float(voxel))
    if outlier_neighbors and len(cloud.points) > outlier_neighbors:
        cloud, _ = cloud.remove_statistical_outlier(nb_neighbors=int(outlier_neighbors), std_ratio=float(outlier_std))
    return np.asarray(cloud.points, dtype=np.float64), np.clip(np.asarray(cloud.colors, dtype=np.float64), 0, 1)


def write_ply(path, points, colors=None, *, binary: bool = True) -> str:
    """Write a point cloud (M, 3) (with optional (M, 3) colours in [0, 1]) to a ``.ply`` file with open3d,
    atomically (a temporary ``.ply`` beside it, then renamed). Returns ``path``."""
    import contextlib
    import tempfile

    o3d = import_open3d()
    path = os.fspath(path)
    if not path.lower().endswith(".ply"):
        raise InputError(f"{path}: a point cloud file name must end in .ply")
    pts = np.asarray(points, dtype=np.float64)
    if pts.ndim != 2 or pts.shape[1] != 3 or not np.all(np.isfinite(pts)):
        raise InputError(f"points must be finite (M, 3), got shape {pts.shape}")
    cloud = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(pts))
    if colors is not None:
        col = np.asarray(colors, dtype=np.float64)
        if col.shape != pts.shape:
            raise InputError(f"colors have shape {col.shape}, expected {pts.shape}")
        cloud.colors = o3d.utility.Vector3dVector(np.clip(col, 0, 1))
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path)[:-4] + ".", suffix=".tmp.ply", dir=directory)
    os.close(fd)
    try:
        if not o3d.io.write_point_cloud(tmp, cloud, write_ascii=not binary):
            raise InputError(f"{path}: open3d could not write the point cloud")
        from simengine.io.trajectory import _UMASK

        os.chmod(tmp, 0o666 & ~_UMASK)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.remove(tmp)
        raise
    return path


def read_ply(path) -> tuple[np.ndarray, np.ndarray | None]:
    """(points (M, 3), colours (M, 3) or None) of a ``.ply`` point cloud, read with open3d."""
    o3d = import_open3d()
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise InputError(f"{path}: no such file")
    cloud = o3d.io.read_point_cloud(path)
    colors = np.asarray(cloud.colors) if cloud.has_colors() else None
    return np.asarray(cloud.points), colors
