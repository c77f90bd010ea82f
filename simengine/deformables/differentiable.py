"""Differentiable deformables steps for torch, and system identification by gradients (PhysTwin's task).

One step is a `torch.autograd.Function` (as for MPM, `simengine.mpm.differentiable`): forward wraps the torch
tensors as Warp arrays without copying (`wp.from_torch`) and runs the step; backward re-runs it from the
saved inputs on a fresh `wp.Tape` and returns the adjoints. Gradients reach the positions, the velocities,
the spring constants (M,) and the damping factor; grasps and releases are decided on the host (no
gradient through which particles a gripper takes). The model must be built with ``requires_grad=True``:

    model, state = scene.build(requires_grad=True)
    x, v = state_tensors(state)
    k = torch.tensor(model.stiffness_np, requires_grad=True)          # spring constants (N/m)
    damping = torch.tensor(0.5, dtype=torch.float64, requires_grad=True)
    xs = simulate(model, state, x, v, steps=60, stiffness=k, damping=damping)   # [(N, 3)] per step
    xs[-1][:, 1].mean().backward()

`identify` fits a body's stiffness and the damping rate to an observed trajectory by L-BFGS on their logs.
"""
from __future__ import annotations

import copy
import math
import warnings

import numpy as np
import torch

from simengine.errors import InputError


def state_tensors(state) -> tuple:
    """Torch copies (x, v) of a `DeformableState`."""
    import warp as wp

    return wp.to_torch(state.x).clone(), wp.to_torch(state.v).clone()


def _host_copy(state):
    """The state's gripper and attachment part (x and v replaced by the caller)."""
    out = copy.copy(state)
    out.keep = []
    return out


def _wrap(model, tensor, dtype, grad=None):
    import warp as wp

    if grad is None:
        return wp.from_torch(tensor, dtype=dtype, requires_grad=False)
    return wp.from_torch(tensor, dtype=dtype, requires_grad=True, grad=grad)


def _run(model, host_in, control, x, v, stiffness, decay, x_out, v_out, attach_out):
    """One model step on Warp views; ``attach_out`` receives the new attachments (a state's arrays)."""
    s_in = _host_copy(host_in)
    s_in.x, s_in.v = x, v
    s_out = _host_copy(host_in)
    s_out.x, s_out.v = x_out, v_out
    s_out.attached, s_out.offset = attach_out
    model.step(s_in, s_out, control, stiffness=stiffness, decay=decay)
    return s_out


class _Step(torch.autograd.Function):
    @staticmethod
    def forward(ctx, model, host, control, carry, x, v, stiffness, decay):
        x, v, stiffness, decay = (t.detach().contiguous() for t in (x, v, stiffness, decay))
        k = model.k
        x_out, v_out = torch.empty_like(x), torch.empty_like(v)
        attach = (model.wp.zeros(model.n, dtype=model.wp.int32, device=model.device),
                  model.wp.zeros(model.n, dtype=k.vec3, device=model.device))
        s_out = _run(model, host, control, _wrap(model, x, k.vec3), _wrap(model, v, k.vec3),
                     _wrap(model, stiffness, k.scalar), _wrap(model, decay, k.scalar),
                     _wrap(model, x_out, k.vec3), _wrap(model, v_out, k.vec3), attach)
        carry.append(s_out)  # the next step's gripper and attachment state
        ctx.model, ctx.host, ctx.control = model, host, control
        ctx.save_for_backward(x, v, stiffness, decay)
        return x_out, v_out

    @staticmethod
    def backward(ctx, grad_x, grad_v):
        import warp as wp

        model, k = ctx.model, ctx.model.k
        x, v, stiffness, decay = ctx.saved_tensors
        grads = [torch.zeros_like(t) for t in (x, v, stiffness, decay)]
        inputs = [_wrap(model, t, dtype, g) for t, dtype, g in zip((x, v, stiffness, decay),
                                                                    (k.vec3, k.vec3, k.scalar, k.scalar), grads)]
        outs = [torch.empty_like(x), torch.empty_like(v)]
        seeds = [torch.zeros_like(o) if g is None else g.detach().contiguous().clone()
                 for o, g in zip(outs, (grad_x, grad_v))]
        out_arrays = [_wrap(model, o, k.vec3, s) for o, s in zip(outs, seeds)]
        attach = (wp.zeros(model.n, dtype=wp.int32, device=model.device),
                  wp.zeros(model.n, dtype=k.vec3, device=model.device))
        tape = wp.Tape()
        with warnings.catch_warnings(), tape:
            warnings.simplefilter("ignore")  # the forward pass already warned about empty grasps
            _run(model, ctx.host, ctx.control, *inputs, *out_arrays, attach)
        tape.backward()
        return (None, None, None, None, *[g if ctx.needs_input_grad[i + 4] else None for i, g in enumerate(grads)])


