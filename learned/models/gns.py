"""Graph Network-based Simulator (GNS).

Sanchez-Gonzalez, Godwin, Pfaff, Ying, Leskovec, Battaglia, "Learning to Simulate Complex Physics
with Graph Networks", ICML 2020.

From the last H positions x_{t-H+1..t} (H = ``input_frames``, default 6) of N particles in D
dimensions the network predicts the normalised acceleration of every particle; a semi-implicit
Euler step in frame units (Δt = 1 between recorded frames) then gives

    v_{t+1} = (x_t - x_{t-1}) + a_t,        x_{t+1} = x_t + v_{t+1}.

Node features (N, F): the H-1 normalised velocities, the distances to the box faces divided by
the connectivity radius R and clipped to [-c, c] (2D values; c = ``boundary_clip``, 1 in the
paper), a learned embedding of the particle type, and optional per-particle material parameters
(standardised with running statistics). Edge features (E, D+1) for every pair within R: the
displacement (x_j - x_i)/R and its norm; both are translation invariant. Encoder, 10
unshared interaction-network blocks at latent 128, and decoder are 2-hidden-layer MLPs with
LayerNorm (none on the decoder). Training: MSE between predicted and true normalised
accelerations of the non-kinematic particles, with random-walk noise on the inputs; the
statistics' standard deviations include the noise, sqrt(σ² + σ_noise²), as in the paper's code.
"""
from __future__ import annotations

import torch
from torch import nn

from learned.base import LearnedSimulator
from learned.data.noise import NOISE, noisy_acceleration_loss
from learned.graphs import minimum_image, radius_graph
from learned.nn import EncodeProcessDecode, OnlineNormalizer
from learned.nn.normalizer import motion_statistics
from learned.registry import register
from simengine.errors import InputError


