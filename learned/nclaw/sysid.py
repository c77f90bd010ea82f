"""System identification: scalar material parameters fitted to observed motion through the MPM.

The same gradients that train NCLaw's networks reach the hand-written materials' parameters: the
MPM engineer's differentiable step (`simengine.mpm.differentiable.mpm_step`) takes per-particle
``E, nu (N,)`` and ``params (N, 4)`` tensors, so Young's modulus, Poisson's ratio, a friction
angle or a yield stress can be fitted by minimising `learned.nclaw.training.motion_loss`.

Each parameter is optimised (L-BFGS or Adam) in an unconstrained variable u mapped into its range:

    youngs_modulus  E   = exp(u)                       (0, inf)     [Pa]
    poisson_ratio   nu  = -1 + 1.5 sigmoid(u)          (-1, 0.5)
    friction_angle  phi = 90 sigmoid(u)                (0, 90)      [deg], params[:, 0] (sand)
    yield_stress    s_y = exp(u)                       (0, inf)     [Pa],  params[:, 0] (plasticine)

    result = identify(solver, x0, v0, observed, record_every=4, initial={"youngs_modulus": 1e3})
    result.best_values["youngs_modulus"]     # the lowest-loss evaluation's values
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from learned.nclaw.coupling import initial_state
from learned.nclaw.training import motion_loss
from simengine.errors import InputError, SimulationError, check_range
from simengine.mpm.differentiable import mpm_step


@dataclass(frozen=True)
class ParameterSpec:
    target: str            # "E", "nu" or "params" (the solver's per-particle array)
    column: int | None     # column of params (N, 4)
    low: float
    high: float | None
    to_value: object       # u -> value (torch)
    to_raw: object         # value -> u (float)


def _logit(p: float) -> float:
    return math.log(p / (1.0 - p))


PARAMETERS = {
    "youngs_modulus": ParameterSpec("E", None, 0.0, None, torch.exp, math.log),
    "poisson_ratio": ParameterSpec("nu", None, -1.0, 0.5, lambda u: -1.0 + 1.5 * torch.sigmoid(u),
                                   lambda v: _logit((v + 1.0) / 1.5)),
    "friction_angle": ParameterSpec("params", 0, 0.0, 90.0, lambda u: 90.0 * torch.sigmoid(u),
                                    lambda v: _logit(v / 90.0)),
    "yield_stress": ParameterSpec("params", 0, 0.0, None, torch.exp, math.log),
}


class MaterialParameters(nn.Module):
    """Learnable scalars replacing the solver's per-particle values where ``mask`` (N,) is True."""

    def __init__(self, solver, initial: dict, mask=None, dtype=torch.float64):
        super().__init__()
        unknown = sorted(set(initial) - set(PARAMETERS))
        if unknown or not initial:
            raise InputError(f"parameters {unknown or '{}'} are not identifiable; choose from {sorted(PARAMETERS)}")
        targets = [PARAMETERS[k].target + str(PARAMETERS[k].column) for k in initial]
        if len(set(targets)) != len(targets):
            raise InputError(f"parameters {sorted(initial)} set the same solver array twice")
        self.raw = nn.ParameterDict()
        for name, value in initial.items():
            spec = PARAMETERS[name]
            check_range(f"initial {name}", float(value), spec.low, spec.high, low_open=True, high_open=True)
            self.raw[name] = nn.Parameter(torch.tensor(spec.to_raw(float(value)), dtype=dtype))
        p = solver.particles
        self.base = {"E": torch.as_tensor(p.E.numpy(), dtype=dtype), "nu": torch.as_tensor(p.nu.numpy(), dtype=dtype),
                     "params": torch.as_tensor(np.asarray(p.params.numpy()).reshape(-1, 4), dtype=dtype)}
        mask = np.ones(solver.n, bool) if mask is None else np.asarray(mask, bool)
        if mask.shape != (solver.n,):
            raise InputError(f"mask has shape {mask.shape}; expected ({solver.n},)")
        self.mask = torch.as_tensor(mask)

    def values(self) -> dict:
        return {name: PARAMETERS[name].to_value(u) for name, u in self.raw.items()}

    def tensors(self) -> dict:
        """``{"E": (N,), "nu": (N,), "params": (N, 4)}`` for the arrays that hold a learned value."""
        out = {}
        for name, value in self.values().items():
            spec = PARAMETERS[name]
            array = out.get(spec.target, self.base[spec.target])
            if spec.column is None:
                array = torch.where(self.mask, value, array)
            else:
                column = torch.where(self.mask, value, array[:, spec.column])
                array = torch.cat([array[:, :spec.column], column[:, None], array[:, spec.column + 1:]], 1)
            out[spec.target] = array
        return out


