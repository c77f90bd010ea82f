"""Shapes: lattice sampling counts against exact/analytic volumes, SDFs against closed-form distances."""
import os

import numpy as np
import pytest

from simengine import shapes
from simengine.errors import InputError

ASSETS = os.path.join(os.path.dirname(__file__), "..", "assets")


def rng():
    return np.random.default_rng(1)


def test_box_sampling_is_the_exact_lattice():
    # a box whose faces lie on lattice-cell faces holds exactly (size / spacing) points per axis
    box = shapes.Box(lower=(0.25, 0.125), size=(0.5, 0.25))
    pts = box.sample(1 / 64, 2, rng(), jitter=False)
    assert len(pts) == 32 * 16
    assert np.allclose((pts * 64 - 0.5) % 1.0, 0.0)  # cell-centred: x = (i + 1/2) h
    box3 = shapes.Box(lower=(0.5, 0.25, 0.0), size=(0.25, 0.25, 0.125))
    assert len(box3.sample(1 / 32, 3, rng(), jitter=False)) == 8 * 8 * 4


def test_jitter_stays_inside_its_cell_and_is_seeded():
    sphere = shapes.Sphere(center=(0.5, 0.5, 0.5), radius=0.2)
    h = 0.02
    centred = sphere.sample(h, 3, rng(), jitter=False)
    a = sphere.sample(h, 3, np.random.default_rng(7), jitter=True)
    b = sphere.sample(h, 3, np.random.default_rng(7), jitter=True)
    assert len(a) == len(centred) and np.array_equal(a, b)
    assert np.all(np.abs(a - centred) <= 0.5 * h + 1e-12)
    assert np.mean(np.any(a != centred, axis=1)) > 0.9
    assert np.all(sphere.sdf(a) < 0)


@pytest.mark.parametrize("shape, volume", [
    (shapes.Sphere((0.5, 0.5, 0.5), 0.2), 4 / 3 * np.pi * 0.2 ** 3),
    (shapes.Sphere((0.4, 0.6), 0.25), np.pi * 0.25 ** 2),
    (shapes.Cylinder((0.5, 0.5, 0.5), radius=0.15, height=0.3, axis=2), np.pi * 0.15 ** 2 * 0.3),
    (shapes.Cylinder((0.5, 0.5), radius=0.1, height=0.3, axis=1), 0.2 * 0.3),
])
def test_particle_count_matches_volume(shape, volume):
    h = 1 / 128
    pts = shape.sample(h, shape.dim, rng(), jitter=True)
    assert len(pts) * h ** shape.dim == pytest.approx(volume, rel=0.02)


def test_sdfs_against_closed_form_distances():
    box = shapes.Box((0, 0, 0), (1, 2, 3))
    pts = np.array([[0.5, 1.0, 1.5], [2.0, 1.0, 1.5], [2.0, 3.0, 1.5], [0.1, 1.0, 1.5]])
    assert np.allclose(box.sdf(pts), [-0.5, 1.0, np.sqrt(2.0), -0.1])
    cyl = shapes.Cylinder((0, 0, 0), radius=1.0, height=2.0, axis=1)
    pts = np.array([[0, 0, 0], [3, 0, 0], [0, 5, 0], [3, 5, 4 * 0], [0.5, 0.2, 0]])
    assert np.allclose(cyl.sdf(pts), [-1.0, 2.0, 4.0, np.hypot(2, 4), -0.5])
    plane = shapes.Plane(normal=(0, 2, 0), offset=0.1)
    assert np.allclose(plane.sdf([[0.3, 0.05, 0.9], [0, 1.1, 0]]), [-0.05, 1.0])


@pytest.mark.parametrize("shape", [shapes.Box((0.2, 0.3, 0.1), (0.3, 0.2, 0.5)),
                                   shapes.Cylinder((0.5, 0.5, 0.5), 0.2, 0.4, axis=0),
                                   shapes.Sphere((0.5, 0.5), 0.3)])
def test_sdf_is_a_distance(shape):
    # |grad phi| = 1 away from the medial axis: a numerical gradient check on random points
    x = np.random.default_rng(3).uniform(-0.2, 1.2, size=(400, shape.dim))
    eps = 1e-6
    grad = np.stack([(shape.sdf(x + eps * e) - shape.sdf(x - eps * e)) / (2 * eps) for e in np.eye(shape.dim)], 1)
    norm = np.linalg.norm(grad, axis=1)
    assert np.mean(np.abs(norm - 1) < 1e-4) > 0.95


