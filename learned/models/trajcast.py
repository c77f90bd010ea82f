"""TrajCast: autoregressive E(3)-equivariant forecasting of molecular dynamics.

Thiemann, O'Neill, Krauss, Kozinsky et al., "Force-free molecular dynamics through autoregressive
equivariant networks" (TrajCast), arXiv:2503.23794 (2025).  Instead of forces and a numerical integrator,
a message-passing network maps the state (x_t, v_t) straight to the state one forecast interval τ later
(τ = many MD steps):

    Δx = v_t τ + σ_Δx · ŷ_Δx,      v_{t+τ} = v_t + σ_v · ŷ_v,      x_{t+τ} = wrap(x_t + Δx)

where ŷ are the network's two 1o (polar-vector) outputs and σ the RMS of the targets' non-ballistic
parts (Δx − v τ and v_{t+τ} − v_t) over the training set.  Keeping the ballistic term explicit is this
implementation's choice: the network learns only what forces do over τ.  Then a conservation step makes
the total momentum exact, Σ m v_{t+τ} = Σ m v_t and Σ m Δx = τ Σ m v_t (per sample).

Network: species one-hot ⊗ spherical harmonics of the velocity (1, |v|², v, Y²(v), v in units of its RMS)
→ node features; edges within ``cutoff`` (periodic, any cell) give Y^{0..l_max}(r̂) and a Bessel radial
basis with a polynomial cutoff; ``layers`` NequIP-style interactions (tensor products weighted by radial
MLPs, gated nonlinearities); a linear readout to 2x1o.  Training: single-step MSE of the normalised
targets.  Shapes: position, velocity (N, 3) Å and Å/fs; species (N,) atomic numbers; cell (B, 3, 3).
"""
from __future__ import annotations

import math

import numpy as np
import torch
from e3nn import o3
from torch import nn

from learned.base import LearnedSimulator, Rollout
from learned.data.noise import particle_randn
from learned.equivariant import Interaction, RadialEmbedding, periodic_radius_graph
from learned.registry import register
from simengine.errors import DatasetError, InputError
from simengine.md.units import ACCEL_PER_FORCE, BOLTZMANN

VELOCITY_IRREPS = o3.Irreps("2x0e + 1x1o + 1x2e")   # 1, |v|², v, Y²(v)
#: config keys that only affect rollouts: a checkpoint may be loaded with other values
INFERENCE_KEYS = ("thermostat_temperature", "thermostat_tau_fs", "max_heating", "seed")


