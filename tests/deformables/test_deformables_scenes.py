"""The deformables scene scripts: protocol, randomisation, and a dataset from `simengine generate`."""
import os

import numpy as np
import pytest

from simengine.generate import generate_dataset
from simengine.generate.script import load_scene_script
from simengine.io import load_dataset, validate_dataset
from simengine.io.types import ParticleType
from tests.scene_scripts import SCENES, shortened

KINDS = {"rope_pull": ParticleType.ROPE, "cloth_lift": ParticleType.CLOTH, "plush_drag": ParticleType.PLUSH}


@pytest.mark.parametrize("name", sorted(KINDS))
def test_scene_protocol_randomisation_and_a_short_run(name):
    module = load_scene_script(os.path.join(SCENES, f"{name}.py"))
    assert set(module.RUN) == {"duration", "record_every"}
    a, b, c = (module.make_scene(np.random.default_rng(s)) for s in (3, 3, 4))
    xa, xb, xc = (np.concatenate(s._x) for s in (a, b, c))
    assert np.array_equal(xa, xb), "same seed must give the same scene"
    assert xa.shape != xc.shape or not np.allclose(xa, xc), "the rng must randomise the scene"
    traj = a.run(duration=0.3, record_every=module.RUN["record_every"], progress=False)
    assert set(traj.particle_type.tolist()) == {int(KINDS[name])}
    assert traj.action.shape == (traj.num_frames, len(a.grippers), 8) and np.isfinite(traj.position).all()
    assert traj.position[:, :, 1].min() > 0.0  # the ground holds


def test_generate_a_rope_dataset(tmp_path):
    script = shortened(tmp_path, "rope_pull", "duration=0.5, record_every=2")
    meta = generate_dataset(script, tmp_path / "rope", {"train": 2, "valid": 1}, workers=2, seed=0, progress=False)
    assert validate_dataset(tmp_path / "rope").ok
    assert meta["simulator"] == "deformables" and meta["dim"] == 3 and meta["num_trajs_train"] == 2
    traj = load_dataset(tmp_path / "rope", "train")[0]
    assert traj.cells.shape[1] == 2 and traj.action.shape == (16, 1, 8) and traj.velocity.shape == traj.position.shape
    assert traj.material_params.shape == (traj.num_particles, 3)


def test_set_stiffness_scales_every_spring_of_one_body():
    from simengine import deformables
    from simengine.errors import InputError

    scene = deformables.Scene()
    rope = scene.add_rope((0, 0.1, 0), (0.3, 0.1, 0), segments=10, mass=0.05, stiffness=500.0, bend_stiffness=2.0)
    cloth = scene.add_cloth((0, 0.3, 0), (0.2, 0.2), (4, 4), mass=0.05, stiffness=300.0)
    before = scene.build()[0].stiffness_np.copy()
    scene.set_stiffness(rope, 1500.0)
    after = scene.build()[0].stiffness_np
    np.testing.assert_allclose(after[rope.springs], 3.0 * before[rope.springs])
    np.testing.assert_array_equal(after[cloth.springs], before[cloth.springs])
    assert rope.params["stiffness"] == 1500.0 and rope.params["bend_stiffness"] == 6.0
    assert scene.description()["bodies"][0]["stiffness"] == 1500.0
    with pytest.raises(InputError, match="stiffness"):
        scene.set_stiffness(rope, 0.0)
    with pytest.raises(InputError, match="not part of this scene"):
        deformables.Scene().set_stiffness(rope, 10.0)
