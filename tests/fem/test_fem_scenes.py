"""The FEM scene scripts and the recording contract: protocol, randomisation, outputs and a generated dataset."""
import os

import numpy as np

from simengine.generate import generate_dataset
from simengine.generate.script import load_scene_script
from simengine.io import load_dataset, validate_dataset
from tests.scene_scripts import SCENES, shortened


def test_impact_plate_scene_records_an_impact(tmp_path):
    module = load_scene_script(os.path.join(SCENES, "impact_plate.py"))
    a, b = (module.make_scene(np.random.default_rng(s)) for s in (2, 2))
    assert np.array_equal(np.concatenate(a._vertices), np.concatenate(b._vertices))
    traj = a.run(duration=4e-4, record_every=400, progress=False)
    assert traj.metadata["simulator"] == "fem" and set(np.unique(traj.node_type).tolist()) == {0, 1, 3, 7}
    assert traj.stress.shape == traj.position.shape[:2] and traj.mesh_pos.shape == traj.position.shape[1:]
    assert traj.cells.shape[1] == 3 and np.isfinite(traj.position).all()
    ball = traj.node_type == 1
    assert traj.velocity[-1, ball, 0].max() == 0.0  # held on the symmetry axis


def test_deforming_plate_dataset(tmp_path):
    script = shortened(tmp_path, "deforming_plate", "duration=0.02, record_every=None")
    meta = generate_dataset(script, tmp_path / "plate", {"train": 1, "valid": 1}, workers=1, seed=0, progress=False)
    assert validate_dataset(tmp_path / "plate").ok and meta["simulator"] == "fem" and meta["dim"] == 3
    traj = load_dataset(tmp_path / "plate", "train")[0]
    assert traj.cells.shape[1] == 4 and set(np.unique(traj.node_type).tolist()) == {0, 1, 3}
    assert traj.material_params.shape == (traj.num_particles, 3)
