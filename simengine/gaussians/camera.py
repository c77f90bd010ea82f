"""Calibrated pinhole cameras shared by the Gaussian renderer, the multi-view videos, RGB-D fusion and tracking.

Conventions (OpenCV's, the ones GS-Dynamics' and PGND's real cameras use):

- ``world_to_camera`` is a 4x4 rigid transform, ``x_c = R x_w + t``; the camera looks along its +z axis, +x is
  right in the image and +y is down.
- ``K = [[fx, 0, cx], [0, fy, cy], [0, 0, 1]]`` in pixels; a point projects to ``u = fx x_c / z_c + cx``,
  ``v = fy y_c / z_c + cy``. Pixel ``(i, j)`` (column ``i``, row ``j``) covers ``[i, i + 1) x [j, j + 1)``,
  so its centre is at ``(i + 0.5, j + 0.5)``.
- Depth is ``z_c`` (distance along the optical axis, metres), the convention of RGB-D cameras and open3d.
- Images are ``(height, width)`` row-major.

simengine's scenes have +y up (gravity ``(0, -9.81, 0)``); `orbit_cameras` places cameras around a vertical
(+y) axis looking at the object.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from simengine.errors import InputError

__all__ = ["Camera", "look_at", "orbit_cameras", "cameras_to_arrays", "cameras_from_arrays"]


@dataclass(frozen=True)
class Camera:
    """One calibrated pinhole camera.

    Args:
        K: (3, 3) intrinsic matrix in pixels (zero skew).
        world_to_camera: (4, 4) rigid extrinsic transform (rotation orthonormal, det +1).
        width, height: image size in pixels.
        name: used in error messages and file names.
    """

    K: np.ndarray
    world_to_camera: np.ndarray
    width: int
    height: int
    name: str = "camera"

    def __post_init__(self):
        K = np.asarray(self.K, dtype=np.float64)
        E = np.asarray(self.world_to_camera, dtype=np.float64)
        object.__setattr__(self, "K", K)
        object.__setattr__(self, "world_to_camera", E)
        where = f"camera {self.name!r}"
        if K.shape != (3, 3) or not np.all(np.isfinite(K)):
            raise InputError(f"{where}: K must be a finite (3, 3) matrix, got shape {K.shape}")
        fx, fy = K[0, 0], K[1, 1]
        if fx <= 0 or fy <= 0 or K[0, 1] != 0 or np.any(K[2] != (0.0, 0.0, 1.0)) or K[1, 0] != 0:
            raise InputError(f"{where}: degenerate intrinsic matrix K = {K.tolist()}; need fx > 0, fy > 0, zero "
                             "skew and last row (0, 0, 1)")
        if E.shape != (4, 4) or not np.all(np.isfinite(E)):
            raise InputError(f"{where}: world_to_camera must be a finite (4, 4) matrix, got shape {E.shape}")
        R = E[:3, :3]
        if (np.abs(R @ R.T - np.eye(3)).max() > 1e-6 or abs(np.linalg.det(R) - 1) > 1e-6
                or np.any(E[3] != (0.0, 0.0, 0.0, 1.0))):
            raise InputError(f"{where}: world_to_camera must be a rigid transform (orthonormal rotation, det +1, "
                             "last row (0, 0, 0, 1))")
        for field, value in (("width", self.width), ("height", self.height)):
            if int(value) != value or value < 1:
                raise InputError(f"{where}: {field} = {value!r} must be a positive integer")
        object.__setattr__(self, "width", int(self.width))
        object.__setattr__(self, "height", int(self.height))

    @property
    def R(self) -> np.ndarray:
        """(3, 3) world-to-camera rotation."""
        return self.world_to_camera[:3, :3]

    @property
    def t(self) -> np.ndarray:
        """(3,) world-to-camera translation."""
        return self.world_to_camera[:3, 3]

    @property
    def center(self) -> np.ndarray:
        """(3,) camera centre in world coordinates."""
        return -self.R.T @ self.t

    def to_camera(self, points) -> np.ndarray:
        """(N, 3) world points -> (N, 3) camera-frame points."""
        return np.asarray(points, dtype=np.float64) @ self.R.T + self.t

    def project(self, points) -> tuple[np.ndarray, np.ndarray]:
        """(N, 3) world points -> ((N, 2) pixel coordinates (u, v), (N,) depth z_c). Points behind get NaN uv."""
        pc = self.to_camera(points)
        z = pc[:, 2]
        with np.errstate(divide="ignore", invalid="ignore"):
            uv = np.stack([self.K[0, 0] * pc[:, 0] / z + self.K[0, 2], self.K[1, 1] * pc[:, 1] / z + self.K[1, 2]], 1)
        uv[z <= 0] = np.nan
        return uv, z

    def unproject(self, depth) -> np.ndarray:
        """(H, W) depth map (0 or non-finite = no return) -> (M, 3) world points at the valid pixels' centres."""
        depth = np.asarray(depth, dtype=np.float64)
        if depth.shape != (self.height, self.width):
            raise InputError(f"camera {self.name!r}: depth map has shape {depth.shape}, expected "
                             f"({self.height}, {self.width})")
        j, i = np.nonzero(np.isfinite(depth) & (depth > 0))
        z = depth[j, i]
        x = (i + 0.5 - self.K[0, 2]) / self.K[0, 0] * z
        y = (j + 0.5 - self.K[1, 2]) / self.K[1, 1] * z
        return (np.stack([x, y, z], 1) - self.t) @ self.R

    def pixel_footprint(self, depth: float) -> float:
        """Size (m) of one pixel at ``depth``."""
        return float(depth / math.sqrt(self.K[0, 0] * self.K[1, 1]))


