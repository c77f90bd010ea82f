"""The NCLaw scene scripts follow the scene-script protocol and share one solver set-up."""
import os

import numpy as np
import pytest

from simengine.generate.script import load_scene_script

SCENES = os.path.join(os.path.dirname(__file__), "..", "..", "scenes")


@pytest.mark.parametrize("name, model", [("nclaw_jelly_cube", "fixed_corotated"),
                                         ("nclaw_plasticine_cube", "von_mises")])
def test_training_scene_scripts(name, model):
    module = load_scene_script(os.path.join(SCENES, f"{name}.py"))
    assert module.RUN == {"duration": 0.6, "record_every": 5}
    scene = module.make_scene(np.random.default_rng(0))
    assert scene.dim == 2 and scene.dt == pytest.approx(2e-3) and scene.dx == pytest.approx(1 / 32)
    data = scene.particle_data()
    assert len(data["x"]) == 256 and scene.materials()[0].model == model
    velocity = data["v"][0]
    assert 0.8 <= velocity[0] <= 1.2 and abs(velocity[1]) <= 0.2
