"""GS-Dynamics: graph-based neural dynamics on control particles, conditioned on the gripper's motion.

Zhang, Li, Li, Jiang, Huang, Gao, Li, "Dynamic 3D Gaussian Tracking for Graph-Based Neural Dynamics Modeling",
CoRL 2024 (https://gs-dynamics.github.io, arXiv 2410.18912).

Control particles: farthest-point sampling of each sample's object particles at frame 0 (``control_points``:
rope 100, cloth 150, plush 100 in the paper; capped at the particle count), thinned so that no two are closer
than ``fps_radius``. One tool particle per gripper sits at the gripper and carries its displacement
a_g = p_g(t+1) - p_g(t) (the action) and closed flag. Graph (rebuilt every step): object-object edges within
``edge_radius`` capped at the ``max_neighbors`` nearest; tool-object edges within ``tool_radius`` (or to every
object particle with ``tool_edges="all"``).

PropNet (Li et al., ICRA 2019), shared across ``propagation_steps`` (3):

    e_i = f_O(o_i),   e_ij = f_R(o_i, o_j, r_ij),   h_i^0 = e_i
    h_ij^k = g_R(e_ij, h_i^{k-1}, h_j^{k-1}),   h_i^k = g_O(e_i, Σ_j h_ji^k) + h_i^{k-1}
    x_i(t+1) = x_i(t) + (x_i(t) - x_i(t-1)) + s · f_P(h_i^K)          (residual on constant velocity)

node features o_i: the ``input_frames`` - 1 past displacements (/ s), height above y = 0 (/ edge_radius), tool
flag, action (/ s), closed flag; edge features r_ij: (x_j - x_i) / edge_radius, its norm, and the rest distance
|X_j - X_i| / edge_radius (frame 0). s is the dataset's mean per-frame speed scale (``vel_std``).

Every vector is expressed in a frame turned about the vertical (+y) axis so that the grippers' summed horizontal
displacement (else the particles' mean horizontal velocity) points along +x, and the prediction turned back:
the model is exactly equivariant to rotations of the scene and the actions about the vertical (the paper gets
approximate equivariance from random-rotation augmentation, which is kept: it then only matters where the
heading is undefined).

Training: ``train_steps`` (5) future steps unrolled with backpropagation through time; loss Σ_steps mean
|x̂ - x|² / s² over control particles plus ``edge_weight`` × the squared change of edge lengths against the truth
(the paper's edge-length term); random rotation about the vertical and Gaussian noise (``noise_std`` m) on the
input positions.

All particles move by linear blend skinning from the control particles (`simengine.gaussians.lbs`): bone
rotations by Kabsch fits of neighbouring control particles' offsets from frame 0, weights 1/distance over the
``skin_bones`` nearest bones; the control particles themselves reproduce their prediction exactly.

Shapes: batch ``position`` (T, N, 3) with ``batch`` (N,) sample indices, ``initial_position`` (N, 3) (frame 0),
``action`` (B, T, G, 8) (position, quaternion (x, y, z, w), closed); `predict_next` returns (N, 3).
"""
from __future__ import annotations

import math

import numpy as np
import torch

from learned.base import LearnedSimulator
from learned.graphs import radius_graph
from learned.graphs.sampling import farthest_point_sampling
from learned.nn.graph_net import mlp, scatter_sum
from learned.nn.grippers import check_gripper_count, episode_grippers, gripper_motion, shift_action
from learned.registry import register
from simengine.errors import InputError


def yaw_matrix(angle: torch.Tensor) -> torch.Tensor:
    """(B,) angles -> (B, 3, 3) rotations about +y."""
    c, s = torch.cos(angle), torch.sin(angle)
    zero, one = torch.zeros_like(c), torch.ones_like(c)
    return torch.stack([c, zero, s, zero, one, zero, -s, zero, c], -1).reshape(-1, 3, 3)


def control_subset(rest: torch.Tensor, count: int, radius: float = 0.0) -> torch.Tensor:
    """Farthest-point subset (K,) of ``rest`` (N, 3), at most ``count`` points, cut where the next point would lie
    closer than ``radius`` to those already chosen (the paper's radius-thinned FPS). Deterministic."""
    index = farthest_point_sampling(rest, count)
    if radius > 0 and len(index) > 1:
        chosen = rest[index]
        d = torch.cdist(chosen, chosen)
        d = d.masked_fill(torch.ones_like(d, dtype=torch.bool).triu(), torch.inf)
        gap = d.min(1).values                                               # distance to earlier picks
        keep = int(torch.nonzero(gap[1:] < radius)[0, 0]) + 1 if bool((gap[1:] < radius).any()) else len(index)
        index = index[:keep]
    return index


