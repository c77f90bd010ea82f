"""The NCLaw scene scripts follow the scene-script protocol and share one solver set-up."""
import os

import numpy as np
import pytest

from simengine.generate.script import load_scene_script

SCENES = os.path.join(os.path.dirname(__file__), "..", "..", "..", "scenes")


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


def _scenes_module():
    import importlib.util

    spec = importlib.util.spec_from_file_location("nclaw_scenes", os.path.join(SCENES, "nclaw_scenes.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_3d_scenes_share_one_solver_and_fill_the_asset_meshes():
    """The 3D study's cube and its unseen shapes (the meshes of assets/) on one 20^3 set-up."""
    module = _scenes_module()
    counts = {}
    for shape in ("cube", "bunny", "torus", "dumbbell"):
        scene = module.make_body_scene("jelly", shape, dim=3)
        assert scene.dim == 3 and scene.dx == pytest.approx(1 / 20) and scene.dt == pytest.approx(2e-3)
        x = scene.particle_data()["x"]
        counts[shape] = len(x)
        assert np.all((x > 0.1) & (x < 0.9))  # inside the box, clear of the walls
    assert counts["cube"] == 512 and all(n > 150 for n in counts.values()), counts


@pytest.mark.parametrize("dim", [2, 3])
def test_pool_and_slope_boundaries(dim):
    module = _scenes_module()
    pool = module.make_body_scene("jelly", boundary="pool", dim=dim)
    slope = module.make_body_scene("jelly", boundary="slope", dim=dim)
    assert len(pool.colliders) == 2 and len(slope.colliders) == 1


@pytest.mark.parametrize("material", ["sand", "water"])
def test_nclaw_trains_on_sand_and_water_motion(material, tmp_path, one_torch_thread):
    """A training step on a short trajectory of each hand-written material: finite loss, gradients
    reach both networks."""
    import torch

    from learned.train import Trainer
    from simengine.io import write_dataset

    module = _scenes_module()
    # thrown at the floor: it deforms (in free flight F stays I and nothing is learned)
    traj = module.make_body_scene(material, velocity=(0.5, -3.0)).run(duration=0.1, record_every=5, progress=False)
    write_dataset(tmp_path / "data", {"train": [traj]})
    trainer = Trainer("nclaw", str(tmp_path / "data"), str(tmp_path / "run"), model_config=dict(width=8),
                      train_overrides=dict(batch_size=1, num_threads=1, steps=1), progress=False)
    law = trainer.model.law
    before = [p.detach().clone() for p in law.parameters()]
    loss = trainer.train_step()
    assert np.isfinite(loss) and loss > 0
    changed = [not torch.equal(a, b) for a, b in zip(before, law.parameters())]
    assert any(changed[:len(list(law.elastic.parameters()))]) and any(changed[len(list(law.elastic.parameters())):])


def test_true_law_replays_a_3d_mesh_scene(one_torch_thread):
    """3D path of the study: the hand-written jelly written as a torch law, run on the bunny scene
    re-created from its metadata, reproduces the solver's own trajectory (impact on the floor included)."""
    import torch

    from learned.nclaw import ConstitutiveLaw, polar_rotation, simulate_trajectory

    class FixedCorotated(torch.nn.Module):
        def forward(self, F):
            E, nu = 2.0e4, 0.3
            mu, lam = E / (2 * (1 + nu)), E * nu / ((1 + nu) * (1 - 2 * nu))
            J = torch.linalg.det(F)
            eye = torch.eye(3, dtype=F.dtype)
            return 2 * mu * (F - polar_rotation(F)) @ F.transpose(1, 2) + (lam * (J - 1) * J)[:, None, None] * eye

    module = _scenes_module()
    truth = module.make_body_scene("jelly", "bunny", velocity=(0.5, -2.0, 0.3), dim=3).run(
        duration=0.16, record_every=5, progress=False)
    assert truth.position[:, :, 1].min() < 0.16  # it reached the floor region
    pred = simulate_trajectory({"elastic": ConstitutiveLaw(FixedCorotated())}, truth, {"elastic": 1000.0})
    assert pred.metadata["diverged_at"] is None
    assert np.abs(pred.position - truth.position).max() < 1e-4
