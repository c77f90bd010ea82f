"""Dense point-cloud reconstruction from the displacements of sparse nodes (GIOROM's second stage).

Viswanath et al., "Learning Lagrangian Interaction Dynamics with Sampling-Based Model Order Reduction"
(GIOROM), TMLR; https://arxiv.org/abs/2407.03925, sec. 4: a continuous displacement field u(X) over the
reference (t = 0) configuration is inferred from the sparse nodes' displacements u_s = x_s(t) - X_s, and
any query point moves to x_q(t) = X_q + u(X_q). Neighbour lists are built once, in reference coordinates:
the sparse nodes s within radius r of each query q (optionally the k nearest), N(q).

Baseline (not learned), inverse-distance weighting (Shepard 1968), exact for rigid translations:

    u(X_q) = Σ_{s∈N(q)} w_qs u_s / Σ_{s∈N(q)} w_qs,      w_qs = (|X_s - X_q| / r + ε)^-p

Moving least squares (MLS, Lancaster & Salkauskas 1981), linear basis, the same inverse-distance weights:
the affine field fitted to the neighbours' displacements, evaluated at X_q; exact for any affine motion
(translation, rotation to first order, uniform strain). With ξ_s = (X_s - X_q)/r, normalised weights a_s,
m = Σ a_s ξ_s, d_s = ξ_s - m, ū = Σ a_s u_s, C = Σ a_s d_s d_sᵀ + λ I, B = Σ a_s (u_s - ū) d_sᵀ:

    u(X_q) = ū - B C⁻¹ m                 (λ = 1e-3 + 1e-2 tr(C)/D keeps thin neighbourhoods stable)

Learned kernel integral (`KernelReconstruction`): the same form with learned weights
a_qs = softmax_{s∈N(q)}(log w_qs + φ(ξ_qs)), geometry ξ_qs = [(X_s - X_q)/r, |X_s - X_q|/r], plus a learned
residual kernel on the neighbours' displacements relative to the weighted mean:

    u(X_q) = ū - B C⁻¹ m + r Σ_s a_qs [ψ(ξ_qs, m, (u_s - ū)/r) - ψ(ξ_qs, m, 0)]

Both MLPs' last layers start at zero, so the untrained model is exactly MLS; a rigid translation
(u_s = t for all s) gives u = t exactly for any weights (B and the residual vanish at u_s = ū). The
kernel sees relative reference positions only, so it is translation invariant and can be queried at any
point set (a denser resampling of the same body) without retraining.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from learned.graphs.bipartite import radius_bipartite
from learned.nn.graph_net import mlp, scatter_sum
from simengine.errors import InputError


@dataclass
class Neighbors:
    """Query -> sparse-node lists in reference coordinates (built once by `reconstruction_neighbors`).

    query (E,), source (E,) int64; geometry (E, D+1) = [(X_s - X_q)/r, |X_s - X_q|/r];
    num_queries Q; radius r."""

    query: torch.Tensor
    source: torch.Tensor
    geometry: torch.Tensor
    num_queries: int
    radius: float


def reconstruction_neighbors(queries: torch.Tensor, sources: torch.Tensor, radius: float, *, batch_queries=None,
                             batch_sources=None, max_neighbors: int | None = None) -> Neighbors:
    """Neighbour lists of ``queries`` (Q, D) among ``sources`` (S, D), reference coordinates.

    Raises `InputError` when query points have no source within ``radius``: how many, the first of them and
    the bounding box of them all.
    """
    q, s, dist = radius_bipartite(queries, sources, radius, batch_queries=batch_queries,
                                  batch_sources=batch_sources, max_neighbors=max_neighbors)
    count = torch.bincount(q, minlength=queries.shape[0])
    empty = torch.nonzero(count == 0).reshape(-1)
    if empty.numel():
        pts = queries[empty].detach()
        first = [round(float(v), 4) for v in pts[0]]
        box = [[round(float(a), 4), round(float(b), 4)] for a, b in zip(pts.amin(0), pts.amax(0))]
        raise InputError(f"reconstruction: {empty.numel()} of {queries.shape[0]} query points have no sparse node "
                         f"within recon_radius = {radius:g} (first: point {int(empty[0])} at {first}; all of them "
                         f"in the box {box}); raise recon_radius or the number of sparse nodes")
    rel = (sources[s] - queries[q]) / radius
    geometry = torch.cat([rel, (dist / radius)[:, None]], -1)
    return Neighbors(q, s, geometry.detach(), int(queries.shape[0]), float(radius))


def _segment_softmax(logits: torch.Tensor, index: torch.Tensor, size: int) -> torch.Tensor:
    """softmax of ``logits`` (E,) within each group of equal ``index`` (E,)."""
    peak = logits.new_full((size,), -float("inf")).scatter_reduce(0, index, logits.detach(), "amax")
    e = torch.exp(logits - peak[index])
    total = e.new_zeros(size).index_add_(0, index, e)
    return e / total[index]


def idw_weights(nb: Neighbors, power: float = 2.0, eps: float = 1e-3) -> torch.Tensor:
    """Normalised inverse-distance weights (E,) (sum 1 over each query's neighbours)."""
    logits = -power * torch.log(nb.geometry[:, -1] + eps)
    return _segment_softmax(logits, nb.query, nb.num_queries)


def idw_displacement(nb: Neighbors, displacement: torch.Tensor, power: float = 2.0) -> torch.Tensor:
    """Baseline: inverse-distance-weighted sparse displacements (S, D) -> query displacements (Q, D)."""
    w = idw_weights(nb, power).to(displacement)
    return scatter_sum(w[:, None] * displacement[nb.source], nb.query, nb.num_queries)


def mls_displacement(nb: Neighbors, displacement: torch.Tensor, power: float = 2.0) -> torch.Tensor:
    """Baseline: linear moving least squares with inverse-distance weights, (S, D) -> (Q, D)."""
    return _apply_fit(_prepare_fit(nb, idw_weights(nb, power).to(displacement)), displacement)[0]


def _prepare_fit(nb: Neighbors, a: torch.Tensor) -> dict:
    """What the weighted linear fit needs of the geometry and normalised weights ``a`` (E,) only (reused
    for every frame): m (Q, D), d_s = ξ_s - m (E, D), C⁻¹ (Q, D, D)."""
    dim = nb.geometry.shape[1] - 1
    xi = nb.geometry[:, :dim].to(a)
    m = scatter_sum(a[:, None] * xi, nb.query, nb.num_queries)
    d = xi - m[nb.query]
    outer = (a[:, None, None] * d[:, :, None] * d[:, None, :]).reshape(-1, dim * dim)
    cov = scatter_sum(outer, nb.query, nb.num_queries).reshape(-1, dim, dim)
    trace = torch.diagonal(cov, dim1=1, dim2=2).sum(-1)
    eye = torch.eye(dim, dtype=cov.dtype, device=cov.device)
    cov = cov + (1e-3 + 1e-2 * trace / dim)[:, None, None] * eye
    return {"nb": nb, "a": a, "m": m, "d": d, "cov_inv": torch.linalg.inv(cov)}


def _apply_fit(fit: dict, displacement: torch.Tensor):
    """(MLS value (Q, D), (u_s - ū)/r (E, D)) of sparse displacements (S, D) with a prepared fit."""
    nb, a, d = fit["nb"], fit["a"], fit["d"]
    dim = displacement.shape[1]
    u_s = displacement[nb.source]
    mean = scatter_sum(a[:, None] * u_s, nb.query, nb.num_queries)
    relative = (u_s - mean[nb.query]) / nb.radius
    moment = (a[:, None, None] * relative[:, :, None] * d[:, None, :]).reshape(-1, dim * dim)
    b = scatter_sum(moment, nb.query, nb.num_queries).reshape(-1, dim, dim)    # B (Q, D, D)
    gradient = b @ fit["cov_inv"]                                              # B C^-1
    return mean - nb.radius * torch.einsum("qij,qj->qi", gradient, fit["m"]), relative


class KernelReconstruction(nn.Module):
    """Learned kernel integral from sparse displacements to query displacements (module docstring).

    Args:
        dim: D; hidden: MLP width; layers: hidden layers per MLP; power: the inverse-distance prior p.

    Shapes: forward(nb: `Neighbors` with E pairs and Q queries, displacement (S, D)) -> (Q, D).
    ``prepare(nb)`` once and ``apply(prepared, displacement)`` per frame give the same result for many
    frames at the cost of one residual-kernel evaluation per frame.
    """

    def __init__(self, dim: int, hidden: int = 64, layers: int = 2, power: float = 2.0):
        super().__init__()
        if dim not in (2, 3):
            raise InputError(f"reconstruction: dim = {dim!r} is not 2 or 3")
        self.dim, self.power = dim, float(power)
        self.weight_net = mlp(dim + 1, hidden, 1, layers, layer_norm=False)
        self.residual_net = mlp(3 * dim + 1, hidden, dim, layers, layer_norm=False)
        for net in (self.weight_net, self.residual_net):
            nn.init.zeros_(net[-1].weight)
            nn.init.zeros_(net[-1].bias)

    def prepare(self, nb: Neighbors) -> dict:
        """Everything that depends on the reference geometry only: weights, fit, ψ(ξ, m, 0)."""
        geometry = nb.geometry.to(next(self.parameters()))
        prior = -self.power * torch.log(geometry[:, -1] + 1e-3)
        a = _segment_softmax(prior + self.weight_net(geometry)[:, 0], nb.query, nb.num_queries)
        fit = _prepare_fit(nb, a)
        fit["context"] = torch.cat([geometry, fit["m"][nb.query]], -1)
        fit["residual0"] = self.residual_net(torch.cat([fit["context"], geometry.new_zeros(len(a), self.dim)], -1))
        return fit

    def apply(self, fit: dict, displacement: torch.Tensor) -> torch.Tensor:
        nb, a = fit["nb"], fit["a"]
        value, relative = _apply_fit(fit, displacement)
        residual = self.residual_net(torch.cat([fit["context"], relative], -1)) - fit["residual0"]
        return value + nb.radius * scatter_sum(a[:, None] * residual, nb.query, nb.num_queries)

    def forward(self, nb: Neighbors, displacement: torch.Tensor) -> torch.Tensor:
        return self.apply(self.prepare(nb), displacement)
