"""The MPM scene scripts: protocol, randomisation, and short coarse runs checked against physics.

Every script is run at a coarse grid for a few frames; free-flight phases are checked against
x0 + v0 t + g t^2 / 2, spreading flows against the shallow-water bound on the surge-front speed.
"""
import os

import numpy as np
import pytest

from simengine.generate.script import load_scene_script
from simengine.io.types import ParticleType
from tests.scene_scripts import SCENES

G = 9.81
COARSE = {2: 24, 3: 20}  # grid_res per dim for the tests

# script -> (dim, particle types it may contain)
EXPECTED = {
    "sand_collapse": (2, {ParticleType.SAND}),
    "dam_break": (2, {ParticleType.FLUID}),
    "elastic_bunny": (3, {ParticleType.ELASTIC}),
    "plasticine_slope": (3, {ParticleType.PLASTICINE}),
    "snowball": (3, {ParticleType.SNOW}),
    "multi_material": (3, {ParticleType.FLUID, ParticleType.SAND, ParticleType.ELASTIC, ParticleType.PLASTICINE,
                           ParticleType.NON_NEWTONIAN}),
}


def script(name):
    return load_scene_script(os.path.join(SCENES, f"{name}.py"))


def simulate(name, seed, frames):
    module = script(name)
    dim = EXPECTED[name][0]
    scene = module.make_scene(np.random.default_rng(seed), grid_res=COARSE[dim])
    frame_dt = module.DT * module.RUN["record_every"]
    return scene, scene.run(duration=frames * frame_dt, record_every=module.RUN["record_every"], progress=False)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_scene_protocol_and_randomisation(name):
    module = script(name)
    dim, types = EXPECTED[name]
    assert set(module.RUN) >= {"duration", "record_every"}
    # the frame interval is fixed (DT), so every trajectory of a dataset shares one dt
    assert module.DT * module.RUN["record_every"] == pytest.approx(0.01)
    a, b, c = (module.make_scene(np.random.default_rng(s), grid_res=COARSE[dim]) for s in (5, 5, 6))
    xa, xb, xc = (s.particle_data()["x"] for s in (a, b, c))
    assert np.array_equal(xa, xb), "same seed must give the same scene"
    assert xa.shape != xc.shape or not np.allclose(xa, xc), "the rng must randomise the scene"
    assert a.dim == dim and set(a.particle_data()["particle_type"]) <= {int(t) for t in types}
    assert a.dt == module.DT  # and it is below the stability limit, else Scene.dt raises


def test_sand_column_collapses_and_spreads():
    scene, traj = simulate("sand_collapse", seed=0, frames=30)
    x0, x1 = traj.position[0].astype(np.float64), traj.position[-1].astype(np.float64)
    floor = scene.region[0][1]
    height0, height1 = x0[:, 1].max() - floor, x1[:, 1].max() - floor
    width0, width1 = np.ptp(x0[:, 0]), np.ptp(x1[:, 0])
    assert height1 < 0.8 * height0 and width1 > 1.3 * width0
    assert np.all(x1[:, 1] > floor - scene.dx)  # nobody sinks through the floor
    # a pile at rest after 0.3 s of a ~0.3 m column? not yet, but slow: far below free-fall speeds
    assert np.abs(traj.velocity[-1]).max() < np.sqrt(2 * G * height0)


def test_dam_break_front_is_below_the_ritter_bound():
    # Ritter (1892): an ideal dam-break front runs at 2 sqrt(g H); viscosity, walls and the
    # non-hydrostatic start only slow it (Martin & Moyce 1952 measured ~1.5-2 sqrt(g H) late on)
    scene, traj = simulate("dam_break", seed=0, frames=25)
    x0 = traj.position[0].astype(np.float64)
    floor = scene.region[0][1]
    height = x0[:, 1].max() - floor
    front0 = x0[:, 0].max()
    t = np.arange(traj.num_frames) * traj.dt
    advance = traj.position[:, :, 0].max(axis=1) - front0
    ritter = 2.0 * np.sqrt(G * height) * t
    assert np.all(advance <= ritter + 2 * scene.dx)
    assert advance[-1] > 0.25 * ritter[-1]  # and it does surge


def airborne_bodies(scene, traj):
    """material_id groups that stay more than a cell from the walls and 3 cells (the B-spline reach of
    two particles) from every other group in every frame."""
    lower, upper = scene.region
    groups = [np.flatnonzero(traj.material_id == m) for m in np.unique(traj.material_id)]
    boxes = [(traj.position[:, g].min(axis=1), traj.position[:, g].max(axis=1)) for g in groups]  # (T, d) each
    free = []
    for i, (lo, hi) in enumerate(boxes):
        ok = np.all(lo > lower + scene.dx) and np.all(hi < upper - scene.dx)
        for j, (lo2, hi2) in enumerate(boxes):
            gap = np.maximum(lo2 - hi, lo - hi2).max(axis=1)  # separating gap along the best axis, per frame
            ok &= i == j or bool(np.all(gap > 3 * scene.dx))
        if ok:
            free.append(groups[i])
    return free


@pytest.mark.parametrize("name, frames", [("elastic_bunny", 4), ("snowball", 2), ("multi_material", 4)])
def test_free_flight_follows_gravity(name, frames):
    # before anything touches a wall or another body, a body's centre of mass moves as
    # x0 + v0 t + g t^2 / 2: the MLS-MPM transfers conserve momentum, so only gravity changes it
    scene, traj = simulate(name, seed=2, frames=frames)
    assert np.isfinite(traj.position).all()
    t = np.arange(traj.num_frames) * traj.dt
    gravity = np.array([0.0, -G, 0.0])
    free = airborne_bodies(scene, traj)
    assert len(free) >= (1 if name == "multi_material" else len(np.unique(traj.material_id)))
    for group in free:
        mass = traj.mass[group].astype(np.float64)
        x = np.einsum("tnd,n->td", traj.position[:, group].astype(np.float64), mass) / mass.sum()
        v0 = traj.velocity[0, group].astype(np.float64).T @ mass / mass.sum()
        predicted = x[0] + np.outer(t, v0) + 0.5 * np.outer(t ** 2, gravity)
        # symplectic Euler lags the exact parabola by g dt t / 2 < 1e-4 here
        assert np.abs(x - predicted).max() < 2e-4


def test_snowball_hits_the_wall_and_stays_out_of_it():
    scene, traj = simulate("snowball", seed=3, frames=12)
    wall = [c for c in traj.metadata["colliders"] if c["shape"]["type"] == "Plane"][0]["shape"]
    x_wall = -wall["offset"]
    assert traj.position[-1][:, 0].max() < x_wall + scene.dx  # does not pass through
    assert traj.velocity[-1][:, 0].mean() < 0.25 * traj.velocity[0][:, 0].mean()  # stopped by it


def test_coarse_sand_collapse_is_the_same_column_on_a_32_grid():
    coarse, fine = script("sand_collapse_coarse"), script("sand_collapse")
    assert coarse.RUN == fine.RUN and coarse.DT == fine.DT and coarse.GRID_RES == 32
    a = coarse.make_scene(np.random.default_rng(3))
    b = fine.make_scene(np.random.default_rng(3), grid_res=32)
    assert np.array_equal(a.particle_data()["x"], b.particle_data()["x"])
    assert a.particle_data()["x"].shape[0] < fine.make_scene(np.random.default_rng(3)).particle_data()["x"].shape[0] / 3
