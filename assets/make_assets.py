"""Generate the project's small watertight meshes (bunny, torus, dumbbell) from implicit functions.

Each mesh is the zero level set of a smooth signed function f (f < 0 inside), extracted with
surface nets (Gibson 1998, "Constrained elastic surface nets"): one vertex per grid cell that the
surface crosses, placed at the mean of the cell's edge crossings and then projected onto f = 0 by
Newton steps; one quad per grid edge with a sign change, joining the four cells around that edge,
wound so that its normal points from f < 0 to f > 0. As long as f > 0 on the grid's border and the
level set is resolved, the quads close up into a watertight, consistently wound surface.

Run ``python assets/make_assets.py`` to rewrite ``assets/*.obj``; every mesh is centred at the origin
and scaled to fit the unit cube (longest side 1).
"""
import os

import numpy as np
import trimesh


# --- implicit building blocks: approximate signed distances, negative inside -------------------------
def ellipsoid(p, center, radii):
    q = (p - np.asarray(center)) / np.asarray(radii)
    return (np.linalg.norm(q, axis=-1) - 1.0) * min(radii)


def capsule(p, a, b, radius):
    a, b = np.asarray(a, float), np.asarray(b, float)
    t = np.clip(((p - a) @ (b - a)) / ((b - a) @ (b - a)), 0.0, 1.0)
    return np.linalg.norm(p - (a + t[..., None] * (b - a)), axis=-1) - radius


def torus(p, major, minor):
    ring = np.linalg.norm(p[..., [0, 2]], axis=-1) - major
    return np.hypot(ring, p[..., 1]) - minor


def smooth_union(d1, d2, k):
    """Polynomial smooth minimum (blends the two surfaces over a band of width ~k)."""
    h = np.clip(0.5 + 0.5 * (d2 - d1) / k, 0.0, 1.0)
    return d2 * (1 - h) + d1 * h - k * h * (1 - h)


def bunny(p):
    """Sitting bunny facing +x, y up: body, head, two ears leaning back, tail, front paws."""
    d = ellipsoid(p, (-0.08, -0.16, 0.0), (0.30, 0.24, 0.23))
    d = smooth_union(d, ellipsoid(p, (0.20, 0.06, 0.0), (0.15, 0.14, 0.13)), 0.08)
    for side in (-1.0, 1.0):
        d = smooth_union(d, capsule(p, (0.16, 0.14, 0.06 * side), (0.08, 0.44, 0.09 * side), 0.045), 0.04)
        d = smooth_union(d, ellipsoid(p, (0.14, -0.36, 0.10 * side), (0.10, 0.05, 0.06)), 0.05)
    return smooth_union(d, ellipsoid(p, (-0.40, -0.08, 0.0), (0.07, 0.07, 0.07)), 0.04)


def dumbbell(p):
    d = smooth_union(ellipsoid(p, (-0.35, 0, 0), (0.15,) * 3), ellipsoid(p, (0.35, 0, 0), (0.15,) * 3), 0.01)
    return smooth_union(d, capsule(p, (-0.35, 0, 0), (0.35, 0, 0), 0.06), 0.06)


