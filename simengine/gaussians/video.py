"""Multi-view videos of simulated bodies: one HDF5 file, ``views.h5``, that the tracker reads (`read_views`).

Layout (T frames, V views of H x W pixels, N ground-truth Gaussians)::

    attrs   format "simengine-views", version 1, dt (s between frames), metadata (JSON: simulator, source
            trajectory, texture, seeds, source frame indices, background)
    cameras/K (V, 3, 3), world_to_camera (V, 4, 4), size (V, 2) (width, height), names (V,)
            (`simengine.gaussians.camera.cameras_to_arrays`)
    rgb     (T, V, H, W, 3) uint8, composited over ``metadata["background"]`` (black by default)
    alpha   (T, V, H, W) float32, the rendered opacity (the object's soft mask)
    depth   (T, V, H, W) float32, camera z (m), 0 where alpha is ~0
    ground_truth/position (T, N, 3), rotation (T, N, 4) (w, x, y, z), scale (N, 3), opacity (N,), color (N, 3),
            parent (N,): the simulated Gaussians (`simengine.gaussians.lbs.skin_gaussians`), float32

Image arrays are chunked per frame and gzip-compressed; the file is written to a temporary name beside the
target and renamed over it when complete (`ViewsWriter`), so a reader never sees half a file.

`render_video` is the pipeline behind ``simengine render``: Gaussians on the trajectory's bodies
(`simengine.gaussians.bodies`), skinned over the frames (`simengine.gaussians.lbs`), rendered by
`simengine.gaussians.render.render_views` through calibrated orbit cameras, written here, plus a GIF (an MP4
when imageio-ffmpeg is installed) of the views for people.
"""
from __future__ import annotations

import contextlib
import json
import math
import os
import tempfile

import numpy as np

from simengine.errors import DatasetError, InputError

__all__ = ["Views", "ViewsWriter", "write_views", "read_views", "fit_cameras", "render_video", "write_movie"]

FORMAT, VERSION = "simengine-views", 1
GROUND_TRUTH_KEYS = ("position", "rotation", "scale", "opacity", "color")


