"""Meshes for `simengine.fem`: ``(vertices (N, d), cells (E, d + 1))`` arrays, triangles counter-clockwise and
tetrahedra with positive volume.

    rectangle(length, height, nx, ny, origin=(0, 0))     2D: nx x ny cells, each split into two triangles
    box(size, n, origin=(0, 0, 0))                        3D: n = (nx, ny, nz) cells, six tetrahedra each
    disk(center, radius, n)                               2D: n boundary segments, rings inside (Delaunay)
    sphere(center, radius, n)                             3D: about n boundary points per great circle
    tetrahedralize(path_or_vertices, faces=None, ...)     3D: a closed surface mesh (e.g. assets/bunny.obj)
                                                          filled by fTetWild (`pytetwild`, MPL-2.0)
"""
from __future__ import annotations

import math

import numpy as np

from simengine.errors import InputError, check_range


def _count(field, value, low=1) -> int:
    if isinstance(value, bool) or int(value) != value:
        raise InputError(f"{field} = {value!r} must be an integer >= {low}")
    return int(check_range(field, int(value), low, 100000))


def orient(vertices: np.ndarray, cells: np.ndarray) -> np.ndarray:
    """Cells reordered so that every triangle is counter-clockwise / every tetrahedron has positive volume."""
    cells = np.array(cells, dtype=np.int64)
    d = vertices.shape[1]
    edges = np.stack([vertices[cells[:, k + 1]] - vertices[cells[:, 0]] for k in range(d)], axis=-1)
    flip = np.linalg.det(edges) < 0
    cells[flip, 1], cells[flip, 2] = cells[flip, 2].copy(), cells[flip, 1].copy()
    return cells


def rectangle(length, height, nx, ny, origin=(0.0, 0.0)):
    """A ``length`` x ``height`` rectangle with its lower-left corner at ``origin``."""
    length = float(check_range("length", length, 0.0, None, low_open=True))
    height = float(check_range("height", height, 0.0, None, low_open=True))
    nx, ny = _count("nx", nx), _count("ny", ny)
    ox, oy = np.asarray(origin, dtype=np.float64).reshape(2)
    gx, gy = np.meshgrid(np.linspace(0, length, nx + 1), np.linspace(0, height, ny + 1), indexing="ij")
    vertices = np.stack([gx.ravel() + ox, gy.ravel() + oy], 1)
    index = np.arange((nx + 1) * (ny + 1)).reshape(nx + 1, ny + 1)
    a, b, c, d = index[:-1, :-1], index[1:, :-1], index[1:, 1:], index[:-1, 1:]
    cells = np.concatenate([np.stack([a, b, c], -1).reshape(-1, 3), np.stack([a, c, d], -1).reshape(-1, 3)])
    return vertices, orient(vertices, cells)


_KUHN = np.array([[0, 1, 3, 7], [0, 1, 5, 7], [0, 2, 3, 7], [0, 2, 6, 7], [0, 4, 5, 7], [0, 4, 6, 7]])


def box(size, n, origin=(0.0, 0.0, 0.0)):
    """A box of ``size`` (3,) with its lowest corner at ``origin``, n = (nx, ny, nz) cells (or one int)."""
    size = np.asarray(size, dtype=np.float64).reshape(-1)
    if size.shape != (3,) or not np.all(np.isfinite(size) & (size > 0)):
        raise InputError(f"size = {size.tolist()} must be three positive lengths")
    counts = [_count("n", c) for c in np.broadcast_to(np.asarray(n), (3,))]
    axes = [np.linspace(0.0, s, c + 1) for s, c in zip(size, counts)]
    grid = np.stack(np.meshgrid(*axes, indexing="ij"), -1).reshape(-1, 3) + np.asarray(origin, float).reshape(3)
    nx, ny, nz = counts
    index = np.arange((nx + 1) * (ny + 1) * (nz + 1)).reshape(nx + 1, ny + 1, nz + 1)
    corners = np.stack([index[i:nx + i, j:ny + j, k:nz + k].ravel()
                        for i in (0, 1) for j in (0, 1) for k in (0, 1)], 1)  # corner c = 4 i + 2 j + k
    cells = corners[:, _KUHN].reshape(-1, 4)
    return grid, orient(grid, cells)


