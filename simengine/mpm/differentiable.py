"""Differentiable MLS-MPM steps for torch: one step as a `torch.autograd.Function`, and rollouts.

Forward wraps the torch tensors as Warp arrays without copying (`wp.from_torch`) and runs the step
with no tape (CPU threads allowed). Backward re-runs the same step from the saved inputs on a fresh
`wp.Tape` (recompute-in-backward, one thread, a fresh grid), seeds the outputs' adjoints with copies of
the incoming gradients and returns the inputs' adjoints. Only step inputs are saved, so a rollout keeps
one particle state per step (about 100 bytes per 3D particle in float32), never a grid or a full tape.

Tensors (N particles, d = solver.dim, dtype = the solver's dtype, on the solver's device):
    x, v (N, d); C, F (N, d, d); plastic (N,)
    E, nu (N,) and params (N, 4): material parameters (None: the solver's own, without gradient)

    from simengine.mpm.differentiable import mpm_step, simulate, state_tensors
    solver, state = scene.build(dtype="float64")
    x, v, C, F, plastic = state_tensors(state)
    E = torch.full((solver.n,), 1e5, dtype=torch.float64, requires_grad=True)
    x_T, *_ = simulate(solver, (x, v, C, F, plastic), n_steps=100, E=E)
    x_T[:, 1].mean().backward()        # d(mean height) / dE in E.grad

Constitutive laws outside the kernels (the hook for neural constitutive laws, NCLaw): `mpm_step_external`
takes a per-particle Kirchhoff stress ``tau = P F^T`` (N, d, d) computed in torch and returns the
unprojected trial deformation gradient; the caller applies its own return mapping:

    tau = elastic_law(F)                                        # torch, differentiable
    x, v, C, F_trial, plastic = mpm_step_external(solver, x, v, C, F, plastic, tau, time=t)
    F = plastic_law(F_trial)                                    # torch return mapping
"""
from __future__ import annotations

import torch

from simengine.mpm.state import MPMParticles, MPMState

STATE_KEYS = ("x", "v", "C", "F", "plastic")


def state_tensors(state: MPMState) -> tuple:
    """Torch copies (x, v, C, F, plastic) of a Warp `MPMState` (e.g. from `Scene.build`)."""
    import warp as wp

    return tuple(wp.to_torch(a).clone() for a in state.arrays().values())


def _types(solver):
    k = solver.k
    return {"x": k.vec, "v": k.vec, "C": k.mat, "F": k.mat, "plastic": k.scalar, "E": k.scalar, "nu": k.scalar,
            "params": k.vec4, "stress": k.mat}


def _wrap(solver, tensors: dict, time: float, with_grad: bool):
    """Warp views of the tensors (with zeroed gradient buffers when ``with_grad``)."""
    import warp as wp

    types, out, grads = _types(solver), {}, {}
    for name, t in tensors.items():
        if t is None:
            continue
        if with_grad:
            grads[name] = torch.zeros_like(t)
            out[name] = wp.from_torch(t, dtype=types[name], requires_grad=True, grad=grads[name])
        else:
            out[name] = wp.from_torch(t, dtype=types[name], requires_grad=False)
    return out, grads


def _run(solver, inputs: dict, outputs: dict, time: float, grid=None):
    p = solver.particles
    particles = MPMParticles(mass=p.mass, volume=p.volume, model=p.model, E=inputs.get("E", p.E),
                             nu=inputs.get("nu", p.nu), params=inputs.get("params", p.params))
    s_in = MPMState(*(inputs[k] for k in STATE_KEYS), collider_disp=solver.motion_buffer(),
                    collider_vel=solver.motion_buffer(), time=time)
    s_out = MPMState(*(outputs[k] for k in STATE_KEYS), collider_disp=solver.motion_buffer(),
                     collider_vel=solver.motion_buffer(), time=time)
    return solver._step(s_in, s_out, grid, particles, stress=inputs.get("stress"))


class _MPMStep(torch.autograd.Function):
    @staticmethod
    def forward(ctx, solver, time, x, v, C, F, plastic, E, nu, params, stress):
        named = dict(zip(STATE_KEYS + ("E", "nu", "params", "stress"), (x, v, C, F, plastic, E, nu, params, stress)))
        named = {k: (t.detach().contiguous() if t is not None else None) for k, t in named.items()}
        outputs = {k: torch.empty_like(named[k]) for k in STATE_KEYS}
        inputs, _ = _wrap(solver, named, time, with_grad=False)
        out_arrays, _ = _wrap(solver, outputs, time, with_grad=False)
        _run(solver, inputs, out_arrays, time)
        ctx.solver, ctx.time, ctx.names = solver, time, [k for k, t in named.items() if t is not None]
        ctx.save_for_backward(*(named[k] for k in ctx.names))
        return tuple(outputs[k] for k in STATE_KEYS)

    @staticmethod
    def backward(ctx, *grad_outputs):
        import warp as wp

        solver = ctx.solver
        named = dict(zip(ctx.names, ctx.saved_tensors))
        inputs, input_grads = _wrap(solver, named, ctx.time, with_grad=True)
        outputs, out_arrays = {}, {}
        types = _types(solver)
        for key, g in zip(STATE_KEYS, grad_outputs):
            outputs[key] = torch.empty_like(named[key])
            seed = torch.zeros_like(outputs[key]) if g is None else g.detach().contiguous().clone()
            out_arrays[key] = wp.from_torch(outputs[key], dtype=types[key], requires_grad=True, grad=seed)
        tape = wp.Tape()
        with tape:
            _run(solver, inputs, out_arrays, ctx.time, grid=solver.new_grid(buffers=1, requires_grad=True))
        tape.backward()
        grads = [input_grads.get(k) if ctx.needs_input_grad[i + 2] else None
                 for i, k in enumerate(STATE_KEYS + ("E", "nu", "params", "stress"))]
        return (None, None, *grads)


def mpm_step(solver, x, v, C, F, plastic, E=None, nu=None, params=None, time=0.0):
    """One differentiable step with the materials' own stress and return mapping -> (x, v, C, F, plastic)."""
    return _MPMStep.apply(solver, float(time), x, v, C, F, plastic, E, nu, params, None)


def mpm_step_external(solver, x, v, C, F, plastic, stress, E=None, nu=None, params=None, time=0.0):
    """One differentiable step driven by a given Kirchhoff stress (N, d, d) -> (x, v, C, F_trial, plastic)."""
    return _MPMStep.apply(solver, float(time), x, v, C, F, plastic, E, nu, params, stress)


def simulate(solver, state, n_steps: int, E=None, nu=None, params=None, time=0.0, every: int = 0):
    """Roll ``state = (x, v, C, F, plastic)`` forward ``n_steps`` differentiable steps.

    Returns the final state tuple, or with ``every > 0`` also the list of x every ``every`` steps.
    Memory grows by one particle state per step (the saved step inputs).
    """
    frames = []
    for step in range(n_steps):
        state = mpm_step(solver, *state, E=E, nu=nu, params=params, time=time + step * solver.dt)
        if every and (step + 1) % every == 0:
            frames.append(state[0])
    return (state, frames) if every else state