class ViewsWriter:
    """Write a ``views.h5`` frame by frame; the file appears (atomically) when the ``with`` block ends cleanly.

        with ViewsWriter(path, cameras, dt=0.033, metadata={...}) as writer:
            for frame in frames:
                writer.add(rgb, alpha, depth)        # (V, H, W, 3), (V, H, W), (V, H, W)
            writer.set_ground_truth(position=..., rotation=..., scale=..., opacity=..., color=...)

    Args:
        path: the target file.
        cameras: the V `Camera`s, all of one size (the images' (W, H)).
        dt: time between frames (s). metadata: a JSON-serialisable dict.
    """

    def __init__(self, path, cameras, *, dt: float = 1.0, metadata: dict | None = None):
        from simengine.gaussians.camera import Camera

        self.path = os.fspath(path)
        self.cameras = list(cameras)
        if not self.cameras or not all(isinstance(c, Camera) for c in self.cameras):
            raise InputError("cameras must be a non-empty list of simengine.gaussians.Camera")
        w, h = self.cameras[0].width, self.cameras[0].height
        for cam in self.cameras[1:]:
            if (cam.width, cam.height) != (w, h):
                raise InputError(f"camera {cam.name!r} is {cam.width}x{cam.height} but camera "
                                 f"{self.cameras[0].name!r} is {w}x{h}: every view needs one image size")
        if not (isinstance(dt, (int, float)) and math.isfinite(dt) and dt > 0):
            raise InputError(f"dt = {dt!r} is outside the allowed range (0, inf)")
        self.shape = (len(self.cameras), h, w)
        self.dt, self.metadata = float(dt), dict(metadata or {})
        self.count, self.ground_truth = 0, None
        self._file = self._tmp = None

    def __enter__(self):
        import h5py

        from simengine.gaussians.camera import cameras_to_arrays

        directory = os.path.dirname(os.path.abspath(self.path))
        os.makedirs(directory, exist_ok=True)
        fd, self._tmp = tempfile.mkstemp(prefix="." + os.path.basename(self.path) + ".", suffix=".tmp",
                                         dir=directory)
        os.close(fd)
        f = self._file = h5py.File(self._tmp, "w")
        V, H, W = self.shape
        group = f.create_group("cameras")
        for key, value in cameras_to_arrays(self.cameras).items():
            group.create_dataset(key, data=value.astype(h5py.string_dtype()) if key == "names" else value)
        opts = dict(compression="gzip", compression_opts=4, shuffle=True)
        f.create_dataset("rgb", (0, V, H, W, 3), np.uint8, maxshape=(None, V, H, W, 3), chunks=(1, V, H, W, 3),
                         **opts)
        for key in ("alpha", "depth"):
            f.create_dataset(key, (0, V, H, W), np.float32, maxshape=(None, V, H, W), chunks=(1, V, H, W), **opts)
        return self

    def add(self, rgb, alpha, depth) -> None:
        """Append one frame: ``rgb`` (V, H, W, 3) in [0, 1] (float) or uint8, ``alpha`` and ``depth`` (V, H, W).
        Torch tensors are accepted."""
        arrays = {"rgb": _numpy(rgb), "alpha": _numpy(alpha), "depth": _numpy(depth)}
        for key, value in arrays.items():
            want = self.shape + ((3,) if key == "rgb" else ())
            if value.shape != want:
                raise InputError(f"frame {self.count}: {key} has shape {value.shape}, expected {want} (the "
                                 f"{self.shape[0]} cameras' {self.shape[2]}x{self.shape[1]} images); every frame "
                                 "needs the same size")
            if not np.all(np.isfinite(value)):
                raise InputError(f"frame {self.count}: {key} has non-finite values")
        rgb = arrays["rgb"]
        if rgb.dtype != np.uint8:
            rgb = np.round(np.clip(rgb, 0.0, 1.0) * 255.0).astype(np.uint8)
        t = self.count
        for key, value in (("rgb", rgb), ("alpha", arrays["alpha"]), ("depth", arrays["depth"])):
            data = self._file[key]
            data.resize(t + 1, axis=0)
            data[t] = value
        self.count += 1

    def set_ground_truth(self, *, position, rotation, scale, opacity, color, parent=None) -> None:
        """The simulated Gaussians: position (T, N, 3), rotation (T, N, 4) wxyz, scale (N, 3), opacity (N,),
        color (N, 3), parent (N,) (checked against the frame count when the writer closes)."""
        gt = {"position": _numpy(position), "rotation": _numpy(rotation), "scale": _numpy(scale),
              "opacity": _numpy(opacity), "color": _numpy(color)}
        T, N = gt["position"].shape[:2] if gt["position"].ndim == 3 else (None, None)
        for key, shape in (("position", (T, N, 3)), ("rotation", (T, N, 4)), ("scale", (N, 3)), ("opacity", (N,)),
                           ("color", (N, 3))):
            if T is None or gt[key].shape != shape:
                raise InputError(f"ground_truth {key} has shape {gt[key].shape}, expected {shape} "
                                 "(T frames, N Gaussians)")
        if parent is not None:
            gt["parent"] = np.asarray(parent, dtype=np.int64).reshape(N)
        self.ground_truth = gt

    def __exit__(self, kind, value, tb):
        try:
            if kind is None:
                if self.count == 0:
                    raise InputError(f"{self.path}: no frames were added")
                if self.ground_truth is not None and len(self.ground_truth["position"]) != self.count:
                    raise InputError(f"ground_truth has {len(self.ground_truth['position'])} frames but "
                                     f"{self.count} image frames were added")
                f = self._file
                if self.ground_truth is not None:
                    group = f.create_group("ground_truth")
                    for key, array in self.ground_truth.items():
                        array = array if key == "parent" else array.astype(np.float32)
                        group.create_dataset(key, data=array, compression="gzip" if array.size > 1024 else None)
                f.attrs["format"], f.attrs["version"] = FORMAT, VERSION
                f.attrs["dt"] = self.dt
                from simengine.io.trajectory import _jsonable

                f.attrs["metadata"] = json.dumps(_jsonable(self.metadata))
                f.close()
                from simengine.io.trajectory import _UMASK

                os.chmod(self._tmp, 0o666 & ~_UMASK)
                os.replace(self._tmp, self.path)
                self._tmp = None
        finally:
            if self._file is not None and self._file.id.valid:
                self._file.close()
            if self._tmp is not None:
                with contextlib.suppress(FileNotFoundError):
                    os.remove(self._tmp)
        return False


def _numpy(value) -> np.ndarray:
    if hasattr(value, "detach"):
        value = value.detach().cpu().numpy()
    return np.asarray(value)


