"""MeshGraphNets.

Pfaff, Fortunato, Sanchez-Gonzalez, Battaglia, "Learning Mesh-Based Simulation with Graph
Networks", ICLR 2021.

A mesh of N nodes with cells (C, K) (``cells`` key; rest coordinates ``mesh_pos`` (N, M) or the
first frame) and world positions x (N, D). Two edge sets:

* mesh edges (every pair of vertices sharing a cell): features [u_ij, |u_ij|, x_ij, |x_ij|] with
  u the mesh-space and x the world-space relative positions (sender minus receiver);
* world edges (pairs closer than ``world_radius`` in world space that are not mesh edges; none when
  ``world_radius`` is None): features [x_ij, |x_ij|].

With ``contact`` (HCMT's comparison, Yu et al., ICLR 2024), the world edges are instead the contact edges of
`learned.graphs.contact`: OBSTACLE (node type 1) nodes to all other nodes closer than ``contact_radius``
(default ``world_radius``, else twice the median rest mesh-edge length), rebuilt every step. With ``stress``, the
decoder has one more output, the next ``stress`` normalised by an online normaliser of the target, and the loss
adds its squared error. ``fixed_axes`` ({node type: [axes]}) fixes those axes of those node types
(`LearnedSimulator.kinematic_axes`): no noise or loss there, ground truth in rollouts.

Node features: the normalised velocity x_t - x_{t-1} and a one-hot node type (``node_type`` key or
``particle_type``). Edge and node features pass through online normalisers (running mean/std over the
first training batches, as in the paper). 15 unshared processor blocks at latent 128. The decoder
predicts per node, by node type, either the normalised next velocity (x_{t+1} = x_t + v) or the
normalised acceleration (x_{t+1} = 2x_t - x_{t-1} + a); kinematic nodes follow ground truth.
Training noise: Gaussian on the current positions, std σ, target shifted by (1 - γ) of the noise
(γ = 1: the model removes the noise entirely; cloth uses γ = 0.1).
"""
from __future__ import annotations

import torch
from torch import nn

from learned.base import LearnedSimulator
from learned.data.noise import gaussian_noise
from learned.graphs import cells_to_edges, radius_graph, remove_edges
from learned.graphs.contact import CONTACT_EDGE_LENGTHS, OBSTACLE, contact_edges, median_edge_length
from learned.nn import EncodeProcessDecode, OnlineNormalizer
from learned.registry import register
from simengine.errors import InputError

TARGETS = ("velocity", "acceleration")


def normalizer_stats(norm: OnlineNormalizer):
    """(mean, std) float32 of an online normaliser (0 and 1 before it has seen data), to invert it."""
    count = float(norm.count)
    if count == 0:
        return torch.zeros(norm.total.shape), torch.ones(norm.total.shape)
    mean = norm.total / count
    std = (norm.total_sq / count - mean * mean).clamp(min=0.0).sqrt().clamp(min=norm.eps)
    return mean.float(), std.float()


