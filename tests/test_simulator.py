"""`simengine.simulator`: the one recording loop, and every simulator recorded through it.

Each simulator's trajectory from the loop is compared, bit for bit, with the same simulator stepped by hand
the way its own loop did before the contract (frames copied after every ``record_every`` steps)."""
import numpy as np
import pytest

from simengine.errors import InputError, SimulationError
from simengine.simulator import RunnableScene, Simulator, check_scene, record


class Ballistic(Simulator):
    """Free particles, x += v dt: a pure-numpy simulator to test the loop itself."""

    name = "ballistic"

    def __init__(self, n=3, dt=0.1, blow_up_at=None):
        self.dt, self.n, self.blow_up_at = dt, n, blow_up_at
        self.checked, self.controls = [], []

    def new_state(self):
        return {"x": np.zeros((self.n, 2)), "v": np.zeros((self.n, 2)), "t": 0.0}

    def step(self, state_in, state_out, control=None, dt=None):
        dt = self.dt if dt is None else dt
        self.controls.append(control)
        kick = np.zeros(2) if control is None else np.asarray(control)
        state_out["v"] = state_in["v"] + kick
        state_out["x"] = state_in["x"] + dt * state_out["v"]
        state_out["t"] = state_in["t"] + dt
        return state_out

    def check(self, state, step):
        self.checked.append(step)
        if self.blow_up_at is not None and step >= self.blow_up_at:
            raise SimulationError(f"ballistic blew up at step {step}, t = {state['t']:g}: particle 0")

    def frame(self, state):
        return {"position": state["x"].copy(), "velocity": state["v"].copy()}

    def static(self):
        return {"particle_type": np.zeros(self.n, np.int32)}

    def metadata(self):
        return {"what": "test"}


def start(sim):
    s = sim.new_state()
    s["v"][:] = [1.0, 2.0]
    return s


def test_record_frames_checks_and_metadata():
    sim = Ballistic()
    first = start(sim)
    traj, final = record(sim, first, 6, 2, check_every=5, progress=False)
    assert traj.position.shape == (4, 3, 2) and traj.velocity.shape == (4, 3, 2)
    np.testing.assert_allclose(traj.position[:, 0, 1], [0.0, 0.4, 0.8, 1.2])
    assert final["t"] == pytest.approx(0.6) and traj.dt == pytest.approx(0.2)
    assert sim.checked == [2, 4, 5, 6]  # at every frame and every check_every steps
    assert traj.metadata == {"what": "test", "dt": 0.1, "simulator": "ballistic", "write_every": 2,
                             "t_end": pytest.approx(0.6)}


def test_record_controls_and_variable_steps():
    sim = Ballistic(n=1)
    traj, _ = record(sim, start(sim), 3, 1, dt=[0.1, 0.2, 0.3], control=lambda k, s: [0.0, float(k)],
                     progress=False)
    assert sim.controls == [[0.0, 0.0], [0.0, 1.0], [0.0, 2.0]]
    np.testing.assert_allclose(traj.velocity[:, 0, 1], [2.0, 2.0, 3.0, 5.0])
    np.testing.assert_allclose(traj.position[-1, 0, 1], 0.1 * 2 + 0.2 * 3 + 0.3 * 5)
    assert traj.metadata["t_end"] == pytest.approx(0.6) and traj.metadata["dt"] == pytest.approx(0.2)


def test_record_stops_at_a_blow_up_and_rejects_bad_arguments():
    with pytest.raises(SimulationError, match="blew up at step 3"):
        record(Ballistic(blow_up_at=3), start(Ballistic()), 6, 3, progress=False)
    sim = Ballistic()
    with pytest.raises(InputError, match="steps = 5 is not a multiple of record_every = 2"):
        record(sim, start(sim), 5, 2, progress=False)
    with pytest.raises(InputError, match="dt has 2 entries for 3 steps"):
        record(sim, start(sim), 3, 1, dt=[0.1, 0.1], progress=False)
    with pytest.raises(InputError, match="record_every = 0"):
        record(sim, start(sim), 3, 0, progress=False)


def test_check_scene_names_the_script_and_what_it_returned():
    class Runs:
        def run(self, duration):
            return duration

    assert check_scene(Runs(), "x.py") is not None and isinstance(Runs(), RunnableScene)
    with pytest.raises(InputError, match=r"walk\.py: make_scene\(rng\) returned builtins\.int \(3\), which has no "
                                         r"run\(\*\*RUN\) method"):
        check_scene(3, "walk.py")


# ---- every simulator through the loop ---------------------------------------------------------------------------
def positions_stepped_by_hand(sim, state, other, steps, every):
    """(frames, N, D) positions of ``state`` and of every ``every``-th state, two buffers swapped."""
    frames = [state.x.numpy().copy()]
    for step in range(1, steps + 1):
        sim.step(state, other)
        state, other = other, state
        if step % every == 0:
            frames.append(state.x.numpy().copy())
    return np.stack(frames)