def write_views(path, rgb, alpha, depth, cameras, *, ground_truth: dict | None = None, dt: float = 1.0,
                metadata: dict | None = None) -> str:
    """Write a whole video at once: ``rgb`` (T, V, H, W, 3), ``alpha`` and ``depth`` (T, V, H, W) (arrays or
    sequences of per-frame arrays), ``ground_truth`` a dict with `GROUND_TRUTH_KEYS` (+ optional ``parent``).
    Returns ``path``."""
    if not (len(rgb) == len(alpha) == len(depth)):
        raise InputError(f"rgb, alpha and depth have {len(rgb)}, {len(alpha)} and {len(depth)} frames: they must "
                         "be equal")
    with ViewsWriter(path, cameras, dt=dt, metadata=metadata) as writer:
        for t in range(len(rgb)):
            writer.add(rgb[t], alpha[t], depth[t])
        if ground_truth is not None:
            missing = [k for k in GROUND_TRUTH_KEYS if k not in ground_truth]
            if missing:
                raise InputError(f"ground_truth lacks {missing}; it needs {list(GROUND_TRUTH_KEYS)}")
            writer.set_ground_truth(**{k: ground_truth[k] for k in (*GROUND_TRUTH_KEYS, "parent")
                                       if k in ground_truth})
    return os.fspath(path)


class Views:
    """A ``views.h5`` opened for reading (`read_views`). Arrays are read on demand, one frame at a time.

    Attributes:
        path, cameras (list of `Camera`), num_frames, num_views, height, width, dt, metadata (dict).
    """

    def __init__(self, path):
        import h5py

        from simengine.gaussians.camera import cameras_from_arrays

        self.path = os.fspath(path)
        try:
            with h5py.File(self.path, "r") as f:
                if f.attrs.get("format") != FORMAT:
                    raise DatasetError(f"{self.path}: not a simengine views file (attribute format = "
                                       f"{f.attrs.get('format')!r}, expected {FORMAT!r})")
                for key in ("cameras", "rgb", "alpha", "depth"):
                    if key not in f:
                        raise DatasetError(f"{self.path}: no key {key!r}")
                self.cameras = cameras_from_arrays({k: f["cameras"][k][()] for k in f["cameras"]})
                self.num_frames, self.num_views, self.height, self.width = f["rgb"].shape[:4]
                self.dt = float(f.attrs.get("dt", 1.0))
                self.metadata = json.loads(f.attrs.get("metadata", "{}"))
                self.has_ground_truth = "ground_truth" in f
        except OSError as exc:
            raise DatasetError(f"{self.path}: not a readable HDF5 file ({exc})") from exc
        self._ground_truth = None

    def __len__(self) -> int:
        return self.num_frames

    def _read(self, f, key, index):
        try:
            return f[key][index]
        except Exception as exc:
            raise DatasetError(f"{self.path}: key {key} is corrupt or truncated ({exc})") from exc

    def frame(self, t: int) -> dict:
        """Frame ``t``: ``rgb`` (V, H, W, 3) float32 in [0, 1], ``alpha`` and ``depth`` (V, H, W) float32."""
        import h5py

        if int(t) != t or not -self.num_frames <= t < self.num_frames:
            raise InputError(f"frame = {t!r} is outside the video's frames [0, {self.num_frames})")
        t = int(t) % self.num_frames
        with h5py.File(self.path, "r") as f:
            rgb = self._read(f, "rgb", t).astype(np.float32) / 255.0
            return {"rgb": rgb, "alpha": self._read(f, "alpha", t).astype(np.float32),
                    "depth": self._read(f, "depth", t).astype(np.float32)}

    @property
    def ground_truth(self) -> dict:
        """The simulated Gaussians: ``position`` (T, N, 3), ``rotation`` (T, N, 4) wxyz, ``scale`` (N, 3),
        ``opacity`` (N,), ``color`` (N, 3), and ``parent`` (N,) when stored (float32 arrays)."""
        import h5py

        if self._ground_truth is None:
            if not self.has_ground_truth:
                raise DatasetError(f"{self.path}: no ground_truth group (a video without simulated Gaussians)")
            with h5py.File(self.path, "r") as f:
                g = f["ground_truth"]
                self._ground_truth = {k: self._read(g, k, ()) for k in g}
        return self._ground_truth

    def gaussians(self, t: int = 0):
        """The ground-truth Gaussians at frame ``t`` as a `GaussianSet`."""
        from simengine.gaussians.bodies import GaussianSet

        gt = self.ground_truth
        parent = gt.get("parent", np.arange(gt["scale"].shape[0]))
        return GaussianSet(gt["position"][t], gt["rotation"][t], gt["scale"], gt["opacity"], gt["color"], parent)