@register("meshgraphnets")
class MeshGraphNets(LearnedSimulator):
    """MeshGraphNets with the paper's reference configuration as defaults.

    Config: dim (from the dataset), mesh_dim (None: from ``mesh_pos`` if present, else dim),
    input_frames 2, latent 128, message_passing_steps 15, mlp_layers 2, world_radius None,
    num_node_types 16, target "acceleration", target_by_type {} (node type -> "velocity" or
    "acceleration"), noise_std 3e-3, noise_gamma 0.1, graph_backend "warp", contact False, contact_radius
    None, stress False, fixed_axes {}.
    """

    defaults = dict(dim=None, mesh_dim=None, input_frames=2, latent=128, message_passing_steps=15,
                    mlp_layers=2, world_radius=None, num_node_types=16, target="acceleration",
                    target_by_type={}, noise_std=3e-3, noise_gamma=0.1, graph_backend="warp", contact=False,
                    contact_radius=None, stress=False, fixed_axes={})
    required_keys = ("cells", "initial_position")
    optional_keys = ("mesh_pos", "node_type")

    def __init__(self, **config):
        super().__init__(**config)
        c = self.config
        if c["dim"] not in (2, 3):
            raise InputError(f"meshgraphnets: dim = {c['dim']!r} is not 2 or 3")
        for node_type, target in {None: c["target"], **dict(c["target_by_type"])}.items():
            if target not in TARGETS:
                raise InputError(f"meshgraphnets: target for node type {node_type} = {target!r} is not "
                                 f"one of {TARGETS}")
        dim = int(c["dim"])
        mesh_dim = int(c["mesh_dim"] or dim)
        self.num_types = int(c["num_node_types"])
        node_in, mesh_in, world_in = dim + self.num_types, mesh_dim + dim + 2, dim + 1
        self.node_norm = OnlineNormalizer(node_in)
        self.mesh_norm = OnlineNormalizer(mesh_in)
        self.world_norm = OnlineNormalizer(world_in)
        self.predict_stress = bool(c["stress"])
        if self.predict_stress or c["contact"]:  # instance-level key lists for this configuration
            self.required_keys = MeshGraphNets.required_keys + (("stress",) if self.predict_stress else ()) + \
                (("node_type",) if c["contact"] else ())
            self.optional_keys = tuple(k for k in MeshGraphNets.optional_keys if k not in self.required_keys)
        self.predicted_keys = ("stress",) if self.predict_stress else ()
        if self.predict_stress:
            self.stress_norm = OnlineNormalizer(1)
        edge_sets = [mesh_in] + ([world_in] if c["world_radius"] or c["contact"] else [])
        out_size = dim + int(self.predict_stress)
        self.network = EncodeProcessDecode(node_in, edge_sets, out_size, latent=int(c["latent"]),
                                           steps=int(c["message_passing_steps"]),
                                           hidden_layers=int(c["mlp_layers"]))
        # 1 where a node type predicts velocity, 0 where acceleration (indexed by node type).
        is_velocity = torch.full((self.num_types,), float(c["target"] == "velocity"))
        for node_type, target in dict(c["target_by_type"]).items():
            is_velocity[int(node_type)] = float(target == "velocity")
        self.register_buffer("is_velocity", is_velocity, persistent=False)
        self.set_summary({})

    def set_summary(self, summary):
        super().set_summary(summary)
        dim = int(self.config["dim"])
        stats = summary.get("stats", {})
        noise = float(self.config["noise_std"])

        def stat(key, default, with_noise=False):
            value = torch.as_tensor(stats.get(key, [default] * dim), dtype=torch.float32)
            return torch.sqrt(value ** 2 + noise ** 2) if with_noise else value

        self.vel_mean, self.vel_std = stat("vel_mean", 0.0), stat("vel_std", 1.0, True)
        self.acc_mean, self.acc_std = stat("acc_mean", 0.0), stat("acc_std", 1.0, True)

    def prepare(self, info):
        super().prepare(info)
        mesh_dim = int(self.config["mesh_dim"] or self.config["dim"])
        if "mesh_pos" not in info.keys and mesh_dim != info.dim:
            raise InputError(f"meshgraphnets: mesh_dim = {mesh_dim} but the dataset has no mesh_pos key; "
                             f"rest coordinates come from the first frame (dimension {info.dim})")

    def _types(self, window):
        types = window.get("node_type", window["particle_type"]).reshape(-1).long()
        if bool((types < 0).any()) or bool((types >= self.num_types).any()):
            raise InputError(f"meshgraphnets: node types must lie in [0, {self.num_types}), got "
                             f"[{int(types.min())}, {int(types.max())}]")
        return types

    def network_output(self, window: dict) -> torch.Tensor:
        """Decoded (N, D) normalised targets for the last two frames of ``window``."""
        c = self.config
        pos = window["position"]
        current, previous = pos[-1], pos[-2]
        n = current.shape[0]
        types = self._types(window)
        velocity = (current - previous - self.vel_mean.to(pos)) / self.vel_std.to(pos)
        nodes = torch.cat([velocity, nn.functional.one_hot(types, self.num_types).to(pos)], -1)
        rest = window.get("mesh_pos", window["initial_position"]).to(pos)
        senders, receivers = cells_to_edges(window["cells"], n)
        u = rest[senders] - rest[receivers]
        x = current[senders] - current[receivers]
        mesh = torch.cat([u, u.norm(dim=-1, keepdim=True), x, x.norm(dim=-1, keepdim=True)], -1)
        edge_sets = [(self.mesh_norm(mesh), senders, receivers)]
        if c["contact"]:
            radius = c["contact_radius"] or c["world_radius"]
            radius = float(radius) if radius else CONTACT_EDGE_LENGTHS * median_edge_length(rest, senders, receivers)
            obstacle = window["node_type"].reshape(-1) == OBSTACLE
            ws, wr = contact_edges(current, obstacle, radius, batch=window.get("batch"))
            xw = current[ws] - current[wr]
            world = torch.cat([xw, xw.norm(dim=-1, keepdim=True)], -1)
            edge_sets.append((self.world_norm(world), ws, wr))
        elif c["world_radius"]:
            ws, wr = radius_graph(current, float(c["world_radius"]), batch=window.get("batch"),
                                  backend=c["graph_backend"])
            ws, wr = remove_edges(ws, wr, senders, receivers, n)
            xw = current[ws] - current[wr]
            world = torch.cat([xw, xw.norm(dim=-1, keepdim=True)], -1)
            edge_sets.append((self.world_norm(world), ws, wr))
        return self.network(self.node_norm(nodes), edge_sets)

    def _targets(self, window, nxt):
        """Normalised true targets (N, D) for next positions ``nxt``, by node type."""
        pos = window["position"]
        velocity = nxt - pos[-1]
        acceleration = velocity - (pos[-1] - pos[-2])
        v_norm = (velocity - self.vel_mean.to(pos)) / self.vel_std.to(pos)
        a_norm = (acceleration - self.acc_mean.to(pos)) / self.acc_std.to(pos)
        use_velocity = self.is_velocity.to(pos)[self._types(window)][:, None]
        return use_velocity * v_norm + (1 - use_velocity) * a_norm

    def one_step_loss(self, batch, *, generator=None, noise=True):
        h = self.input_frames
        pos = batch["position"]
        inputs, target = pos[:h], pos[h]
        fixed = self.kinematic_mask(batch["particle_type"])
        axes = self.kinematic_axes(batch)
        std = float(self.config["noise_std"]) if noise else 0.0
        position_noise = gaussian_noise(inputs, std, fixed, generator=generator)
        if self.config["fixed_axes"]:
            position_noise = position_noise * (~axes).to(position_noise)[None]
        window = {**batch, "position": inputs + position_noise}
        target = target + (1.0 - float(self.config["noise_gamma"])) * position_noise[-1]
        expected = self._targets(window, target)
        output = self.network_output(window)
        dim = pos.shape[-1]
        predicted = output[:, :dim]
        free = ~axes
        if not bool(free.any()):
            raise InputError("meshgraphnets: the batch has no non-kinematic node to learn from")
        error = (predicted - expected)[free]
        loss = (error ** 2).mean()
        logs = {"weight": error.numel()}
        if self.predict_stress:
            n = pos.shape[1]
            stress = self.stress_norm(batch["stress"][h].reshape(n, 1).to(pos))
            stress_loss = ((output[:, dim:dim + 1] - stress) ** 2).mean()
            logs.update(position_loss=float(loss.detach()), stress_loss=float(stress_loss.detach()))
            loss = loss + stress_loss
        logs["loss"] = float(loss.detach())
        return loss, logs

    def predict_next(self, window):
        pos = window["position"]
        output = self.network_output(window)
        out = output[:, :pos.shape[-1]]
        velocity = out * self.vel_std.to(pos) + self.vel_mean.to(pos)
        acceleration = out * self.acc_std.to(pos) + self.acc_mean.to(pos)
        use_velocity = self.is_velocity.to(pos)[self._types(window)][:, None]
        step = use_velocity * velocity + (1 - use_velocity) * (pos[-1] - pos[-2] + acceleration)
        result = {"position": pos[-1] + step}
        if self.predict_stress:
            mean, std = normalizer_stats(self.stress_norm)
            result["stress"] = (output[:, -1] * std.to(pos)[0] + mean.to(pos)[0]).reshape(window["stress"].shape[1:])
        return result
