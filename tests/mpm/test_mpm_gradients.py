"""Gradients of the differentiable MPM step: adjoints against central finite differences (float64) and,
in 3D, against torch autograd through the independent reference step; the polar rotation's custom
adjoint against finite differences, at F = I (repeated singular values) included."""
import numpy as np
import pytest
import torch

from kernels.mpm import MODELS
from simengine.mpm import MPMSolver
from simengine.mpm.differentiable import mpm_step, mpm_step_external, simulate, state_tensors
from simengine.mpm.reference_torch import reference_step


def spinning_solver(dim, model, lattice_fn, particle_arrays_fn, dtype="float64", res=16, dt=5e-4):
    dx = 1 / res
    x = lattice_fn([0.35] * dim, [0.6] * dim, dx / 2)
    parts = particle_arrays_fn(x, 1000.0, MODELS.index(model), E=2e4, nu=0.3, volume=(dx / 2) ** dim)
    solver = MPMSolver(dim=dim, cells=(res,) * dim, dx=dx, dt=dt, particles=parts, dtype=dtype, threads=1,
                       gravity=[0.0, -9.81] + [0.0] * (dim - 2))
    r = x - x.mean(0)
    v = np.zeros_like(x)
    v[:, 0], v[:, 1] = -3.0 * r[:, 1] + 0.5 * r[:, 0], 3.0 * r[:, 0] + 2.0 * r[:, 1]
    return solver, state_tensors(solver.new_state(x, v))


@pytest.mark.parametrize("model", ["neo_hookean", "fixed_corotated"])
def test_rollout_gradients_match_central_differences(model, lattice_fn, particle_arrays_fn):
    solver, (x, v, C, F, plastic) = spinning_solver(2, model, lattice_fn, particle_arrays_fn)
    n = x.shape[0]
    weights = torch.linspace(-1.0, 1.0, n, dtype=torch.float64)

    def loss(E, amplitude):
        xT, vT, *_ = simulate(solver, (x, v * amplitude, C, F, plastic), n_steps=30, E=E.expand(n))
        return (weights * xT[:, 0]).sum() + (xT[:, 1] ** 2).sum() + 0.1 * (vT ** 2).sum()

    E = torch.tensor(2e4, dtype=torch.float64, requires_grad=True)
    amplitude = torch.tensor(1.0, dtype=torch.float64, requires_grad=True)
    loss(E, amplitude).backward()
    with torch.no_grad():
        fd_E = (loss(E + 2.0, amplitude) - loss(E - 2.0, amplitude)) / 4.0
        fd_a = (loss(E, amplitude + 1e-5) - loss(E, amplitude - 1e-5)) / 2e-5
    assert abs(E.grad.item()) > 1e-7 and abs(amplitude.grad.item()) > 1e-3  # both matter
    assert E.grad.item() == pytest.approx(fd_E.item(), rel=1e-5)
    assert amplitude.grad.item() == pytest.approx(fd_a.item(), rel=1e-5)


def test_mu_i_rollout_gradients_match_central_differences(lattice_fn, particle_arrays_fn):
    """The mu(I) return map (flowing, rate-dependent) differentiated through 30 steps: w.r.t. E, mu_2, the
    friction angle and the initial velocity, against central differences (float64)."""
    from simengine.mpm.materials import Sand

    dim, res, dt = 2, 16, 5e-4
    dx = 1 / res
    x = lattice_fn([0.35] * dim, [0.6] * dim, dx / 2)
    sand = Sand(rheology="mu_i", youngs_modulus=2e4, grain_diameter=5e-3)  # coarse grains: I ~ 0.05
    parts = particle_arrays_fn(x, 1500.0, MODELS.index("mu_i"), E=2e4, nu=0.3, volume=(dx / 2) ** dim,
                               params=sand.pack()[2])
    solver = MPMSolver(dim=dim, cells=(res,) * dim, dx=dx, dt=dt, particles=parts, dtype="float64", threads=1,
                       gravity=[0.0, -9.81])
    r = x - x.mean(0)
    v = np.zeros_like(x)
    v[:, 0], v[:, 1] = 6.0 * r[:, 1] - 0.5 * r[:, 0], -0.5 * r[:, 1]  # shear and a little compression
    F0 = np.tile(np.eye(dim) * 0.97, (len(x), 1, 1))  # packed: a confining pressure of about 1 kPa
    x, v, C, F, plastic = state_tensors(solver.new_state(x, v, F=F0))
    n = x.shape[0]
    weights = torch.linspace(-1.0, 1.0, n, dtype=torch.float64)
    base = torch.tensor(sand.pack()[2], dtype=torch.float64)

    def loss(E, mu_2, phi, amplitude):
        params = torch.stack([phi, mu_2, base[2], base[3]]).expand(n, 4)
        xT, vT, CT, FT, pT = simulate(solver, (x, v * amplitude, C, F, plastic), n_steps=30, E=E.expand(n),
                                      params=params)
        return (weights * xT[:, 0]).sum() + (xT[:, 1] ** 2).sum() + 0.1 * (vT ** 2).sum() + (FT[:, 0, 1] ** 2).sum()

    start = (2e4, sand.mu_2, sand.friction_angle, 1.0)
    args = [torch.tensor(a, dtype=torch.float64, requires_grad=True) for a in start]
    value = loss(*args)
    value.backward()
    steps = (2.0, 1e-4, 1e-3, 1e-5)
    with torch.no_grad():
        for i, (a, h) in enumerate(zip(args, steps)):
            plus = [b + h if j == i else b for j, b in enumerate(args)]
            minus = [b - h if j == i else b for j, b in enumerate(args)]
            fd = (loss(*plus) - loss(*minus)) / (2 * h)
            assert abs(fd.item() * a.item()) > 1e-6 * abs(value.item())  # each matters (mu_2, phi: it flowed)
            assert a.grad.item() == pytest.approx(fd.item(), rel=1e-6), i  # measured: 1e-8 or better
        pT = simulate(solver, (x, v, C, F, plastic), n_steps=30)[4]
        assert torch.allclose(pT, torch.ones_like(pT))  # packed (connected) all along, no stress-free branch