def test_mpm_records_through_the_loop_as_stepped_by_hand():
    from simengine import Scene, materials, shapes

    scene = Scene(dim=2, domain=(1.0, 1.0), grid_res=32, threads=1, seed=0)
    scene.add_body(shapes.Box(lower=(0.3, 0.3), size=(0.2, 0.2)), materials.Sand(friction_angle=30.0),
                   density=1600.0, jitter=True)
    scene.add_collider(shapes.Box(lower=(0.1, 0.1), size=(0.1, 0.1)), velocity=(0.3, 0.0), friction=0.3)
    traj = scene.run(duration=12 * scene.dt, record_every=4, progress=False)
    solver, state = scene.build()
    frames = positions_stepped_by_hand(solver, state, solver.new_state(), 12, 4)
    assert traj.position.tobytes() == frames.astype(np.float32).tobytes()
    assert traj.metadata["simulator"] == "mpm" and traj.metadata["solver"] == "mls-mpm"
    assert traj.metadata["write_every"] == 4 and traj.particle_type.tolist() == [5] * traj.num_particles


def test_md_records_through_the_loop_as_stepped_by_hand():
    from simengine import md

    def system():
        rng = np.random.default_rng(0)
        positions, cell = md.liquid_box(256, 0.0207, rng)
        sim = md.Simulation(positions, ["Ar"] * 256, cell, timestep_fs=2.0, dtype="float64", threads=1,
                            ensemble="nvt", thermostat="csvr", temperature=100.0, seed=3,
                            potential=md.LennardJones(sigma=3.4, epsilon=0.0104, cutoff=7.0, shift=True))
        sim.maxwell_boltzmann(100.0, rng)
        return sim

    traj = system().run(12, record_every=3, targets=True)
    sim = system()
    xs = positions_stepped_by_hand(sim, sim.state, sim.new_state(), 12, 3)
    assert traj.target_displacement.tobytes() == (xs[1:] - xs[:-1]).tobytes()
    assert traj.position.tobytes() == sim.box.wrap(xs[:-1]).astype(np.float32).tobytes()
    assert traj.metadata["simulator"] == "md" and traj.metadata["forecast_stride"] == 3
    np.testing.assert_array_equal(traj.time, [0.0, 6.0, 12.0, 18.0])


def test_nbody_records_through_the_loop_as_integrated_by_hand():
    from simengine import nbody

    def system():
        ics = nbody.smbh_binary_in_cusp(n_stars=60, stellar_mass=1.0, scale_radius=1.0, bh_masses=(0.01, 0.01),
                                        binary_a=0.02, binary_e=0.3, rng=np.random.default_rng(1))
        sim = nbody.Simulation(G=1.0, c=11.0, softening=0.004, region_radius=0.02, pn_orders=("1", "2.5"),
                               max_timestep=0.01, threads=1)
        for kind, (m, x, v) in ics.items():
            sim.add_particles(m, x, v, kind=kind)
        return sim

    traj = nbody.SimulationScene(system()).run(0.03, frames=4, progress=False)
    sim = system()
    frames = []
    for t in np.linspace(0.0, 0.03, 4):
        sim.integrate(t)
        frames.append(sim.positions.astype(np.float32))
    assert traj.position.tobytes() == np.stack(frames).tobytes()
    assert traj.metadata["simulator"] == "nbody" and traj.orbital_elements.shape == (4, len(nbody.ELEMENT_COLUMNS))
    np.testing.assert_array_equal(traj.time, np.linspace(0.0, 0.03, 4))


def test_nbody_step_leaves_its_input_state_unchanged():
    from simengine import nbody

    sim = nbody.Simulation(G=1.0, softening=0.01, threads=1)
    rng = np.random.default_rng(0)
    sim.add_particles(np.full(50, 0.02), rng.normal(size=(50, 3)), 0.1 * rng.normal(size=(50, 3)))
    first = sim.current_state()
    x0 = first.x.copy()
    a, b = sim.new_state(), sim.new_state()
    sim.step(first, a, None, 0.1)
    sim.step(first, b, None, 0.1)  # from the same input again: the same result
    assert np.array_equal(first.x, x0) and np.array_equal(a.x, b.x) and a.time == b.time == 0.1
    with pytest.raises(InputError, match="dt = None"):
        sim.step(a, b)
    with pytest.raises(InputError, match="takes no control"):
        sim.step(a, b, control=[1.0], dt=0.1)


def test_deformables_record_through_the_loop_as_stepped_by_hand():
    from simengine import deformables

    scene = deformables.Scene(substeps=20)
    scene.add_rope(start=(0, 0.3, 0), end=(0.3, 0.3, 0), segments=10, mass=0.05, stiffness=200.0)
    scene.add_ground()
    scene.pin([0])
    traj = scene.run(duration=6 * scene.dt, record_every=3, progress=False)
    model, state = scene.build()
    frames = positions_stepped_by_hand(model, state, model.new_state(), 6, 3)
    assert traj.position.tobytes() == frames.astype(np.float32).tobytes()
    assert traj.metadata["simulator"] == "deformables" and traj.cells.shape == (10, 2)
    assert traj.particle_type[0] == 15 and set(traj.particle_type[1:].tolist()) == {12}  # pinned, rope
