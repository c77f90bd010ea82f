"""The simulator contract: every simengine simulator has the same shape (after NVIDIA Newton's solvers), and
one recording loop serves them all.

    sim = ...                                       # a static model built from a scene description
    state = sim.new_state()                         # per-step buffers (the scene gives the initial one)
    sim.step(state_in, state_out, control, dt)      # reads state_in, writes state_out, never state_in
    sim.check(state, step)                          # SimulationError naming step, time and particle
    traj, state = record(sim, state, steps, record_every)   # progress bar, checks, Trajectory

A simulator (subclass `Simulator`, or provide the same attributes) has

* ``name``: what it writes under the metadata key ``"simulator"`` (``"mpm"``, ``"nbody"``, ``"md"``, later
  ``"deformables"``, ``"fem"``); `simengine compare` and the metrics dispatch on it;
* ``device``, ``threads`` (from `simengine.runtime`: one device and thread policy for all), ``dt`` (the
  default step);
* ``new_state()``, ``step(state_in, state_out, control=None, dt=None)``: ``state_out`` may be any state of
  this simulator, ``state_in`` is left as it was (so a ``wp.Tape`` over per-step states keeps every input
  its backward pass needs); ``control`` carries actions (grippers, actuators) for simulators that take
  them, None otherwise; ``dt`` None means the simulator's own step;
* ``check(state, step)``: raise `SimulationError` naming the step, the time and the first bad particle;
* ``frame(state) -> {"position": (N, D), ...}``: the arrays recorded per frame (keys of
  `simengine.io.OPTIONAL_KEYS` besides ``position``); ``static() -> {"particle_type": (N,), ...}``: the
  arrays recorded once per trajectory; ``metadata() -> dict``: a JSON description of the model;
* optionally ``trajectory(frames, static, frame_dt, metadata)`` to assemble the `Trajectory` differently
  (MD turns consecutive frames into forecasting targets).

A scene script's ``make_scene(rng)`` returns a `RunnableScene`: anything with ``run(**RUN) -> Trajectory``
(`simengine.Scene`, `md.ForecastScene`, `nbody.SimulationScene`, ...), whose ``run`` records through
`record`.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Callable, Protocol, runtime_checkable

import numpy as np

from simengine.errors import InputError, SimulationError, check_range

#: steps between two blow-up checks when no frame is recorded in between
CHECK_EVERY = 25


@runtime_checkable
class RunnableScene(Protocol):
    """What a scene script's ``make_scene(rng)`` returns for ``simengine run`` / ``generate``: an object whose
    ``run(**RUN)`` (the script's ``RUN`` dict; ``progress`` is added when ``run`` accepts it) returns a
    `simengine.io.Trajectory` recorded by `record`."""

    def run(self, *args: Any, **kwargs: Any) -> Any: ...


def check_scene(scene, script: str):
    """`InputError` naming the script and what it returned unless ``scene`` is a `RunnableScene`."""
    if not isinstance(scene, RunnableScene) or not callable(getattr(scene, "run", None)):
        raise InputError(
            f"{script}: make_scene(rng) returned {type(scene).__module__}.{type(scene).__qualname__} ({scene!r:.80}), "
            "which has no run(**RUN) method; it must return a scene such as simengine.Scene, "
            "simengine.md.ForecastScene or simengine.nbody.SimulationScene")
    return scene


class Simulator:
    """Base class of the simulators: defaults for the recording hooks (see the module docstring)."""

    name: str = "simulator"
    device: str = "cpu"
    threads: int = 1
    dt: float = 1.0

    def new_state(self):  # pragma: no cover - abstract
        raise NotImplementedError

    def step(self, state_in, state_out, control=None, dt=None):  # pragma: no cover - abstract
        raise NotImplementedError

    def check(self, state, step: int) -> None:
        """Raise `SimulationError` for a blown-up ``state`` (default: nothing to check)."""

    def frame(self, state) -> dict:  # pragma: no cover - abstract
        raise NotImplementedError

    def static(self) -> dict:  # pragma: no cover - abstract
        raise NotImplementedError

    def metadata(self) -> dict:
        return {}

    def trajectory(self, frames: dict, static: dict, frame_dt: float, metadata: dict):
        """The `Trajectory` of stacked ``frames`` (T, ...) and ``static`` arrays."""
        from simengine.io import Trajectory

        frames, static = dict(frames), dict(static)
        position, particle_type = frames.pop("position"), static.pop("particle_type")
        return Trajectory(position, particle_type, dt=frame_dt, extras={**frames, **static}, metadata=metadata)

    # helpers for subclasses
    def _check_particles(self, kernel, state, step: int, max_speed, *, label: str, bound: str, hint: str) -> None:
        """Launch ``kernel(x, v, max_speed, first_bad)``, which lowers ``first_bad[0]`` (reset here to N) to the
        index of every particle that is non-finite or faster than ``max_speed``, and raise `SimulationError`
        naming ``label``, the step, the time, that particle's position and velocity, ``bound`` and ``hint``.
        Uses ``self._first_bad`` (a 1-element int array), ``self.n``, ``self.wp`` and ``self.device``."""
        self._first_bad.fill_(self.n)
        self.wp.launch(kernel, dim=self.n, inputs=[state.x, state.v, max_speed, self._first_bad], device=self.device)
        bad = int(self._first_bad.numpy()[0])
        if bad < self.n:
            x, v = state.x.numpy()[bad], state.v.numpy()[bad]
            raise SimulationError(
                f"{label} blew up at step {step}, t = {state.time:.6g} s: particle {bad} at x = "
                f"{np.round(x, 5).tolist()} has v = {np.round(v, 5).tolist()} (|v| = {np.linalg.norm(v):.4g}, "
                f"bound {bound}, or non-finite); {hint}")

    def _no_control(self, control) -> None:
        if control is not None:
            raise InputError(f"control = {control!r}: the {self.name} simulator takes no control (use None)")

    def _own_step(self, dt) -> float:
        """``dt`` for simulators with a fixed step: None or the step they were built with."""
        if dt is None or float(dt) == self.dt:
            return self.dt
        raise InputError(f"dt = {dt!r} differs from the {self.name} simulator's step {self.dt!r}; this simulator "
                         "steps with the dt it was built with (pass None)")


def record(sim, state, steps: int, record_every: int = 1, *, dt: float | Sequence[float] | None = None,
           control=None, observers: Sequence[Callable] = (), metadata: dict | None = None, progress: bool = True,
           check_every: int = CHECK_EVERY, desc: str | None = None, spare=None):
    """Advance ``state`` by ``steps`` steps of ``sim`` and record every ``record_every``-th state (the first
    frame is ``state`` itself) -> ``(trajectory, final_state)``.

    Args:
        sim: a simulator (see the module docstring). state: its initial state; the loop steps back and forth
            between it and ``spare``, so both buffers are overwritten (each `step` still reads one and writes the
            other; for gradients through many steps give every step its own state instead).
        steps: a multiple of ``record_every``. dt: None (the simulator's step), one step for all, or one per
            step (a sequence of ``steps`` values).
        control: None, a control object passed to every step, or a callable ``control(step, state)`` giving the
            control of the step that starts at ``state`` (step counts from 0).
        observers: callables ``observer(state) -> {key: array}`` adding per-frame arrays.
        metadata: more JSON metadata (scene parameters); the loop adds ``"simulator"``, ``"write_every"`` and
            ``"t_end"`` (and ``"dt"``, the step, unless given).
        check_every: also call ``sim.check`` every this many steps between frames (0: only at frames).
        spare: a second state to step into (default ``sim.new_state()``); the two are swapped every step.

    Returns ``(Trajectory, state)``: the final state is one of the two buffers, so copy it before stepping on.
    """
    from tqdm.auto import tqdm

    steps = int(check_range("steps", steps, 0, None))
    if isinstance(record_every, bool) or int(record_every) != record_every:
        raise InputError(f"record_every = {record_every!r} must be an integer >= 1")
    record_every = int(check_range("record_every", int(record_every), 1, None))
    if steps % record_every:
        raise InputError(f"steps = {steps} is not a multiple of record_every = {record_every}")
    per_step = dt is not None and np.ndim(dt) == 1
    if per_step and len(dt) != steps:
        raise InputError(f"dt has {len(dt)} entries for {steps} steps; give one per step or a single value")

    def snapshot(s) -> dict:
        arrays = dict(sim.frame(s))
        for observer in observers:
            arrays.update(observer(s))
        return arrays

    static = dict(sim.static())
    frames = [snapshot(state)]
    other = spare if spare is not None else sim.new_state()
    bar = tqdm(range(1, steps + 1), disable=not progress, desc=desc or sim.name, unit="step", leave=False)
    for step in bar:
        step_dt = dt[step - 1] if per_step else dt
        step_control = control(step - 1, state) if callable(control) else control
        sim.step(state, other, step_control, step_dt)
        state, other = other, state
        recording = step % record_every == 0
        if recording or (check_every and step % check_every == 0):
            sim.check(state, step)
        if recording:
            frames.append(snapshot(state))
    stacked = {key: np.stack([f[key] for f in frames]) for key in frames[0]}
    if per_step:  # variable steps: "dt" is their mean
        total = float(np.sum(dt))
        step_dt = total / max(steps, 1)
    else:
        step_dt = float(sim.dt if dt is None else dt)
        total = steps * step_dt
    meta = {**sim.metadata(), **(metadata or {})}
    meta.setdefault("dt", step_dt)
    meta.update(simulator=sim.name, write_every=record_every, t_end=total)
    return sim.trajectory(stacked, static, step_dt * record_every, meta), state
