"""The FEM simulator against an independent FEM code (scikit-fem) and analytic results."""
import math

import numpy as np
import pytest

from simengine import fem
from simengine.simulator import record


def cantilever(nx=40, ny=4, length=1.0, height=0.1, E=1e6, nu=0.3, density=1000.0, law=fem.LinearElastic,
               gravity=(0.0, -9.81), damping=0.0, plane="strain"):
    scene = fem.Scene(dim=2, gravity=gravity, damping=damping)
    beam = scene.add_body(*fem.meshes.rectangle(length, height, nx, ny), law(E, nu), density=density, plane=plane)
    scene.fix(beam.nodes_where(lambda X: X[:, 0] < 1e-9))
    return scene, beam


def test_static_solve_matches_scikit_fem():
    """A clamped plane-strain beam under its own weight: relaxed positions against scikit-fem's linear solve on
    the same mesh (P1 triangles, same Lame constants, body force rho g)."""
    skfem = pytest.importorskip("skfem")
    from skfem.models.elasticity import lame_parameters, linear_elasticity

    E, nu, rho, g = 1e6, 0.3, 1000.0, 9.81
    scene, beam = cantilever(nx=16, ny=3, length=0.5, E=E, nu=nu, density=rho)
    rest = scene.relax(tolerance=1e-9)
    X, cells = fem.meshes.rectangle(0.5, 0.1, 16, 3)
    mesh = skfem.MeshTri(X.T.copy(), cells.T.copy())
    basis = skfem.Basis(mesh, skfem.ElementVector(skfem.ElementTriP1()))
    K = linear_elasticity(*lame_parameters(E, nu)).assemble(basis)

    @skfem.LinearForm
    def weight(v, w):
        return -rho * g * v[1]

    f = weight.assemble(basis)
    clamped = basis.get_dofs(lambda x: x[0] < 1e-9).all()
    u = skfem.solve(*skfem.condense(K, f, D=clamped))
    displacement = u[basis.nodal_dofs].T  # (N, 2)
    ours = rest - X
    assert np.abs(ours - displacement).max() / np.abs(displacement).max() < 1e-3


def test_bar_impact_wave_speed_and_stress():
    """A plane-stress bar (nu = 0) moving at v0 against a clamped end: the compression front travels at
    c = sqrt(E / rho) and the stress behind it is rho c v0."""
    E, rho, v0, length = 2e8, 1000.0, 1.0, 1.0
    scene = fem.Scene(dim=2, gravity=(0.0, 0.0))
    bar = scene.add_body(*fem.meshes.rectangle(length, 0.02, 400, 2), fem.LinearElastic(E, 0.0), density=rho,
                         plane="stress")
    wall = bar.nodes_where(lambda X: X[:, 0] < 1e-9)
    scene.fix(wall)
    model, _ = scene.build()
    v = np.zeros((model.n, 2))
    v[:, 0] = -v0
    v[wall] = 0.0
    state = model.new_state(v=v)
    c = math.sqrt(E / rho)
    steps = int(round(0.5 * length / c / model.dt))
    traj, final = record(model, state, steps, steps, progress=False)
    x0 = model.X[:, 0]
    vx = traj.velocity[-1, :, 0]
    stopped = x0[np.abs(vx) < 0.5 * v0]  # behind the front the bar is at rest
    front = stopped.max()
    t = steps * model.dt
    assert front / (c * t) == pytest.approx(1.0, rel=0.02)
    behind = (x0 > 0.1 * front) & (x0 < 0.8 * front)
    stress = np.median(traj.stress[-1, behind])
    assert stress / (rho * c * v0) == pytest.approx(1.0, rel=0.02)


def test_energy_is_conserved_without_damping():
    """A free plate set vibrating in bending and stretching (no gravity, no damping): total energy within
    0.1 % over 10^4 steps (velocity Verlet's energy error stays bounded, of order (omega dt)^2)."""
    scene = fem.Scene(dim=2, gravity=(0.0, 0.0))
    scene.add_body(*fem.meshes.rectangle(0.2, 0.05, 16, 4), fem.LinearElastic(1e6, 0.3), density=1000.0)
    model, _ = scene.build()
    X = model.X
    v = np.stack([0.01 * np.sin(2 * np.pi * X[:, 0] / 0.2), 0.02 * np.cos(np.pi * X[:, 0] / 0.2)], 1)
    state = model.new_state(v=v)
    e0 = model.energy(state)["total"]
    other = model.new_state()
    worst = 0.0
    for k in range(10_000):
        model.step(state, other)
        state, other = other, state
        if k % 250 == 0:
            worst = max(worst, abs(model.energy(state)["total"] - e0) / e0)
    assert worst < 1e-3


def test_momentum_is_conserved_through_an_impact():
    """No fixed nodes, no gravity: a rigid disk hits a free block; total momentum (block + disk) within 1e-3."""
    scene = fem.Scene(dim=2, gravity=(0.0, 0.0), friction=0.3)
    block = scene.add_body(*fem.meshes.rectangle(0.1, 0.04, 20, 8), fem.LinearElastic(1e6, 0.3), density=1000.0)
    disk = scene.add_impactor(*fem.meshes.disk((0.03, 0.065), 0.02, 24), mass=1.0, velocity=(0.5, -2.0))
    model, state = scene.build()
    m = model.mass_np[:, None]
    p0 = (m * state.v.numpy()).sum(axis=0)
    steps = int(0.02 / model.dt)
    traj, final = record(model, state, steps, steps, progress=False)
    p1 = (m * final.v.numpy()).sum(axis=0)
    hit = traj.velocity[-1, block.nodes].mean(axis=0)
    assert np.linalg.norm(hit) > 0.05  # the block was hit and moves
    assert np.abs(p1 - p0).max() < 1e-3 * np.abs(p0).max()
    assert np.isfinite(traj.stress).all() and traj.node_type[disk.nodes].tolist() == [1] * len(disk.nodes)