def simulate(model, state, x, v, steps: int, controls=None, stiffness=None, damping=None, every: int = 1):
    """Roll (x, v) forward ``steps`` differentiable steps from the gripper/attachment state of ``state``.

    Args:
        controls: None, one `GripperControl` per step, or a callable ``controls(step) -> GripperControl``.
        stiffness: (M,) spring constants (N/m), default the model's. damping: rate (1/s), default the model's.
    Returns the list of x (N, 3) after every ``every``-th step (the last step always included).
    """
    if not model.requires_grad:
        raise InputError("simulate needs a model built with requires_grad=True (scene.build(requires_grad=True))")
    dtype = x.dtype
    stiffness = torch.as_tensor(model.stiffness_np if stiffness is None else stiffness, dtype=dtype)
    damping = torch.as_tensor(model.damping if damping is None else damping, dtype=dtype)
    stiffness = torch.cat([stiffness.reshape(-1), torch.ones(1, dtype=dtype)])  # the model's padding entry
    decay = torch.exp(-damping.reshape(1) * model.h)
    host, frames = state, []
    for step in range(steps):
        control = controls(step) if callable(controls) else (controls[step] if controls is not None else None)
        carry = []
        x, v = _Step.apply(model, host, control, carry, x, v, stiffness, decay)
        host = carry[0]
        if (step + 1) % every == 0 or step == steps - 1:
            frames.append(x)
    return frames


def identify(scene, observed, record_every: int = 1, steps: int | None = None, body=None,
             stiffness_guess: float | None = None, damping_guess: float | None = None, iterations: int = 20,
             fit=("stiffness", "damping"), progress: bool = False) -> dict:
    """Fit a body's stiffness (every spring of it scaled by one factor) and the damping rate to ``observed``
    positions (T, N, 3) recorded every ``record_every`` steps from the scene's initial state (frame 0), by
    L-BFGS on their logarithms with gradients through the differentiable steps.

    Args:
        scene: the `deformables.Scene` that made the observation, built with the guessed parameters (its
            springs' constants are the starting point; ``stiffness_guess`` / ``damping_guess`` override the
            body's stiffness in N and the damping rate in 1/s).
        body: the `Body` whose springs are fitted (default: all springs).
        fit: which of "stiffness", "damping" to fit.
    Returns ``{"stiffness": N (the body's), "damping": 1/s, "scale": factor on the springs, "loss": m^2,
    "evaluations": n, "history": [...]}``.
    """
    observed = torch.as_tensor(np.asarray(observed, dtype=np.float64))
    frames = observed.shape[0] - 1
    steps = frames * record_every if steps is None else int(steps)
    if frames < 1 or observed.ndim != 3:
        raise InputError(f"observed positions have shape {tuple(observed.shape)}; expected (T >= 2, N, 3)")
    unknown = set(fit) - {"stiffness", "damping"}
    if unknown:
        raise InputError(f"fit = {sorted(unknown)} is not a subset of ['damping', 'stiffness']")
    model, state = scene.build(requires_grad=True, dtype="float64")
    if observed.shape[1:] != (model.n, 3):
        raise InputError(f"observed has {observed.shape[1]} particles; the scene has {model.n}")
    springs = np.arange(len(model.stiffness_np)) if body is None else body.springs
    nominal = float(body.params["stiffness"]) if body is not None else 1.0
    base = torch.tensor(model.stiffness_np, dtype=torch.float64)
    scale0 = (stiffness_guess / nominal) if (stiffness_guess is not None and body is not None) else 1.0
    damping0 = model.damping if damping_guess is None else float(damping_guess)
    mask = torch.zeros(len(base), dtype=torch.float64)
    mask[torch.as_tensor(springs)] = 1.0
    log_scale = torch.tensor(math.log(scale0), dtype=torch.float64, requires_grad="stiffness" in fit)
    log_damping = torch.tensor(math.log(max(damping0, 1e-6)), dtype=torch.float64, requires_grad="damping" in fit)
    x0, v0 = state_tensors(state)
    controls = (lambda step: scene.control_at((step + 1) * scene.dt)) if scene.grippers else None
    history = []

    def loss_fn():
        stiffness = base * torch.exp(log_scale * mask)
        xs = simulate(model, state, x0, v0, steps, controls, stiffness, torch.exp(log_damping), every=record_every)
        loss = torch.stack([((x - observed[k + 1]) ** 2).sum(1).mean() for k, x in enumerate(xs)]).mean()
        history.append((loss.item(), log_scale.detach().exp().item(), log_damping.detach().exp().item()))
        if progress:
            print(f"identify: loss {loss.item():.4e} scale {log_scale.detach().exp().item():.5g} "
                  f"damping {log_damping.detach().exp().item():.5g}", flush=True)
        # L-BFGS minimises the loss relative to the guess's: its first step and tolerances are not scale-free,
        # and a stiff body's loss in m^2 (1e-8 over a short window) left it at the guess
        return loss / max(history[0][0], 1e-300)

    params = [p for p in (log_scale, log_damping) if p.requires_grad]
    optimizer = torch.optim.LBFGS(params, lr=1.0, max_iter=iterations, tolerance_grad=1e-12,
                                  tolerance_change=1e-14, line_search_fn="strong_wolfe")

    def closure():
        optimizer.zero_grad()
        loss = loss_fn()
        loss.backward()
        return loss

    optimizer.step(closure)
    scale = log_scale.detach().exp().item()
    return {"stiffness": scale * nominal, "scale": scale, "damping": log_damping.detach().exp().item(),
            "loss": history[-1][0] if history else float("nan"), "evaluations": len(history), "history": history}
