"""`simengine.fem.meshes`: measures, orientation and boundaries of the generated meshes."""
import math
import os

import numpy as np
import pytest

from simengine import fem

ASSETS = os.path.join(os.path.dirname(__file__), "..", "..", "assets")


def measures(vertices, cells):
    d = vertices.shape[1]
    edges = np.stack([vertices[cells[:, k + 1]] - vertices[cells[:, 0]] for k in range(d)], axis=-1)
    return np.linalg.det(edges) / math.factorial(d)


@pytest.mark.parametrize("mesh, exact", [
    (lambda: fem.meshes.rectangle(0.3, 0.1, 6, 2, origin=(1.0, 2.0)), 0.03),
    (lambda: fem.meshes.box((0.3, 0.1, 0.2), (3, 2, 2)), 0.006),
    (lambda: fem.meshes.disk((0.0, 0.0), 0.5, 48), math.pi * 0.25),
    (lambda: fem.meshes.sphere((0.0, 0.0, 0.0), 0.5, 24), 4 / 3 * math.pi * 0.125),
])
def test_meshes_are_positively_oriented_and_fill_their_shape(mesh, exact):
    vertices, cells = mesh()
    m = measures(vertices, cells)
    assert (m > 0).all()
    assert m.sum() == pytest.approx(exact, rel=0.04)  # inscribed polygon / polyhedron: a few % less


def test_boundary_facets_point_outwards():
    for vertices, cells in (fem.meshes.rectangle(1.0, 0.5, 4, 2), fem.meshes.box((1.0, 0.5, 0.5), 2)):
        facets = fem.meshes.boundary_facets(vertices, cells)
        centre = vertices.mean(axis=0)
        if vertices.shape[1] == 2:
            t = vertices[facets[:, 1]] - vertices[facets[:, 0]]
            normals = np.stack([t[:, 1], -t[:, 0]], 1)
            mid = vertices[facets].mean(axis=1)
        else:
            normals = np.cross(vertices[facets[:, 1]] - vertices[facets[:, 0]],
                               vertices[facets[:, 2]] - vertices[facets[:, 0]])
            mid = vertices[facets].mean(axis=1)
        assert (np.einsum("ij,ij->i", normals, mid - centre) > 0).all()


def test_a_closed_surface_is_tetrahedralised():
    pytest.importorskip("pytetwild")
    import trimesh

    vertices, cells = fem.meshes.tetrahedralize(os.path.join(ASSETS, "torus.obj"), scale=0.1, edge_length_fac=0.2)
    m = measures(vertices, cells)
    surface = trimesh.load(os.path.join(ASSETS, "torus.obj"), force="mesh").volume * 0.1 ** 3
    assert (m > 0).all() and m.sum() == pytest.approx(surface, rel=0.01)
