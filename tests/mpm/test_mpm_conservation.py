"""Conservation laws of the MLS-MPM transfers, checked against the continuum statements:
mass, linear and (APIC) angular momentum are carried exactly in free flight (internal stresses cancel), and
a body in free fall moves its centre of mass as g t^2 / 2 until it touches anything."""
import numpy as np
import pytest

from kernels.mpm import MODELS
from simengine import Scene, materials
from simengine.mpm import MPMSolver


def spinning_block(dim, lattice_fn, dx, rng):
    x = lattice_fn([0.35] * dim, [0.6] * dim, dx / 2)
    r = x - x.mean(0)
    v = np.zeros_like(x)
    v[:, 0], v[:, 1] = -4.0 * r[:, 1] + 0.3, 4.0 * r[:, 0] - 0.2   # spin plus drift
    F = np.eye(dim) + 0.05 * rng.normal(size=(len(x), dim, dim))  # pre-strained: stresses act
    return x, v, F


def angular_momentum(x, v, C, mass, dx):
    """2D APIC angular momentum (Jiang et al. 2015): sum m (x cross v) + m D (C_10 - C_01), D = dx^2 / 4."""
    spin = x[:, 0] * v[:, 1] - x[:, 1] * v[:, 0]
    return float((mass * (spin + dx**2 / 4 * (C[:, 1, 0] - C[:, 0, 1]))).sum())


@pytest.mark.parametrize("model", ["fixed_corotated", "neo_hookean", "drucker_prager"])
def test_free_flight_conserves_mass_and_momentum(model, lattice_fn, particle_arrays_fn):
    rng = np.random.default_rng(1)
    dx = 1 / 32
    x, v, F = spinning_block(2, lattice_fn, dx, rng)
    parts = particle_arrays_fn(x, 1000.0, MODELS.index(model), E=5e4, params=(30.0, 0, 0, 0), volume=(dx / 2) ** 2)
    solver = MPMSolver(dim=2, cells=(32, 32), dx=dx, dt=2e-4, particles=parts, gravity=[0, 0], dtype="float64",
                       threads=1)
    a, b = solver.new_state(x, v, F=F), solver.new_state(x, v, F=F)
    mass = parts["mass"]
    p0 = (mass[:, None] * v).sum(0)
    solver.step(a, b)
    grid_mass = solver._grid.mass.numpy().sum()
    assert grid_mass == pytest.approx(mass.sum(), rel=1e-12)  # P2G scatters exactly the particle mass
    for _ in range(40):
        solver.step(a, b)
        a, b = b, a
    p1 = (mass[:, None] * a.v.numpy()).sum(0)
    np.testing.assert_allclose(p1, p0, rtol=0, atol=1e-11 * np.abs(mass).sum())
    L0, L1 = angular_momentum(x, v, np.zeros_like(F), mass, dx), angular_momentum(
        a.x.numpy(), a.v.numpy(), a.C.numpy(), mass, dx)
    assert L1 == pytest.approx(L0, rel=1e-9)  # APIC: symmetric Kirchhoff stress exerts no torque
    assert np.abs(a.x.numpy() - x).max() > 0.004  # it did move and deform
    assert np.abs(a.F.numpy() - F).max() > 1e-3


def test_free_fall_follows_g_t_squared_in_3d(lattice_fn):
    scene = Scene(dim=3, domain=(1.0, 1.0, 1.0), grid_res=16, threads=1)
    x = lattice_fn([0.4, 0.5, 0.4], [0.6, 0.7, 0.6], scene.dx / 2)
    scene.add_particles(x, materials.NeoHookean(youngs_modulus=2e4), density=1000.0, velocity=(0.0, 0.5, 0.0),
                        volume=(scene.dx / 2) ** 3)
    traj = scene.run(duration=0.25, record_every=5, progress=False)
    t = np.arange(traj.num_frames) * traj.dt
    com = traj.position.mean(axis=1)
    expected = x.mean(0)[1] + 0.5 * t - 0.5 * 9.81 * t**2
    dt = traj.metadata["dt"]
    # symplectic Euler (x += dt v^{n+1}) lags the exact parabola by g t dt / 2 at most; float32 positions
    np.testing.assert_allclose(com[:, 1], expected, atol=0.5 * 9.81 * t.max() * dt + 1e-5)
    n = np.round(t / dt)  # ... and matches the exact symplectic-Euler parabola to float32 noise
    np.testing.assert_allclose(com[:, 1], x.mean(0)[1] + 0.5 * t - 9.81 * dt**2 * n * (n + 1) / 2, atol=2e-5)
    np.testing.assert_allclose(traj.velocity.mean(1)[:, 1], 0.5 - 9.81 * t, atol=1e-4)
    np.testing.assert_allclose(com[:, [0, 2]], np.broadcast_to(x.mean(0)[[0, 2]], (len(t), 2)), atol=1e-5)
    assert com[:, 1].min() > 0.3  # still in flight: the bottom is above the floor layers
