"""Learned constitutive laws inside the differentiable MLS-MPM step (NCLaw, Ma et al., ICML 2023).

The solver stays exact; only the material is learned. One step of `NeuralMPM`, for particle state
``(x, v, C, F, plastic)`` (N, d), (N, d), (N, d, d), (N, d, d), (N,) as torch tensors:

    tau      = law.stress(F)                                   # torch, (N, d, d) Kirchhoff stress
    F_trial  = MPM step with tau (P2G, grid update, G2P)       # Warp, `mpm_step_external`
    F        = law.project(F_trial)                            # torch return mapping

Gradients reach the laws' weights through the MPM engineer's `torch.autograd.Function`. Memory per
step, with ``backward="recompute"`` (default): the MPM step saves only its inputs and re-runs on a
fresh `wp.Tape` in backward, and each law evaluation is wrapped in `torch.utils.checkpoint` so its
activations are recomputed too: about one particle state per step. ``backward="tape"`` keeps the
Warp tape (grid included) and the torch activations instead (`simengine.mpm.torch_constitutive`).

Every step is checked: a non-finite stress stops with the step and the offending F; an inverted
element (det F <= 0) is reported as an error, never clamped.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.utils.checkpoint import checkpoint

from learned.nclaw.networks import ElasticNet, PlasticNet, determinant
from simengine.errors import InputError, SimulationError
from simengine.mpm.differentiable import mpm_step_external
from simengine.mpm.torch_constitutive import mpm_step_external_taped

STEP_FUNCTIONS = {"recompute": mpm_step_external, "tape": mpm_step_external_taped}


class ConstitutiveLaw(nn.Module):
    """One material: an elastic law F -> tau and a plastic law F_trial -> F (any torch modules)."""

    def __init__(self, elastic: nn.Module, plastic: nn.Module | None = None):
        super().__init__()
        self.elastic = elastic
        self.plastic = plastic if plastic is not None else nn.Identity()

    @classmethod
    def neural(cls, dim: int, width: int = 64, depth: int = 2, stress_scale: float = 1e4, alpha: float = 1e-3,
               plastic: bool = True) -> "ConstitutiveLaw":
        """The NCLaw networks (`ElasticNet`, `PlasticNet`); ``plastic=False``: purely elastic."""
        return cls(ElasticNet(dim, width, depth, stress_scale),
                   PlasticNet(dim, width, depth, alpha) if plastic else None)

    def stress(self, F: torch.Tensor) -> torch.Tensor:
        return self.elastic(F)

    def project(self, F_trial: torch.Tensor) -> torch.Tensor:
        return self.plastic(F_trial)


def _random_rotations(n: int, dim: int, gen, dtype) -> torch.Tensor:
    Q, R = torch.linalg.qr(torch.randn(n, dim, dim, generator=gen, dtype=dtype))
    Q = Q * torch.sign(torch.diagonal(R, dim1=1, dim2=2))[:, None, :]
    flip = torch.ones(n, dim, dtype=dtype)
    flip[:, 0] = torch.sign(torch.linalg.det(Q))
    return Q * flip[:, None, :]


def warm_start(law: ConstitutiveLaw, youngs_modulus: float, poisson_ratio: float = 0.3, steps: int = 200,
               stretch_range=(0.2, 1.6), seed: int = 0) -> float:
    """Fit ``law.elastic`` to fixed-corotated elasticity (E, nu) on random F, and zero the plastic flow.

    A law must start stable: zero stress lets the body collapse until elements invert, random weights
    can give negative stiffness. Fitting a generic elastic material of the expected stiffness (no
    data involved, ~1 s) gives training a stable start. F = U diag(s) V^T with random rotations and
    singular values log-uniform in ``stretch_range``: impacts compress MPM particles to det F ~ 0.2,
    so the law must be defined there. Returns the final relative stress error.
    """
    from learned.nclaw.networks import polar_rotation

    gen = torch.Generator().manual_seed(seed)
    dim = law.elastic.net.dim
    dtype = next(law.elastic.parameters()).dtype
    eye = torch.eye(dim, dtype=dtype)
    mu = youngs_modulus / (2 * (1 + poisson_ratio))
    lam = youngs_modulus * poisson_ratio / ((1 + poisson_ratio) * (1 - 2 * poisson_ratio))
    low, high = (float(np.log(v)) for v in stretch_range)
    optimizer = torch.optim.Adam(law.elastic.parameters(), lr=1e-2)
    error = float("nan")
    for _ in range(steps):
        sigma = torch.exp(low + (high - low) * torch.rand(256, dim, generator=gen, dtype=dtype))
        F = _random_rotations(256, dim, gen, dtype) @ torch.diag_embed(sigma) @ _random_rotations(256, dim, gen,
                                                                                                   dtype)
        J = torch.linalg.det(F)
        target = 2 * mu * (F - polar_rotation(F)) @ F.transpose(1, 2) + (lam * (J - 1) * J)[:, None, None] * eye
        loss = (law.stress(F) - target).square().mean() / target.square().mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        error = float(loss.detach()) ** 0.5
    if hasattr(law.plastic, "net"):
        with torch.no_grad():
            law.plastic.net.mlp[-1].weight.zero_()
    return error


def initial_state(x, v, dtype=torch.float64) -> tuple:
    """MPM state at rest shape: ``(x, v, C = 0, F = I, plastic = 1)`` as torch tensors of ``dtype``."""
    x = torch.as_tensor(np.asarray(x), dtype=dtype)
    v = torch.as_tensor(np.asarray(v), dtype=dtype)
    n, d = x.shape
    return (x, v, torch.zeros(n, d, d, dtype=dtype), torch.eye(d, dtype=dtype).repeat(n, 1, 1),
            torch.ones(n, dtype=dtype))


class NeuralMPM:
    """An `MPMSolver` whose materials are torch `ConstitutiveLaw`s.

    Args:
        solver: `simengine.mpm.MPMSolver` (its material table is not used).
        laws: one `ConstitutiveLaw` for every particle, or ``{material_id: law}`` with
            ``material_id`` (N,) ints giving each particle's law.
        backward: "recompute" (checkpointed, default) or "tape" (full tape; see the module docstring).
    """

    def __init__(self, solver, laws, material_id=None, backward: str = "recompute"):
        if backward not in STEP_FUNCTIONS:
            raise InputError(f"backward = {backward!r} is not one of {sorted(STEP_FUNCTIONS)}")
        self.solver, self.backward = solver, backward
        self._step_fn = STEP_FUNCTIONS[backward]
        if isinstance(laws, nn.Module):
            self.groups = [(None, laws)]
        else:
            if material_id is None:
                raise InputError("laws given per material need material_id (N,) for every particle")
            ids = torch.as_tensor(np.asarray(material_id), dtype=torch.long)
            if ids.shape != (solver.n,):
                raise InputError(f"material_id has shape {tuple(ids.shape)}; expected ({solver.n},)")
            missing = sorted(set(ids.unique().tolist()) - set(laws))
            if missing:
                raise InputError(f"no law for material id(s) {missing}; laws are given for {sorted(laws)}")
            self.groups = [(torch.nonzero(ids == k).squeeze(1), law) for k, law in laws.items() if (ids == k).any()]

    # ---- constitutive evaluation ---------------------------------------------------------------------
    def _apply(self, method: str, F: torch.Tensor) -> torch.Tensor:
        if self.groups[0][0] is None:
            return getattr(self.groups[0][1], method)(F)
        out = torch.zeros_like(F) if method == "stress" else F
        for index, law in self.groups:
            out = out.index_copy(0, index, getattr(law, method)(F[index]))
        return out

    def _evaluate(self, method: str, F: torch.Tensor) -> torch.Tensor:
        if self.backward == "recompute" and torch.is_grad_enabled():
            return checkpoint(self._apply, method, F, use_reentrant=False)
        return self._apply(method, F)

    def stress(self, F: torch.Tensor, step: int = 0) -> torch.Tensor:
        tau = self._evaluate("stress", F)
        bad = ~torch.isfinite(tau).flatten(1).all(1)
        if bool(bad.any()):
            i = int(torch.nonzero(bad)[0, 0])
            raise SimulationError(
                f"the learned law gave a non-finite stress at step {step} (t = {step * self.solver.dt:.6g} s) for "
                f"particle {i} of {int(bad.sum())} bad; its F = {_fmt(F[i])} "
                f"(det F = {float(determinant(F[i:i + 1])):.6g})")
        return tau

    def project(self, F_trial: torch.Tensor, step: int = 0) -> torch.Tensor:
        F = self._evaluate("project", F_trial)
        det = determinant(F.detach())
        bad = ~(det > 0)  # NaN included
        if bool(bad.any()):
            i = int(torch.nonzero(bad)[0, 0])
            raise SimulationError(
                f"inverted element at step {step} (t = {(step + 1) * self.solver.dt:.6g} s): particle {i} has det F = "
                f"{float(det[i]):.6g} <= 0 ({int(bad.sum())} such particles), F = {_fmt(F[i])}, F_trial = "
                f"{_fmt(F_trial[i])}; the law or the time step lets the material turn inside out")
        return F

    # ---- stepping --------------------------------------------------------------------------------------
    def step(self, state: tuple, step: int = 0) -> tuple:
        """``(x, v, C, F, plastic)`` at step ``step`` -> the state one dt later."""
        x, v, C, F, plastic = state
        tau = self.stress(F, step)
        x, v, C, F_trial, plastic = self._step_fn(self.solver, x, v, C, F, plastic, tau, time=step * self.solver.dt)
        return x, v, C, self.project(F_trial, step), plastic

    def simulate(self, state: tuple, n_steps: int, start_step: int = 0, every: int = 0, progress: bool = False):
        """``n_steps`` steps; returns the final state, or with ``every > 0`` (state, [x every ``every`` steps])."""
        from tqdm.auto import tqdm

        frames = []
        for k in tqdm(range(n_steps), disable=not progress, desc="nclaw mpm", unit="step", leave=False):
            state = self.step(state, start_step + k)
            if every and (k + 1) % every == 0:
                frames.append(state[0])
        return (state, frames) if every else state


def _fmt(M: torch.Tensor) -> str:
    return str(np.round(M.detach().cpu().double().numpy(), 6).tolist())
