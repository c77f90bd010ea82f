"""Learned laws inside the differentiable MPM: gradients against finite differences, full tape vs
recompute, a hand-written torch law against the solver's own kernel law, and the error reports."""
import numpy as np
import pytest
import torch
from torch import nn

from learned.nclaw import ConstitutiveLaw, NeuralMPM, initial_state, polar_rotation
from simengine import Scene, materials, shapes
from simengine.errors import InputError, SimulationError
from simengine.mpm.differentiable import simulate, state_tensors

E, NU = 2.0e3, 0.3


pytestmark = pytest.mark.usefixtures("one_torch_thread")  # per-particle MLPs on ~100 particles


def small_scene(lower=(0.35, 0.4)):
    scene = Scene(dim=2, domain=(1.0, 1.0), grid_res=16, seed=0, dt=2e-3)
    scene.add_body(shapes.Box(lower=lower, size=(0.25, 0.25)), materials.Elastic(youngs_modulus=E, poisson_ratio=NU),
                   density=1000.0)
    solver, state = scene.build(dtype="float64")
    x0 = state.x.numpy()
    v0 = (x0 - x0.mean(0)) @ np.array([[0.3, 1.0], [-0.5, -0.2]]).T  # shear + spin: F leaves I at once
    return scene, solver, x0, v0


class Corotated(nn.Module):
    """Fixed-corotated stress written in torch, tau = 2 mu (F - R) F^T + lambda (J - 1) J I."""

    def forward(self, F):
        mu, lam = E / (2 * (1 + NU)), E * NU / ((1 + NU) * (1 - 2 * NU))
        J = torch.det(F)
        eye = torch.eye(F.shape[-1], dtype=F.dtype)
        return 2 * mu * (F - polar_rotation(F)) @ F.transpose(1, 2) + (lam * (J - 1) * J)[:, None, None] * eye


def objective(sim, x0, v0, steps=6):
    x, v, C, F, _ = sim.simulate(initial_state(x0, v0), steps)
    w = torch.linspace(-1.0, 1.0, x.numel(), dtype=x.dtype).view_as(x)
    return 1e3 * (x * w).sum() + (F ** 2).sum()


def test_gradient_through_mpm_steps_matches_finite_differences():
    _, solver, x0, v0 = small_scene()
    torch.manual_seed(0)
    law = ConstitutiveLaw.neural(2, width=16, depth=2, stress_scale=1e3, alpha=0.05).double()
    sim = NeuralMPM(solver, law)
    objective(sim, x0, v0).backward()
    checked = 0
    for param in (law.elastic.net.mlp[0].weight, law.elastic.net.mlp[4].weight, law.plastic.net.mlp[2].weight):
        grad = param.grad.clone()
        flat = grad.abs().flatten().argsort(descending=True)[:2]  # the two most sensitive entries
        for k in flat.tolist():
            idx = np.unravel_index(k, param.shape)
            with torch.no_grad():
                eps = 1e-5
                param[idx] += eps
                up = objective(sim, x0, v0).item()
                param[idx] -= 2 * eps
                down = objective(sim, x0, v0).item()
                param[idx] += eps
            fd = (up - down) / (2 * eps)
            assert abs(fd - grad[idx].item()) <= 1e-5 * abs(fd) + 1e-9, (param.shape, idx, fd, grad[idx].item())
            checked += 1
    assert checked == 6


def test_full_tape_and_recompute_give_the_same_gradients():
    _, solver, x0, v0 = small_scene()
    torch.manual_seed(1)
    law = ConstitutiveLaw.neural(2, width=8, depth=2, stress_scale=1e3, alpha=0.05).double()
    grads = []
    for mode in ("recompute", "tape"):
        law.zero_grad()
        loss = objective(NeuralMPM(solver, law, backward=mode), x0, v0, steps=4)
        loss.backward()
        grads.append((loss.item(), [p.grad.clone() for p in law.parameters()]))
    assert grads[0][0] == grads[1][0]
    for a, b in zip(grads[0][1], grads[1][1]):
        assert torch.allclose(a, b, rtol=1e-12, atol=1e-15)


def test_torch_law_reproduces_the_solver_kernel_material():
    """The coupling glue (stress hook, unprojected F_trial, torch projection) changes nothing: a torch
    fixed-corotated law gives the trajectory of the solver's own fixed-corotated kernel."""
    _, solver, x0, v0 = small_scene()
    sim = NeuralMPM(solver, ConstitutiveLaw(Corotated()))
    with torch.no_grad():
        ours = sim.simulate(initial_state(x0, v0), 40)
        native = simulate(solver, initial_state(x0, v0), 40)
    moved = (native[0] - torch.as_tensor(x0)).abs().max()
    strain = (native[3] - torch.eye(2, dtype=torch.float64)).abs().max()
    assert moved > 0.02 and strain > 0.05  # the body really moved and deformed
    assert torch.allclose(ours[0], native[0], atol=1e-10)
    assert torch.allclose(ours[3], native[3], atol=1e-10)


def test_laws_per_material_id():
    scene, solver, x0, v0 = small_scene()
    ids = (x0[:, 0] > x0[:, 0].mean()).astype(int)
    zero = ConstitutiveLaw(ZeroStress())
    sim = NeuralMPM(solver, {0: ConstitutiveLaw(Corotated()), 1: zero}, material_id=ids)
    tau = sim.stress(torch.eye(2, dtype=torch.float64).repeat(len(x0), 1, 1) * 1.1)
    assert torch.all(tau[ids == 1] == 0) and torch.all(tau[ids == 0].abs().amax((1, 2)) > 0)
    with pytest.raises(InputError, match=r"no law for material id\(s\) \[1\]"):
        NeuralMPM(solver, {0: zero}, material_id=ids)


class ZeroStress(nn.Module):
    def forward(self, F):
        return torch.zeros_like(F)


class BlowsUpAtStep(nn.Module):
    """A stress law that returns NaN for particle 7 from its ``when``-th call on."""

    def __init__(self, when):
        super().__init__()
        self.calls, self.when = 0, when

    def forward(self, F):
        self.calls += 1
        tau = torch.zeros_like(F)
        if self.calls > self.when:
            tau[7, 0, 0] = float("nan")
        return tau


class Mirror(nn.Module):
    def forward(self, F):
        return F @ torch.diag(torch.tensor([1.0, -1.0], dtype=F.dtype))


def test_non_finite_stress_and_inverted_elements_are_reported():
    _, solver, x0, v0 = small_scene()
    sim = NeuralMPM(solver, ConstitutiveLaw(BlowsUpAtStep(3)))
    with pytest.raises(SimulationError, match=r"non-finite stress at step 3 .*particle 7 .*F = \[\["):
        sim.simulate(initial_state(x0, v0), 10)
    sim = NeuralMPM(solver, ConstitutiveLaw(ZeroStress(), Mirror()))
    with pytest.raises(SimulationError, match=r"inverted element at step 0 .*det F = -"):
        sim.simulate(initial_state(x0, v0), 2)
    with pytest.raises(InputError, match="backward"):
        NeuralMPM(solver, ConstitutiveLaw(ZeroStress()), backward="none")


def test_state_tensors_helper_agrees_with_initial_state():
    scene, solver, x0, v0 = small_scene()
    _, state = scene.build(dtype="float64")
    x, v, C, F, plastic = state_tensors(state)
    ours = initial_state(x0, np.zeros_like(x0))
    for a, b in zip((x, v, C, F, plastic), ours):
        assert torch.equal(a, b)
