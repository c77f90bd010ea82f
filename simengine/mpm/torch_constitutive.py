"""A full-tape variant of `simengine.mpm.differentiable.mpm_step_external`, for comparison.

`mpm_step_external` (the default everywhere) saves only a step's inputs and re-runs the step on a fresh
`wp.Tape` in backward (recompute-in-backward). `mpm_step_external_taped` instead records the step
on a tape in forward and keeps that tape, its grid and every gradient buffer until backward: no
recomputation, but memory grows by a grid's worth (mass, momentum, velocity and their adjoints) per
step. Both return the same values and the same gradients; `benchmarks/nclaw.py` measures the
difference in time and peak memory. The step itself is the MPM engineer's (`MPMSolver._step` with
an external Kirchhoff stress); nothing here is a second solver.

    x, v, C, F_trial, plastic = mpm_step_external_taped(solver, x, v, C, F, plastic, tau, time=t)
"""
from __future__ import annotations

import torch

from simengine.mpm.differentiable import STATE_KEYS, _run, _types, _wrap

_INPUT_KEYS = STATE_KEYS + ("stress",)


class _TapedExternalStep(torch.autograd.Function):
    @staticmethod
    def forward(ctx, solver, time, x, v, C, F, plastic, stress):
        import warp as wp

        named = {k: t.detach().contiguous() for k, t in zip(_INPUT_KEYS, (x, v, C, F, plastic, stress))}
        inputs, input_grads = _wrap(solver, named, time, with_grad=True)
        types = _types(solver)
        outputs, output_grads, out_arrays = {}, {}, {}
        for key in STATE_KEYS:
            outputs[key] = torch.empty_like(named[key])
            output_grads[key] = torch.zeros_like(named[key])
            out_arrays[key] = wp.from_torch(outputs[key], dtype=types[key], grad=output_grads[key])
        tape = wp.Tape()
        with tape:
            _run(solver, inputs, out_arrays, time, grid=solver.new_grid(buffers=1, requires_grad=True))
        # Keep the tape and every array it references (inputs, outputs, grid) alive until backward.
        ctx.tape, ctx.arrays = tape, (inputs, out_arrays)
        ctx.input_grads, ctx.output_grads = input_grads, output_grads
        return tuple(outputs[k] for k in STATE_KEYS)

    @staticmethod
    def backward(ctx, *grad_outputs):
        for key, g in zip(STATE_KEYS, grad_outputs):
            if g is not None:
                ctx.output_grads[key].copy_(g)
        ctx.tape.backward()
        grads = [ctx.input_grads[k].clone() if ctx.needs_input_grad[i + 2] else None
                 for i, k in enumerate(_INPUT_KEYS)]
        ctx.tape = ctx.arrays = None  # free the grid and buffers now
        return (None, None, *grads)


def mpm_step_external_taped(solver, x, v, C, F, plastic, stress, time=0.0):
    """`mpm_step_external` with the Warp tape kept from forward to backward -> (x, v, C, F_trial, plastic)."""
    return _TapedExternalStep.apply(solver, float(time), x, v, C, F, plastic, stress)
