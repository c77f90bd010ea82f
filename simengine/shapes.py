"""Solid shapes: where bodies' particles are seeded, and what colliders are made of.

Every shape speaks one protocol, which `simengine.Scene` relies on:

* ``sample(spacing, dim, rng, jitter) -> (M, dim)`` float64 points inside the shape, taken from the
  global cell-centred lattice ``x = (i + 1/2) * spacing`` (so bodies line up with the MPM grid when
  ``spacing = dx / ppc**(1/dim)``), each optionally jittered uniformly within its own lattice cell;
* ``sdf(points (M, dim)) -> (M,)`` signed distance phi, negative inside, |grad phi| = 1;
* ``bounds(dim) -> (lower, upper)`` axis-aligned bounding box (infinite for a `Plane`);
* ``describe() -> dict`` JSON parameters; `from_description` rebuilds the shape from it.

2D shapes take 2-tuples; a `Cylinder` in 2D is a rectangle; a `Mesh` is 3D only.

Example::

    box = Box(lower=(0.3, 0.1, 0.3), size=(0.2, 0.2, 0.2))
    pts = box.sample(spacing=1 / 128, dim=3, rng=np.random.default_rng(0), jitter=True)
"""
from __future__ import annotations

import os

import numpy as np

from simengine.errors import InputError, check_range

SHAPES: dict = {}  # "Box" -> class, for `from_description`


def _register(cls):
    SHAPES[cls.__name__] = cls
    return cls


def _vector(field: str, value, dims=(2, 3)) -> np.ndarray:
    """A finite float vector of length 2 or 3, or an InputError naming the field."""
    try:
        vec = np.asarray(value, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError):
        raise InputError(f"{field} = {value!r} is not a vector of numbers") from None
    if vec.size not in dims or not np.all(np.isfinite(vec)):
        raise InputError(f"{field} = {value!r} must be {' or '.join(map(str, dims))} finite numbers")
    return vec


class Shape:
    """Base class: lattice sampling from `bounds` and `sdf`; subclasses give the geometry."""

    dims = (2, 3)

    def _check_dim(self, dim) -> int:
        if dim not in self.dims:
            raise InputError(f"{type(self).__name__}: dim = {dim!r} is not supported (allowed: {self.dims})")
        own = getattr(self, "dim", None)
        if own is not None and own != dim:
            raise InputError(f"{type(self).__name__} was given {own}-D parameters but dim = {dim}")
        return dim

    def _points(self, points) -> np.ndarray:
        points = np.asarray(points, dtype=np.float64)
        if points.ndim != 2:
            raise InputError(f"points must have shape (M, dim), got {points.shape}")
        self._check_dim(points.shape[1])
        return points

    def sdf(self, points) -> np.ndarray:
        raise NotImplementedError

    def bounds(self, dim: int):
        raise NotImplementedError

    def sample(self, spacing: float, dim: int, rng: np.random.Generator | None = None,
               jitter: bool = False) -> np.ndarray:
        """Lattice points ``(i + 1/2) * spacing`` with phi < 0; jittered ones that leave stay centred."""
        check_range("spacing", spacing, 0.0, None, low_open=True)
        dim = self._check_dim(dim)
        lower, upper = self.bounds(dim)
        first = np.floor(lower / spacing - 0.5).astype(np.int64)
        last = np.ceil(upper / spacing - 0.5).astype(np.int64)
        if np.prod(last - first + 1, dtype=np.float64) > 5e8:
            raise InputError(f"spacing = {spacing:g} gives more than 5e8 lattice points in {self.describe()}")
        axes = [(np.arange(a, b + 1) + 0.5) * spacing for a, b in zip(first, last)]
        points = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, dim)
        points = points[self.sdf(points) < 0.0]
        if jitter and len(points):
            rng = np.random.default_rng() if rng is None else rng
            moved = points + rng.uniform(-0.5, 0.5, size=points.shape) * spacing
            stays_inside = self.sdf(moved) < 0.0
            points[stays_inside] = moved[stays_inside]
        return points

    def describe(self) -> dict:
        raise NotImplementedError

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.describe().items() if k != "type")
        return f"{type(self).__name__}({args})"