# --- surface nets -------------------------------------------------------------------------------------
def surface_nets(f, lower, upper, resolution, newton_steps=3):
    """Triangle mesh (vertices (V, 3), faces (F, 3)) of {f = 0} on a `resolution`^3 node grid."""
    axes = [np.linspace(lo, hi, resolution) for lo, hi in zip(lower, upper)]
    h = np.array([a[1] - a[0] for a in axes])
    nodes = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1)
    values = f(nodes)
    inside = values < 0
    n = resolution
    # cell vertex = mean of the crossing points on the cell's 12 edges
    acc, count = np.zeros((n - 1,) * 3 + (3,)), np.zeros((n - 1,) * 3)
    for axis in range(3):
        lo = [slice(None)] * 3
        hi = [slice(None)] * 3
        lo[axis], hi[axis] = slice(0, n - 1), slice(1, n)
        v0, v1 = values[tuple(lo)], values[tuple(hi)]
        t = np.where((v0 < 0) != (v1 < 0), v0 / np.where(v0 == v1, 1, v0 - v1), np.nan)
        cross = nodes[tuple(lo)] + np.nan_to_num(t)[..., None] * h[axis] * np.eye(3)[axis]
        has = ~np.isnan(t)
        others = [b for b in range(3) if b != axis]
        for db in (0, 1):  # an edge borders the cells below/above it in the two other axes
            for dc in (0, 1):
                sel = [slice(None)] * 3
                sel[axis] = slice(None)
                sel[others[0]] = slice(db, db + n - 1)
                sel[others[1]] = slice(dc, dc + n - 1)
                acc += np.where(has[tuple(sel)][..., None], cross[tuple(sel)], 0.0)
                count += has[tuple(sel)]
    active = count > 0
    index = -np.ones(active.shape, dtype=np.int64)
    index[active] = np.arange(active.sum())
    vertices = acc[active] / count[active][:, None]
    faces = []
    for axis in range(3):
        b, c = (axis + 1) % 3, (axis + 2) % 3
        lo = [slice(None)] * 3
        hi = [slice(None)] * 3
        lo[axis], hi[axis] = slice(0, n - 1), slice(1, n)
        flips = inside[tuple(lo)] != inside[tuple(hi)]
        # interior edges only: all four cells around the edge exist
        for k in (b, c):
            edge = [slice(None)] * 3
            edge[k] = slice(1, n - 1)
            mask = np.zeros_like(flips)
            mask[tuple(edge)] = True
            flips &= mask
        p = np.argwhere(flips)
        outward_plus = inside[tuple(p.T)]  # inside at p, outside at p + e_axis: normal along +axis
        quads = []
        for db, dc in ((1, 1), (0, 1), (0, 0), (1, 0)):  # counter-clockwise around +axis in (b, c)
            cell = p.copy()
            cell[:, b] -= db
            cell[:, c] -= dc
            quads.append(index[tuple(cell.T)])
        quads = np.stack(quads, axis=1)
        quads[~outward_plus] = quads[~outward_plus][:, ::-1]
        faces.append(np.concatenate([quads[:, [0, 1, 2]], quads[:, [0, 2, 3]]]))
    faces = np.concatenate(faces)
    for _ in range(newton_steps):  # pull vertices onto f = 0 along the numerical gradient
        eps = 1e-4
        grad = np.stack([(f(vertices + eps * e) - f(vertices - eps * e)) / (2 * eps) for e in np.eye(3)], 1)
        step = f(vertices) / np.maximum((grad ** 2).sum(1), 1e-12)
        vertices = vertices - np.clip(step, -0.5 * h.min(), 0.5 * h.min())[:, None] * grad
    return vertices, faces


def normalise(mesh):
    """Centre the bounding box at the origin and scale the longest side to 1."""
    mesh.apply_translation(-mesh.bounds.mean(axis=0))
    mesh.apply_scale(1.0 / mesh.extents.max())
    return mesh


def build(f, resolution, tries=8):
    """Surface nets at the first resolution >= `resolution` whose surface is a closed 2-manifold.

    Surface nets can join two sheets through one cell at a saddle (an edge shared by four faces);
    a slightly different grid avoids it, so we step the resolution until the mesh checks out.
    """
    for res in range(resolution, resolution + tries):
        vertices, faces = surface_nets(f, (-0.6,) * 3, (0.6,) * 3, res)
        mesh = trimesh.Trimesh(vertices, faces, process=True)
        if mesh.is_watertight and mesh.is_winding_consistent:
            return normalise(mesh)
    raise RuntimeError(f"no closed surface for resolutions {resolution}..{resolution + tries - 1}")


ASSETS = {
    "bunny.obj": lambda: build(bunny, 40),
    "dumbbell.obj": lambda: build(dumbbell, 44),
    # trimesh's torus turns about z; tilt it to turn about y (up), so it lies flat
    "torus.obj": lambda: normalise(trimesh.creation.torus(
        major_radius=0.35, minor_radius=0.14, major_sections=48, minor_sections=20,
        transform=trimesh.transformations.rotation_matrix(np.pi / 2, (1, 0, 0)))),
}


def main(out_dir=os.path.dirname(os.path.abspath(__file__))):
    for name, make in ASSETS.items():
        mesh = make()
        if not (mesh.is_watertight and mesh.is_winding_consistent and mesh.volume > 0):
            raise RuntimeError(f"{name}: generated mesh is not closed and outward-wound")
        path = os.path.join(out_dir, name)
        mesh.export(path)
        print(f"{name}: {len(mesh.vertices)} vertices, {len(mesh.faces)} faces, volume {mesh.volume:.4f}, "
              f"{os.path.getsize(path) / 1024:.0f} KB")


if __name__ == "__main__":
    main()
