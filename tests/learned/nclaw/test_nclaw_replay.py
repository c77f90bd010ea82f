"""The MPM grid cell is metadata ``grid_dx``; data written before it existed stored it as ``dx``."""
import pytest

from learned.nclaw.replay import scene_spec
from simengine import Scene, materials, shapes


def test_replay_reads_grid_dx_and_falls_back_to_dx_for_old_data():
    scene = Scene(dim=2, domain=(1.0, 1.0), grid_res=16, seed=0, threads=1)
    scene.add_body(shapes.Box(lower=(0.3, 0.3), size=(0.2, 0.2)), materials.Sand())
    meta = scene.metadata(dt=1e-4, record_every=10, duration=1e-3)
    assert meta["dx"] == pytest.approx(scene.dx / 2)  # the particle spacing, not the cell
    old = {**{k: v for k, v in meta.items() if k != "grid_dx"}, "dx": scene.dx}
    assert scene_spec(meta)["dx"] == scene_spec(old)["dx"] == scene.dx
