"""NCLaw as a learned simulator of the platform: ``simengine train nclaw --data DIR``.

Ma, Chen, Deng, Tenenbaum, Du, Gan, Matusik, "Learning Neural Constitutive Laws from Motion
Observations for Generalizable PDE Dynamics", ICML 2023.

Unlike GNS, the model is not a step predictor: it is a material (`learned.nclaw.ConstitutiveLaw`,
an elastic and a plastic network) inside the exact MLS-MPM solver of the scene that produced the
data. A training window is a whole trajectory (``frames`` frames from frame 0, where the body is at
rest shape, F = I); one training step simulates it from frame 0 with teacher forcing every λ frames
(λ grows from ``teacher_start`` to ``teacher_end`` over ``teacher_ramp`` steps, cosine) and
backpropagates the position error through every solver step (`learned.nclaw.training.motion_loss`).

Data: positions (T, N, D), ``mass`` (N,) and, optionally, ``velocity`` (T, N, D) (without it the
velocity is estimated from positions, using frame 1). The scene (grid, dt,
walls, colliders) comes from the dataset's metadata and travels in the checkpoint; `rollout` runs each
test trajectory in its own recorded scene (a slope, a pool), the training scene when none is recorded.
Several learned materials in one scene: `learned.nclaw.replay.simulate_trajectory`.

A batch is a set of whole trajectories, simulated one by one (identical windows, as drawn from a
one-trajectory set, are simulated once); ``--set train.num_threads=1`` suits a few thousand particles.
"""
from __future__ import annotations

import torch

from learned.base import LearnedSimulator, Rollout
from learned.nclaw.coupling import ConstitutiveLaw, NeuralMPM, initial_state, warm_start
from learned.nclaw.replay import build_solver, scene_spec, simulate_frames
from learned.nclaw.training import motion_loss, teacher_interval
from learned.registry import register
from simengine.errors import DatasetError, InputError, SimulationError

DTYPES = {"float32": torch.float32, "float64": torch.float64}


def _test_scene(metadata: dict | None):
    """The MPM scene a test trajectory was recorded in, or None when its metadata does not describe one."""
    try:
        return scene_spec(metadata or {})
    except DatasetError:
        return None


def _training_densities(metadata: dict) -> list:
    """Densities of every body of the training split (top-level or per-trajectory metadata)."""
    bodies = list(metadata.get("bodies", []))
    for entry in metadata.get("varying_parameters", {}).get("train", []):
        bodies += entry.get("bodies", [])
    return sorted({float(b["density"]) for b in bodies if "density" in b})


