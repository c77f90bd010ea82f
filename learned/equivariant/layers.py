"""Equivariant interaction layer: a tensor-product convolution with radial-MLP weights and a gate.

Batzner et al., "E(3)-equivariant graph neural networks for data-efficient and accurate interatomic
potentials" (NequIP), Nat. Commun. 13, 2453 (2022); Weiler et al., "3D Steerable CNNs", NeurIPS 2018
(gated nonlinearity).  For receiver i:

    m_i = 1/√n̄ · Σ_j  TP_w(r_ij)( W_in h_j ,  Y(r̂_ij) ),    w(r_ij) = MLP(e(r_ij))  (E, weight_numel)
    h_i' = Gate( W_out m_i + W_self h_i )  (+ h_i when the irreps agree)

with Y the spherical harmonics of the edge direction, e the radial embedding and n̄ the mean number of
neighbours.  The gate applies SiLU to scalars of even parity (tanh to odd ones) and multiplies every
l > 0 irrep by the sigmoid of a dedicated scalar.
"""
from __future__ import annotations

import torch
from e3nn import nn as enn
from e3nn import o3
from torch import nn


def gated_irreps(target: o3.Irreps):
    """(scalars, gates, gated) irreps so that Gate(...).irreps_out == the scalars + gated of ``target``."""
    target = o3.Irreps(target).simplify()
    scalars = o3.Irreps([(mul, ir) for mul, ir in target if ir.l == 0])
    gated = o3.Irreps([(mul, ir) for mul, ir in target if ir.l > 0])
    gates = o3.Irreps(f"{gated.num_irreps}x0e") if gated.num_irreps else o3.Irreps("")
    return scalars, gates, gated


def _activation(ir):
    return torch.nn.functional.silu if ir.p == 1 else torch.tanh


class Interaction(nn.Module):
    """One message-passing layer ``irreps_in → irreps_out`` (see the module docstring)."""

    def __init__(self, irreps_in, irreps_out, irreps_sh, radial_features: int, radial_hidden: int = 64):
        super().__init__()
        self.irreps_in, irreps_sh = o3.Irreps(irreps_in).simplify(), o3.Irreps(irreps_sh)
        scalars, gates, gated = gated_irreps(irreps_out)
        self.gate = enn.Gate(scalars, [_activation(ir) for _, ir in scalars], gates,
                             [torch.sigmoid] * len(gates), gated)
        wanted = self.gate.irreps_in
        # 'uvu' paths: every (input irrep, harmonic) pair whose product contains an irrep the gate wants
        mid, instructions = [], []
        for i, (mul, ir_in) in enumerate(self.irreps_in):
            for k, (_, ir_sh) in enumerate(irreps_sh):
                for ir_out in ir_in * ir_sh:
                    if ir_out in wanted:
                        instructions.append((i, k, len(mid), "uvu", True))
                        mid.append((mul, ir_out))
        mid = o3.Irreps(mid)
        mid_sorted, permutation, _ = mid.sort()
        instructions = [(i, k, permutation[o], mode, train) for i, k, o, mode, train in instructions]
        self.linear_in = o3.Linear(self.irreps_in, self.irreps_in)
        self.tp = o3.TensorProduct(self.irreps_in, irreps_sh, mid_sorted, instructions,
                                   shared_weights=False, internal_weights=False)
        self.radial = enn.FullyConnectedNet([radial_features, radial_hidden, radial_hidden, self.tp.weight_numel],
                                            torch.nn.functional.silu)
        self.linear_out = o3.Linear(mid_sorted.simplify(), wanted)
        self.self_connection = o3.Linear(self.irreps_in, wanted)
        self.irreps_out = self.gate.irreps_out
        self.residual = self.irreps_out == self.irreps_in

    def forward(self, h, edge_sh, edge_radial, senders, receivers, inv_sqrt_neighbors: float):
        messages = self.tp(self.linear_in(h)[senders], edge_sh, self.radial(edge_radial))
        summed = torch.zeros(h.shape[0], messages.shape[1], dtype=h.dtype, device=h.device)
        summed.index_add_(0, receivers, messages)
        out = self.gate(self.linear_out(summed * inv_sqrt_neighbors) + self.self_connection(h))
        return out + h if self.residual else out
