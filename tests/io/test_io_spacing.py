"""metadata ``dx`` is the initial particle spacing (LagrangeBench's meaning), the MPM cell is ``grid_dx``;
old datasets whose ``dx`` is the grid cell are flagged by `inspect` and fixed by `migrate`."""
import json
import os

import h5py
import numpy as np
import pytest

from simengine import Scene, Trajectory, materials, shapes
from simengine.cli import main
from simengine.io import load_dataset, read_metadata, write_dataset
from simengine.io.metadata import legacy_grid_dx, mean_nearest_neighbour_distance
from simengine.io.migrate import measured_spacing
from simengine.io.types import ParticleType


def scene_positions(dim, jitter, grid_res=32):
    scene = Scene(dim=dim, domain=(1.0,) * dim, grid_res=grid_res, seed=3, threads=1)
    scene.add_body(shapes.Box(lower=(0.2,) * dim, size=(0.25,) * dim), materials.Sand(), density=1600.0,
                   jitter=jitter)
    scene.add_body(shapes.Box(lower=(0.55,) * dim, size=(0.2,) * dim), materials.Fluid(), jitter=jitter)
    return scene, np.concatenate([b["positions"] for b in scene.bodies])


@pytest.mark.parametrize("dim", [2, 3])
@pytest.mark.parametrize("jitter", [False, True])
def test_scene_dx_is_the_particle_spacing(dim, jitter):
    scene, points = scene_positions(dim, jitter, grid_res=32 if dim == 2 else 16)
    meta = scene.metadata(dt=1e-4, record_every=10, duration=0.01)
    measured = mean_nearest_neighbour_distance(points)
    assert meta["dx"] == pytest.approx(measured, rel=0.05)
    assert meta["grid_dx"] == scene.dx  # the MPM cell under its own key
    assert meta["default_connectivity_radius"] == pytest.approx(float(f"{1.45 * scene.dx:.2g}"))
    if not jitter:  # a lattice of 2^D particles per cell: the spacing is half the cell
        assert meta["dx"] == pytest.approx(scene.dx / 2, rel=1e-6)
    else:  # jittered particles sit closer to their nearest neighbour than the lattice spacing
        assert 0.5 * scene.dx / 2 < meta["dx"] < 0.9 * scene.dx / 2


@pytest.mark.parametrize("dim", [2, 3])
@pytest.mark.parametrize("jitter", [False, True])
def test_dataset_dx_is_the_measured_spacing(tmp_path, dim, jitter):
    """The dataset's dx, from `write_dataset` (what `simengine generate` calls), over two trajectories."""
    trajs = []
    for seed in (0, 1):
        scene, points = scene_positions(dim, jitter, grid_res=32 if dim == 2 else 16)
        meta = {**scene.metadata(dt=1e-4, record_every=10, duration=1e-3), "simulator": "mpm"}
        drift = np.linspace(0, 0.01, 3)[:, None, None]
        trajs.append(Trajectory((points + seed * 1e-3)[None] + drift, np.full(len(points), ParticleType.SAND),
                                dt=1e-3, metadata=meta))
    out = write_dataset(tmp_path, {"train": trajs})
    measured = np.mean([mean_nearest_neighbour_distance(t.position[0]) for t in trajs])
    assert out["dx"] == pytest.approx(measured, rel=0.05)
    assert measured_spacing(tmp_path) == pytest.approx(out["dx"], rel=1e-9)
    assert out["grid_dx"] == pytest.approx(trajs[0].metadata["grid_dx"]) and not legacy_grid_dx(out)


def old_mpm_dataset(root):
    """A dataset as simengine wrote MPM data before grid_dx: dx = the grid cell (1/16), spacing 1/32."""
    scene, points = scene_positions(2, False, grid_res=16)
    meta = scene.metadata(dt=1e-4, record_every=10, duration=2e-3)
    meta = {k: v for k, v in meta.items() if k != "grid_dx"}
    drift = np.linspace(0, 0.02, 4)[:, None, None]
    traj = Trajectory(points[None] + drift, np.full(len(points), ParticleType.SAND), dt=1e-3, metadata=meta)
    write_dataset(root, {"train": [traj], "test": [traj]})
    path = os.path.join(root, "metadata.json")
    old = json.load(open(path))
    old["dx"] = scene.dx
    old.pop("grid_dx", None)
    with open(path, "w") as f:
        json.dump(old, f)
    return scene.dx


def test_inspect_flags_and_migrate_fixes_an_old_dataset(tmp_path, capsys):
    root = str(tmp_path / "old")
    cell = old_mpm_dataset(root)
    before = {s: open(os.path.join(root, f"{s}.h5"), "rb").read() for s in ("train", "test")}
    assert legacy_grid_dx(read_metadata(root))
    assert main(["inspect", root]) == 0
    out = capsys.readouterr()
    assert "is the MPM grid cell" in out.out + out.err and f"simengine migrate {root}" in out.out + out.err

    assert main(["migrate", root, "--dry-run"]) == 0
    assert "would set dx" in capsys.readouterr().out and read_metadata(root)["dx"] == cell

    old = read_metadata(root, normalize=False)
    assert main(["migrate", root]) == 0
    new = read_metadata(root, normalize=False)
    assert new["grid_dx"] == cell and new["dx"] == pytest.approx(cell / 2, rel=1e-6)
    assert new["migrations"][0]["old_dx"] == cell
    for key in old:  # every other key (the connectivity radius included) stays
        if key != "dx":
            assert new[key] == old[key], key
    assert not [f for f in os.listdir(root) if f.endswith(".tmp") or f.startswith(".")]  # atomic: no leftovers
    for split, data in before.items():  # trajectories untouched, byte for byte
        assert open(os.path.join(root, f"{split}.h5"), "rb").read() == data
    with h5py.File(os.path.join(root, "train.h5")) as f:
        assert f["00000/position"].shape[0] == 4
    assert len(load_dataset(root, "train")) == 1

    capsys.readouterr()
    assert main(["inspect", root]) == 0
    assert "grid cell" not in capsys.readouterr().out
    assert main(["migrate", root]) == 0 and "nothing to migrate" in capsys.readouterr().out
    assert read_metadata(root, normalize=False) == new  # a second migrate changes nothing



def test_inspect_names_lagrangebench_padding_loader_for_varying_particle_counts(tmp_path, capsys):
    rng = np.random.default_rng(0)
    trajs = [Trajectory(rng.random((3, n, 2)), np.zeros(n), dt=0.1) for n in (20, 30)]
    write_dataset(tmp_path, {"train": trajs})
    assert main(["inspect", str(tmp_path)]) == 0
    out = capsys.readouterr()
    assert "20..30 particles" in out.out + out.err and 'neighbors.backend = "matscipy"' in out.out + out.err