def read_views(path) -> Views:
    """Open a ``views.h5`` (see the module docstring); missing keys or a foreign file raise `DatasetError`."""
    return Views(path)


# ---- the render pipeline ----------------------------------------------------------------------------------
def fit_cameras(points, *, views: int = 4, size: int = 128, focal: float | None = None,
                distance: float | None = None, elevation: float = 30.0, border: float = 0.06) -> list:
    """Orbit cameras (`orbit_cameras`) looking at the centre of the bounding box of ``points`` (M, 3).

    Unless ``distance`` is given, it is the smallest at which every point projects inside every image with a
    ``border`` (fraction of the image size) to spare: found by bisection between a close distance and the one
    at which the bounding box's bounding sphere just fits the field of view (which always fits).
    """
    from simengine.gaussians.camera import orbit_cameras

    points = np.asarray(points, dtype=np.float64).reshape(-1, 3)
    if len(points) > 20000:
        points = points[np.random.default_rng(0).choice(len(points), 20000, replace=False)]
    lo, hi = points.min(0), points.max(0)
    centre = 0.5 * (lo + hi)
    f = 1.2 * size if focal is None else float(focal)
    if not f > 0:
        raise InputError(f"focal = {focal!r} is outside the allowed range (0, inf)")
    if not 0 <= border < 0.5:
        raise InputError(f"border = {border!r} is outside the allowed range [0, 0.5)")

    def cameras(d):
        return orbit_cameras(centre, d, count=views, elevation_deg=elevation, width=size, height=size, focal=f)

    if distance is not None:
        return cameras(distance)
    radius = max(0.5 * float(np.linalg.norm(hi - lo)), 1e-6)
    far = radius / math.sin(math.atan((0.5 - border) * size / f))  # the bounding sphere fits inside the border

    def fits(d):
        for cam in cameras(d):
            uv, z = cam.project(points)
            if not (np.all(z > 0) and np.all(uv >= border * size) and np.all(uv <= (1 - border) * size)):
                return False
        return True

    near = radius * 1e-3
    for _ in range(40):
        mid = 0.5 * (near + far)
        near, far = (near, mid) if fits(mid) else (mid, far)
    return cameras(far)


def _check_coverage(cameras, means, frame: int = 0) -> None:
    """InputError naming the first camera in which no Gaussian centre projects inside the image."""
    for cam in cameras:
        uv, z = cam.project(means)
        inside = (z > 0) & (uv[:, 0] >= 0) & (uv[:, 0] < cam.width) & (uv[:, 1] >= 0) & (uv[:, 1] < cam.height)
        if not inside.any():
            raise InputError(f"camera {cam.name!r} sees nothing of the object at frame {frame}: none of its "
                             f"{len(means)} Gaussians projects into its {cam.width}x{cam.height} image "
                             f"(camera centre {np.round(cam.center, 3).tolist()})")


