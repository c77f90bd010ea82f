"""HCMT: the hierarchical contact mesh transformer.

Yu, Choi, Cho, Lee, Kim, Chang, Woo, Kim, Lee, Yang, Yoon, Park, "Learning Flexible Body Collision Dynamics with
Hierarchical Contact Mesh Transformer", ICLR 2024, https://arxiv.org/abs/2312.12467 (reference code: github
yuyudeep/hcmt, TensorFlow 2.8).

A mesh of N nodes (cells (C, K), rest coordinates ``mesh_pos`` (N, M), ``node_type`` (N,)) at world positions
x_t (N, D). Each step:

* node features [(x_t - x_{t-1} - μ_v) / σ_v, one-hot(node_type), m(material_params)] (N, D + T + P), with
  m(p) = sign(p) log10(1 + |p|) (Young's modulus, Poisson's ratio, density), through an online normaliser;
* mesh edges (every pair sharing a cell, both directions) with [x_ij, |x_ij|, u_ij, |u_ij|] (x world, u mesh
  space, sender minus receiver); contact edges (`learned.graphs.contact`) between OBSTACLE nodes and all other
  nodes closer than ``contact_radius`` (default twice the median rest mesh-edge length), both directions,
  rebuilt from x_t every step, with [x_ij, |x_ij|]; each set through its own online normaliser;
* encoders: MLPs (``mlp_layers`` hidden layers of width ``latent``, LayerNorm) to latent L for nodes, mesh
  edges and contact edges;
* CMT: ``cmt_blocks`` contact-mesh transformer blocks over mesh and contact edges; then HMT: a U-Net of
  transformer blocks over the bi-stride levels 0 .. ``levels`` - 1 (`learned.graphs.hierarchy`, level 0 the
  full mesh): one block on each level 0 .. levels - 2 going down (pooling = gathering the kept nodes), one at
  the coarsest level, one on each level going back up (unpooling = writing the coarse nodes' features over
  the skip features of the finer level at the kept nodes; the others keep their skip features). Edge latents
  of every level come from the mesh-edge encoder applied to that level's node pairs;
* decoder: MLP (no LayerNorm) to D + 1 outputs: the normalised displacement (x_{t+1} - x_t - μ_v) / σ_v and
  the normalised next von Mises stress (online normaliser of the target).

A transformer block (pre-LayerNorm) on nodes h (N, L) and edge sets {(e (E_k, L), s, r)}:

    h' = h + W_O [a_1 ‖ a_2 ‖ ...],   a_k[r] = Σ_{edges (s → r) of set k} w_sr ⊙ (W_V ĥ_s) ⊙ (W_G ê_sr)
    w_sr = exp(clip((W_K ĥ_s) ⊙ (W_Q ĥ_r) / √d ⊙ (W_P ê_sr), -2, 2))      (per channel, no softmax)
    h'' = h' + FFN(LN(h')),   FFN = W_3 relu(W_2 relu(W_1 ·))

with ĥ = LN(h), ê = LN_k(e) (one LayerNorm per edge set), d = L / heads (heads only set the scale: every
operation is per channel), and W_Q, W_K, W_V, W_P, W_G, W_O, W_1..3 bias-free linear maps shared by the edge
sets of a block. This follows the reference implementation's attention (the paper's equations write a softmax).

Kinematic constraints per axis (`LearnedSimulator.kinematic_axes`): by default HANDLE (3) nodes are fixed along
every axis and SYMMETRIC (7) ones along x only (``fixed_axes``); fixed axes keep their position, the others are
predicted (the impactor's nodes too, unless their particle type is kinematic). Training noise: Gaussian, std
``noise_std``, on the current positions' free axes of non-OBSTACLE nodes; the displacement target is measured
from the noisy position (the model learns to remove the noise).

Shapes: x (W, N, D) window positions; cells (C, K); node_type (N,); material_params (N, P); stress (W, N);
output {"position": (N, D), "stress": (N,)}.
"""
from __future__ import annotations

import math

import torch
from torch import nn

from learned.base import LearnedSimulator
from learned.graphs.contact import CONTACT_EDGE_LENGTHS, OBSTACLE, contact_edges, median_edge_length
from learned.graphs.hierarchy import mesh_hierarchy
from learned.graphs.mesh import cells_to_edges
from learned.models.meshgraphnets import normalizer_stats
from learned.nn import OnlineNormalizer
from learned.nn.graph_net import mlp, scatter_sum
from learned.registry import register
from simengine.errors import InputError


def material_features(params: torch.Tensor) -> torch.Tensor:
    """m(p) = sign(p) log10(1 + |p|): moduli (~1e9 Pa), ratios and densities on comparable scales."""
    return torch.sign(params) * torch.log10(1.0 + params.abs())


