"""`simengine inspect`: a summary for a good dataset, exit 1 and the file's name for a bad one."""
import json

import numpy as np

from simengine import Trajectory
from simengine.cli import main
from simengine.io import write_dataset
from simengine.io.types import ParticleType


def make_folder(path):
    rng = np.random.default_rng(0)
    ptype = np.r_[np.full(8, ParticleType.SAND), np.full(2, ParticleType.SOLID_WALL)]
    trajs = [Trajectory(rng.random((5, 10, 3)), ptype, dt=0.1,
                        extras={"material_id": np.r_[np.zeros(8, int), np.ones(2, int)]},
                        metadata={"solver": "mpm", "solver_version": "0.1"}) for _ in range(2)]
    write_dataset(path, {"train": trajs, "test": trajs[:1]}, {"seed": 4})


def test_inspect_prints_a_summary(tmp_path, capsys):
    make_folder(tmp_path)
    assert main(["inspect", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    for text in ("train: 2 trajectories, T 5, N 10, D 3", "test: 1 trajectories", "5 sand: 16",
                 "1 solid_wall: 4", "materials 0: 16, 1: 4", "optional keys: material_id", "solver: mpm",
                 "vel mean [", "acc mean [", "positions from [", "dim 3, dt 0.1 x write_every 1"):
        assert text in out, text
    assert out.rstrip().endswith("OK")
    assert main(["inspect", str(tmp_path), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["ok"] and summary["splits"]["train"]["particle_types"] == {"5": 16, "1": 4}


def test_inspect_fails_on_a_corrupt_dataset(tmp_path, capsys):
    make_folder(tmp_path)
    path = tmp_path / "test.h5"
    path.write_bytes(path.read_bytes()[:2000])
    assert main(["inspect", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "test.h5" in err and "not a valid dataset" in err
    assert main(["inspect", str(tmp_path / "nowhere")]) == 1


def test_inspect_computes_missing_statistics_without_storing_them(tmp_path, capsys):
    make_folder(tmp_path)
    meta = json.loads((tmp_path / "metadata.json").read_text())
    for key in ("vel_mean", "vel_std", "acc_mean", "acc_std"):
        del meta[key]
    (tmp_path / "metadata.json").write_text(json.dumps(meta))
    assert main(["inspect", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "vel mean [" in out and "computed now, not in metadata.json" in out
    assert "vel_mean" not in json.loads((tmp_path / "metadata.json").read_text())