def render_video(trajectory, path, *, cameras=None, views: int = 4, size: int = 128, texture: str = "stripes",
                 every: int = 1, frames: int | None = None, seed: int = 0, per_particle: int = 8,
                 max_particles: int | None = None, distance: float | None = None, elevation: float = 30.0,
                 focal: float | None = None, fit: str = "all", device: str = "cpu", progress: bool = True,
                 source: str | None = None) -> dict:
    """Render a trajectory's bodies into ``path`` (a ``views.h5``); see the module docstring.

    Args:
        trajectory: a 3D `Trajectory` with object particles.
        cameras: explicit cameras; otherwise `fit_cameras` around the object's particles over the rendered frames
            (``fit="all"``: the object stays in view throughout) or at frame 0 only (``fit="first"``: larger in
            the image, but it may leave the view).
        every, frames: render source frames 0, every, 2 every, ... (at most ``frames`` of them).
        seed: seed of the Gaussians' placement and texture.
        source: where the trajectory came from, stored in the metadata.

    Returns:
        {"path", "frames", "gaussians", "cameras", "seconds"}.
    """
    import time

    import torch
    from tqdm.auto import tqdm

    from simengine.errors import check_range
    from simengine.gaussians.bodies import gaussians_on_trajectory, object_particles
    from simengine.gaussians.lbs import skin_gaussians
    from simengine.gaussians.render import render_views

    start = time.perf_counter()
    every = int(check_range("every", every, 1, None))
    if fit not in ("all", "first"):
        raise InputError(f"fit = {fit!r}; allowed: 'all', 'first'")
    if frames is not None:
        check_range("frames", frames, 1, None)
    T = trajectory.num_frames
    index = np.arange(0, T, every)[:frames]
    gaussians = gaussians_on_trajectory(trajectory, seed=seed, texture=texture, per_particle=per_particle,
                                        max_particles=max_particles)
    body = object_particles(trajectory.particle_type)
    positions = np.asarray(trajectory.position, dtype=np.float64)[index]
    if cameras is None:
        pts = positions[:1 if fit == "first" else None, body].reshape(-1, 3)
        cameras = fit_cameras(pts, views=views, size=size, focal=focal, distance=distance, elevation=elevation)
    cameras = list(cameras)
    _check_coverage(cameras, gaussians.means)
    gt = skin_gaussians(gaussians, positions, particle_type=trajectory.particle_type, progress=False)
    meta = dict(trajectory.metadata)
    metadata = {"simulator": meta.get("simulator"), "solver": meta.get("solver"),
                "scene_script": meta.get("scene_script"), "trajectory_seed": meta.get("seed"), "source": source,
                "source_frames": index.tolist(), "source_dt": float(trajectory.dt), "every": every,
                "texture": texture, "gaussian_seed": int(seed), "per_particle": int(per_particle),
                "num_gaussians": len(gaussians), "background": [0.0, 0.0, 0.0],
                "renderer": "simengine.gaussians.render.render_views (torch EWA, dilation 0.3 px^2)"}
    base = gaussians.tensors(device=device)
    with ViewsWriter(path, cameras, dt=float(trajectory.dt) * every, metadata=metadata) as writer:
        bar = tqdm(range(len(index)), disable=not progress, desc="rendering", unit="frame", leave=False)
        for t in bar:
            means = torch.as_tensor(gt["position"][t], dtype=torch.float32, device=device)
            quats = torch.as_tensor(gt["rotation"][t], dtype=torch.float32, device=device)
            with torch.no_grad():
                try:
                    out = render_views(means, quats, base["scales"], base["opacities"], base["colors"], cameras)
                except InputError as exc:
                    raise InputError(f"frame {int(index[t])}: {exc}") from None
            writer.add(out["rgb"], out["alpha"], out["depth"])
        writer.set_ground_truth(position=gt["position"], rotation=gt["rotation"], scale=gaussians.scales,
                                opacity=gaussians.opacities, color=gaussians.colors, parent=gaussians.parent)
    return {"path": os.fspath(path), "frames": len(index), "gaussians": len(gaussians), "cameras": cameras,
            "seconds": time.perf_counter() - start}


def write_movie(views: Views, path, *, fps: float | None = None, background=(1.0, 1.0, 1.0), columns: int = 2):
    """A grid of the video's views per frame, composited over ``background``, as a GIF (``.gif``) or, with
    imageio-ffmpeg installed, an MP4 (``.mp4``); written atomically. Returns ``path``."""
    import imageio.v2 as imageio

    from simengine.io import atomic_path

    path = os.fspath(path)
    ext = os.path.splitext(path)[1].lower()
    if ext not in (".gif", ".mp4"):
        raise InputError(f"movie {path}: the name must end in .gif or .mp4")
    fps = fps or min(30.0, 1.0 / views.dt if views.dt > 0 else 15.0)
    bg = np.asarray(background, dtype=np.float32)
    V, H, W = views.num_views, views.height, views.width
    cols = min(columns, V)
    rows = -(-V // cols)
    images = []
    for t in range(views.num_frames):
        f = views.frame(t)
        rgb = f["rgb"] + (1 - f["alpha"])[..., None] * bg  # stored rgb is over black
        grid = np.ones((rows * H, cols * W, 3), np.float32)
        for v in range(V):
            r, c = divmod(v, cols)
            grid[r * H:(r + 1) * H, c * W:(c + 1) * W] = rgb[v]
        images.append(np.round(np.clip(grid, 0, 1) * 255).astype(np.uint8))
    with atomic_path(path) as tmp:
        if ext == ".gif":
            with open(tmp, "wb") as fh:
                imageio.mimsave(fh, images, format="GIF", duration=1000.0 / fps, loop=0)
        else:
            imageio.mimsave(tmp, images, format="FFMPEG", fps=fps)
    return path


def movie_extension() -> str:
    """``.mp4`` when imageio-ffmpeg is importable, else ``.gif``."""
    import importlib.util

    return ".mp4" if importlib.util.find_spec("imageio_ffmpeg") is not None else ".gif"
