"""Test helpers for learned simulators: `assert_equivariant` checks E(3) equivariance numerically; `overfit`
trains a model on one fixed batch; `cli_train_rollout_compare` runs the three commands on a small dataset.

    from learned.testing import assert_equivariant
    assert_equivariant(lambda position, velocity, cell: model(position, velocity, species, mass, cell),
                       inputs={"position": (x, "position"), "velocity": (v, "vector"), "cell": (c, "cell")},
                       outputs=("vector", "vector"))

For random orthogonal Q (proper rotations, and improper ones when ``reflections``) and translations t,
every input is transformed by its kind and the function's outputs must equal the outputs transformed
the same way.  Kinds (row vectors, x → x Qᵀ):

    "scalar"        invariant                      "position"   x Qᵀ + t
    "vector"        polar vector x Qᵀ               "pseudovector"  det(Q) x Qᵀ
    "cell"          rows are lattice vectors, rotate as vectors, ignore t
    "wrapped"       position output in a periodic cell: compared modulo the transformed cell
    any e3nn Irreps string, e.g. "2x0e+1x1o"      transformed by its D(Q)
"""
from __future__ import annotations

import torch

_KINDS = ("scalar", "vector", "pseudovector", "position", "cell", "wrapped")


def random_orthogonal(generator: torch.Generator, proper: bool = True, dtype=torch.float64) -> torch.Tensor:
    """A random 3×3 rotation (det +1) or, with ``proper=False``, rotation times inversion (det −1)."""
    q, r = torch.linalg.qr(torch.randn(3, 3, generator=generator, dtype=dtype))
    q = q * torch.sign(torch.diagonal(r))[None, :]
    if torch.det(q) < 0:
        q[:, 0] = -q[:, 0]
    return q if proper else -q


def transform(value: torch.Tensor, kind: str, q: torch.Tensor, t: torch.Tensor, cell=None) -> torch.Tensor:
    """Apply the E(3) element (Q, t) to ``value`` of ``kind`` (see the module docstring)."""
    q, t = q.to(value), t.to(value)
    if kind == "scalar":
        return value
    if kind in ("vector", "cell"):
        return value @ q.T
    if kind == "pseudovector":
        return torch.det(q) * (value @ q.T)
    if kind in ("position", "wrapped"):
        return value @ q.T + t
    from e3nn import o3

    return value @ o3.Irreps(kind).D_from_matrix(q).to(value).T


def _as_tuple(out):
    return tuple(out) if isinstance(out, (tuple, list)) else (out,)


def _distance(a, b, kind, cell):
    if kind != "wrapped":
        return (a - b).abs()
    frac = (a - b) @ torch.linalg.inv(cell)          # equal up to a lattice vector
    return ((frac - torch.round(frac)) @ cell).abs()


def assert_equivariant(fn, inputs: dict, outputs, *, rotations: int = 3, reflections: bool = True,
                       translations: bool = True, atol: float = 1e-5, rtol: float = 1e-4, seed: int = 0) -> float:
    """Assert ``fn(**inputs)`` is equivariant; returns the largest error seen (relative to ``rtol``).

    Args:
        inputs: name -> (tensor, kind).  outputs: the kind of each output (a tuple for several).
        rotations: random transformations tried of each handedness.  atol/rtol: per-element tolerance
        |f(gx) − g f(x)| ≤ atol + rtol·|g f(x)|.
    """
    outputs = tuple(outputs) if isinstance(outputs, (tuple, list)) else (outputs,)
    for name, (_, kind) in inputs.items():
        if kind not in _KINDS and not any(c.isdigit() for c in kind):
            raise ValueError(f"input {name!r}: unknown kind {kind!r}; use one of {_KINDS} or an Irreps string")
    generator = torch.Generator().manual_seed(seed)
    reference = _as_tuple(fn(**{k: v for k, (v, _) in inputs.items()}))
    if len(reference) != len(outputs):
        raise ValueError(f"fn returned {len(reference)} outputs, {len(outputs)} kinds given")
    cells = [v for v, kind in inputs.values() if kind == "cell"]
    worst = 0.0
    for proper in (True, False) if reflections else (True,):
        for _ in range(rotations):
            q = random_orthogonal(generator, proper)
            t = 10.0 * torch.randn(3, generator=generator, dtype=torch.float64) if translations else torch.zeros(3)
            moved = {k: transform(v, kind, q, t) for k, (v, kind) in inputs.items()}
            result = _as_tuple(fn(**moved))
            for index, (got, ref, kind) in enumerate(zip(result, reference, outputs)):
                expected = transform(ref, kind, q, t)
                cell = transform(cells[0], "cell", q, t).reshape(-1, 3)[-3:] if cells else None
                err = _distance(got, expected, kind, cell)
                bound = atol + rtol * expected.abs()
                if not bool((err <= bound).all()):
                    where = "rotation" if proper else "rotation with reflection"
                    raise AssertionError(f"output {index} ({kind}) is not equivariant under a {where}"
                                         f"{' and translation' if translations else ''}: max error "
                                         f"{float(err.max().detach()):.3e} > atol {atol:g} + rtol {rtol:g}·|value|")
                worst = max(worst, float((err / bound).max().detach()))
    return worst


def overfit(model, batch: dict, steps: int = 100, lr: float = 3e-3, loss: str = "training_step") -> list:
    """Adam on one fixed ``batch`` for ``steps`` steps without noise; the losses (floats). ``loss``: the model
    method that gives (loss, logs), ``training_step`` or ``one_step_loss``."""
    optimiser = torch.optim.Adam(model.parameters(), lr=lr)
    losses = []
    for _ in range(int(steps)):
        value, _ = getattr(model, loss)(batch, noise=False)
        optimiser.zero_grad()
        value.backward()
        optimiser.step()
        losses.append(float(value.detach()))
    return losses


def cli_train_rollout_compare(model: str, data: str, run: str, steps: int = 3, sets=()) -> dict:
    """`simengine train MODEL` (``steps`` steps, one thread, ``sets`` as ``SECTION.KEY=VALUE``), `rollout` and
    `compare` on the test split; asserts each exits 0 and returns the comparison's metrics.json."""
    import json
    import os

    from simengine.cli import main

    options = [a for s in ("train.num_threads=1", "train.val_every=100", *sets) for a in ("--set", s)]
    assert main(["train", model, "--data", data, "--out", run, "--steps", str(steps), "--quiet", *options]) == 0
    assert main(["rollout", run, "--data", data, "--split", "test", "--quiet"]) == 0
    assert main(["compare", run, "--data", data, "--split", "test", "--gifs", "0", "--quiet"]) == 0
    with open(os.path.join(run, "compare", "metrics.json")) as f:
        return json.load(f)