@register("nclaw")
class NCLaw(LearnedSimulator):
    """Config: dim, input_frames 2 (frames given, as in `simengine compare`; 1 works with velocities:
    the simulation itself starts from frame 0 either way), frames (trajectory frames used; default
    all), width 64, depth 2, stress_scale 1e4 Pa, alpha 1e-3, plastic True, init_modulus 5e3 Pa and
    init_poisson 0.2 (the generic elastic material a fresh law starts as, `warm_start`),
    teacher_start 5, teacher_end 40, teacher_ramp 100 (frames / steps), density (default: the
    training bodies'), dtype "float32", backward "recompute" | "tape"."""

    defaults = dict(dim=None, input_frames=None, frames=None, width=64, depth=2, stress_scale=1e4, alpha=1e-3,
                    plastic=True, init_modulus=5e3, init_poisson=0.2, teacher_start=5, teacher_end=40,
                    teacher_ramp=100, density=None, dtype="float32", backward="recompute")
    required_keys = ("mass", "initial_position")
    optional_keys = ("velocity",)

    def __init__(self, **config):
        super().__init__(**config)
        c = self.config
        if c["dim"] not in (2, 3):
            raise InputError(f"nclaw: dim = {c['dim']!r} is not 2 or 3")
        if c["dtype"] not in DTYPES:
            raise InputError(f"nclaw: dtype = {c['dtype']!r} is not one of {sorted(DTYPES)}")
        if c["input_frames"] is None:
            c["input_frames"] = 2
        if int(c["input_frames"]) not in (1, 2):
            raise InputError(f"nclaw: input_frames = {c['input_frames']} is not 1 (velocities) or 2 (positions only)")
        teacher_interval(0, int(c["teacher_start"]), int(c["teacher_end"]), 1)  # checks the range
        self.dtype = DTYPES[c["dtype"]]
        self.law = ConstitutiveLaw.neural(int(c["dim"]), int(c["width"]), int(c["depth"]), float(c["stress_scale"]),
                                          float(c["alpha"]), bool(c["plastic"])).to(self.dtype)
        self.register_buffer("iteration", torch.zeros((), dtype=torch.long))
        self._solvers = {}
        self.set_summary({})

    # ----- dataset -----------------------------------------------------------------------------------
    @classmethod
    def dataset_config(cls, info, config):
        config = super().dataset_config(info, config)
        if config.get("input_frames") is None:  # compare's constant-velocity baseline needs 2 given frames
            config["input_frames"] = 2
        if config.get("frames") is None:
            config["frames"] = int(info.num_frames_min)
        if config.get("density") is None:
            densities = _training_densities(info.metadata)
            if len(densities) != 1:
                raise DatasetError(f"{info.path}: nclaw learns one material; the training bodies have densities "
                                   f"{densities or 'not recorded'} (set model.density)")
            config["density"] = densities[0]
        return config

    def window_frames(self, pushforward: int = 0) -> int:
        """A training window is a whole trajectory (it must start at frame 0, where F = I)."""
        return int(self.summary.get("num_frames") or self.config["frames"] or self.input_frames + 1)

    def prepare(self, info) -> None:
        if int(self.config["frames"]) > info.num_frames_min:
            raise DatasetError(f"{info.path}: nclaw frames = {self.config['frames']} but the shortest trajectory "
                               f"has {info.num_frames_min}")
        super().prepare(info)
        self.set_summary({**self.summary, "scene": scene_spec(info.metadata, info.path),
                          "num_frames": int(info.num_frames_min)})
        # A fresh law starts as a generic, deliberately wrong elastic material (stable, no plastic flow).
        warm_start(self.law, float(self.config["init_modulus"]), float(self.config["init_poisson"]))

    def set_summary(self, summary: dict) -> None:
        super().set_summary(summary)
        self._solvers = {}

    # ----- simulation ----------------------------------------------------------------------------------
    def simulator(self, mass: torch.Tensor, spec: dict | None = None) -> NeuralMPM:
        """`NeuralMPM` of scene ``spec`` (default: the training scene) for particles of ``mass`` (N,)
        (cached per particle set and scene)."""
        spec = spec or self.summary.get("scene")
        if spec is None:
            raise InputError("nclaw: the model has no scene yet (train it on a dataset or load a checkpoint)")
        mass = mass.detach().double().cpu().numpy()
        key = (len(mass), float(mass.sum()), float(mass[0]), repr(sorted(spec.items())))
        if key not in self._solvers:
            solver = build_solver(spec, mass, mass / float(self.config["density"]), self.config["dtype"])
            self._solvers = {key: NeuralMPM(solver, self.law, backward=self.config["backward"])}
        return self._solvers[key]

    def _samples(self, batch: dict, frames: int | None = None, unique: bool = False):
        """Per trajectory of the batch: (positions (T, n, D), velocities or None, mass (n,)), the first
        ``frames`` frames; each window must start at its trajectory's frame 0. ``unique``: skip a
        window identical to an earlier one (a batch drawn from a one-trajectory training set)."""
        seen = []
        for b in range(int(batch["num_particles"].numel())):
            sel = batch["batch"] == b
            position = batch["position"][:frames, sel]
            if unique and any(p.shape == position.shape and torch.equal(p, position) for p in seen):
                continue
            seen.append(position)
            if "initial_position" in batch and not torch.equal(position[0], batch["initial_position"][sel]):
                raise DatasetError("nclaw simulates from frame 0 (F = I) but got a window starting later: every "
                                   "training trajectory must have the same number of frames")
            velocity = batch.get("velocity")
            yield (position.to(self.dtype), None if velocity is None else velocity[:frames, sel].to(self.dtype),
                   batch["mass"][sel])

    def _start(self, position, velocity, sim, write_every: int | None = None) -> tuple:
        frame_dt = sim.solver.dt * int(write_every or self.summary["scene"]["write_every"])
        v0 = velocity[0] if velocity is not None else (position[1] - position[0]) / frame_dt
        return initial_state(position[0], v0, self.dtype), frame_dt

    # ----- training ------------------------------------------------------------------------------------
    def training_step(self, batch: dict, *, generator=None, pushforward: int = 0, noise: bool = True):
        """Whole-trajectory motion loss; ``noise=False`` (validation): no teacher forcing."""
        c = self.config
        learning = noise and self.training
        every = teacher_interval(int(self.iteration), int(c["teacher_start"]), int(c["teacher_end"]),
                                 int(c["teacher_ramp"])) if learning else 0
        losses = []
        for position, velocity, mass in self._samples(batch, int(c["frames"]), unique=True):
            sim = self.simulator(mass)
            state, frame_dt = self._start(position, velocity, sim)
            try:
                loss, _, _ = motion_loss(sim.step, state, position, int(self.summary["scene"]["write_every"]),
                                         sim.solver.dx, velocity=velocity, teacher_every=every, frame_dt=frame_dt)
            except SimulationError:
                if learning:  # training stops, naming the step and the offending F
                    raise
                loss = torch.tensor(float("inf"), dtype=self.dtype)  # a validation run that blew up
            losses.append(loss)
        if learning:
            self.iteration += 1
        loss = torch.stack(losses).mean()
        return loss, {"loss": float(loss.detach()), "teacher_every": every, "weight": len(losses)}

    def predict_next(self, window: dict) -> dict:
        raise InputError("nclaw simulates whole trajectories from their first frame (F = I); use rollout")

    @torch.no_grad()
    def rollout(self, batch: dict, steps: int, *, margin: float = 0.5, progress=None) -> Rollout:
        """``steps`` frames after the first ``input_frames``, simulated from frame 0 of each trajectory.

        Each trajectory runs in its own scene (walls, colliders, gravity, dt) when ``batch["metadata"]``
        (a list, one dict per trajectory, as `learned.rollout.rollout_split` passes) describes one: a
        law learned in one box is tested on a slope or in a pool. Otherwise the training scene is used."""
        h = self.input_frames
        scenes = [_test_scene(m) for m in batch.get("metadata", [])]
        outputs, diverged_at, reason = [], None, None
        for b, (position, velocity, mass) in enumerate(self._samples(batch)):
            scene = (scenes[b] if b < len(scenes) else None) or self.summary["scene"]
            sim, every = self.simulator(mass, scene), int(scene["write_every"])
            state, _ = self._start(position, velocity, sim, every)
            tick = None if progress is None else (lambda frame: progress.update(1) if frame >= h else None)
            positions, failed, error = simulate_frames(sim, state, h + steps, every, on_frame=tick)
            if failed is not None:  # rollout step of the failed frame (frame h is step 1)
                diverged_at = failed - h + 1 if diverged_at is None else min(diverged_at, failed - h + 1)
                reason = error
            frames = [x.float() for x in positions[h - 1:]]  # positions[k - 1] is frame k
            last = frames[-1] if frames else position[h - 1].float()
            frames += [last] * (steps - len(frames))
            outputs.append(torch.stack(frames) if frames else position[:0].float())
        return Rollout(torch.cat(outputs, 1), {}, diverged_at, reason)