@_register
class Box(Shape):
    """Axis-aligned box ``lower <= x <= lower + size`` (2-tuples in 2D)."""

    def __init__(self, lower, size):
        self.lower = _vector("Box.lower", lower)
        self.size = _vector("Box.size", size)
        if self.size.shape != self.lower.shape:
            raise InputError(f"Box.size = {size!r} must have as many entries as Box.lower = {lower!r}")
        for k, s in enumerate(self.size):
            check_range(f"Box.size[{k}]", float(s), 0.0, None, low_open=True)
        self.dim = self.lower.size

    def sdf(self, points):
        points = self._points(points)
        half = 0.5 * self.size
        q = np.abs(points - (self.lower + half)) - half
        outside = np.linalg.norm(np.maximum(q, 0.0), axis=1)
        return outside + np.minimum(q.max(axis=1), 0.0)

    def bounds(self, dim):
        self._check_dim(dim)
        return self.lower.copy(), self.lower + self.size

    def describe(self):
        return {"type": "Box", "lower": self.lower.tolist(), "size": self.size.tolist()}


@_register
class Sphere(Shape):
    """Ball ``|x - center| <= radius`` (a disk in 2D)."""

    def __init__(self, center, radius):
        self.center = _vector("Sphere.center", center)
        self.radius = float(check_range("Sphere.radius", radius, 0.0, None, low_open=True))
        self.dim = self.center.size

    def sdf(self, points):
        points = self._points(points)
        return np.linalg.norm(points - self.center, axis=1) - self.radius

    def bounds(self, dim):
        self._check_dim(dim)
        return self.center - self.radius, self.center + self.radius

    def describe(self):
        return {"type": "Sphere", "center": self.center.tolist(), "radius": self.radius}


@_register
class Cylinder(Shape):
    """Solid cylinder of `radius` around `axis` through `center`, `height` long (2D: a rectangle
    ``2 radius`` wide and `height` tall). phi = exact distance to the capped cylinder."""

    def __init__(self, center, radius, height, axis=1):
        self.center = _vector("Cylinder.center", center)
        self.dim = self.center.size
        self.radius = float(check_range("Cylinder.radius", radius, 0.0, None, low_open=True))
        self.height = float(check_range("Cylinder.height", height, 0.0, None, low_open=True))
        if axis not in range(self.dim):
            raise InputError(f"Cylinder.axis = {axis!r} is outside the allowed range [0, {self.dim - 1}]")
        self.axis = int(axis)

    def sdf(self, points):
        d = self._points(points) - self.center
        along = np.abs(d[:, self.axis]) - 0.5 * self.height
        across = np.linalg.norm(np.delete(d, self.axis, axis=1), axis=1) - self.radius
        q = np.stack([across, along], axis=1)
        return np.linalg.norm(np.maximum(q, 0.0), axis=1) + np.minimum(q.max(axis=1), 0.0)

    def bounds(self, dim):
        self._check_dim(dim)
        half = np.full(dim, self.radius)
        half[self.axis] = 0.5 * self.height
        return self.center - half, self.center + half

    def describe(self):
        return {"type": "Cylinder", "center": self.center.tolist(), "radius": self.radius,
                "height": self.height, "axis": self.axis}


@_register
class Plane(Shape):
    """Half-space ``n . x - offset < 0`` with n the normalised `normal`: a collider only.

    `offset` is the plane's signed distance from the origin along n, so phi = n . x - offset.
    """

    def __init__(self, normal, offset=0.0):
        normal = _vector("Plane.normal", normal)
        length = np.linalg.norm(normal)
        if length < 1e-12:
            raise InputError(f"Plane.normal = {normal.tolist()} must be a non-zero vector")
        self.normal = normal / length
        self.offset = float(check_range("Plane.offset", float(offset), None, None))
        self.dim = self.normal.size

    def sdf(self, points):
        return self._points(points) @ self.normal - self.offset

    def bounds(self, dim):
        self._check_dim(dim)
        return np.full(dim, -np.inf), np.full(dim, np.inf)

    def sample(self, spacing, dim, rng=None, jitter=False):
        raise InputError("Plane is an infinite half-space and can only be a collider (add_collider), "
                         "not a body: use a Box for a slab of material")

    def describe(self):
        return {"type": "Plane", "normal": self.normal.tolist(), "offset": self.offset}


