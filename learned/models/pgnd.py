"""Particle-Grid Neural Dynamics (PGND).

Zhang, Yu, Li, Gao, Sahu, Tenenbaum, Li, Wu, "Particle-Grid Neural Dynamics for Learning Deformable Object
Models from RGB-D Videos", RSS 2025 (https://kywind.github.io/pgnd).

A per-particle PointNet encodes the recent motion of every particle; its features are averaged onto the nodes
of a background grid near the particles; a decoder turns each node's feature into a grid velocity; boundary and
gripper conditions edit the grid; particles take their new velocity from the grid by quadratic B-spline
grid-to-particle transfer (the G2P of MLS-MPM, `kernels/mpm`) and move. With frame units (Δt = 1 between
recorded frames) and grid spacing h:

    f_p   = PointNet([(x_p^k - c_t) / L, v_p^k / h for k = t-2..t, plane distances / L, gripper terms])
    f_i   = Σ_p w_ip f_p / Σ_p w_ip                          (w_ip quadratic B-spline weights)
    v_i   = h · MLP([f_i, γ((x_i - c_t) / L), γ(plane distances of x_i / L)])     (γ: sin/cos, 5 frequencies)
    walls: v_i ← v_i - min(v_i·n, 0) n, tangential part reduced by μ |v_i·n| (Coulomb), nodes within
           ``wall_nodes`` · h of a plane;  closed gripper g: v_i ← (p'_g - p_g) + (R'_g R_gᵀ - I)(x_i - p_g)
           for nodes within ``attach_radius`` of it
    x_p'  = x_p + Σ_i w_ip v_i;  particles within ``attach_radius`` of a closed gripper move rigidly with it.

c_t is the sample's centroid and L = ``length_scale``: PGND feeds absolute workspace coordinates; centring
makes the model invariant to horizontal placement of the object (the walls are seen through plane distances).
The network's velocity is the new velocity itself (not a residual), as in the paper. The gripper enters the
network through each particle's offset to every gripper, the gripper's motion and its closed flag (the paper
conditions through the grid edits only; our grippers grasp a few particles, so the rest of the body needs to
know where it is being pulled).

Training: ``train_steps`` (5) steps unrolled with backpropagation through time, the loss the sum over steps
of the mean squared position error in grid cells; Gaussian input noise. Grippers come from the per-frame
``action`` key ((G, 8) per frame: position, quaternion (x, y, z, w), closed flag; see
`simengine.deformables`); the step from frame t to t+1 uses the gripper poses at t and t+1.

Config: dim 3, input_frames 4 (three velocities), grid_spacing h (default 2 × the dataset's particle spacing
``dx``), length_scale 0.1 m, latent 64, pointnet_width 128, frequencies 5, wall_nodes 3, friction 0.3,
planes (list of (normal, offset), default: the plane colliders every trajectory of the dataset shares),
attach_radius (default 1.5 × the grippers' radius), grippers (count, from the dataset), train_steps 5,
noise_std 3e-4 m.

Shapes: batch ``position`` (T, N, 3) for a batch of samples concatenated along N with ``batch`` (N,) sample
indices; ``action`` (B, T, G, 8); `predict_next` returns ``{"position": (N, 3)}``.
"""
from __future__ import annotations

import itertools
import math

import torch

from learned.base import LearnedSimulator
from learned.nn.graph_net import mlp
from learned.nn.grippers import check_gripper_count, dataset_episodes, episode_grippers, gripper_motion, shift_action
from learned.registry import register
from simengine.errors import InputError

_STENCIL = torch.tensor(list(itertools.product(range(3), repeat=3)), dtype=torch.long)  # (27, 3)


def bspline_stencil(x: torch.Tensor, h: float):
    """Quadratic B-spline stencil of MLS-MPM: (N, 27, 3) integer node coordinates and (N, 27) weights."""
    xi = x / h
    base = torch.floor(xi - 0.5).long()
    fx = xi - base.to(x.dtype)
    w = torch.stack([0.5 * (1.5 - fx) ** 2, 0.75 - (fx - 1.0) ** 2, 0.5 * (fx - 0.5) ** 2], 1)  # (N, 3, 3)
    stencil = _STENCIL.to(x.device)
    weights = w[:, stencil[:, 0], 0] * w[:, stencil[:, 1], 1] * w[:, stencil[:, 2], 2]
    return base[:, None, :] + stencil[None], weights


