"""Bad input raises InputError naming field, value and range; a blow-up raises SimulationError naming
step, time and particle, and never returns NaN data."""
import numpy as np
import pytest

from simengine import InputError, Scene, SimulationError, materials


def block(scene, lower=(0.4, 0.4), size=0.1):
    dx = scene.dx
    axes = [np.arange(lo + dx / 4, lo + size, dx / 2) for lo in lower]
    return np.stack(np.meshgrid(*axes, indexing="ij"), -1).reshape(-1, 2)


def test_scene_arguments_are_validated():
    with pytest.raises(InputError, match=r"dim = 4 is not one of \[2, 3\]"):
        Scene(dim=4)
    with pytest.raises(InputError, match=r"domain\[1\] = -1.0 is outside the allowed range \(0, inf\)"):
        Scene(dim=2, domain=(1.0, -1.0))
    with pytest.raises(InputError, match="grid_res = 2 is outside the allowed range"):
        Scene(dim=2, domain=(1, 1), grid_res=2)
    with pytest.raises(InputError, match=r"boundary = 'bouncy' is not one of \['slip', 'sticky', 'separate'\]"):
        Scene(dim=2, domain=(1, 1), boundary="bouncy")
    with pytest.raises(InputError, match="boundary_friction = -0.1"):
        Scene(dim=2, domain=(1, 1), boundary_friction=-0.1)


def test_body_errors_name_the_body_and_bound():
    scene = Scene(dim=2, domain=(1.0, 1.0), grid_res=32)
    with pytest.raises(InputError, match="density = -5.0 is outside the allowed range"):
        scene.add_particles(block(scene), materials.Elastic(), density=-5.0)
    outside = block(scene, lower=(0.4, 0.02))
    with pytest.raises(InputError, match=r"body 'low': particle 0 at x\[1\] = 0.0\d+ lies outside the allowed range "
                                         r"\[0.09375, 0.90625\] \(domain minus 3 wall cells"):
        scene.add_particles(outside, materials.Elastic(), name="low")
    with pytest.raises(InputError, match="is not a simengine.materials material"):
        scene.add_particles(block(scene), "sand")
    with pytest.raises(InputError, match="velocity must be 2 finite numbers"):
        scene.add_particles(block(scene), materials.Sand(), velocity=(1.0, 2.0, 3.0))
    with pytest.raises(InputError, match="no bodies"):
        scene.build()


def test_dt_above_the_stability_limit_is_refused():
    scene = Scene(dim=2, domain=(1.0, 1.0), grid_res=32, dt=1e-2)
    scene.add_particles(block(scene), materials.Elastic(youngs_modulus=1e5), density=1000.0)
    limit = scene.time_step_limit()
    # the limit is the elastic-wave CFL bound dx / (c + v): c = sqrt((lambda + 2 mu) / rho), v a fall across the box
    c = materials.Elastic(youngs_modulus=1e5).wave_speed(1000.0)
    assert limit == pytest.approx(scene.dx / (c + np.sqrt(2 * 9.81 * 1.0)))
    with pytest.raises(InputError, match=rf"dt = 0.01 is above the stability limit {limit:.6g}"):
        scene.run(duration=0.1)
    assert Scene(dim=2, domain=(1, 1), grid_res=32).cfl == 0.5


def test_injected_nan_names_step_time_and_particle():
    scene = Scene(dim=2, domain=(1.0, 1.0), grid_res=32, threads=1)
    scene.add_particles(block(scene), materials.Elastic(), density=1000.0)
    solver, state = scene.build()
    solver.check(state, step=0)  # a healthy state passes
    v = state.v.numpy()
    v[7] = np.nan
    state.v.assign(v)
    with pytest.raises(SimulationError, match=r"MPM blew up at step 12, t = 0 s: particle 7 at x = \[0.4"):
        solver.check(state, step=12)
    v[7] = 0.0
    v[9] = (1.1 * solver.dx / solver.dt, 0.0)  # faster than a cell per step
    state.v.assign(v)
    with pytest.raises(SimulationError, match=r"particle 9 .* bound [\d.]+ = one cell per step"):
        solver.check(state, step=3)


def test_unstable_run_raises_instead_of_returning_nan(monkeypatch):
    scene = Scene(dim=2, domain=(1.0, 1.0), grid_res=32, threads=1, dt=5e-3)
    scene.add_particles(block(scene), materials.Elastic(youngs_modulus=1e6), density=1000.0, velocity=(0, -1))
    monkeypatch.setattr(Scene, "time_step_limit", lambda self: 1.0)  # let the too-large dt through
    with pytest.raises(SimulationError, match=r"blew up at step \d+, t = .* particle \d+"):
        scene.run(duration=0.5, record_every=5, progress=False)


def test_a_body_inside_a_solid_collider_is_refused():
    from simengine import Scene, materials, shapes

    scene = Scene(dim=2, domain=(1.0, 1.0), grid_res=32)
    scene.add_body(shapes.Box(lower=(0.3, 0.1), size=(0.2, 0.2)), materials.Sand(), name="pile")
    scene.add_collider(shapes.Plane(normal=(0, 1), offset=0.2))  # solid below y = 0.2: half the pile inside
    with pytest.raises(InputError, match=r"body 'pile': \d+ of \d+ particles start inside collider 0 .*deep"):
        scene.run(duration=0.01)
    resting = Scene(dim=2, domain=(1.0, 1.0), grid_res=32)
    resting.add_body(shapes.Box(lower=(0.3, 0.2), size=(0.2, 0.2)), materials.Sand())
    resting.add_collider(shapes.Plane(normal=(0, 1), offset=0.2))  # on the surface: fine
    resting.build()