def hidden_irreps(channels: int, l_max: int) -> o3.Irreps:
    """C×0e + C/2×(1o + 1e) + C/4×(2e + 2o) ..., truncated at l_max."""
    parts = [f"{channels}x0e"]
    for degree in range(1, l_max + 1):
        mul = max(channels // 2 ** degree, 1)
        parts += [f"{mul}x{degree}{'o' if degree % 2 else 'e'}", f"{mul}x{degree}{'e' if degree % 2 else 'o'}"]
    return o3.Irreps("+".join(parts))


def kinetic_temperature(velocity, mass, batch, num_samples: int) -> torch.Tensor:
    """(B,) kinetic temperature (K) with N_f = 3N − 3 per sample (momentum conserved)."""
    energy = torch.zeros(num_samples, dtype=velocity.dtype, device=velocity.device)
    energy.index_add_(0, batch, 0.5 * mass * (velocity ** 2).sum(-1) / ACCEL_PER_FORCE)
    atoms = torch.bincount(batch, minlength=num_samples).to(velocity)
    return 2.0 * energy / ((3.0 * atoms - 3.0).clamp(min=1.0) * BOLTZMANN)


@register("trajcast")
class TrajCast(LearnedSimulator):
    """Config: species (atomic numbers; default the dataset's), forecast_fs (default the dataset's
    forecast interval), cutoff 5 Å, num_basis 8, l_max 2, channels 32, layers 3, radial_hidden 64,
    noise_std 0 (Å, Gaussian noise on input positions in training), thermostat_temperature None
    (K; set to run a CSVR thermostat on rollouts, time constant thermostat_tau_fs), max_heating 3
    (a rollout whose temperature exceeds this factor times its start/target temperature is stopped)."""

    defaults = dict(input_frames=1, species=None, forecast_fs=None, cutoff=5.0, num_basis=8, l_max=2, channels=32,
                    layers=3, radial_hidden=64, noise_std=0.0, thermostat_temperature=None, thermostat_tau_fs=100.0,
                    max_heating=3.0, seed=0)
    required_keys = ("velocity", "species", "mass", "cell", "target_displacement", "target_velocity")
    predicted_keys = ("velocity",)

    def __init__(self, **config):
        super().__init__(**config)
        c = self.config
        if not c["species"] or c["forecast_fs"] is None:
            raise InputError("trajcast: set species (atomic numbers) and forecast_fs, or build it with "
                             "TrajCast.from_dataset / `simengine train trajcast` from an MD dataset")
        if int(c["input_frames"]) != 1:
            raise InputError(f"trajcast: input_frames = {c['input_frames']} is outside the allowed range [1, 1]")
        self.species = [int(z) for z in c["species"]]
        lookup = torch.full((119,), -1, dtype=torch.long)
        lookup[torch.tensor(self.species)] = torch.arange(len(self.species))
        self.register_buffer("species_index", lookup, persistent=False)
        self.irreps_sh = o3.Irreps.spherical_harmonics(int(c["l_max"]))
        hidden = hidden_irreps(int(c["channels"]), int(c["l_max"]))
        self.embed = o3.FullyConnectedTensorProduct(f"{len(self.species)}x0e", VELOCITY_IRREPS,
                                                    o3.Irreps([(m, ir) for m, ir in hidden if ir in VELOCITY_IRREPS]))
        self.radial = RadialEmbedding(float(c["cutoff"]), int(c["num_basis"]))
        layers, irreps = [], self.embed.irreps_out
        for _ in range(int(c["layers"])):
            layers.append(Interaction(irreps, hidden, self.irreps_sh, int(c["num_basis"]), int(c["radial_hidden"])))
            irreps = layers[-1].irreps_out
        self.layers = nn.ModuleList(layers)
        self.readout = o3.Linear(irreps, "2x1o")
        self.set_summary({})

    # ----- dataset ---------------------------------------------------------------------------------
    @classmethod
    def dataset_config(cls, info, config):
        config = dict(config)
        meta = info.metadata
        if config.get("species") is None:
            if "species_numbers" not in meta:
                raise DatasetError(f"{info.path}: metadata has no species_numbers "
                                   "(not an MD dataset from simengine.md?)")
            config["species"] = list(meta["species_numbers"])
        if config.get("forecast_fs") is None:
            if "forecast_interval_fs" not in meta:
                raise DatasetError(f"{info.path}: metadata has no forecast_interval_fs; generate the dataset with "
                                   "forecasting targets (md.ForecastScene / record(..., targets=True))")
            config["forecast_fs"] = float(meta["forecast_interval_fs"])
        return config

    def check_dataset(self, info) -> None:
        super().check_dataset(info)
        if info.dim != 3:
            raise InputError(f"trajcast: dataset {info.path} is {info.dim}D; TrajCast is 3D")
        interval = info.metadata.get("forecast_interval_fs")
        if interval is not None and abs(float(interval) - float(self.config["forecast_fs"])) > 1e-9:
            raise InputError(f"trajcast: dataset {info.path} has forecast interval {interval} fs, the model was "
                             f"trained for {self.config['forecast_fs']} fs")

    def prepare(self, info) -> None:
        """Statistics of the training split: velocity RMS, target RMS, mean neighbour count."""
        from learned.data import load_split

        super().prepare(info)
        trajs = load_split(info.path, "train")
        tau = float(self.config["forecast_fs"])
        v = np.concatenate([t.velocity.reshape(-1, 3) for t in trajs])
        dx = np.concatenate([(t.target_displacement - tau * t.velocity).reshape(-1, 3) for t in trajs])
        dv = np.concatenate([(t.target_velocity - t.velocity).reshape(-1, 3) for t in trajs])
        counts = []
        for t in trajs[:4]:
            senders, _, _ = periodic_radius_graph(torch.as_tensor(t.position[0]),
                                                  torch.as_tensor(t.cell, dtype=torch.float32),
                                                  float(self.config["cutoff"]))
            counts.append(len(senders) / t.num_particles)
        md_step = info.metadata.get("timestep_fs")
        self.set_summary({**self.summary, "velocity_rms": float(np.sqrt((v ** 2).mean())),
                          "displacement_rms": float(np.sqrt((dx ** 2).mean())),
                          "velocity_change_rms": float(np.sqrt((dv ** 2).mean())),
                          "mean_neighbors": float(np.mean(counts)), "md_timestep_fs": md_step})

    def set_extra_state(self, state):
        # Rollout-only settings (thermostat, heat-up limit, seed) may differ from the checkpoint's.
        saved = dict(state.get("config") or {})
        saved.update({k: self.config[k] for k in INFERENCE_KEYS})
        super().set_extra_state({**state, "config": saved})

    def set_summary(self, summary: dict) -> None:
        super().set_summary(summary)
        self.velocity_rms = float(summary.get("velocity_rms", 1.0))
        self.displacement_rms = float(summary.get("displacement_rms", 1.0))
        self.velocity_change_rms = float(summary.get("velocity_change_rms", 1.0))
        self.inv_sqrt_neighbors = 1.0 / math.sqrt(max(float(summary.get("mean_neighbors", 1.0)), 1.0))

    @property
    def forecast_fs(self) -> float:
        return float(self.config["forecast_fs"])

    # ----- network ---------------------------------------------------------------------------------
    def forward(self, position, velocity, species, mass, cell, batch=None):
        """(Δx (N, 3) Å, v_{t+τ} (N, 3) Å/fs) from positions, velocities, atomic numbers, masses, cells."""
        n = position.shape[0]
        batch = torch.zeros(n, dtype=torch.long, device=position.device) if batch is None else batch
        index = self.species_index.to(species.device)[species.long()]
        if bool((index < 0).any()):
            unknown = sorted(set(species[index < 0].tolist()))
            raise InputError(f"trajcast: species {unknown} (atomic numbers) are not among the model's {self.species}")
        senders, receivers, shifts = periodic_radius_graph(position.detach(), cell, float(self.config["cutoff"]), batch)
        edge = position[senders] - position[receivers] + shifts
        length = edge.norm(dim=-1)
        edge_sh = o3.spherical_harmonics(self.irreps_sh, edge, normalize=True, normalization="component")
        edge_radial = self.radial(length)
        v = velocity / self.velocity_rms
        v_features = torch.cat([torch.ones_like(v[:, :1]), (v ** 2).sum(-1, keepdim=True), v,
                                o3.spherical_harmonics(2, v, normalize=False, normalization="component")], -1)
        onehot = nn.functional.one_hot(index, len(self.species)).to(position)
        h = self.embed(onehot, v_features)
        for layer in self.layers:
            h = layer(h, edge_sh, edge_radial, senders, receivers, self.inv_sqrt_neighbors)
        out = self.readout(h)
        tau = self.forecast_fs
        displacement = velocity * tau + self.displacement_rms * out[:, :3]
        new_velocity = velocity + self.velocity_change_rms * out[:, 3:]
        return self.conserve_momentum(displacement, new_velocity, velocity, mass, batch)

    def conserve_momentum(self, displacement, new_velocity, velocity, mass, batch):
        """Shift Δx and v' by mass-weighted per-sample means so that Σ m v' = Σ m v and Σ m Δx = τ Σ m v."""
        samples = int(batch.max()) + 1 if batch.numel() else 1
        m = mass[:, None].to(velocity)
        total = torch.zeros(samples, 1, dtype=velocity.dtype, device=velocity.device).index_add_(0, batch, m)

        def excess(vectors):
            summed = torch.zeros(samples, 3, dtype=velocity.dtype, device=velocity.device)
            return (summed.index_add_(0, batch, m * vectors) / total)[batch]

        tau = self.forecast_fs
        return (displacement - excess(displacement - tau * velocity), new_velocity - excess(new_velocity - velocity))

    # ----- training and inference --------------------------------------------------------------------
    def _inputs(self, batch: dict, frame: int):
        return (batch["position"][frame], batch["velocity"][frame], batch["species"], batch["mass"],
                batch["cell"], batch.get("batch"))

    def training_step(self, batch: dict, *, generator=None, pushforward: int = 0, noise: bool = True):
        """Single-step loss; with ``pushforward`` k the input is the model's own k-step forecast from frame
        0 (no gradient; Brandstetter et al., ICLR 2022) and the target is the true state at frame k + 1."""
        position, velocity = batch["position"][0], batch["velocity"][0]
        if pushforward:
            with torch.no_grad():
                for k in range(pushforward):
                    window = {**batch, "position": position[None], "velocity": velocity[None]}
                    nxt = self.predict_next(window)
                    position, velocity = nxt["position"], nxt["velocity"]
        return self.one_step_loss(batch, generator=generator, noise=noise, frame=pushforward,
                                  state=(position, velocity))

    def one_step_loss(self, batch: dict, *, generator=None, noise: bool = True, frame: int = 0, state=None):
        """Normalised MSE of (Δx, v') from ``state`` (default: the true frame ``frame``) to frame + 1."""
        _, _, species, mass, cell, sample = self._inputs(batch, frame)
        position, velocity = state if state is not None else (batch["position"][frame], batch["velocity"][frame])
        # true next state relative to the input: target Δx plus the input's offset from the true frame
        offset = minimum_image(batch["position"][frame] - position, cell, sample)
        target_dx, target_v = batch["target_displacement"][frame] + offset, batch["target_velocity"][frame]
        std = float(self.config["noise_std"]) if noise else 0.0
        if std > 0:   # noisy inputs, targets that still land on the true next state
            eps = std * particle_randn(position.shape, axis=0, generator=generator, device=position.device,
                                       dtype=position.dtype)
            position, target_dx = position + eps, target_dx - eps
        dx, v = self(position, velocity, species, mass, cell, sample)
        loss = ((((dx - target_dx) / self.displacement_rms) ** 2).mean()
                + (((v - target_v) / self.velocity_change_rms) ** 2).mean())
        return loss, {"loss": float(loss.detach()), "weight": dx.numel()}

    def predict_next(self, window: dict) -> dict:
        position, velocity, species, mass, cell, batch = self._inputs(window, -1)
        dx, v = self(position, velocity, species, mass, cell, batch)
        return {"position": wrap(position + dx, cell, batch), "velocity": v}

    @torch.no_grad()
    def rollout(self, batch: dict, steps: int, *, margin: float = 0.5, progress=None) -> Rollout:
        """Autoregressive forecast of ``steps`` intervals from frame 0 (graph rebuilt every step), with an
        optional CSVR thermostat; stops when the state is non-finite or heats up beyond ``max_heating``."""
        window = self._frames(batch, 0, 1)
        sample = window.get("batch")
        sample = torch.zeros(window["position"].shape[1], dtype=torch.long) if sample is None else sample
        samples = int(sample.max()) + 1
        mass = window["mass"]
        target = self.config["thermostat_temperature"]
        start = kinetic_temperature(window["velocity"][0], mass, sample, samples)
        reference = torch.full_like(start, float(target)) if target is not None else start
        rng = np.random.default_rng(int(self.config["seed"]))
        positions, velocities, diverged_at, reason = [], [], None, None
        for step in range(steps):
            nxt = self.predict_next(window)
            if target is not None:
                nxt["velocity"] = csvr_rescale(nxt["velocity"], mass, sample, samples, float(target),
                                               self.forecast_fs, float(self.config["thermostat_tau_fs"]), rng)
            temperature = kinetic_temperature(nxt["velocity"], mass, sample, samples)
            finite = bool(torch.isfinite(nxt["position"]).all() and torch.isfinite(nxt["velocity"]).all())
            hot = temperature > float(self.config["max_heating"]) * reference.clamp(min=1.0)
            if not finite or bool(hot.any()):
                diverged_at = step + 1
                b = int(torch.nonzero(hot)[0, 0]) if finite else 0
                reason = ("non-finite position or velocity" if not finite else
                          f"temperature rose from {float(reference[b]):.1f} K to {float(temperature[b]):.1f} K "
                          f"(> {self.config['max_heating']}x) at step {step + 1}")
                break
            positions.append(nxt["position"])
            velocities.append(nxt["velocity"])
            window = {**window, "position": nxt["position"][None], "velocity": nxt["velocity"][None]}
            if progress is not None:
                progress.update(1)
        pad = steps - len(positions)
        positions += [positions[-1] if positions else window["position"][0]] * pad
        velocities += [velocities[-1] if velocities else window["velocity"][0]] * pad
        return Rollout(torch.stack(positions), {"velocity": torch.stack(velocities)}, diverged_at, reason)


def minimum_image(d, cell, batch=None):
    """Displacements (N, 3) reduced to the nearest periodic image of their sample's cell."""
    cell = cell.reshape(-1, 3, 3).to(d)
    c = cell[batch] if batch is not None else cell[0].expand(d.shape[0], 3, 3)
    frac = torch.linalg.solve(c.transpose(1, 2), d[..., None])[..., 0]
    return torch.einsum("ni,nij->nj", frac - torch.round(frac), c)


def wrap(position, cell, batch=None):
    """Positions (N, 3) mapped into their sample's cell (B, 3, 3) (rows = lattice vectors)."""
    cell = cell.reshape(-1, 3, 3).to(position)
    c = cell[batch] if batch is not None else cell[0].expand(position.shape[0], 3, 3)
    frac = torch.linalg.solve(c.transpose(1, 2), position[..., None])[..., 0]
    return torch.einsum("ni,nij->nj", frac - torch.floor(frac), c)


def csvr_rescale(velocity, mass, batch, samples, temperature, dt_fs, tau_fs, rng: np.random.Generator):
    """Bussi–Donadio–Parrinello velocity rescaling of each sample over one interval (`md.thermostats`)."""
    from simengine.md.thermostats import csvr_factor

    kinetic = torch.zeros(samples, dtype=torch.float64).index_add_(
        0, batch, (0.5 * mass * (velocity ** 2).sum(-1) / ACCEL_PER_FORCE).double())
    atoms = torch.bincount(batch, minlength=samples)
    alpha = torch.tensor([csvr_factor(float(k), int(3 * n - 3), temperature, dt_fs, tau_fs, rng)
                          for k, n in zip(kinetic, atoms)], dtype=velocity.dtype)
    return velocity * alpha[batch][:, None]


def trajcast_rollout(model: TrajCast, position, velocity, species, mass, cell, steps: int):
    """Roll ``model`` out from one state given as arrays (no dataset); returns (positions, velocities)
    of shape (steps, N, 3) as NumPy arrays."""
    def t(a, dtype=torch.float32):
        return torch.as_tensor(np.asarray(a), dtype=dtype)

    batch = {"position": t(position)[None], "velocity": t(velocity)[None], "species": t(species, torch.long),
             "mass": t(mass), "cell": t(cell)[None], "particle_type": torch.full((len(position),), 11)}
    result = model.rollout(batch, steps)
    return result.position.numpy(), result.extras["velocity"].numpy()