@register("gns")
class GNS(LearnedSimulator):
    """GNS with the paper's reference configuration as defaults.

    Config: dim (from the dataset), input_frames 6, latent 128, message_passing_steps 10,
    mlp_layers 2, radius (default: the dataset's ``default_connectivity_radius``), max_neighbors
    (None = all within R), num_particle_types 16, type_embedding 16, material_features 0 (> 0 reads
    ``material_params`` (N, P)), metadata_features () (metadata paths that make ``material_params``
    instead, e.g. ``("materials.{material_id}.friction_angle",)``; sets material_features to their
    number), boundary_clip 1 (wall distances seen up to this many radii; raise it
    when the solver's walls lie inside the metadata ``bounds``), noise "random_walk" with noise_std
    3e-4, graph_backend "warp", acceleration_features False (True adds the H-2 past accelerations, normalised
    like the target, to the node features: the same information as the velocities, on the scale of the output,
    which a briefly trained model picks up much sooner; not in the paper), mirror_axes () (axes along which the
    physics is mirror symmetric in the box: a prediction is the mean of the network's and of its mirror image's
    over every combination of these reflections, so a rollout cannot drift sideways from a left/right bias the
    weights picked up; training is unchanged, pair it with ``train.reflect_axes``).
    """

    defaults = dict(dim=None, input_frames=6, latent=128, message_passing_steps=10, mlp_layers=2,
                    radius=None, max_neighbors=None, num_particle_types=16, type_embedding=16,
                    material_features=0, metadata_features=(), boundary_clip=1.0, noise="random_walk",
                    noise_std=3e-4, graph_backend="warp", acceleration_features=False,
                    mirror_axes=())

    def __init__(self, **config):
        super().__init__(**config)
        c = self.config
        if c["dim"] not in (2, 3):
            raise InputError(f"gns: dim = {c['dim']!r} is not 2 or 3")
        if c["noise"] not in NOISE:
            raise InputError(f"gns: noise = {c['noise']!r} is not one of {sorted(NOISE)}")
        if int(c["input_frames"]) < 2:
            raise InputError(f"gns: input_frames = {c['input_frames']} is outside the allowed range [2, inf)")
        if c["mirror_axes"]:
            c["mirror_axes"] = [int(a) for a in c["mirror_axes"]]
        if any(not 0 <= a < int(c["dim"]) for a in c["mirror_axes"]):
            raise InputError(f"gns: mirror_axes = {c['mirror_axes']} holds an axis outside [0, {int(c['dim']) - 1}]")
        if c["metadata_features"]:
            c["metadata_features"] = list(c["metadata_features"])
            c["material_features"] = len(c["metadata_features"])
        if c["material_features"]:
            self.required_keys = ("material_params",)
            # material parameters come in their own units (degrees, Pa): standardised, running stats
            self.material_norm = OnlineNormalizer(int(c["material_features"]))
        dim = int(c["dim"])
        self.embedding = nn.Embedding(int(c["num_particle_types"]), int(c["type_embedding"]))
        node_in = (self.input_frames - 1) * dim + 2 * dim + int(c["type_embedding"]) + int(c["material_features"])
        if c["acceleration_features"]:
            node_in += (self.input_frames - 2) * dim
        self.network = EncodeProcessDecode(node_in, [dim + 1], dim, latent=int(c["latent"]),
                                           steps=int(c["message_passing_steps"]),
                                           hidden_layers=int(c["mlp_layers"]))
        self.set_summary({})

    @classmethod
    def dataset_config(cls, info, config):
        config = super().dataset_config(info, config)
        if config.get("radius") is None:
            if info.radius is None:
                raise InputError(f"gns: set model radius; dataset {info.path} has no default_connectivity_radius")
            config["radius"] = info.radius
        return config

    def set_summary(self, summary: dict) -> None:
        super().set_summary(summary)
        dim = int(self.config["dim"])
        for key, value in motion_statistics(summary, dim, float(self.config["noise_std"])).items():
            setattr(self, key, value)
        bounds = summary.get("bounds")
        self.bounds = None if bounds is None else torch.tensor(bounds, dtype=torch.float32)
        self.periodic = torch.tensor(summary.get("periodic", [False] * dim), dtype=torch.bool)

    # ----- geometry --------------------------------------------------------------------------------
    def _box(self):
        if self.bounds is None or not bool(self.periodic.any()):
            return None, None
        return self.bounds[:, 1] - self.bounds[:, 0], self.periodic

    def _diff(self, a, b):
        length, periodic = self._box()
        return minimum_image(a - b, length, periodic)

    def _wrap(self, x):
        length, periodic = self._box()
        if length is None:
            return x
        lower = self.bounds[:, 0].to(x)
        wrapped = lower + torch.remainder(x - lower, length.to(x))
        return torch.where(periodic.to(x.device), wrapped, x)

    # ----- network ---------------------------------------------------------------------------------
    def normalised_acceleration(self, window: dict) -> torch.Tensor:
        """Network output (N, D) for the last ``input_frames`` positions of ``window``."""
        c = self.config
        pos = window["position"][-self.input_frames:]
        n, dim = pos.shape[1], pos.shape[2]
        radius = float(c["radius"])
        current = pos[-1]
        velocity = self._diff(pos[1:], pos[:-1])
        velocity = (velocity - self.vel_mean.to(pos)) / self.vel_std.to(pos)
        features = [velocity.permute(1, 0, 2).reshape(n, -1)]
        if c["acceleration_features"]:  # the H-2 past accelerations, on the target's scale
            past = self._diff(pos[2:], pos[1:-1]) - self._diff(pos[1:-1], pos[:-2])
            past = (past - self.acc_mean.to(pos)) / self.acc_std.to(pos)
            features.append(past.permute(1, 0, 2).reshape(n, -1))
        boundary = torch.zeros(n, 2 * dim, dtype=pos.dtype, device=pos.device)
        if self.bounds is not None:
            b = self.bounds.to(pos)
            open_axes = (~self.periodic.to(pos.device)).to(pos.dtype)
            clip = float(c["boundary_clip"])
            lower = ((current - b[:, 0]) / radius).clamp(-clip, clip) * open_axes
            upper = ((b[:, 1] - current) / radius).clamp(-clip, clip) * open_axes
            boundary = torch.cat([lower, upper], -1)
        features += [boundary, self.embedding(window["particle_type"])]
        if c["material_features"]:
            features.append(self.material_norm(window["material_params"].reshape(n, -1).to(pos)))
        length, periodic = self._box()
        lower = None if length is None else self.bounds[:, 0]
        senders, receivers = radius_graph(current, radius, batch=window.get("batch"),
                                          max_neighbors=c["max_neighbors"], lower=lower, length=length,
                                          periodic=periodic, backend=c["graph_backend"])
        displacement = self._diff(current[senders], current[receivers]) / radius
        edges = torch.cat([displacement, displacement.norm(dim=-1, keepdim=True)], -1)
        return self.network(torch.cat(features, -1), [(edges, senders, receivers)])

    def one_step_loss(self, batch: dict, *, generator=None, noise: bool = True):
        return noisy_acceleration_loss(self, batch, generator=generator, noise=noise, diff=self._diff)

    def predict_next(self, window: dict) -> dict:
        pos = window["position"]
        acceleration = self._mirror_averaged_acceleration(window)
        velocity = self._diff(pos[-1], pos[-2]) + acceleration
        return {"position": self._wrap(pos[-1] + velocity)}

    def _mirror_averaged_acceleration(self, window: dict) -> torch.Tensor:
        """Acceleration (N, D) in position units, averaged over the reflections along ``mirror_axes``."""
        import itertools

        pos = window["position"]
        axes = self.config["mirror_axes"]
        if axes and self.bounds is None:
            raise InputError("gns: mirror_axes needs the dataset's bounds (metadata 'bounds')")
        total = 0.0
        subsets = list(itertools.chain.from_iterable(itertools.combinations(axes, k) for k in range(len(axes) + 1)))
        for subset in subsets:
            mirrored = pos.clone()
            for axis in subset:
                lower, upper = (float(v) for v in self.bounds[axis])
                mirrored[..., axis] = (lower + upper) - mirrored[..., axis]
            out = self.normalised_acceleration({**window, "position": mirrored})
            acceleration = out * self.acc_std.to(pos) + self.acc_mean.to(pos)
            for axis in subset:
                acceleration[..., axis] = -acceleration[..., axis]
            total = total + acceleration
        return total / len(subsets)
