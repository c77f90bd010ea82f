"""GIOROM: a reduced-order neural operator that steps a sparse graph and reconstructs dense point clouds.

Viswanath, Chang, Berner, Chen, Bera, "Learning Lagrangian Interaction Dynamics with Sampling-Based Model
Order Reduction" (GIOROM), TMLR; https://arxiv.org/abs/2407.03925 (reference code:
github.com/HrishikeshVish/GIOROM, ``giorom3d_T.py``).

**Sparse subset.** M = round(``sparse_fraction`` N) particles (or ``num_sparse``) chosen once per trajectory
by farthest-point sampling of its first frame X (``initial_position``), starting from a particle drawn from
``subset_seed``: deterministic for a seed, cached per trajectory.

**Time-stepper** on the M sparse nodes, from their last H = 6 positions (frame units, Δt = 1):

    nodes   h_i = enc([(H-1) normalised velocities, wall distances / R clipped to ±c, type embedding])
    edges   e_ij = enc([(x_j - x_i)/R, |x_j - x_i|/R])  for |x_j - x_i| <= R (radius graph of the subset)
    2 interaction-network blocks (GNS blocks, `learned.nn.GraphNetBlock`)
    GNO to a G^D grid y_g (G = ``grid``), a cube around the sample's current nodes (it moves with them):
            z_g = mean_{i: |x_i - y_g| <= ρ} κ1([(x_i - y_g)/ρ, |x_i - y_g|/ρ, h_i]),  ρ = ``gno_radius`` cells
    T linear-attention transformer blocks on the grid (GNOT-style: softmax(q) over channels,
            softmax(k) over grid nodes, out = q̃ (k̃ᵀ v), 4 heads, pre-LayerNorm)
    GNO back: g_i = mean_{g: |x_i - y_g| <= ρ} κ2([(y_g - x_i)/ρ, |x_i - y_g|/ρ, z_g]);  h_i += W g_i
    2 more interaction-network blocks, an MLP decoder: normalised acceleration â_i (D,)

    v_{t+1} = (x_t - x_{t-1}) + a_t,   x_{t+1} = x_t + v_{t+1},   a = â σ_a + μ_a

Kernels see relative positions x - y (the reference code's kernel sees only y). Every feature is a
difference of positions or a clipped wall distance, so away from the walls the stepper is translation
invariant. Loss: MSE of the normalised acceleration with random-walk input noise (as `gns`).

**Reconstruction** (`learned.nn.reconstruction`): dense positions x_q = X_q + u(X_q) at any query points from
the sparse displacements u_s = x_s - X_s, by a learned kernel integral over sparse neighbours within
``recon_radius`` in reference coordinates (neighbour lists built once), beside two that are not learned:
inverse-distance weighting (``reconstruction: idw``) and linear moving least squares (``mls``, what the
learned kernel starts from). Trained together with the stepper: each training step adds ``recon_weight`` x
MSE((u_pred - u_true) / recon_radius) on ``recon_queries`` random dense points of the target frame,
reconstructed from the TRUE sparse displacements.

**Rollout**: the sparse state advances on its own predictions (`LearnedSimulator.rollout` on the subset);
each predicted sparse frame is reconstructed to all N particles, so `simengine rollout` writes dense
trajectories that `simengine compare` scores like any model.

Shapes: batch "position" (W, N, D) dense, "initial_position" (N, D); sparse windows (W, M, D);
`normalised_acceleration` -> (M, D); `rollout` -> position (steps, N, D); `reconstruct` -> (T, Q, D).
"""
from __future__ import annotations

import hashlib

import numpy as np
import torch
from torch import nn

from learned.base import LearnedSimulator, Rollout
from learned.data.noise import NOISE, noisy_acceleration_loss
from learned.graphs import farthest_point_sampling, radius_graph
from learned.graphs.bipartite import cube_grid, grid_neighbors, grid_nodes
from learned.nn import GraphNetBlock, mlp, scatter_sum
from learned.nn.normalizer import motion_statistics
from learned.nn.reconstruction import KernelReconstruction, idw_displacement, mls_displacement, reconstruction_neighbors
from learned.registry import register
from simengine.errors import InputError, check_range

RECONSTRUCTIONS = ("learned", "idw", "mls")