def disk(center, radius, n):
    """A disk of ``n`` boundary segments (n >= 6) filled with rings of about the same spacing."""
    from scipy.spatial import Delaunay

    radius = float(check_range("radius", radius, 0.0, None, low_open=True))
    n = _count("n", n, 6)
    center = np.asarray(center, dtype=np.float64).reshape(2)
    rings = max(1, round(n / (2 * math.pi)))
    points = [np.zeros((1, 2))]
    for k in range(1, rings + 1):
        m = max(6, round(n * k / rings))
        angle = 2 * math.pi * (np.arange(m) + 0.5 * (k % 2)) / m
        points.append(radius * k / rings * np.stack([np.cos(angle), np.sin(angle)], 1))
    vertices = np.concatenate(points) + center
    cells = Delaunay(vertices).simplices
    return vertices, _drop_slivers(vertices, orient(vertices, cells))


def sphere(center, radius, n):
    """A ball with about ``n`` boundary points around a great circle, shells inside (Delaunay)."""
    from scipy.spatial import Delaunay

    radius = float(check_range("radius", radius, 0.0, None, low_open=True))
    n = _count("n", n, 6)
    center = np.asarray(center, dtype=np.float64).reshape(3)
    shells = max(1, round(n / (2 * math.pi)))
    points = [np.zeros((1, 3))]
    golden = math.pi * (3.0 - math.sqrt(5.0))
    for k in range(1, shells + 1):
        m = max(8, round((n * k / shells) ** 2 / math.pi))
        i = np.arange(m) + 0.5
        z = 1 - 2 * i / m
        r = np.sqrt(1 - z * z)
        points.append(radius * k / shells * np.stack([r * np.cos(golden * i), r * np.sin(golden * i), z], 1))
    vertices = np.concatenate(points) + center
    cells = Delaunay(vertices).simplices
    return vertices, _drop_slivers(vertices, orient(vertices, cells))


def _drop_slivers(vertices, cells, relative=1e-9):
    d = vertices.shape[1]
    edges = np.stack([vertices[cells[:, k + 1]] - vertices[cells[:, 0]] for k in range(d)], axis=-1)
    measure = np.abs(np.linalg.det(edges))
    return cells[measure > relative * measure.max()]


def tetrahedralize(surface, faces=None, scale=1.0, center=None, edge_length=None, edge_length_fac=0.1):
    """Tetrahedra filling a closed surface: a mesh file (any format trimesh reads) or ``(vertices, faces)``,
    scaled by ``scale`` about its bounding-box centre, moved to ``center``; ``edge_length`` (absolute) or
    ``edge_length_fac`` (relative to the bounding-box diagonal) sets the element size. Needs `pytetwild`."""
    try:
        import pytetwild
    except ImportError as exc:
        raise InputError("tetrahedralize needs the mesher pytetwild (pip install pytetwild; `make setup` installs "
                         f"it): {exc}") from None
    import trimesh

    if faces is None:
        mesh = trimesh.load(str(surface), force="mesh", process=True)
    else:
        mesh = trimesh.Trimesh(np.asarray(surface, float), np.asarray(faces, np.int64), process=True)
    if not mesh.is_watertight:
        raise InputError(f"surface {surface if faces is None else 'mesh'} is not watertight (closed); a volume "
                         "mesh needs a closed surface")
    box_centre = 0.5 * (mesh.bounds[0] + mesh.bounds[1])
    target = box_centre if center is None else np.asarray(center, float).reshape(3)
    vertices = (np.asarray(mesh.vertices) - box_centre) * float(scale) + target
    kwargs = {"edge_length_abs": float(edge_length)} if edge_length is not None else {
        "edge_length_fac": float(edge_length_fac)}
    import os
    import tempfile

    here = os.getcwd()
    with tempfile.TemporaryDirectory() as scratch:  # fTetWild writes a working file into the current folder
        os.chdir(scratch)
        try:
            v, tets = pytetwild.tetrahedralize(vertices, np.asarray(mesh.faces, np.int32), quiet=True, **kwargs)
        finally:
            os.chdir(here)
    return np.asarray(v, float), orient(np.asarray(v, float), tets)


def boundary_facets(vertices: np.ndarray, cells: np.ndarray) -> np.ndarray:
    """Boundary edges (2D) / triangles (3D) of a mesh, wound with the outward normal on the right-hand side
    of an edge (2D) / by the right-hand rule (3D)."""
    d = vertices.shape[1]
    cells = np.asarray(cells, dtype=np.int64)
    if d == 2:
        local = [(0, 1), (1, 2), (2, 0)]
    else:
        local = [(1, 2, 3), (0, 3, 2), (0, 1, 3), (0, 2, 1)]
    facets = np.concatenate([cells[:, list(f)] for f in local])
    keys = np.sort(facets, axis=1)
    _, first, counts = np.unique(keys, axis=0, return_index=True, return_counts=True)
    return facets[np.sort(first[counts == 1])]
