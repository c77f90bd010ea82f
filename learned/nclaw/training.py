"""Training from motion: a whole simulated trajectory against an observed one, with teacher forcing.

NCLaw (Ma et al., ICML 2023, sec. 4) trains by differentiating the position error of an entire
simulated motion. Observed frames k = 0..T-1 were recorded every ``record_every`` solver steps. From
the state at frame 0 the simulator runs ``record_every`` steps per frame; the loss is the mean over
frames of the mean squared position error, in units of the cell size (dx^2):

    L = 1 / (T - 1) sum_k mean_p |x_p(k) - x*_p(k)|^2 / dx^2

Teacher forcing: every λ frames the observable part of the state is reset to the observation,
x <- x*(k), v <- v*(k) (recorded velocities, or the second-order backward difference
(3 x*_k - 4 x*_(k-1) + x*_(k-2)) / (2 Δt_frame) when only positions are observed); the hidden part
(F, C, plastic) keeps the simulation's own values and gradients. λ grows over training along a
cosine from ``start`` to ``end`` frames (NCLaw: 25 -> 200 steps), so early training sees short,
well-conditioned horizons and late training the long-horizon behaviour.
"""
from __future__ import annotations

import math

import torch

from simengine.errors import InputError


def teacher_interval(iteration: int, start: int, end: int, ramp: int) -> int:
    """λ (frames) at training ``iteration``: cosine from ``start`` to ``end`` over ``ramp`` iterations."""
    if start < 1 or end < start:
        raise InputError(f"teacher forcing interval: start = {start}, end = {end}; need 1 <= start <= end")
    progress = min(1.0, iteration / max(int(ramp), 1))
    return int(round(end + (start - end) * 0.5 * (1.0 + math.cos(math.pi * progress))))


def observed_velocity(position: torch.Tensor, velocity, frame: int, frame_dt: float) -> torch.Tensor:
    """v*(frame): the recorded velocity, else a backward difference of positions (1st order at frame 1)."""
    if velocity is not None:
        return velocity[frame]
    if frame <= 1:  # frame 0 has no past: the forward difference is the only estimate
        return (position[1] - position[0]) / frame_dt
    return (3 * position[frame] - 4 * position[frame - 1] + position[frame - 2]) / (2 * frame_dt)


def motion_loss(step, state: tuple, position: torch.Tensor, record_every: int, dx: float, *,
                velocity: torch.Tensor | None = None, teacher_every: int = 0, frame_dt: float | None = None,
                start_step: int = 0):
    """Simulate along observed frames and return (loss, per-frame MSE list, final state).

    Args:
        step: ``step(state, k) -> state`` one solver step (e.g. `NeuralMPM.step`).
        state: ``(x, v, C, F, plastic)`` at frame 0. position: (T, N, d) observed x*.
        velocity: (T, N, d) observed v*, optional. teacher_every: λ in frames (0: never reset).
        frame_dt: time between frames (needed for the velocity estimate without ``velocity``).
    """
    frames = position.shape[0]
    if frames < 2:
        raise InputError(f"motion_loss needs at least 2 observed frames, got {frames}")
    if teacher_every and velocity is None and frame_dt is None:
        raise InputError("teacher forcing without observed velocities needs frame_dt for the velocity estimate")
    total, per_frame = 0.0, []
    for frame in range(1, frames):
        if teacher_every and frame > 1 and (frame - 1) % teacher_every == 0:
            x_obs = position[frame - 1]
            state = (x_obs, observed_velocity(position, velocity, frame - 1, frame_dt), *state[2:])
        for sub in range(record_every):
            state = step(state, start_step + (frame - 1) * record_every + sub)
        err = (state[0] - position[frame]).square().sum(-1).mean() / dx**2
        total = total + err
        per_frame.append(float(err.detach()))
    return total / (frames - 1), per_frame, state