def test_external_stress_step_reproduces_the_material_step_and_differentiates(lattice_fn, particle_arrays_fn):
    solver, (x, v, C, F, plastic) = spinning_solver(2, "neo_hookean", lattice_fn, particle_arrays_fn)
    F = F + 0.03 * torch.randn_like(F, dtype=torch.float64)
    mu, lam = 2e4 / 2.6, 2e4 * 0.3 / (1.3 * 0.4)

    def neo_hookean_tau(F):  # written in torch, as a learned law would be
        J = torch.linalg.det(F)
        eye = torch.eye(2, dtype=F.dtype)
        return mu * (F @ F.transpose(1, 2) - eye) + (lam * torch.log(J))[:, None, None] * eye

    ours = mpm_step(solver, x, v, C, F, plastic)
    theirs = mpm_step_external(solver, x, v, C, F, plastic, neo_hookean_tau(F))
    for a, b in zip(ours, theirs):  # neo-Hookean has no return mapping: F_trial is F
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)
    Fg = F.clone().requires_grad_(True)
    out = mpm_step_external(solver, x, v, C, Fg, plastic, neo_hookean_tau(Fg))
    (out[0][:, 1].sum() + out[3].sum()).backward()
    direction = torch.randn_like(F)
    with torch.no_grad():
        def f(Fp):
            o = mpm_step_external(solver, x, v, C, Fp, plastic, neo_hookean_tau(Fp))
            return o[0][:, 1].sum() + o[3].sum()
        fd = (f(F + 1e-6 * direction) - f(F - 1e-6 * direction)) / 2e-6
    assert (Fg.grad * direction).sum().item() == pytest.approx(fd.item(), rel=1e-6)


@pytest.mark.parametrize("model", ["fixed_corotated", "von_mises"])
def test_3d_step_adjoint_matches_torch_autograd_of_the_reference(model, lattice_fn, particle_arrays_fn):
    rng = np.random.default_rng(3)
    res, dt = 12, 5e-4
    dx = 1 / res
    x = lattice_fn([0.35] * 3, [0.6] * 3, dx / 2)
    params = (150.0, 0, 0, 0)  # von Mises yield stress low enough to yield
    parts = particle_arrays_fn(x, 1000.0, MODELS.index(model), E=2e4, nu=0.3, volume=(dx / 2) ** 3, params=params)
    solver = MPMSolver(dim=3, cells=(res,) * 3, dx=dx, dt=dt, particles=parts, threads=1, gravity=[0, -9.81, 0])
    state = {"x": x, "v": rng.normal(0, 1, x.shape), "C": rng.normal(0, 1, (len(x), 3, 3)),
             "F": np.eye(3) + rng.normal(0, 0.05, (len(x), 3, 3)), "plastic": np.ones(len(x))}
    w = {k: rng.normal(0, 1, np.shape(a)) for k, a in state.items()}
    t32 = {k: torch.tensor(a, dtype=torch.float32, requires_grad=True) for k, a in state.items()}
    out = mpm_step(solver, *(t32[k] for k in ("x", "v", "C", "F", "plastic")))
    sum((o.double() * torch.tensor(w[k])).sum() for o, k in zip(out, ("x", "v", "C", "F", "plastic"))).backward()
    t64 = {k: torch.tensor(a, dtype=torch.float64, requires_grad=True) for k, a in state.items()}
    ref = reference_step(t64, {k: torch.tensor(a) for k, a in parts.items()}, dx=dx, dt=dt, nodes=(res + 1,) * 3,
                         gravity=[0, -9.81, 0])
    sum((ref[k] * torch.tensor(w[k])).sum() for k in ref).backward()
    if model == "von_mises":  # the return mapping was active, so its adjoint was exercised
        trial = (torch.eye(3, dtype=torch.float64) + dt * ref["C"]) @ t64["F"]
        assert (ref["F"] - trial).abs().max() > 1e-4
    for key in ("x", "v", "C", "F"):
        got, want = t32[key].grad.double(), t64[key].grad
        assert torch.linalg.norm(got - want) <= 2e-4 * torch.linalg.norm(want), key


