"""Training noise that teaches a one-step model to correct its own rollout errors.

* Random-walk noise (GNS, Sanchez-Gonzalez et al., ICML 2020, sec. 3): the noise on the W-1 input
  velocities is a random walk of W-1 steps of std std/sqrt(W-1), so the most recent velocity's noise
  has standard deviation ``std``; positions get its cumulative sum (the first frame stays exact).
* Gaussian noise (MeshGraphNets, Pfaff et al., ICLR 2021, sec. 3): i.i.d. N(0, std²) on the most
  recent positions only.

Kinematic particles (walls, boundary nodes: ``fixed`` mask) get no noise.

Data-parallel training (`learned.train.distributed`): inside ``particle_shard(total, start)`` the noise is
drawn for all ``total`` particles of the global batch and this process keeps its ``start .. start + N - 1``
slice (`particle_randn`), so each particle gets the noise it gets when one process trains on the whole
batch, and every process's generator advances alike.
"""
from __future__ import annotations

import contextlib
import contextvars
import math

import torch

_SHARD: contextvars.ContextVar = contextvars.ContextVar("particle_shard", default=None)


@contextlib.contextmanager
def particle_shard(total: int, start: int):
    """Within this context, `particle_randn` draws for ``total`` particles and returns the slice from
    ``start`` (this process's particles within the global batch)."""
    token = _SHARD.set((int(total), int(start)))
    try:
        yield
    finally:
        _SHARD.reset(token)


def particle_randn(shape, *, axis: int, generator=None, dtype=None, device=None) -> torch.Tensor:
    """``torch.randn(shape)`` whose axis ``axis`` runs over the batch's particles (see `particle_shard`)."""
    shard = _SHARD.get()
    if shard is None:
        return torch.randn(shape, generator=generator, dtype=dtype, device=device)
    total, start = shard
    shape = list(shape)
    count = shape[axis]
    if start + count > total:
        raise ValueError(f"particle_shard({total}, {start}): {count} particles from {start} exceed the batch")
    shape[axis] = total
    return torch.randn(shape, generator=generator, dtype=dtype, device=device).narrow(axis, start, count)


def random_walk_noise(position: torch.Tensor, std: float, fixed: torch.Tensor | None = None,
                      generator: torch.Generator | None = None) -> torch.Tensor:
    """Random-walk position noise for a window of input positions.

    Args:
        position: (W, N, D) input positions (only the shape, dtype and device are used).
        std: standard deviation of the noise on the most recent velocity, in position units.
        fixed: (N,) bool, particles that get no noise.

    Returns:
        (W, N, D) noise; frame 0 is zero, frame t the sum of the first t velocity noises.
    """
    frames = position.shape[0]
    if frames < 2 or std <= 0:
        return torch.zeros_like(position)
    steps = particle_randn(position[1:].shape, axis=1, generator=generator, dtype=position.dtype,
                           device=position.device) * (std / math.sqrt(frames - 1))
    velocity_noise = torch.cumsum(steps, 0)  # the random walk: last velocity has std `std`
    noise = torch.cat([torch.zeros_like(position[:1]), torch.cumsum(velocity_noise, 0)], 0)
    if fixed is not None:
        noise = noise * (~fixed).to(noise.dtype)[None, :, None]
    return noise


def gaussian_noise(position: torch.Tensor, std: float, fixed: torch.Tensor | None = None,
                   generator: torch.Generator | None = None, last: int = 1) -> torch.Tensor:
    """I.i.d. Gaussian noise on the ``last`` frames of ``position`` (W, N, D); zero elsewhere."""
    noise = torch.zeros_like(position)
    if std <= 0:
        return noise
    noise[-last:] = particle_randn(position[-last:].shape, axis=1, generator=generator, dtype=position.dtype,
                                   device=position.device) * std
    if fixed is not None:
        noise = noise * (~fixed).to(noise.dtype)[None, :, None]
    return noise


NOISE = {"random_walk": random_walk_noise, "gaussian": gaussian_noise}


def noisy_acceleration_loss(model, batch: dict, *, generator=None, noise: bool = True, diff=None):
    """GNS's one-step training loss (Sanchez-Gonzalez et al. 2020, sec. 3), for any model that predicts a
    normalised acceleration: noise (``model.config["noise"]``, ``["noise_std"]``) on the ``input_frames`` inputs
    of ``batch["position"]`` (kinematic particles exact), a target consistent with the noisy inputs (the velocity
    noise corrected, the last frame's position noise kept), and the MSE of ``model.normalised_acceleration`` on
    the noisy window against ``(a - acc_mean) / acc_std`` over the non-kinematic particles.

    ``diff(a, b)``: displacement a - b (e.g. minimum image in a periodic box); plain subtraction by default.
    Returns (loss, logs) as `LearnedSimulator.training_step` does.
    """
    from simengine.errors import InputError

    diff = diff or torch.sub
    h = model.input_frames
    pos = batch["position"]
    inputs, target = pos[:h], pos[h]
    fixed = model.kinematic_mask(batch["particle_type"])
    std = float(model.config["noise_std"]) if noise else 0.0
    position_noise = NOISE[model.config["noise"]](inputs, std, fixed, generator=generator)
    noisy = inputs + position_noise
    target = target + position_noise[-1]
    acceleration = diff(target, noisy[-1]) - diff(noisy[-1], noisy[-2])
    expected = (acceleration - model.acc_mean.to(pos)) / model.acc_std.to(pos)
    predicted = model.normalised_acceleration({**batch, "position": noisy})
    free = ~fixed
    if not bool(free.any()):
        raise InputError(f"{model.name}: the batch has no non-kinematic particle to learn from")
    error = (predicted - expected)[free]
    loss = (error ** 2).mean()
    return loss, {"loss": float(loss.detach()), "weight": error.numel()}