@_register
class Mesh(Shape):
    """Closed (watertight) triangle mesh from a file trimesh reads (.obj, .stl, .ply, ...), 3D only.

    The mesh is scaled by `scale` about its bounding-box centre, which is then moved to `center`
    (``None`` keeps it where the file puts it). phi is the distance to the nearest triangle, negative
    where the generalised winding number exceeds 1/2, evaluated by a Warp BVH query
    (`kernels.mesh_sdf`): about 0.6 s of one CPU core for the 65^3 nodes of a 64^3 grid (4k-triangle bunny).
    """

    dims = (3,)
    dim = 3

    def __init__(self, path, scale=1.0, center=None):
        import trimesh

        self.path = os.fspath(path)
        self.scale = float(check_range("Mesh.scale", scale, 0.0, None, low_open=True))
        self.center = None if center is None else _vector("Mesh.center", center, dims=(3,))
        if not os.path.isfile(self.path):
            raise InputError(f"Mesh.path = {self.path!r}: no such file")
        try:
            mesh = trimesh.load(self.path, force="mesh", process=True)
        except Exception as exc:
            raise InputError(f"Mesh.path = {self.path!r}: not a readable mesh ({exc})") from exc
        if len(mesh.faces) == 0:
            raise InputError(f"Mesh.path = {self.path!r}: the file has no triangles")
        if not mesh.is_watertight:
            raise InputError(f"Mesh.path = {self.path!r}: the mesh is not watertight (closed); "
                             "inside/outside is undefined, repair it first")
        if not mesh.is_winding_consistent:
            raise InputError(f"Mesh.path = {self.path!r}: the triangle winding is inconsistent")
        if mesh.volume < 0:
            mesh.invert()  # outward normals, so that the winding number is +1 inside
        box_center = 0.5 * (mesh.bounds[0] + mesh.bounds[1])
        target = box_center if self.center is None else self.center
        self.vertices = (mesh.vertices - box_center) * self.scale + target
        self.faces = np.asarray(mesh.faces, dtype=np.int32)
        self._wp_mesh = None

    def _warp_mesh(self):
        if self._wp_mesh is None:
            from simengine.runtime import init_warp

            wp = init_warp()
            self._wp_mesh = wp.Mesh(points=wp.array(self.vertices, dtype=wp.vec3, device="cpu"),
                                    indices=wp.array(self.faces.reshape(-1), dtype=wp.int32, device="cpu"),
                                    support_winding_number=True)
        return self._wp_mesh

    def sdf(self, points):
        points = self._points(points)
        from kernels.mesh_sdf import mesh_signed_distance
        from simengine.runtime import init_warp

        wp = init_warp()
        mesh = self._warp_mesh()
        lower, upper = self.vertices.min(axis=0), self.vertices.max(axis=0)
        reach = float(np.linalg.norm(upper - lower) + np.abs(points).max(initial=0.0) * 4 + 1.0)
        out = wp.empty(len(points), dtype=float, device="cpu")
        wp.launch(mesh_signed_distance, dim=len(points), device="cpu",
                  inputs=[mesh.id, wp.array(points, dtype=wp.vec3, device="cpu"), reach], outputs=[out])
        return out.numpy().astype(np.float64)

    def bounds(self, dim):
        self._check_dim(dim)
        return self.vertices.min(axis=0), self.vertices.max(axis=0)

    @property
    def volume(self) -> float:
        """Enclosed volume (divergence theorem over the triangles)."""
        tri = self.vertices[self.faces]
        return float(np.einsum("ij,ij->i", tri[:, 0], np.cross(tri[:, 1], tri[:, 2])).sum() / 6.0)

    def describe(self):
        return {"type": "Mesh", "path": self.path, "scale": self.scale,
                "center": None if self.center is None else self.center.tolist()}


def from_description(description: dict) -> Shape:
    """Rebuild a shape from its `describe()` dict (e.g. read back from trajectory metadata)."""
    params = dict(description)
    kind = params.pop("type", None)
    if kind not in SHAPES:
        raise InputError(f"shape type = {kind!r} is not one of {sorted(SHAPES)}")
    return SHAPES[kind](**params)