def grid_nodes(nodes: torch.Tensor, batch: torch.Tensor):
    """Distinct (sample, node) pairs of a stencil: (M, 4) rows (sample, i, j, k) and (N·S,) the row of each entry.

    ``nodes`` (N, S, 3) integer node coordinates, ``batch`` (N,) sample index. The rows are packed into one
    int64 key per entry (a 1-D `torch.unique` is ~10× faster than ``unique(dim=0)`` on CPU).
    """
    flat = nodes.reshape(-1, 3)
    low = flat.min(0).values
    span = (flat.max(0).values - low + 1).tolist()
    local = flat - low
    sample = batch.repeat_interleave(nodes.shape[1])
    keys = ((sample * span[0] + local[:, 0]) * span[1] + local[:, 1]) * span[2] + local[:, 2]
    packed, inverse = torch.unique(keys, return_inverse=True)
    rows = torch.stack([packed // (span[0] * span[1] * span[2]), (packed // (span[1] * span[2])) % span[0] + low[0],
                        (packed // span[2]) % span[1] + low[1], packed % span[2] + low[2]], 1)
    return rows, inverse


def positional_encoding(x: torch.Tensor, frequencies: int) -> torch.Tensor:
    """(M, C) -> (M, C (1 + 2F)): x, sin(2^k π x), cos(2^k π x) for k < F."""
    scales = (2.0 ** torch.arange(frequencies, dtype=x.dtype, device=x.device)) * math.pi
    angles = x[..., None] * scales
    return torch.cat([x, angles.sin().flatten(1), angles.cos().flatten(1)], -1)


def _scatter_max(values: torch.Tensor, index: torch.Tensor, size: int) -> torch.Tensor:
    out = torch.full((size, values.shape[1]), -torch.inf, dtype=values.dtype, device=values.device)
    return out.scatter_reduce(0, index[:, None].expand_as(values), values, "amax", include_self=True)


@register("pgnd")
class PGND(LearnedSimulator):
    """PGND with the paper's structure; see the module docstring for the equations and shapes."""

    defaults = dict(dim=3, input_frames=4, grid_spacing=None, length_scale=0.1, latent=64, pointnet_width=128,
                    frequencies=5, wall_nodes=3, friction=0.3, planes=None, attach_radius=None, grippers=None,
                    train_steps=5, noise_std=3e-4)
    required_keys = ("action",)

    def __init__(self, **config):
        super().__init__(**config)
        c = self.config
        if c["dim"] != 3:
            raise InputError(f"pgnd: dim = {c['dim']!r}; PGND is a 3D model (dim 3)")
        if int(c["input_frames"]) < 2:
            raise InputError(f"pgnd: input_frames = {c['input_frames']} is outside the allowed range [2, inf)")
        if c["grippers"] is None or int(c["grippers"]) < 0:
            raise InputError(f"pgnd: grippers = {c['grippers']!r}: build the model from a dataset "
                             "(`from_dataset`) or give the number of grippers (>= 0)")
        for key in ("grid_spacing", "length_scale", "attach_radius"):
            if c[key] is None or not float(c[key]) > 0:
                raise InputError(f"pgnd: {key} = {c[key]!r} is outside the allowed range (0, inf)")
        if int(c["train_steps"]) < 1:
            raise InputError(f"pgnd: train_steps = {c['train_steps']} is outside the allowed range [1, inf)")
        planes = [(tuple(float(v) for v in n), float(o)) for n, o in (c["planes"] or [])]
        c["planes"] = [[list(n), o] for n, o in planes]
        normals = torch.tensor([n for n, _ in planes], dtype=torch.float32).reshape(-1, 3)
        if len(planes) and not bool((normals.norm(dim=1) > 0).all()):
            raise InputError(f"pgnd: planes = {c['planes']} has a zero normal")
        self.register_buffer("plane_normal", normals / normals.norm(dim=1, keepdim=True).clamp_min(1e-12),
                             persistent=False)
        self.register_buffer("plane_offset", torch.tensor([o for _, o in planes], dtype=torch.float32),
                             persistent=False)
        frames, planes_n, grippers = self.input_frames - 1, len(planes), int(c["grippers"])
        point_in = frames * 6 + planes_n + grippers * 7
        width, latent = int(c["pointnet_width"]), int(c["latent"])
        self.point_local = mlp(point_in, latent, latent, hidden_layers=1)
        self.point_global = mlp(latent, width, width, hidden_layers=1)
        self.point_out = mlp(latent + width, latent, latent, hidden_layers=1)
        pe = (3 + planes_n) * (1 + 2 * int(c["frequencies"]))
        self.decoder = mlp(latent + pe, latent, 3, hidden_layers=2, layer_norm=False)

    @classmethod
    def dataset_config(cls, info, config):
        config = super().dataset_config(info, config)
        counts, radii = episode_grippers(info)
        if config.get("grid_spacing") is None:
            spacing = (info.metadata or {}).get("dx")
            if spacing is None:
                raise InputError(f"pgnd: set grid_spacing; dataset {info.path} has no particle spacing dx")
            config["grid_spacing"] = 2.0 * float(spacing)
        if config.get("planes") is None:
            found = {tuple((tuple(c["normal"]), c["offset"]) for c in e.get("colliders", []) if c.get("shape") ==
                           "plane") for e in dataset_episodes(info)}
            config["planes"] = [[list(n), o] for n, o in found.pop()] if len(found) == 1 else []
        if config.get("attach_radius") is None:
            config["attach_radius"] = 1.5 * max(radii) if radii else 0.04
        if config.get("grippers") is None:
            config["grippers"] = counts.pop() if len(counts) == 1 else (0 if not counts else None)
        return config

    def window_frames(self, pushforward: int = 0) -> int:
        return self.input_frames + int(self.config["train_steps"])

    def check_dataset(self, info) -> None:
        super().check_dataset(info)
        check_gripper_count(info, self.config["grippers"], "pgnd")

    # ----- geometry --------------------------------------------------------------------------------
    def _rigid(self, x, batch, grip):
        """Per point (M, 3) rigid gripper motion and (M,) attached mask (nearest closed gripper in range)."""
        p, rel, p_next, closed = grip
        if p.shape[1] == 0:
            return torch.zeros_like(x), torch.zeros(x.shape[0], dtype=torch.bool, device=x.device)
        offset = x[:, None, :] - p[batch]                                       # (M, G, 3)
        dist = offset.norm(dim=-1).masked_fill(~closed[batch], torch.inf)
        nearest = dist.argmin(dim=1)
        attached = dist.gather(1, nearest[:, None])[:, 0] < float(self.config["attach_radius"])
        rows = torch.arange(x.shape[0], device=x.device)
        moved = (rel[batch, nearest] @ offset[rows, nearest][..., None])[..., 0] + p_next[batch, nearest]
        return moved - x, attached

    def _plane_distance(self, x):
        return x @ self.plane_normal.to(x).T - self.plane_offset.to(x)         # (M, P)

    # ----- network ---------------------------------------------------------------------------------
    def predict_next(self, window: dict) -> dict:
        """Next positions (N, 3) from the last ``input_frames`` frames; ``window["action"]`` is shifted one frame
        ahead (its last two entries are the gripper poses at t and t+1; `rollout` and `training_step` do it)."""
        c = self.config
        h_grid, scale = float(c["grid_spacing"]), float(c["length_scale"])
        pos = window["position"][-self.input_frames:]
        x = pos[-1]
        n = x.shape[0]
        batch = window.get("batch")
        batch = torch.zeros(n, dtype=torch.long, device=x.device) if batch is None else batch
        samples = int(batch.max()) + 1 if n else 0
        counts = torch.zeros(samples, dtype=x.dtype, device=x.device).index_add_(0, batch, torch.ones_like(x[:, 0]))
        centroid = torch.zeros(samples, 3, dtype=x.dtype, device=x.device).index_add_(0, batch, x) / counts[:, None]
        grip = gripper_motion(window["action"].to(x), int(c["grippers"]), "pgnd")
        # per-particle PointNet
        vel = pos[1:] - pos[:-1]                                               # (H-1, N, 3)
        rel = (pos[1:] - centroid[batch]) / scale
        feats = [rel.permute(1, 0, 2).reshape(n, -1), (vel / h_grid).permute(1, 0, 2).reshape(n, -1),
                 self._plane_distance(x) / scale]
        p, rot, p_next, closed = grip
        if p.shape[1]:
            to_gripper = ((p[batch] - x[:, None, :]) / scale).clamp(-3.0, 3.0)   # (N, G, 3)
            moves = ((p_next - p) / h_grid)[batch]                                 # (N, G, 3)
            feats += [to_gripper.flatten(1), moves.flatten(1), closed[batch].to(x.dtype)]
        local = self.point_local(torch.cat(feats, -1))
        pooled = _scatter_max(self.point_global(local), batch, samples)
        features = self.point_out(torch.cat([local, pooled[batch]], -1))      # (N, latent)
        # particle -> grid: weighted mean of features over the B-spline stencil
        nodes, weights = bspline_stencil(x, h_grid)                            # (N, 27, 3), (N, 27)
        unique, inverse = grid_nodes(nodes, batch)
        m = unique.shape[0]
        w = weights.reshape(-1, 1)
        node_feat = torch.zeros(m, features.shape[1], dtype=x.dtype, device=x.device)
        node_feat = node_feat.index_add(0, inverse, w * features.repeat_interleave(27, 0))
        node_w = torch.zeros(m, 1, dtype=x.dtype, device=x.device).index_add(0, inverse, w)
        node_feat = node_feat / node_w.clamp_min(1e-12)
        node_batch = unique[:, 0]
        node_x = unique[:, 1:].to(x.dtype) * h_grid
        encoding = positional_encoding(torch.cat([(node_x - centroid[node_batch]) / scale,
                                                  self._plane_distance(node_x) / scale], -1), int(c["frequencies"]))
        node_v = h_grid * self.decoder(torch.cat([node_feat, encoding], -1))  # (M, 3), metres per frame
        node_v = self._edit_grid(node_v, node_x, node_batch, grip)
        # grid -> particle (quadratic B-spline G2P), then rigid motion of particles held by a closed gripper
        v = (weights[..., None] * node_v[inverse].reshape(n, 27, 3)).sum(1)
        motion, attached = self._rigid(x, batch, grip)
        return {"position": x + torch.where(attached[:, None], motion, v)}

    def _edit_grid(self, v, node_x, node_batch, grip):
        """Wall conditions (no inward normal velocity, Coulomb friction) and closed grippers' rigid velocity."""
        if self.plane_offset.numel():
            dist = self._plane_distance(node_x)                                # (M, P)
            near = dist < float(self.config["wall_nodes"]) * float(self.config["grid_spacing"])
            mu = float(self.config["friction"])
            for k in range(dist.shape[1]):
                normal = self.plane_normal[k].to(v)
                vn = v @ normal
                hit = near[:, k] & (vn < 0)
                tangent = v - vn[:, None] * normal
                speed = tangent.norm(dim=1, keepdim=True).clamp_min(1e-12)
                slowed = tangent * (1.0 - mu * (-vn[:, None]) / speed).clamp_min(0.0)
                v = torch.where(hit[:, None], slowed, v)
        motion, attached = self._rigid(node_x, node_batch, grip)
        return torch.where(attached[:, None], motion, v)

    # ----- training and rollout ----------------------------------------------------------------------
    def training_step(self, batch: dict, *, generator=None, pushforward: int = 0, noise: bool = True):
        """Sum over ``train_steps`` unrolled steps of the mean squared position error (grid cells²), BPTT."""
        h, steps = self.input_frames, int(self.config["train_steps"])
        batch = shift_action(batch, "pgnd")
        pos = batch["position"]
        if pos.shape[0] < h + steps:
            raise InputError(f"pgnd: a training window needs {h + steps} frames, got {pos.shape[0]}")
        free = ~self.kinematic_mask(batch["particle_type"])
        window = self._frames(batch, 0, h)
        std = float(self.config["noise_std"]) if noise else 0.0
        if std:
            window["position"] = window["position"] + std * torch.randn(
                window["position"].shape, generator=generator, dtype=pos.dtype, device=pos.device)
        h_grid = float(self.config["grid_spacing"])
        loss = pos.new_zeros(())
        for step in range(steps):
            nxt = self.predict_next(window)
            truth = pos[h + step]
            nxt["position"] = torch.where(free[:, None], nxt["position"], truth)
            loss = loss + (((nxt["position"] - truth)[free] / h_grid) ** 2).sum(-1).mean()
            if step + 1 < steps:
                window = self._shift(window, nxt, batch, h + step)
        return loss, {"loss": float(loss.detach()), "weight": int(free.sum()) * steps}

    def rollout(self, batch: dict, steps: int, **options):
        return super().rollout(shift_action(batch, "pgnd"), steps, **options)
