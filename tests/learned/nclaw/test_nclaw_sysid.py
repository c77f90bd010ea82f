"""System identification through the differentiable MPM: Young's modulus and a friction angle
recovered from motion simulated with the solver's own hand-written materials; teacher forcing."""
import numpy as np
import pytest
import torch

from learned.nclaw import identify, initial_state, motion_loss, teacher_interval
from learned.nclaw.training import observed_velocity
from simengine import Scene, materials, shapes
from simengine.errors import InputError
from simengine.mpm.differentiable import mpm_step

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def observed(material, lower, size, velocity=(0.0, 0.0), duration=0.2, record_every=5):
    """Ground truth: the solver's float32 run of a 2D body (16^2 grid) -> (float64 solver, trajectory)."""
    scene = Scene(dim=2, domain=(1.0, 1.0), grid_res=16, seed=0, dt=2e-3)
    scene.add_body(shapes.Box(lower=lower, size=size), material, density=1000.0, velocity=velocity)
    traj = scene.run(duration=duration, record_every=record_every, progress=False)
    solver, _ = scene.build(dtype="float64")
    return solver, traj


def test_youngs_modulus_is_recovered_from_a_bouncing_jelly():
    solver, traj = observed(materials.Elastic(youngs_modulus=5e3, poisson_ratio=0.3), (0.35, 0.22), (0.25, 0.25),
                            velocity=(1.0, -2.0))
    assert np.abs(traj.position[-1] - traj.position[0]).max() > 0.1
    result = identify(solver, traj.position[0], traj.extras["velocity"][0], traj.position, 5,
                      {"youngs_modulus": 2.5e3}, iterations=12, progress=False)
    assert result.history[0]["loss"] > 100 * result.best_loss
    assert abs(result.best_values["youngs_modulus"] / 5e3 - 1) < 0.02, result.history


def test_friction_angle_is_recovered_from_a_collapsing_sand_column():
    solver, traj = observed(materials.Sand(friction_angle=30.0, youngs_modulus=5e3), (0.3, 0.19), (0.15, 0.35),
                            duration=0.25)
    result = identify(solver, traj.position[0], traj.extras["velocity"][0], traj.position, 5,
                      {"friction_angle": 42.0}, iterations=8, progress=False)
    assert abs(result.best_values["friction_angle"] - 30.0) < 0.6, result.history


def test_teacher_forcing_schedule_grows_from_start_to_end():
    values = [teacher_interval(i, 2, 20, ramp=10) for i in range(15)]
    assert values[0] == 2 and values[10:] == [20] * 5
    assert all(a <= b for a, b in zip(values, values[1:]))
    with pytest.raises(InputError, match="start"):
        teacher_interval(0, 5, 2, 10)


def test_velocity_estimate_is_exact_for_uniform_acceleration():
    t = torch.arange(6, dtype=torch.float64)[:, None, None] * 0.1
    x = 0.5 * -9.81 * t**2 + 2.0 * t + torch.zeros(6, 3, 2, dtype=torch.float64)
    v = observed_velocity(x, None, 4, 0.1)
    assert torch.allclose(v, -9.81 * 0.4 + 2.0 + torch.zeros_like(v), atol=1e-12)


def test_teacher_forcing_resets_the_observable_state():
    """With a wrong modulus the error grows with the horizon; resets every 2 frames keep it smaller."""
    solver, traj = observed(materials.Elastic(youngs_modulus=5e3, poisson_ratio=0.3), (0.35, 0.22), (0.25, 0.25),
                            velocity=(1.0, -2.0), duration=0.12)
    E = torch.full((solver.n,), 2.5e3, dtype=torch.float64)

    def step(state, k):
        return mpm_step(solver, *state, E=E, time=k * solver.dt)

    pos, vel = (torch.as_tensor(traj.position, dtype=torch.float64),
                torch.as_tensor(traj.extras["velocity"], dtype=torch.float64))
    state = initial_state(traj.position[0], traj.extras["velocity"][0])
    free, free_frames, _ = motion_loss(step, state, pos, 5, solver.dx)
    forced, forced_frames, _ = motion_loss(step, state, pos, 5, solver.dx, velocity=vel, teacher_every=2)
    assert forced < 0.5 * free
    assert forced_frames[0] == free_frames[0] and forced_frames[1] == free_frames[1]  # first reset at frame 2
    with pytest.raises(InputError, match="frame_dt"):
        motion_loss(step, state, pos, 5, solver.dx, teacher_every=2)


def test_bad_parameters_are_refused():
    solver, traj = observed(materials.Elastic(), (0.35, 0.3), (0.2, 0.2), duration=0.02)
    args = (solver, traj.position[0], traj.extras["velocity"][0], traj.position, 5)
    with pytest.raises(InputError, match="density"):
        identify(*args, {"density": 1.0}, progress=False)
    with pytest.raises(InputError, match="initial poisson_ratio"):
        identify(*args, {"poisson_ratio": 0.7}, progress=False)
    with pytest.raises(InputError, match="optimizer"):
        identify(*args, {"youngs_modulus": 1e3}, optimizer="sgd", progress=False)