class EdgeAttention(nn.Module):
    """HCMT's edge-conditioned attention (module docstring): one aggregate (N, L) per edge set.

    Args:
        latent: L. heads: number of heads (L divisible by it; sets the scale √(L / heads)).

    Shapes: nodes (N, L) (already LayerNormed); each edge set (e (E, L), senders (E,), receivers (E,)).
    """

    def __init__(self, latent: int, heads: int):
        super().__init__()
        if latent % heads:
            raise InputError(f"hcmt: latent = {latent} is not divisible by heads = {heads}")
        self.scale = 1.0 / math.sqrt(latent // heads)
        self.query = nn.Linear(latent, latent, bias=False)
        self.key = nn.Linear(latent, latent, bias=False)
        self.value = nn.Linear(latent, latent, bias=False)
        self.edge_score = nn.Linear(latent, latent, bias=False)   # W_P
        self.edge_gate = nn.Linear(latent, latent, bias=False)    # W_G

    def forward(self, nodes: torch.Tensor, edge_sets: list) -> list:
        q, k, v = self.query(nodes), self.key(nodes), self.value(nodes)
        out = []
        for edges, senders, receivers in edge_sets:
            score = k[senders] * q[receivers] * self.scale * self.edge_score(edges)
            weight = torch.exp(score.clamp(-2.0, 2.0))
            out.append(scatter_sum(weight * v[senders] * self.edge_gate(edges), receivers, nodes.shape[0]))
        return out


class TransformerBlock(nn.Module):
    """A pre-LayerNorm HCMT block over ``edge_sets`` edge sets (1: an HMT block; 2, mesh and contact: CMT).

    Shapes: nodes (N, L) -> (N, L); edge_sets: list of (e (E_k, L), senders (E_k,), receivers (E_k,)).
    """

    def __init__(self, latent: int, heads: int, edge_sets: int = 1):
        super().__init__()
        self.node_norm = nn.LayerNorm(latent)
        self.edge_norms = nn.ModuleList(nn.LayerNorm(latent) for _ in range(edge_sets))
        self.attention = EdgeAttention(latent, heads)
        self.out = nn.Linear(edge_sets * latent, latent, bias=False)
        self.ffn_norm = nn.LayerNorm(latent)
        self.ffn = nn.Sequential(nn.Linear(latent, latent, bias=False), nn.ReLU(),
                                 nn.Linear(latent, latent, bias=False), nn.ReLU(),
                                 nn.Linear(latent, latent, bias=False))

    def forward(self, nodes: torch.Tensor, edge_sets: list) -> torch.Tensor:
        if len(edge_sets) != len(self.edge_norms):
            raise InputError(f"hcmt block: {len(edge_sets)} edge sets given, built for {len(self.edge_norms)}")
        normed = [(norm(e), s, r) for norm, (e, s, r) in zip(self.edge_norms, edge_sets)]
        messages = self.attention(self.node_norm(nodes), normed)
        nodes = nodes + self.out(torch.cat(messages, -1))
        return nodes + self.ffn(self.ffn_norm(nodes))


@register("hcmt")
class HCMT(LearnedSimulator):
    """HCMT with the reference configuration as defaults (see the module docstring).

    Config: dim and mesh_dim (from the dataset), input_frames 2, latent 128, heads 4, levels 7, cmt_blocks 2,
    mlp_layers 2, num_node_types 9, material_dim (width P of ``material_params``; from the dataset, 0 without),
    contact_radius None (twice the median rest mesh-edge length), fixed_axes {3: [0, 1, 2], 7: [0]},
    noise_std 3e-3 (position units), stress True (predict the next ``stress``), stress_weight 1.0.
    """

    defaults = dict(dim=None, mesh_dim=None, input_frames=2, latent=128, heads=4, levels=7, cmt_blocks=2,
                    mlp_layers=2, num_node_types=9, material_dim=None, contact_radius=None,
                    fixed_axes={3: [0, 1, 2], 7: [0]}, noise_std=3e-3, stress=True, stress_weight=1.0)

    def __init__(self, **config):
        super().__init__(**config)
        c = self.config
        if c["dim"] not in (2, 3):
            raise InputError(f"hcmt: dim = {c['dim']!r} is not 2 or 3")
        if int(c["levels"]) < 1:
            raise InputError(f"hcmt: levels = {c['levels']!r} is outside the allowed range [1, inf)")
        if c["contact_radius"] is not None and not float(c["contact_radius"]) > 0:
            raise InputError(f"hcmt: contact_radius = {c['contact_radius']!r} is outside the allowed range (0, inf)")
        dim, latent, layers = int(c["dim"]), int(c["latent"]), int(c["mlp_layers"])
        mesh_dim = int(c["mesh_dim"] or dim)
        self.num_types = int(c["num_node_types"])
        self.material_dim = int(c["material_dim"] or 0)
        self.predict_stress = bool(c["stress"])
        # instance-level key lists: what this configuration reads and predicts
        self.required_keys = ("cells", "mesh_pos", "node_type", "initial_position") + \
            (("material_params",) if self.material_dim else ()) + (("stress",) if self.predict_stress else ())
        self.predicted_keys = ("stress",) if self.predict_stress else ()
        node_in, mesh_in, contact_in = dim + self.num_types + self.material_dim, dim + mesh_dim + 2, dim + 1
        self.node_norm = OnlineNormalizer(node_in)
        self.mesh_norm = OnlineNormalizer(mesh_in)
        self.contact_norm = OnlineNormalizer(contact_in)
        self.stress_norm = OnlineNormalizer(1)
        self.node_encoder = mlp(node_in, latent, latent, layers)
        self.mesh_encoder = mlp(mesh_in, latent, latent, layers)
        self.contact_encoder = mlp(contact_in, latent, latent, layers)
        heads, levels = int(c["heads"]), int(c["levels"])
        self.cmt = nn.ModuleList(TransformerBlock(latent, heads, 2) for _ in range(int(c["cmt_blocks"])))
        self.down = nn.ModuleList(TransformerBlock(latent, heads) for _ in range(levels - 1))
        self.bottom = TransformerBlock(latent, heads)
        self.up = nn.ModuleList(TransformerBlock(latent, heads) for _ in range(levels - 1))
        self.decoder = mlp(latent, latent, dim + int(self.predict_stress), layers, layer_norm=False)
        # node types seen in training: a checkpoint refuses data with others
        self.register_buffer("trained_types", torch.zeros(self.num_types, dtype=torch.bool))
        self.set_summary({})

    # ----- dataset -----------------------------------------------------------------------------------------
    @classmethod
    def dataset_config(cls, info, config):
        config = super().dataset_config(info, config)
        need = [k for k, key in (("material_dim", "material_params"), ("mesh_dim", "mesh_pos"))
                if config.get(k) is None and key in info.keys]
        if need:  # widths of per-node arrays: read from the first training trajectory
            from learned.data import load_split

            first = load_split(info.path, "train", limit=1)[0]
            n = first.num_particles
            if "material_dim" in need:
                config["material_dim"] = int(first.extras["material_params"].reshape(n, -1).shape[1])
            if "mesh_dim" in need:
                config["mesh_dim"] = int(first.extras["mesh_pos"].reshape(n, -1).shape[1])
        if config.get("material_dim") is None:
            config["material_dim"] = 0
        return config

    def set_summary(self, summary):
        super().set_summary(summary)
        dim = int(self.config["dim"])
        stats = summary.get("stats", {})
        noise = float(self.config["noise_std"])
        mean = torch.as_tensor(stats.get("vel_mean", [0.0] * dim), dtype=torch.float32)
        std = torch.as_tensor(stats.get("vel_std", [1.0] * dim), dtype=torch.float32)
        self.vel_mean, self.vel_std = mean, torch.sqrt(std ** 2 + noise ** 2)

    def _types(self, window) -> torch.Tensor:
        types = window["node_type"].reshape(-1).long()
        if bool((types < 0).any()) or bool((types >= self.num_types).any()):
            raise InputError(f"hcmt: node types must lie in [0, {self.num_types}), got "
                             f"[{int(types.min())}, {int(types.max())}]")
        present = torch.unique(types)
        if self.training:
            self.trained_types[present.to(self.trained_types.device)] = True
        elif bool(self.trained_types.any()):
            unknown = [int(t) for t in present if not bool(self.trained_types[int(t)])]
            if unknown:
                known = torch.nonzero(self.trained_types).reshape(-1).tolist()
                raise InputError(f"hcmt: the data has node type(s) {unknown} that this model was not trained on "
                                 f"(trained on node types {known})")
        return types

    # ----- network -----------------------------------------------------------------------------------------
    def graph(self, window: dict) -> dict:
        """Edges and hierarchy of the current frame: mesh (s, r), contact (s, r), `Hierarchy`, radius."""
        pos = window["position"]
        current = pos[-1]
        n = current.shape[0]
        rest = window["mesh_pos"].to(current)
        senders, receivers = cells_to_edges(window["cells"], n)
        senders, receivers = senders.to(current.device), receivers.to(current.device)
        radius = self.config["contact_radius"]
        radius = float(radius) if radius is not None else CONTACT_EDGE_LENGTHS * median_edge_length(
            rest, senders, receivers)
        obstacle = window["node_type"].reshape(-1) == OBSTACLE
        cs, cr = contact_edges(current, obstacle, radius, batch=window.get("batch"))
        hierarchy = mesh_hierarchy(senders, receivers, n, int(self.config["levels"]), device=current.device)
        return {"mesh": (senders, receivers), "contact": (cs, cr), "hierarchy": hierarchy, "radius": radius}

    def _mesh_edges(self, world, rest, senders, receivers):
        x = world[senders] - world[receivers]
        u = rest[senders] - rest[receivers]
        features = torch.cat([x, x.norm(dim=-1, keepdim=True), u, u.norm(dim=-1, keepdim=True)], -1)
        return self.mesh_encoder(self.mesh_norm(features))

    def network_output(self, window: dict, graph: dict | None = None) -> torch.Tensor:
        """Decoded (N, D [+ 1]) normalised displacement [and stress] for the last two frames of ``window``."""
        graph = graph or self.graph(window)
        pos = window["position"]
        current, previous = pos[-1], pos[-2]
        n = current.shape[0]
        types = self._types(window)
        rest = window["mesh_pos"].to(current)
        velocity = (current - previous - self.vel_mean.to(pos)) / self.vel_std.to(pos)
        features = [velocity, nn.functional.one_hot(types, self.num_types).to(pos)]
        if self.material_dim:
            features.append(material_features(window["material_params"].reshape(n, -1).to(pos)))
        nodes = self.node_encoder(self.node_norm(torch.cat(features, -1)))
        ms, mr = graph["mesh"]
        cs, cr = graph["contact"]
        mesh = self._mesh_edges(current, rest, ms, mr)
        xc = current[cs] - current[cr]
        contact = self.contact_encoder(self.contact_norm(torch.cat([xc, xc.norm(dim=-1, keepdim=True)], -1)))
        for block in self.cmt:
            nodes = block(nodes, [(mesh, ms, mr), (contact, cs, cr)])
        h = graph["hierarchy"]
        levels = int(self.config["levels"])
        skips, edges = [], []
        for level in range(levels):
            if level:
                nodes = nodes[h.index[level]]
                ids = h.nodes[level]
                e = self._mesh_edges(current[ids], rest[ids], h.senders[level], h.receivers[level])
            else:
                e = mesh
            block = self.bottom if level == levels - 1 else self.down[level]
            nodes = block(nodes, [(e, h.senders[level], h.receivers[level])])
            skips.append(nodes)
            edges.append(e)
        for level in reversed(range(levels - 1)):
            nodes = skips[level].index_copy(0, h.index[level + 1], nodes)
            nodes = self.up[level](nodes, [(edges[level], h.senders[level], h.receivers[level])])
        return self.decoder(nodes)

    # ----- training and inference --------------------------------------------------------------------------
    def one_step_loss(self, batch, *, generator=None, noise=True):
        h = self.input_frames
        pos = batch["position"]
        fixed = self.kinematic_axes(batch)
        std = float(self.config["noise_std"]) if noise else 0.0
        inputs = pos[:h].clone()
        if std > 0:
            from learned.data.noise import particle_randn

            eps = particle_randn(inputs[-1].shape, axis=0, generator=generator, dtype=pos.dtype,
                                 device=pos.device) * std
            movable = (~fixed) & (batch["node_type"].reshape(-1) != OBSTACLE)[:, None]
            inputs[-1] = inputs[-1] + eps * movable.to(eps)
        window = {**batch, "position": inputs}
        out = self.network_output(window)
        dim = pos.shape[-1]
        target = (pos[h] - inputs[-1] - self.vel_mean.to(pos)) / self.vel_std.to(pos)
        free = (~fixed).to(pos)
        if not bool(free.any()):
            raise InputError("hcmt: the batch has no free node axis to learn from")
        n = pos.shape[1]
        position_loss = (((out[:, :dim] - target) ** 2) * free).sum() / n
        loss, logs = position_loss, {"position_loss": float(position_loss.detach())}
        if self.predict_stress:
            stress = self.stress_norm(batch["stress"][h].reshape(n, 1).to(pos))
            stress_loss = ((out[:, dim:dim + 1] - stress) ** 2).mean()
            loss = loss + float(self.config["stress_weight"]) * stress_loss
            logs["stress_loss"] = float(stress_loss.detach())
        logs.update(loss=float(loss.detach()), weight=int(free.sum()))
        return loss, logs

    def predict_next(self, window):
        pos = window["position"]
        dim = pos.shape[-1]
        out = self.network_output(window)
        step = out[:, :dim] * self.vel_std.to(pos) + self.vel_mean.to(pos)
        fixed = self.kinematic_axes(window)
        result = {"position": torch.where(fixed, pos[-1], pos[-1] + step)}
        if self.predict_stress:
            mean, std = normalizer_stats(self.stress_norm)
            result["stress"] = (out[:, dim] * std.to(pos)[0] + mean.to(pos)[0]).reshape(window["stress"].shape[1:])
        return result
