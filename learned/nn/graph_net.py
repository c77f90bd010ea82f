"""Encode-process-decode graph networks (Battaglia et al. 2018; GNS; MeshGraphNets).

A processor block updates every edge set k from its edge latents and both endpoints, sums the
messages at the receivers, and updates the nodes from their latent and all summed messages:

    e'_ij = e_ij + φ_k([e_ij, h_i, h_j])          (edge j -> i of edge set k)
    h'_i  = h_i + ψ([h_i, Σ_j e'_ij (set 1), ..., Σ_j e'_ij (set K)])

GNS uses one edge set (the radius graph), MeshGraphNets two (mesh and world edges). Blocks do not
share weights. The first layer of φ is split into its edge, receiver and sender parts so that the
node parts are computed once per node (N x L x L) instead of once per edge (E x L x L), which is
the same function at about a third of the cost for E ≈ 20 N.
"""
from __future__ import annotations

import torch
from torch import nn


def mlp(in_size: int, latent: int, out_size: int, hidden_layers: int = 2, layer_norm: bool = True) -> nn.Sequential:
    """``hidden_layers`` ReLU layers of width ``latent``, a linear output, optional LayerNorm."""
    layers, size = [], in_size
    for _ in range(hidden_layers):
        layers += [nn.Linear(size, latent), nn.ReLU()]
        size = latent
    layers.append(nn.Linear(size, out_size))
    if layer_norm:
        layers.append(nn.LayerNorm(out_size))
    return nn.Sequential(*layers)


def scatter_sum(values: torch.Tensor, index: torch.Tensor, size: int) -> torch.Tensor:
    """Sum the rows of ``values`` (E, F) into ``size`` rows by ``index`` (E,)."""
    out = values.new_zeros((size, values.shape[1]))
    return out.index_add_(0, index, values)


class EdgeModel(nn.Module):
    """φ([e, h_receiver, h_sender]) with the first layer split by input part (see module docstring)."""

    def __init__(self, latent: int, hidden_layers: int = 2):
        super().__init__()
        self.edge_in = nn.Linear(latent, latent)
        self.receiver_in = nn.Linear(latent, latent, bias=False)
        self.sender_in = nn.Linear(latent, latent, bias=False)
        rest = []
        for _ in range(hidden_layers - 1):
            rest += [nn.Linear(latent, latent), nn.ReLU()]
        self.rest = nn.Sequential(nn.ReLU(), *rest, nn.Linear(latent, latent), nn.LayerNorm(latent))

    def forward(self, edges, nodes, senders, receivers):
        hidden = self.edge_in(edges) + self.receiver_in(nodes)[receivers] + self.sender_in(nodes)[senders]
        return self.rest(hidden)


class GraphNetBlock(nn.Module):
    """One message-passing step over ``edge_sets`` edge sets, with residual connections."""

    def __init__(self, latent: int, edge_sets: int = 1, hidden_layers: int = 2):
        super().__init__()
        self.edge_models = nn.ModuleList(EdgeModel(latent, hidden_layers) for _ in range(edge_sets))
        self.node_model = mlp(latent * (1 + edge_sets), latent, latent, hidden_layers)

    def forward(self, nodes: torch.Tensor, edge_sets: list) -> tuple:
        """nodes (N, L); edge_sets: list of (edges (E_k, L), senders (E_k,), receivers (E_k,))."""
        new_sets, messages = [], [nodes]
        for model, (edges, senders, receivers) in zip(self.edge_models, edge_sets):
            update = model(edges, nodes, senders, receivers)
            messages.append(scatter_sum(update, receivers, nodes.shape[0]))
            new_sets.append((edges + update, senders, receivers))
        nodes = nodes + self.node_model(torch.cat(messages, -1))
        return nodes, new_sets


class EncodeProcessDecode(nn.Module):
    """Encoders to a latent graph, ``steps`` processor blocks, a node decoder.

    Args:
        node_in: node feature size; edge_in: list of feature sizes, one per edge set.
        out_size: decoded per-node output size; latent: latent width; steps: message-passing steps.

    Forward: node features (N, node_in), list of (edge features (E_k, edge_in[k]), senders, receivers)
    -> (N, out_size).
    """

    def __init__(self, node_in: int, edge_in: list, out_size: int, latent: int = 128, steps: int = 10,
                 hidden_layers: int = 2):
        super().__init__()
        self.node_encoder = mlp(node_in, latent, latent, hidden_layers)
        self.edge_encoders = nn.ModuleList(mlp(size, latent, latent, hidden_layers) for size in edge_in)
        self.blocks = nn.ModuleList(GraphNetBlock(latent, len(edge_in), hidden_layers) for _ in range(steps))
        self.decoder = mlp(latent, latent, out_size, hidden_layers, layer_norm=False)

    def forward(self, node_features: torch.Tensor, edge_sets: list) -> torch.Tensor:
        nodes = self.node_encoder(node_features)
        latent_sets = [(enc(feat), s, r) for enc, (feat, s, r) in zip(self.edge_encoders, edge_sets)]
        for block in self.blocks:
            nodes, latent_sets = block(nodes, latent_sets)
        return self.decoder(nodes)