@dataclass
class Identification:
    """Result of `identify`: final and best values, and the loss and values of every evaluation."""

    values: dict
    best_values: dict
    best_loss: float
    history: list = field(default_factory=list)


def _adam(params, closure, iterations, lr):
    optimizer = torch.optim.Adam(params.parameters(), lr=lr)
    for _ in range(iterations):
        optimizer.zero_grad()
        closure()
        optimizer.step()


def _lbfgs(params, closure, iterations, lr):
    optimizer = torch.optim.LBFGS(params.parameters(), lr=lr, max_iter=iterations, max_eval=iterations,
                                  tolerance_grad=1e-12, tolerance_change=1e-12, line_search_fn="strong_wolfe")

    def evaluate():
        optimizer.zero_grad()
        return closure()

    optimizer.step(evaluate)


# A few scalars and a smooth loss: L-BFGS with a Wolfe line search converges in ~10 evaluations
# (E from 2x off to 2e-5 relative in 12 here) where Adam oscillates around the optimum.
OPTIMIZERS = {"lbfgs": (_lbfgs, 1.0), "adam": (_adam, 0.05)}


def identify(solver, x0, v0, position, record_every: int, initial: dict, *, velocity=None, mask=None,
             iterations: int = 20, optimizer: str = "lbfgs", lr: float | None = None, teacher_every: int = 0,
             frame_dt=None, progress: bool = True) -> Identification:
    """Fit ``initial``'s parameters (name -> first guess) so the MPM reproduces ``position`` (T, N, d).

    ``x0, v0`` (N, d): the state at frame 0 (at rest shape, F = I); frames were recorded every
    ``record_every`` solver steps. ``iterations``: loss-and-gradient evaluations (each one a full
    simulation and its backward pass); ``optimizer`` "lbfgs" (default) or "adam".
    """
    from tqdm.auto import tqdm

    if optimizer not in OPTIMIZERS:
        raise InputError(f"optimizer = {optimizer!r} is not one of {sorted(OPTIMIZERS)}")
    check_range("iterations", int(iterations), 1)
    run, default_lr = OPTIMIZERS[optimizer]
    lr = default_lr if lr is None else float(check_range("lr", float(lr), 0.0, None, low_open=True))
    dtype = torch.float64 if solver.np_dtype == np.float64 else torch.float32
    params = MaterialParameters(solver, initial, mask, dtype=dtype)
    position = torch.as_tensor(np.asarray(position), dtype=dtype)
    velocity = None if velocity is None else torch.as_tensor(np.asarray(velocity), dtype=dtype)
    history = []
    bar = tqdm(total=iterations, disable=not progress, desc="system identification", unit="eval")

    def closure():
        arrays = params.tensors()

        def step(state, k):
            return mpm_step(solver, *state, **arrays, time=k * solver.dt)

        loss, _, _ = motion_loss(step, initial_state(x0, v0, dtype), position, record_every, solver.dx,
                                 velocity=velocity, teacher_every=teacher_every, frame_dt=frame_dt)
        values = {k: float(v.detach()) for k, v in params.values().items()}
        if not torch.isfinite(loss):
            raise SimulationError(f"system identification: the simulation with {values} gave a non-finite loss "
                                  f"(evaluation {len(history) + 1}); start from a closer guess or lower lr")
        history.append({"evaluation": len(history) + 1, "loss": float(loss.detach()), **values})
        bar.update(1)
        bar.set_postfix(loss=f"{history[-1]['loss']:.3g}", **{k: f"{v:.4g}" for k, v in values.items()})
        loss.backward()
        return loss

    try:
        run(params, closure, int(iterations), lr)
    finally:
        bar.close()
    best = min(history, key=lambda h: h["loss"])
    return Identification(values={k: float(v.detach()) for k, v in params.values().items()},
                          best_values={k: best[k] for k in initial}, best_loss=best["loss"], history=history)