def test_polar_rotation_adjoint_is_finite_and_exact_at_repeated_singular_values():
    import warp as wp

    from kernels.mpm.linalg import make_linalg
    from simengine.runtime import init_warp

    init_warp()
    la = make_linalg(3, wp.float64, "simengine_test_polar3d")

    @wp.kernel(module="simengine_test_polar3d")
    def rotate(F: wp.array(dtype=wp.mat33d), R: wp.array(dtype=wp.mat33d)):
        i = wp.tid()
        R[i] = la.polar_rotation(F[i])

    rng = np.random.default_rng(0)
    q, _ = np.linalg.qr(rng.normal(size=(3, 3)))
    q *= np.sign(np.linalg.det(q))
    cases = np.stack([np.eye(3), q, q @ np.diag([2.0, 2.0, 0.5]), np.eye(3) + 0.3 * rng.normal(size=(3, 3))])
    G = rng.normal(size=cases.shape)

    def rotation(Fs):
        F = wp.array(Fs, dtype=wp.mat33d, requires_grad=True)
        R = wp.zeros(len(Fs), dtype=wp.mat33d, requires_grad=True)
        tape = wp.Tape()
        with tape:
            wp.launch(rotate, dim=len(Fs), inputs=[F], outputs=[R])
        tape.backward(grads={R: wp.array(G, dtype=wp.mat33d)})
        return R.numpy(), F.grad.numpy()

    R, adj = rotation(cases)
    for k, F in enumerate(cases):
        U, _, Vt = np.linalg.svd(F)
        np.testing.assert_allclose(R[k], U @ Vt, atol=1e-9)  # det F > 0 here: R = U V^T
    direction = rng.normal(size=cases.shape)
    plus, _ = rotation(cases + 1e-6 * direction)
    minus, _ = rotation(cases - 1e-6 * direction)
    fd = ((plus - minus) / 2e-6 * G).sum(axis=(1, 2))
    np.testing.assert_allclose((adj * direction).sum(axis=(1, 2)), fd, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(adj[0], 0.5 * (G[0] - G[0].T), atol=1e-12)  # at F = I: dR = skew(dF)
    inverted = q @ np.diag([1.5, 1.0, -0.5])  # an inverted element: R stays a proper rotation
    R_inv, _ = rotation(np.stack([inverted] * len(cases)))
    assert np.linalg.det(R_inv[0]) == pytest.approx(1.0)
    S = R_inv[0].T @ inverted
    np.testing.assert_allclose(S, S.T, atol=1e-9)
    np.testing.assert_allclose(np.sort(np.linalg.eigvalsh(S)), [-0.5, 1.0, 1.5], atol=1e-9)


def test_full_warp_tape_over_per_step_states_matches_finite_differences(lattice_fn, particle_arrays_fn):
    import warp as wp

    dim, res = 2, 16
    dx = 1 / res
    x = lattice_fn([0.35] * dim, [0.6] * dim, dx / 2)
    v = np.zeros_like(x)
    v[:, 0] = 2.0 * (x[:, 1] - x[:, 1].mean())  # shear: the stress, hence E, matters

    def final_shear_energy(E_value, tape=None):
        parts = particle_arrays_fn(x, 1000.0, MODELS.index("fixed_corotated"), E=E_value, volume=(dx / 2) ** dim)
        solver = MPMSolver(dim=dim, cells=(res,) * dim, dx=dx, dt=5e-4, particles=parts, dtype="float64",
                           gravity=[0.0, -9.81], requires_grad=tape is not None)
        states = [solver.new_state(x, v) for _ in range(11)]  # one buffer set per step: nothing overwritten
        if tape is None:
            for i in range(10):
                solver.step(states[i], states[i + 1])
            return float((states[-1].v.numpy()[:, 0] ** 2).mean())
        with tape:
            for i in range(10):
                solver.step(states[i], states[i + 1])
        seed = np.zeros((len(x), dim))
        seed[:, 0] = 2 * states[-1].v.numpy()[:, 0] / len(x)  # d mean(v_x^2) / d v
        tape.backward(grads={states[-1].v: wp.array(seed, dtype=solver.k.vec)})
        return float(solver.particles.E.grad.numpy().sum())

    grad = final_shear_energy(3e4, tape=wp.Tape())
    fd = (final_shear_energy(3e4 + 3.0) - final_shear_energy(3e4 - 3.0)) / 6.0
    assert abs(fd) * 3e4 > 1e-3 * final_shear_energy(3e4)  # E matters
    assert grad == pytest.approx(fd, rel=1e-5)
