"""Bad input to the deformables simulator: one-line errors naming the field and the allowed range."""
import numpy as np
import pytest

from simengine import deformables
from simengine.errors import InputError, SimulationError


def test_bodies_are_validated():
    scene = deformables.Scene()
    with pytest.raises(InputError, match=r"rope0 mass = 0.0 is outside the allowed range \(0, inf\)"):
        scene.add_rope((0, 0, 0), (1, 0, 0), segments=4, mass=0.0, stiffness=10.0)
    with pytest.raises(InputError, match=r"rope0 stiffness = -1.0 is outside the allowed range \(0, inf\)"):
        scene.add_rope((0, 0, 0), (1, 0, 0), segments=4, mass=1.0, stiffness=-1.0)
    with pytest.raises(InputError, match=r"rope0 segments = 0 is outside the allowed range \[1, 100000\]"):
        scene.add_rope((0, 0, 0), (1, 0, 0), segments=0, mass=1.0, stiffness=10.0)
    with pytest.raises(InputError, match=r"segments = 2.5 must be an integer"):
        scene.add_rope((0, 0, 0), (1, 0, 0), segments=2.5, mass=1.0, stiffness=10.0)
    with pytest.raises(InputError, match=r"cloth0 resolution = \[1, 4\] must be integers >= 2"):
        scene.add_cloth((0, 0, 0), (1, 1), (1, 4), mass=1.0, stiffness=1.0)
    with pytest.raises(InputError, match=r"cloth0 size = \[1.0, -1.0\] must be two positive lengths"):
        scene.add_cloth((0, 0, 0), (1, -1), 4, mass=1.0, stiffness=1.0)
    with pytest.raises(InputError, match=r"pin index 5 is outside the allowed range \[0, -1\]"):
        scene.pin([5])
    with pytest.raises(InputError, match="the scene has no bodies"):
        scene.build()


def test_a_mesh_that_is_not_watertight_is_refused(tmp_path):
    path = tmp_path / "open.obj"
    path.write_text("v 0 0 0\nv 1 0 0\nv 0 1 0\nv 0 0 1\nf 1 2 3\nf 1 2 4\nf 1 3 4\n")  # a tetrahedron missing a face
    with pytest.raises(InputError, match="not watertight"):
        deformables.Scene().add_plush(str(path), spacing=0.1, mass=1.0, stiffness=10.0)


def test_grippers_are_validated():
    scene = deformables.Scene()
    with pytest.raises(InputError, match=r"keyframe 1: t = 0.5 must be finite and greater than the previous"):
        scene.add_gripper(keyframes=[(1.0, (0, 0, 0), (0, 0, 0, 1), False), (0.5, (0, 0, 0), (0, 0, 0, 1), True)])
    with pytest.raises(InputError, match=r"quaternion = \[0.0, 0.0, 0.0, 0.0\] has zero length"):
        scene.add_gripper(keyframes=[(0.0, (0, 0, 0), (0, 0, 0, 0), False)])
    with pytest.raises(InputError, match=r"gripper0 radius = 0.0 is outside the allowed range \(0, inf\)"):
        scene.add_gripper(radius=0.0, keyframes=[(0.0, (0, 0, 0), (0, 0, 0, 1), False)])


def test_a_gripper_closing_on_nothing_warns_with_time_and_position():
    scene = deformables.Scene(self_contact=False)
    scene.add_rope((0, 0, 0), (0.1, 0, 0), segments=2, mass=0.01, stiffness=10.0)
    scene.add_gripper(radius=0.01, keyframes=[(0.0, (0.5, 0.5, 0.5), (0, 0, 0, 1), False),
                                              (0.05, (0.5, 0.5, 0.5), (0, 0, 0, 1), True)])
    with pytest.warns(UserWarning, match=r"gripper0 closed at t = 0.03333 s at position \[0.5, 0.5, 0.5\] with no "
                                         r"particle within its radius 0.01 m"):
        scene.run(duration=0.1, progress=False)


def test_a_time_step_beyond_the_stable_limit_is_refused():
    scene = deformables.Scene(integrator="symplectic", dt=1 / 60, substeps=1)
    scene.add_rope((0, 0, 0), (0.1, 0, 0), segments=10, mass=0.01, stiffness=100.0)
    with pytest.raises(InputError, match=r"substep dt / substeps = 0.01667 s is above the stable limit .* of the "
                                         r"symplectic integrator .*use substeps >= \d+"):
        scene.build()
    scene.substeps = None  # the default: stable
    model, _ = scene.build()
    assert model.h <= model.stable_substep()


def test_a_blow_up_names_step_time_and_particle():
    scene = deformables.Scene(self_contact=False)
    scene.add_rope((0, 0, 0), (0.1, 0, 0), segments=2, mass=0.01, stiffness=10.0)
    model, state = scene.build()
    v = np.zeros((3, 3))
    v[1] = [500.0, 0.0, 0.0]  # faster than the 100 m/s bound
    state = model.new_state(v=v)
    from simengine.simulator import record

    with pytest.raises(SimulationError, match=r"deformables blew up at step 1, t = 0.0166667 s: particle 1 .*bound "
                                              r"100 m/s"):
        record(model, state, 4, 1, progress=False)


def test_a_plush_is_one_connected_body():
    """The dumbbell's thin bar gets no particles at a coarse spacing: the two lobes are joined by a spring."""
    import os

    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    scene = deformables.Scene()
    mesh = os.path.join(os.path.dirname(__file__), "..", "..", "assets", "dumbbell.obj")
    toy = scene.add_plush(mesh, scale=0.15, center=(0, 0.1, 0), spacing=0.02, mass=0.1, stiffness=100.0)
    model, _ = scene.build()
    n = len(toy.indices)
    springs = model.springs
    graph = coo_matrix((np.ones(len(springs)), (springs[:, 0], springs[:, 1])), shape=(n, n))
    assert connected_components(graph, directed=False)[0] == 1