@register("gs_dynamics")
class GSDynamics(LearnedSimulator):
    """GS-Dynamics on control particles; see the module docstring for the equations and shapes."""

    defaults = dict(dim=3, input_frames=3, control_points=None, fps_radius=0.0, edge_radius=0.08, max_neighbors=5,
                    tool_radius=0.08, tool_edges="radius", latent=128, propagation_steps=3, grippers=None,
                    train_steps=5, edge_weight=1.0, noise_std=1e-3, rotate=True, skin_bones=4, skin_neighbors=8)
    required_keys = ("action", "initial_position")

    def __init__(self, **config):
        super().__init__(**config)
        c = self.config
        if c["dim"] != 3:
            raise InputError(f"gs_dynamics: dim = {c['dim']!r}; GS-Dynamics is a 3D model (dim 3)")
        if c["grippers"] is None or int(c["grippers"]) < 0:
            raise InputError(f"gs_dynamics: grippers = {c['grippers']!r}: build the model from a dataset "
                             "(`from_dataset`) or give the number of grippers (>= 0)")
        if c["control_points"] is None or int(c["control_points"]) < 2:
            raise InputError(f"gs_dynamics: control_points = {c['control_points']!r} is outside the allowed range "
                             "[2, inf)")
        if c["tool_edges"] not in ("radius", "all"):
            raise InputError(f"gs_dynamics: tool_edges = {c['tool_edges']!r} is not 'radius' or 'all'")
        if int(c["input_frames"]) < 2:
            raise InputError(f"gs_dynamics: input_frames = {c['input_frames']} is outside the allowed range [2, inf)")
        for key in ("edge_radius", "tool_radius"):
            if not float(c[key]) > 0:
                raise InputError(f"gs_dynamics: {key} = {c[key]!r} is outside the allowed range (0, inf)")
        latent = int(c["latent"])
        node_in = 3 * (self.input_frames - 1) + 1 + 1 + 3 + 1
        self.object_encoder = mlp(node_in, latent, latent)
        self.relation_encoder = mlp(2 * node_in + 5, latent, latent)
        self.relation_propagator = mlp(3 * latent, latent, latent, hidden_layers=1)
        self.object_propagator = mlp(2 * latent, latent, latent, hidden_layers=1)
        self.predictor = mlp(latent, latent, 3, layer_norm=False)
        self.set_summary({})

    @classmethod
    def dataset_config(cls, info, config):
        config = super().dataset_config(info, config)
        counts, _ = episode_grippers(info)
        if config.get("grippers") is None:
            config["grippers"] = counts.pop() if len(counts) == 1 else (0 if not counts else None)
        if config.get("control_points") is None:
            config["control_points"] = min(100, int(info.num_particles_max))
        return config

    def set_summary(self, summary: dict) -> None:
        super().set_summary(summary)
        std = summary.get("stats", {}).get("vel_std")
        self.scale = float(np.mean(std)) if std is not None else 1e-2

    def window_frames(self, pushforward: int = 0) -> int:
        return self.input_frames + int(self.config["train_steps"])

    def check_dataset(self, info) -> None:
        super().check_dataset(info)
        check_gripper_count(info, self.config["grippers"], "gs_dynamics")

    # ----- control particles -------------------------------------------------------------------------
    def controls(self, rest: torch.Tensor, batch: torch.Tensor) -> torch.Tensor:
        """(K,) indices into the concatenated particles of every sample's control particles."""
        wanted, out = int(self.config["control_points"]), []
        for b in range(int(batch.max()) + 1 if len(batch) else 0):
            members = torch.nonzero(batch == b)[:, 0]
            if len(members) < wanted:
                raise InputError(f"gs_dynamics: sample {b} has {len(members)} particles, fewer than the "
                                 f"{wanted} control points requested (config control_points)")
            out.append(members[control_subset(rest[members], wanted, float(self.config["fps_radius"]))])
        return torch.cat(out) if out else torch.zeros(0, dtype=torch.long)

    # ----- one step on the control graph -----------------------------------------------------------------
    def step_controls(self, history: torch.Tensor, rest: torch.Tensor, batch: torch.Tensor, action: torch.Tensor):
        """Next positions (K, 3) of control particles from their history (H, K, 3), frame-0 positions (K, 3),
        sample index (K,) and the shifted action window (B, T, G, 8)."""
        c = self.config
        s, radius = self.scale, float(c["edge_radius"])
        x = history[-1]
        samples = action.shape[0]
        p, _, p_next, closed = gripper_motion(action.to(x), int(c["grippers"]), "gs_dynamics")
        grippers = p.shape[1]
        # canonical heading about +y per sample
        move = (p_next - p).sum(1) if grippers else x.new_zeros(samples, 3)
        mean_v = x.new_zeros(samples, 3).index_add_(0, batch, history[-1] - history[-2])
        heading = torch.where((move[:, [0, 2]].norm(dim=1) > 1e-9)[:, None], move, mean_v)
        angle = torch.atan2(heading[:, 2], heading[:, 0])
        undefined = heading[:, [0, 2]].norm(dim=1) <= 1e-12
        to_canon = yaw_matrix(torch.where(undefined, torch.zeros_like(angle), angle))  # heading -> +x
        rot = to_canon.transpose(1, 2)                                      # canonical -> world
        # nodes: object particles then one tool per (sample, gripper)
        k = x.shape[0]
        disp = (history[1:] - history[:-1]).permute(1, 0, 2)                # (K, H-1, 3)
        disp = torch.einsum("kij,khj->khi", to_canon[batch], disp) / s
        obj = torch.cat([disp.flatten(1), x[:, 1:2] / radius, x.new_zeros(k, 1), x.new_zeros(k, 3),
                         x.new_zeros(k, 1)], -1)
        tool_batch = torch.arange(samples, device=x.device).repeat_interleave(grippers)
        tool_pos = p.reshape(-1, 3)
        tool_move = torch.einsum("bij,bj->bi", to_canon[tool_batch], (p_next - p).reshape(-1, 3)) / s
        tool = torch.cat([x.new_zeros(len(tool_pos), disp.shape[1] * 3), tool_pos[:, 1:2] / radius,
                          x.new_ones(len(tool_pos), 1), tool_move, closed.reshape(-1, 1).to(x.dtype)], -1)
        nodes = torch.cat([obj, tool])
        pos = torch.cat([x, tool_pos])
        node_batch = torch.cat([batch, tool_batch])
        rest_all = torch.cat([rest, tool_pos])
        send, recv = radius_graph(x, radius, batch=batch, max_neighbors=int(c["max_neighbors"]), backend="torch")
        if grippers:
            ti, oi = torch.meshgrid(torch.arange(len(tool_pos), device=x.device), torch.arange(k, device=x.device),
                                    indexing="ij")
            ti, oi = ti.reshape(-1), oi.reshape(-1)
            same = tool_batch[ti] == batch[oi]
            if c["tool_edges"] == "radius":
                same &= (tool_pos[ti] - x[oi]).norm(dim=1) < float(c["tool_radius"])
            ti, oi = ti[same] + k, oi[same]
            send, recv = torch.cat([send, ti, oi]), torch.cat([recv, oi, ti])
        offset = torch.einsum("eij,ej->ei", to_canon[node_batch[recv]], pos[send] - pos[recv]) / radius
        rest_len = (rest_all[send] - rest_all[recv]).norm(dim=1, keepdim=True) / radius
        tool_edge = (send >= k) | (recv >= k)
        rest_len = torch.where(tool_edge[:, None], torch.zeros_like(rest_len), rest_len)
        edges = torch.cat([offset, offset.norm(dim=1, keepdim=True), rest_len], -1)
        # PropNet
        e_obj = self.object_encoder(nodes)
        e_rel = self.relation_encoder(torch.cat([nodes[recv], nodes[send], edges], -1))
        h = e_obj
        for _ in range(int(c["propagation_steps"])):
            h_rel = self.relation_propagator(torch.cat([e_rel, h[recv], h[send]], -1))
            h = self.object_propagator(torch.cat([e_obj, scatter_sum(h_rel, recv, len(nodes))], -1)) + h
        out = self.predictor(h[:k]) * s                                      # canonical frame
        out = torch.einsum("kij,kj->ki", rot[batch], out)
        return x + (history[-1] - history[-2]) + out

    # ----- model contract ---------------------------------------------------------------------------
    def skinning(self, rest: torch.Tensor, batch: torch.Tensor, key=None) -> tuple:
        """What depends on the frame-0 positions only, computed once per rollout: the control particles (K,) and,
        per sample, (dense members, control rows, bones' rest positions, their neighbourhoods and weights, the
        members' rest positions, bone indices and weights). Cached for the last (``rest``, ``key``) objects seen
        (a rollout passes the same frame-0 tensor and sample index every step; ``key``: the window's own
        ``batch`` entry, None when it has none)."""
        from simengine.gaussians.lbs import bone_weights, neighbourhoods

        cached = getattr(self, "_skinning", None)
        if cached is not None and cached[0] is rest and cached[1] is key:
            return cached[2]
        ctrl = self.controls(rest, batch)
        dense = torch.ones(len(rest), dtype=torch.bool, device=rest.device)
        dense[ctrl] = False
        samples = []
        for b in range(int(batch.max()) + 1 if len(rest) else 0):
            members = torch.nonzero((batch == b) & dense)[:, 0]
            if not len(members):
                continue
            bones = torch.nonzero(batch[ctrl] == b)[:, 0]
            bones_rest = rest[ctrl[bones]].detach().double().cpu().numpy()
            points = rest[members].detach().double().cpu().numpy()
            samples.append((members, bones, bones_rest, *neighbourhoods(bones_rest, int(self.config["skin_neighbors"])),
                            points, *bone_weights(points, bones_rest, int(self.config["skin_bones"]))))
        self._skinning = (rest, key, (ctrl, samples))
        return ctrl, samples

    def predict_next(self, window: dict) -> dict:
        """All particles' next positions (N, 3): the control particles' prediction, the rest by LBS."""
        from simengine.gaussians.lbs import fit_rotations, skin

        pos = window["position"][-self.input_frames:]
        n = pos.shape[1]
        key = window.get("batch")
        batch = torch.zeros(n, dtype=torch.long, device=pos.device) if key is None else key
        rest = window["initial_position"]
        ctrl, samples = self.skinning(rest, batch, key)
        rest = rest.to(pos)
        nxt = self.step_controls(pos[:, ctrl], rest[ctrl], batch[ctrl], window["action"])
        out = pos[-1].clone()
        for members, bones, bones_rest, nb, nw, points, index, weight in samples:
            bones_now = nxt[bones].detach().double().cpu().numpy()
            moved = skin(points, bones_rest, bones_now, fit_rotations(bones_rest, bones_now, nb, nw), index, weight)
            out[members] = torch.as_tensor(moved, dtype=pos.dtype, device=pos.device)
        out[ctrl] = nxt
        return {"position": out}

    def training_step(self, batch: dict, *, generator=None, pushforward: int = 0, noise: bool = True):
        """Control particles unrolled ``train_steps`` steps with BPTT: position MSE (/ s²) + edge-length term."""
        c = self.config
        h, steps = self.input_frames, int(c["train_steps"])
        batch = shift_action(batch, "gs_dynamics")
        pos, rest, action = batch["position"], batch["initial_position"].to(batch["position"]), batch["action"]
        if pos.shape[0] < h + steps:
            raise InputError(f"gs_dynamics: a training window needs {h + steps} frames, got {pos.shape[0]}")
        sample = batch.get("batch")
        sample = torch.zeros(pos.shape[1], dtype=torch.long, device=pos.device) if sample is None else sample
        ctrl = self.controls(rest, sample)
        traj, rest_c, b = pos[:, ctrl], rest[ctrl], sample[ctrl]
        if c["rotate"]:  # random rotation about the vertical of positions and gripper poses
            angle = 2 * math.pi * torch.rand(action.shape[0], generator=generator, dtype=pos.dtype)
            q = yaw_matrix(angle.to(pos.device))
            traj = torch.einsum("kij,tkj->tki", q[b], traj)
            rest_c = torch.einsum("kij,kj->ki", q[b], rest_c)
            half = torch.stack([torch.zeros_like(angle), torch.sin(angle / 2), torch.zeros_like(angle),
                                torch.cos(angle / 2)], -1).to(action)        # (x, y, z, w) about +y
            position = torch.einsum("bij,btgj->btgi", q.to(action), action[..., :3])
            quat = _quat_multiply(half[:, None, None, :].expand_as(action[..., 3:7]), action[..., 3:7])
            action = torch.cat([position, quat, action[..., 7:]], -1)
        history = traj[:h]
        std = float(c["noise_std"]) if noise else 0.0
        if std:
            history = history + std * torch.randn(history.shape, generator=generator, dtype=pos.dtype).to(pos.device)
        send, recv = radius_graph(traj[h - 1], float(c["edge_radius"]), batch=b,
                                  max_neighbors=int(c["max_neighbors"]), backend="torch")
        loss = pos.new_zeros(())
        s2 = self.scale ** 2
        for step in range(steps):
            window_action = action[:, step:step + h]
            nxt = self.step_controls(history, rest_c, b, window_action)
            truth = traj[h + step]
            loss = loss + ((nxt - truth) ** 2).sum(-1).mean() / s2
            if len(send):
                length = (nxt[send] - nxt[recv]).norm(dim=-1)
                true_length = (truth[send] - truth[recv]).norm(dim=-1)
                loss = loss + float(c["edge_weight"]) * ((length - true_length) ** 2).mean() / s2
            history = torch.cat([history[1:], nxt[None]])
        return loss, {"loss": float(loss.detach()), "weight": int(len(ctrl)) * steps}

    def rollout(self, batch: dict, steps: int, **options):
        return super().rollout(shift_action(batch, "gs_dynamics"), steps, **options)


def _quat_multiply(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Hamilton product of (..., 4) quaternions (x, y, z, w)."""
    ax, ay, az, aw = a.unbind(-1)
    bx, by, bz, bw = b.unbind(-1)
    return torch.stack([aw * bx + ax * bw + ay * bz - az * by, aw * by - ax * bz + ay * bw + az * bx,
                        aw * bz + ax * by - ay * bx + az * bw, aw * bw - ax * bx - ay * by - az * bz], -1)