class LinearAttentionBlock(nn.Module):
    """Pre-LayerNorm transformer block with GNOT-style linear attention (Hao et al., ICML 2023).

    Shapes: (B, L, C) -> (B, L, C); cost O(L C² / heads)."""

    def __init__(self, channels: int, heads: int = 4):
        super().__init__()
        if channels % heads:
            raise InputError(f"giorom: latent = {channels} is not divisible by attention_heads = {heads}")
        self.heads = heads
        self.norm1, self.norm2 = nn.LayerNorm(channels), nn.LayerNorm(channels)
        self.qkv = nn.Linear(channels, 3 * channels)
        self.out = nn.Linear(channels, channels)
        self.ff = nn.Sequential(nn.Linear(channels, 2 * channels), nn.GELU(), nn.Linear(2 * channels, channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, length, c = x.shape
        q, k, v = self.qkv(self.norm1(x)).reshape(b, length, 3, self.heads, c // self.heads).unbind(2)
        q = q.softmax(-1)                     # over channels
        k = k.softmax(1)                      # over grid nodes
        context = torch.einsum("blhc,blhd->bhcd", k, v)
        attended = torch.einsum("blhc,bhcd->blhd", q, context).reshape(b, length, c)
        x = x + self.out(attended)
        return x + self.ff(self.norm2(x))


@register("giorom")
class GIOROM(LearnedSimulator):
    """GIOROM stepper + dense reconstruction (module docstring).

    Config: dim (from the dataset), input_frames 6, sparse_fraction 0.1 or num_sparse (an absolute count,
    wins), subset_seed 0, radius (sparse graph; default radius_scale x the dataset's connectivity radius x
    sparse_fraction^(-1/D)), radius_scale 0.75, latent 128, mlp_layers 2, blocks_before 2, blocks_after 2,
    grid 16 (G >= 4), gno_radius 1.5 (grid cells), grid_pad 0.5 (radius units around the nodes),
    transformer_layers 2, attention_heads 4, num_particle_types 16, type_embedding 16, boundary_clip 2,
    noise "random_walk", noise_std 3e-4, graph_backend "warp"; reconstruction "learned", "idw" or "mls",
    recon_radius (default 0.7 x the dataset's connectivity radius x sparse_fraction^(-1/D)),
    recon_max_neighbors 16, recon_hidden 64, recon_queries 2048 (dense points per sample and training step),
    recon_weight 1.
    """

    defaults = dict(dim=None, input_frames=6, sparse_fraction=0.1, num_sparse=None, subset_seed=0, radius=None,
                    radius_scale=0.75, latent=128, mlp_layers=2, blocks_before=2, blocks_after=2, grid=16,
                    gno_radius=1.5, grid_pad=0.5, transformer_layers=2, attention_heads=4, num_particle_types=16,
                    type_embedding=16, boundary_clip=2.0, noise="random_walk", noise_std=3e-4,
                    graph_backend="warp", reconstruction="learned", recon_radius=None, recon_max_neighbors=16,
                    recon_hidden=64, recon_queries=2048, recon_weight=1.0)
    required_keys = ("initial_position",)

    def __init__(self, **config):
        super().__init__(**config)
        c = self.config
        if c["dim"] not in (2, 3):
            raise InputError(f"giorom: dim = {c['dim']!r} is not 2 or 3")
        if c["noise"] not in NOISE:
            raise InputError(f"giorom: noise = {c['noise']!r} is not one of {sorted(NOISE)}")
        if c["reconstruction"] not in RECONSTRUCTIONS:
            raise InputError(f"giorom: reconstruction = {c['reconstruction']!r} is not one of {RECONSTRUCTIONS}")
        check_range("giorom: input_frames", int(c["input_frames"]), 2, None)
        check_range("giorom: sparse_fraction", float(c["sparse_fraction"]), 0.0, 1.0, low_open=True)
        if c["num_sparse"] is not None:
            check_range("giorom: num_sparse", int(c["num_sparse"]), 1, None)
        check_range("giorom: grid", int(c["grid"]), 4, 128)
        check_range("giorom: gno_radius", float(c["gno_radius"]), 0.0, None, low_open=True)
        for key in ("radius", "recon_radius"):
            if c[key] is not None:
                check_range(f"giorom: {key}", float(c[key]), 0.0, None, low_open=True)
        dim, latent, layers = int(c["dim"]), int(c["latent"]), int(c["mlp_layers"])
        self.embedding = nn.Embedding(int(c["num_particle_types"]), int(c["type_embedding"]))
        node_in = (self.input_frames - 1) * dim + 2 * dim + int(c["type_embedding"])
        self.node_encoder = mlp(node_in, latent, latent, layers)
        self.edge_encoder = mlp(dim + 1, latent, latent, layers)
        self.before = nn.ModuleList(GraphNetBlock(latent, 1, layers) for _ in range(int(c["blocks_before"])))
        self.to_grid = mlp(dim + 1 + latent, latent, latent, layers)
        self.grid_position = nn.Linear(dim, latent)
        self.transformer = nn.ModuleList(LinearAttentionBlock(latent, int(c["attention_heads"]))
                                         for _ in range(int(c["transformer_layers"])))
        self.from_grid = mlp(dim + 1 + latent, latent, latent, layers)
        self.project = nn.Linear(latent, latent)
        self.after = nn.ModuleList(GraphNetBlock(latent, 1, layers) for _ in range(int(c["blocks_after"])))
        self.decoder = mlp(latent, latent, dim, layers, layer_norm=False)
        self.recon = KernelReconstruction(dim, hidden=int(c["recon_hidden"]))
        self._subsets: dict = {}
        self.set_summary({})

    # ----- configuration ---------------------------------------------------------------------------
    @classmethod
    def dataset_config(cls, info, config):
        config = super().dataset_config(info, config)
        fraction = float(config.get("sparse_fraction", cls.defaults["sparse_fraction"]))
        dim = int(config["dim"])
        for key, scale in (("radius", float(config.get("radius_scale", cls.defaults["radius_scale"]))),
                           ("recon_radius", 0.7)):
            if config.get(key) is None:
                if info.radius is None:
                    raise InputError(f"giorom: set model.{key}; dataset {info.path} has no "
                                     "default_connectivity_radius")
                config[key] = float(f"{scale * info.radius * fraction ** (-1.0 / dim):.3g}")
        return config

    def set_summary(self, summary: dict) -> None:
        super().set_summary(summary)
        dim = int(self.config["dim"])
        for key, value in motion_statistics(summary, dim, float(self.config["noise_std"])).items():
            setattr(self, key, value)
        bounds = summary.get("bounds")
        self.bounds = None if bounds is None else torch.tensor(bounds, dtype=torch.float32)

    def prepare(self, info):
        super().prepare(info)
        if any(info.periodic):
            raise InputError(f"giorom: dataset {info.path} has a periodic box; GIOROM supports open boxes only")

    # ----- sparse subset ---------------------------------------------------------------------------
    def num_sparse(self, num_particles: int) -> int:
        """M for a trajectory of N particles; more than N is an `InputError`."""
        c = self.config
        m = int(c["num_sparse"]) if c["num_sparse"] is not None else max(1, round(float(c["sparse_fraction"])
                                                                                  * num_particles))
        if m > num_particles:
            raise InputError(f"giorom: num_sparse = {m} is outside the allowed range [1, {num_particles}] "
                             f"(the trajectory has {num_particles} particles)")
        return m

    def subset(self, initial_position: torch.Tensor) -> torch.Tensor:
        """Indices (M,) of one trajectory's sparse nodes: FPS of its first frame (N, D) from a seeded start."""
        n = initial_position.shape[0]
        m = self.num_sparse(n)
        pos = initial_position.detach().to("cpu", torch.float32).contiguous()
        key = (n, m, int(self.config["subset_seed"]), hashlib.sha1(pos.numpy().tobytes()).hexdigest())
        cached = self._subsets.get(key)
        if cached is None:
            start = int(np.random.default_rng(int(self.config["subset_seed"])).integers(n))
            cached = torch.sort(farthest_point_sampling(pos, m, start=start)).values
            if len(self._subsets) > 256:
                self._subsets.clear()
            self._subsets[key] = cached
        return cached.to(initial_position.device)

    def batch_subset(self, batch: dict):
        """(indices into the batch's particles (M_total,), sparse batch dict with position/particle_type/
        batch/num_particles) for a collated dense batch."""
        initial = batch.get("initial_position")
        if initial is None:
            initial = batch["position"][0]
        counts = batch.get("num_particles")
        counts = [initial.shape[0]] if counts is None else [int(c) for c in counts]
        index, sizes, offset = [], [], 0
        for n in counts:
            chosen = self.subset(initial[offset:offset + n]) + offset
            index.append(chosen)
            sizes.append(chosen.numel())
            offset += n
        index = torch.cat(index)
        sparse = {"position": batch["position"][:, index], "particle_type": batch["particle_type"][index],
                  "batch": torch.repeat_interleave(torch.arange(len(sizes), device=index.device),
                                                   torch.tensor(sizes, device=index.device)),
                  "num_particles": torch.tensor(sizes)}
        return index, sparse

    # ----- stepper ---------------------------------------------------------------------------------
    def normalised_acceleration(self, window: dict) -> torch.Tensor:
        """Stepper output (M, D) for the last ``input_frames`` sparse positions of ``window``."""
        c = self.config
        pos = window["position"][-self.input_frames:]
        m, dim = pos.shape[1], pos.shape[2]
        radius = float(c["radius"])
        current = pos[-1]
        velocity = (pos[1:] - pos[:-1] - self.vel_mean.to(pos)) / self.vel_std.to(pos)
        boundary = torch.zeros(m, 2 * dim, dtype=pos.dtype, device=pos.device)
        if self.bounds is not None:
            b, clip = self.bounds.to(pos), float(c["boundary_clip"])
            boundary = torch.cat([((current - b[:, 0]) / radius).clamp(-clip, clip),
                                  ((b[:, 1] - current) / radius).clamp(-clip, clip)], -1)
        features = torch.cat([velocity.permute(1, 0, 2).reshape(m, -1), boundary,
                              self.embedding(window["particle_type"])], -1)
        batch = window.get("batch")
        senders, receivers = radius_graph(current, radius, batch=batch, backend=c["graph_backend"])
        diff = (current[senders] - current[receivers]) / radius
        edges = self.edge_encoder(torch.cat([diff, diff.norm(dim=-1, keepdim=True)], -1))
        nodes = self.node_encoder(features)
        edge_sets = [(edges, senders, receivers)]
        for block in self.before:
            nodes, edge_sets = block(nodes, edge_sets)
        nodes = nodes + self.project(self._operator(current, batch, nodes))
        for block in self.after:
            nodes, edge_sets = block(nodes, edge_sets)
        return self.decoder(nodes)

    def _operator(self, current: torch.Tensor, batch, nodes: torch.Tensor) -> torch.Tensor:
        """GNO particles -> grid, transformer on the grid, GNO grid -> particles: (M, latent)."""
        c = self.config
        g, dim = int(c["grid"]), current.shape[1]
        samples = 1 if batch is None else int(batch.max()) + 1
        lower, spacing = cube_grid(current, batch, samples, g, pad=float(c["grid_pad"]) * float(c["radius"]))
        rho = float(c["gno_radius"]) * spacing                                     # (B,)
        point, node, offset = grid_neighbors(current, batch, lower, spacing, g, rho)
        sample = torch.zeros(current.shape[0], dtype=torch.long, device=current.device) if batch is None else batch
        r = rho[sample[point]][:, None]
        geometry = torch.cat([offset / r, offset.norm(dim=-1, keepdim=True) / r], -1)
        total = samples * g ** dim
        count = torch.bincount(node, minlength=total).clamp(min=1).to(nodes)[:, None]
        grid = scatter_sum(self.to_grid(torch.cat([geometry, nodes[point]], -1)),
                           node, total) / count
        unit = grid_nodes(torch.zeros(1, dim, dtype=nodes.dtype, device=nodes.device),
                          torch.full((1,), 1.0 / (g - 1), dtype=nodes.dtype, device=nodes.device), g)
        z = grid.reshape(samples, g ** dim, -1) + self.grid_position(unit)
        for block in self.transformer:
            z = block(z)
        z = z.reshape(total, -1)
        back = self.from_grid(torch.cat([-geometry[:, :dim], geometry[:, dim:], z[node]], -1))
        counts = torch.bincount(point, minlength=current.shape[0]).clamp(min=1).to(nodes)[:, None]
        return scatter_sum(back, point, current.shape[0]) / counts

    def one_step_loss(self, batch: dict, *, generator=None, noise: bool = True):
        """Acceleration loss on a SPARSE window batch (H + 1 frames)."""
        return noisy_acceleration_loss(self, batch, generator=generator, noise=noise)

    def training_step(self, batch: dict, *, generator=None, pushforward: int = 0, noise: bool = True):
        """Stepper loss on the sparse subset + ``recon_weight`` x reconstruction loss on dense points."""
        index, sparse = self.batch_subset(batch)
        if pushforward:
            sparse = self.unroll_inputs(sparse, pushforward)
        loss, logs = self.one_step_loss(sparse, generator=generator, noise=noise)
        weight = float(self.config["recon_weight"])
        if weight > 0 and self.config["reconstruction"] == "learned":
            recon = self.reconstruction_loss(batch, index, generator=generator)
            logs = {**logs, "loss_step": logs["loss"], "loss_recon": float(recon.detach())}
            loss = loss + weight * recon
            logs["loss"] = float(loss.detach())
        return loss, logs

    def reconstruction_loss(self, batch: dict, index: torch.Tensor, generator=None) -> torch.Tensor:
        """MSE of (u_pred - u_true) / recon_radius at random dense points of the last frame of ``batch``,
        reconstructed from the true sparse displacements."""
        initial = batch.get("initial_position", batch["position"][0])
        frame = batch["position"][-1]
        n = initial.shape[0]
        q = min(int(self.config["recon_queries"]) * int(batch.get("num_particles", torch.ones(1)).numel()), n)
        if generator is None:
            queries = torch.linspace(0, n - 1, q).round().long().to(initial.device)
        else:
            queries = torch.randperm(n, generator=generator)[:q].to(initial.device)
        particle_batch = batch.get("batch")
        nb = self._neighbors(initial[queries], initial[index],
                             None if particle_batch is None else particle_batch[queries],
                             None if particle_batch is None else particle_batch[index])
        predicted = self.recon(nb, frame[index] - initial[index])
        true = frame[queries] - initial[queries]
        return (((predicted - true) / nb.radius) ** 2).mean()

    def _neighbors(self, queries, sources, batch_queries=None, batch_sources=None):
        return reconstruction_neighbors(queries, sources, float(self.config["recon_radius"]),
                                        batch_queries=batch_queries, batch_sources=batch_sources,
                                        max_neighbors=self.config["recon_max_neighbors"])

    def predict_next(self, window: dict) -> dict:
        """Next SPARSE frame (M, D) from a sparse window."""
        pos = window["position"]
        acceleration = self.normalised_acceleration(window) * self.acc_std.to(pos) + self.acc_mean.to(pos)
        return {"position": pos[-1] + (pos[-1] - pos[-2]) + acceleration}

    # ----- reconstruction and rollout ------------------------------------------------------------------
    def reconstruct(self, sparse_frames: torch.Tensor, sparse_reference: torch.Tensor, queries: torch.Tensor,
                    method: str | None = None, neighbors=None) -> torch.Tensor:
        """Dense positions (T, Q, D) at reference points ``queries`` (Q, D) from sparse frames (T, M, D)
        whose reference positions are ``sparse_reference`` (M, D). ``method``: "learned" or "idw" (default:
        the config's ``reconstruction``); ``neighbors``: lists from `reconstruction_neighbors` to reuse."""
        method = self.config["reconstruction"] if method is None else method
        if method not in RECONSTRUCTIONS:
            raise InputError(f"giorom: reconstruction = {method!r} is not one of {RECONSTRUCTIONS}")
        nb = self._neighbors(queries, sparse_reference) if neighbors is None else neighbors
        if method == "learned":
            fit = self.recon.prepare(nb)  # weights and fit of the reference geometry: once for all frames
            field = lambda u: self.recon.apply(fit, u)  # noqa: E731
        else:
            field = lambda u: (idw_displacement if method == "idw" else mls_displacement)(nb, u)  # noqa: E731
        out = [queries + field(frame - sparse_reference) for frame in sparse_frames]
        return torch.stack(out) if out else queries[None][:0]

    @torch.no_grad()
    def rollout(self, batch: dict, steps: int, *, margin: float = 0.5, progress=None) -> Rollout:
        """Sparse autoregressive rollout, each frame reconstructed to all particles: position (steps, N, D)."""
        index, sparse = self.batch_subset(batch)
        result = super().rollout(sparse, steps, margin=margin, progress=progress)
        initial = batch.get("initial_position", batch["position"][0])
        particle_batch = batch.get("batch")
        nb = self._neighbors(initial, initial[index], particle_batch,
                             None if particle_batch is None else particle_batch[index])
        dense = self.reconstruct(result.position, initial[index], initial, neighbors=nb)
        available = batch["position"].shape[0]
        fixed = self.kinematic_mask(batch["particle_type"])
        h = self.input_frames
        if bool(fixed.any()):
            for step in range(min(steps, available - h)):
                dense[step] = torch.where(fixed[:, None], batch["position"][h + step], dense[step])
        return Rollout(dense, {}, result.diverged_at, result.reason)


