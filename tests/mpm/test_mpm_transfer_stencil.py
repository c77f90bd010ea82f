"""The unrolled B-spline stencils of `kernels.mpm.transfer` against the transfers' exact moment identities.

Quadratic B-spline weights satisfy sum_i w_ip = 1, sum_i w_ip (x_i - x_p) = 0 and
sum_i w_ip (x_i - x_p)(x_i - x_p)^T = (dx^2 / 4) I (Jiang et al. 2015, APIC). Hence

* G2P of an affine grid field v(x) = a + G x returns v_p = a + G x_p and C_p = G exactly;
* P2G with zero stress puts sum_p m_p on the grid, momentum sum_p m_p v_p, and the first moment
  sum_i (m v)_i x_i^T = sum_p m_p (v_p x_p^T + (dx^2 / 4) C_p).
"""
import numpy as np
import pytest

from kernels.mpm import MODELS
from simengine.mpm import MPMSolver


def _solver(dim, n, rng, cells=12):
    dx = 1.0 / cells
    x = rng.uniform(4 * dx, 1 - 4 * dx, size=(n, dim))  # away from the walls and the clamped stencil
    volume = np.full(n, (dx / 2) ** dim)
    parts = dict(mass=1000 * volume * rng.uniform(0.5, 1.5, n), volume=volume,
                 model=np.full(n, MODELS.index("neo_hookean")), E=np.full(n, 1e5), nu=np.full(n, 0.3),
                 params=np.zeros((n, 4)))
    solver = MPMSolver(dim=dim, cells=(cells,) * dim, dx=dx, dt=1e-3, particles=parts, gravity=[0.0] * dim,
                       dtype="float64", threads=1)
    return solver, x, parts


@pytest.mark.parametrize("dim", [2, 3])
def test_g2p_reproduces_an_affine_grid_velocity_field(dim):
    rng = np.random.default_rng(dim)
    solver, x, _ = _solver(dim, 50, rng)
    a, G = rng.normal(size=dim), rng.normal(size=(dim, dim))
    nodes = np.stack(np.meshgrid(*[np.arange(c) * solver.dx for c in solver.nodes], indexing="ij"), -1)
    solver._grid.velocity.assign((a + nodes.reshape(-1, dim) @ G.T).astype(np.float64))
    F = np.eye(dim) + 0.1 * rng.normal(size=(len(x), dim, dim))
    s_in, s_out = solver.new_state(x, F=F), solver.new_state(x)
    p, k, n = solver.particles, solver.k, solver.n
    solver._launch(k.g2p, (0, n), [s_in.x, s_in.F, s_in.plastic, p.model, p.E, p.nu, p.params, solver._grid.velocity,
                                   solver.dx, solver.dt, solver.res, 0, n, solver.chunk, s_out.x, s_out.v, s_out.C,
                                   s_out.F, s_out.plastic])
    v = a + x @ G.T
    np.testing.assert_allclose(s_out.v.numpy(), v, rtol=0, atol=1e-12)
    np.testing.assert_allclose(s_out.C.numpy(), np.broadcast_to(G, (n, dim, dim)), rtol=0, atol=1e-11)
    np.testing.assert_allclose(s_out.x.numpy(), x + solver.dt * v, rtol=0, atol=1e-14)
    np.testing.assert_allclose(s_out.F.numpy(), (np.eye(dim) + solver.dt * G) @ F, rtol=0, atol=1e-13)


@pytest.mark.parametrize("dim", [2, 3])
def test_p2g_carries_mass_momentum_and_its_first_moment(dim):
    rng = np.random.default_rng(10 + dim)
    solver, x, parts = _solver(dim, 40, rng)
    v, C = rng.normal(size=(len(x), dim)), rng.normal(size=(len(x), dim, dim))
    s_in, s_out = solver.new_state(x, v, C=C), solver.new_state(x)  # F = I: zero neo-Hookean stress
    solver.step(s_in, s_out)
    m = parts["mass"]
    grid_m, grid_mv = solver._grid.mass.numpy(), solver._grid.momentum.numpy()
    nodes = np.stack(np.meshgrid(*[np.arange(c) * solver.dx for c in solver.nodes], indexing="ij"), -1)
    assert grid_m.sum() == pytest.approx(m.sum(), rel=1e-13)
    np.testing.assert_allclose(grid_mv.sum(0), m @ v, rtol=0, atol=1e-12 * m.sum())
    want = np.einsum("p,pa,pb->ab", m, v, x) + solver.dx**2 / 4 * np.einsum("p,pab->ab", m, C)
    np.testing.assert_allclose(grid_mv.T @ nodes.reshape(-1, dim), want, rtol=0, atol=1e-12 * m.sum())