def look_at(eye, target, up=(0.0, 1.0, 0.0), *, width=128, height=128, focal=None, name="camera") -> Camera:
    """A camera at ``eye`` looking at ``target``; ``focal`` in pixels (default 1.2 x height), centred principal point.

    The image's up direction is ``up`` projected onto the image plane (image +y, down, is its opposite).
    """
    eye, target, up = (np.asarray(a, dtype=np.float64).reshape(3) for a in (eye, target, up))
    forward = target - eye
    if np.linalg.norm(forward) == 0:
        raise InputError(f"camera {name!r}: eye and target coincide at {eye.tolist()}")
    z = forward / np.linalg.norm(forward)
    x = np.cross(z, up)
    if np.linalg.norm(x) < 1e-9:
        raise InputError(f"camera {name!r}: up = {up.tolist()} is parallel to the viewing direction")
    x /= np.linalg.norm(x)
    y = np.cross(z, x)
    R = np.stack([x, y, z])
    E = np.eye(4)
    E[:3, :3], E[:3, 3] = R, -R @ eye
    f = 1.2 * height if focal is None else float(focal)
    K = np.array([[f, 0.0, width / 2.0], [0.0, f, height / 2.0], [0.0, 0.0, 1.0]])
    return Camera(K, E, width, height, name)


def orbit_cameras(target, distance, *, count=4, elevation_deg=30.0, azimuth0_deg=45.0, width=128, height=128,
                  focal=None) -> list[Camera]:
    """``count`` cameras evenly spaced in azimuth around the vertical (+y) axis through ``target``, looking at it
    from ``distance`` metres and ``elevation_deg`` above the horizontal; named ``view0``, ``view1``, ...
    """
    if int(count) != count or count < 1:
        raise InputError(f"count = {count!r} must be a positive integer")
    if not distance > 0:
        raise InputError(f"distance = {distance!r} is outside the allowed range (0, inf)")
    target = np.asarray(target, dtype=np.float64).reshape(3)
    el = math.radians(elevation_deg)
    cams = []
    for c in range(int(count)):
        az = math.radians(azimuth0_deg + 360.0 * c / count)
        offset = distance * np.array([math.cos(el) * math.cos(az), math.sin(el), math.cos(el) * math.sin(az)])
        cams.append(look_at(target + offset, target, width=width, height=height, focal=focal, name=f"view{c}"))
    return cams


def cameras_to_arrays(cameras) -> dict:
    """Cameras -> arrays for an HDF5 group or an ``.npz``: ``K`` (C, 3, 3), ``world_to_camera`` (C, 4, 4),
    ``size`` (C, 2) as (width, height), ``names`` (C,) strings."""
    return {"K": np.stack([c.K for c in cameras]), "world_to_camera": np.stack([c.world_to_camera for c in cameras]),
            "size": np.array([[c.width, c.height] for c in cameras], dtype=np.int64),
            "names": np.array([c.name for c in cameras], dtype=object)}


def cameras_from_arrays(arrays) -> list[Camera]:
    """Inverse of `cameras_to_arrays` (names may be bytes, as h5py returns them)."""
    names = [n.decode() if isinstance(n, bytes) else str(n) for n in np.asarray(arrays["names"])]
    return [Camera(K, E, int(s[0]), int(s[1]), n)
            for K, E, s, n in zip(np.asarray(arrays["K"]), np.asarray(arrays["world_to_camera"]),
                                  np.asarray(arrays["size"]), names)]
