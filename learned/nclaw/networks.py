"""Neural constitutive laws: an elastic network F -> Kirchhoff stress and a plastic network F_trial -> F.

Ma, Chen, Deng, Tenenbaum, Du, Gan, Matusik, "Learning Neural Constitutive Laws from Motion
Observations for Generalizable PDE Dynamics", ICML 2023 (NCLaw).

Both networks read only rotation-invariant features of the deformation gradient F (N, d, d),

    z(F) = [sigma(F) - 1,  vec(F^T F - I),  det F - 1]         (N, d + d^2 + 1),

unchanged by F -> Q F for any rotation Q, and zero at F = I. A bias-free MLP with an activation that
vanishes at 0 (GELU) maps z to a symmetric matrix S(z) (N, d, d), so S(I) = 0 for any weights. With
R the rotation of the polar decomposition F = R P (R(QF) = Q R(F)):

    elastic:  P_1 = s R S,   tau = sym(P_1 F^T)          (Kirchhoff stress, s = ``stress_scale``)
    plastic:  F_new = F_trial + alpha R S(F_trial)       (S -> tanh(S) by default: bounded flow per step)

so, for any weights, tau(QF) = Q tau(F) Q^T, tau(I) = 0, plastic(QF) = Q plastic(F), plastic(I) = I.
The paper's elastic output is P_1 F^T itself; we keep only its symmetric part (sym(A) = (A + A^T)/2),
which keeps both priors and makes the discrete angular momentum balance exact. ``stress_scale`` sets
the units (Pa) of the network's O(1) output, so ordinary learning rates apply.

The polar rotation's SVD gradient is singular at repeated singular values (F = I included), so R has
its own gradient: 2D in closed form, 3D through ``(tr(P) I - P) w = vee(R^T dF - dF^T R) / 2``.
"""
from __future__ import annotations

import torch
from torch import nn

from simengine.errors import InputError


def _vee(X: torch.Tensor) -> torch.Tensor:
    """(X21 - X12, X02 - X20, X10 - X01) of (N, 3, 3) matrices: twice the axial vector of skew(X)."""
    return torch.stack([X[:, 2, 1] - X[:, 1, 2], X[:, 0, 2] - X[:, 2, 0], X[:, 1, 0] - X[:, 0, 1]], -1)


def _hat(w: torch.Tensor) -> torch.Tensor:
    """Skew matrices [w]x (N, 3, 3) with [w]x v = w x v."""
    zero = torch.zeros_like(w[:, 0])
    return torch.stack([zero, -w[:, 2], w[:, 1], w[:, 2], zero, -w[:, 0], -w[:, 1], w[:, 0], zero], -1).view(-1, 3, 3)


class _PolarRotation3(torch.autograd.Function):
    """R of F = R P in 3D (det R = +1): SVD forward, a gradient that stays finite at F = I."""

    @staticmethod
    def forward(ctx, F):
        U, _, Vh = torch.linalg.svd(F)
        flip = torch.det(U) * torch.det(Vh) < 0  # det F < 0: keep R proper, reflection stays in P
        U = torch.where(flip[:, None, None], U * torch.tensor([1.0, 1.0, -1.0], dtype=F.dtype, device=F.device), U)
        R = U @ Vh
        ctx.save_for_backward(F, R)
        return R

    @staticmethod
    def backward(ctx, grad_R):
        F, R = ctx.saved_tensors
        P = R.transpose(1, 2) @ F
        P = 0.5 * (P + P.transpose(1, 2))
        eye = torch.eye(3, dtype=F.dtype, device=F.device)
        M = P.diagonal(dim1=1, dim2=2).sum(-1)[:, None, None] * eye - P  # singular only if s_i + s_j = 0
        h = torch.linalg.solve(M, _vee(R.transpose(1, 2) @ grad_R).unsqueeze(-1)).squeeze(-1)
        return R @ _hat(h)


def polar_rotation(F: torch.Tensor) -> torch.Tensor:
    """Rotation R (N, d, d) of the polar decomposition F = R P, d = 2 or 3, differentiable at F = I."""
    if F.shape[-1] == 2:
        c, s = F[:, 0, 0] + F[:, 1, 1], F[:, 1, 0] - F[:, 0, 1]  # R = [[c, -s], [s, c]] / |(c, s)|
        r = torch.sqrt(c * c + s * s)
        c, s = c / r, s / r
        return torch.stack([c, -s, s, c], -1).view(-1, 2, 2)
    return _PolarRotation3.apply(F)


def determinant(F: torch.Tensor) -> torch.Tensor:
    """det F (N,) of 2x2 / 3x3 matrices by cofactors (batched LU is slower for tiny matrices)."""
    if F.shape[-1] == 2:
        return F[:, 0, 0] * F[:, 1, 1] - F[:, 0, 1] * F[:, 1, 0]
    return (F[:, 0] * torch.linalg.cross(F[:, 1], F[:, 2])).sum(-1)