def test_mesh_sdf_against_analytic_torus(tmp_path):
    import trimesh

    R, r = 0.3, 0.1
    trimesh.creation.torus(major_radius=R, minor_radius=r, major_sections=96, minor_sections=48).export(
        tmp_path / "torus.obj")
    mesh = shapes.Mesh(tmp_path / "torus.obj", center=(0.5, 0.5, 0.5))
    x = np.random.default_rng(0).uniform(0.05, 0.95, size=(3000, 3))
    d = x - 0.5
    exact = np.hypot(np.hypot(d[:, 0], d[:, 1]) - R, d[:, 2]) - r  # trimesh's torus turns about z
    # the 96x48 polygon lies inside the true torus by at most its sagitta, ~1e-3
    assert np.max(np.abs(mesh.sdf(x) - exact)) < 2.5e-3
    h = 1 / 100
    assert len(mesh.sample(h, 3, rng(), jitter=True)) * h ** 3 == pytest.approx(2 * np.pi ** 2 * R * r * r, rel=0.03)


def test_bunny_asset_is_a_small_closed_mesh():
    path = os.path.join(ASSETS, "bunny.obj")
    bunny = shapes.Mesh(path, scale=0.2, center=(0.5, 0.3, 0.5))
    lower, upper = bunny.bounds(3)
    assert np.allclose(0.5 * (lower + upper), (0.5, 0.3, 0.5)) and np.isclose((upper - lower).max(), 0.2)
    assert len(bunny.faces) <= 5000 and os.path.getsize(path) < 500_000
    h = 0.2 / 40
    assert len(bunny.sample(h, 3, rng(), jitter=False)) * h ** 3 == pytest.approx(bunny.volume, rel=0.05)


def test_mesh_errors_name_the_file(tmp_path):
    import trimesh

    open_box = trimesh.creation.box()
    open_box.update_faces(np.arange(len(open_box.faces)) > 1)  # drop two triangles: a hole
    open_box.export(tmp_path / "open.obj")
    with pytest.raises(InputError, match="open.obj.*not watertight"):
        shapes.Mesh(tmp_path / "open.obj")
    with pytest.raises(InputError, match="missing.obj"):
        shapes.Mesh(tmp_path / "missing.obj")
    with pytest.raises(InputError, match="dim = 2"):
        shapes.Mesh(os.path.join(ASSETS, "torus.obj")).sample(0.1, 2, rng(), False)


def test_bad_parameters_are_named():
    with pytest.raises(InputError, match=r"Box.size\[1\] = -0.1"):
        shapes.Box((0, 0), (0.2, -0.1))
    with pytest.raises(InputError, match="Sphere.radius = 0"):
        shapes.Sphere((0, 0, 0), 0)
    with pytest.raises(InputError, match="Cylinder.axis = 2"):
        shapes.Cylinder((0, 0), 0.1, 0.2, axis=2)
    with pytest.raises(InputError, match="Plane.normal"):
        shapes.Plane((0, 0, 0), 0.0)
    with pytest.raises(InputError, match="collider"):
        shapes.Plane((0, 1), 0.1).sample(0.1, 2, rng(), False)
    with pytest.raises(InputError, match="3-D parameters but dim = 2"):
        shapes.Sphere((0, 0, 0), 1).sample(0.1, 2, rng(), False)
    with pytest.raises(InputError, match="spacing"):
        shapes.Sphere((0, 0), 1).sample(-0.1, 2, rng(), False)


def test_describe_round_trips_through_json():
    import json

    for shape in [shapes.Box((0, 0, 0), (1, 1, 1)), shapes.Sphere((0.1, 0.2), 0.3),
                  shapes.Cylinder((0, 0, 0), 0.1, 0.2, axis=0), shapes.Plane((0, 1, 0), 0.05),
                  shapes.Mesh(os.path.join(ASSETS, "dumbbell.obj"), scale=0.3, center=(0.5, 0.5, 0.5))]:
        again = shapes.from_description(json.loads(json.dumps(shape.describe())))
        assert again.describe() == shape.describe()
        x = np.random.default_rng(0).uniform(0, 1, size=(50, shape.dim))
        assert np.allclose(again.sdf(x), shape.sdf(x))