def singular_values(F: torch.Tensor) -> torch.Tensor:
    """Singular values (N, d), descending (2D, det F < 0: the last one negative, as in the polar split).
    2D in closed form: sigma = (p +- q) / 2 with
    p = |(F00 + F11, F10 - F01)|, q = |(F00 - F11, F10 + F01)|; q = 0 (equal values, F = I included)
    takes the zero subgradient. 3D: `torch.linalg.svdvals`, whose gradient U diag(g) V^T is stable."""
    if F.shape[-1] == 3:
        return torch.linalg.svdvals(F)
    p = torch.sqrt((F[:, 0, 0] + F[:, 1, 1]) ** 2 + (F[:, 1, 0] - F[:, 0, 1]) ** 2)
    q2 = (F[:, 0, 0] - F[:, 1, 1]) ** 2 + (F[:, 1, 0] + F[:, 0, 1]) ** 2
    tiny = torch.finfo(F.dtype).tiny
    q = torch.where(q2 > tiny, torch.sqrt(q2.clamp_min(tiny)), torch.zeros_like(q2))
    return torch.stack([0.5 * (p + q), 0.5 * (p - q)], -1)


def invariant_features(F: torch.Tensor) -> torch.Tensor:
    """[sigma - 1, vec(F^T F - I), det F - 1] (N, d + d^2 + 1): invariant under F -> QF, zero at F = I."""
    n, d = F.shape[0], F.shape[-1]
    eye = torch.eye(d, dtype=F.dtype, device=F.device)
    strain = (F.transpose(1, 2) @ F - eye).reshape(n, d * d)
    return torch.cat([singular_values(F) - 1.0, strain, (determinant(F) - 1.0)[:, None]], -1)


class SymmetricInvariantMLP(nn.Module):
    """Bias-free MLP z(F) -> symmetric S (N, d, d) with S = 0 wherever z = 0 (GELU(0) = 0)."""

    def __init__(self, dim: int, width: int = 64, depth: int = 2):
        super().__init__()
        if dim not in (2, 3):
            raise InputError(f"nclaw: dim = {dim!r} is not one of [2, 3]")
        if int(width) < 1 or int(depth) < 1:
            raise InputError(f"nclaw: width = {width}, depth = {depth}; both must be >= 1")
        self.dim = dim
        sizes = [dim + dim * dim + 1] + [int(width)] * int(depth)
        layers = []
        for a, b in zip(sizes[:-1], sizes[1:]):
            layers += [nn.Linear(a, b, bias=False), nn.GELU()]
        layers.append(nn.Linear(sizes[-1], dim * dim, bias=False))
        self.mlp = nn.Sequential(*layers)
        for layer in self.mlp:
            if isinstance(layer, nn.Linear):
                nn.init.xavier_uniform_(layer.weight)

    def forward(self, F: torch.Tensor) -> torch.Tensor:
        if F.dim() != 3 or F.shape[1:] != (self.dim, self.dim):
            raise InputError(f"nclaw: F has shape {tuple(F.shape)}; expected (N, {self.dim}, {self.dim})")
        S = self.mlp(invariant_features(F)).view(-1, self.dim, self.dim)
        return 0.5 * (S + S.transpose(1, 2))


class ElasticNet(nn.Module):
    """F (N, d, d) -> Kirchhoff stress tau (N, d, d) [Pa]: tau = sym(s R S(z(F)) F^T)."""

    def __init__(self, dim: int, width: int = 64, depth: int = 2, stress_scale: float = 1.0e4):
        super().__init__()
        if not float(stress_scale) > 0:
            raise InputError(f"nclaw: stress_scale = {stress_scale!r} is outside the allowed range (0, inf)")
        self.net = SymmetricInvariantMLP(dim, width, depth)
        self.stress_scale = float(stress_scale)

    def forward(self, F: torch.Tensor) -> torch.Tensor:
        P1 = self.stress_scale * polar_rotation(F) @ self.net(F)
        tau = P1 @ F.transpose(1, 2)
        return 0.5 * (tau + tau.transpose(1, 2))


class PlasticNet(nn.Module):
    """Return mapping F_trial (N, d, d) -> F (N, d, d): F = F_trial + alpha R S(z(F_trial)).

    ``bounded`` (default) uses tanh(S) (element-wise; odd, symmetric-preserving, 0 at 0, so the priors
    hold): one step then changes F by at most alpha per entry, so a partly trained network cannot
    fold a particle over in a few steps at deformations it has not seen.
    """

    def __init__(self, dim: int, width: int = 64, depth: int = 2, alpha: float = 1.0e-3, bounded: bool = True):
        super().__init__()
        if not float(alpha) >= 0:
            raise InputError(f"nclaw: alpha = {alpha!r} is outside the allowed range [0, inf)")
        self.net = SymmetricInvariantMLP(dim, width, depth)
        self.alpha, self.bounded = float(alpha), bool(bounded)

    def forward(self, F_trial: torch.Tensor) -> torch.Tensor:
        if self.alpha == 0.0:
            return F_trial
        S = self.net(F_trial)
        return F_trial + self.alpha * polar_rotation(F_trial) @ (torch.tanh(S) if self.bounded else S)
