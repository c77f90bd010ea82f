"""The deformables model on the simulator contract: particles joined by springs, stepped by XPBD or symplectic
Euler in substeps (Warp kernels of `kernels.deformables`), with colliders, self-contact and grippers.

    model, state = scene.build()                 # `simengine.deformables.Scene`
    other = model.new_state()
    model.step(state, other, GripperControl(...))  # one step of dt = substeps x h; state is not written

Shapes (N particles, M springs, G grippers, S substeps):

    DeformableState  x, v (N,) vec3; attached (N,) int32 (gripper id or -1); offset (N,) vec3 (in the gripper
                     frame); grip_pos (G, 3), grip_rot (G, 4) x-y-z-w and grip_closed (G,) on the host; time, step
    model            mass, inv_mass, radius (N,); springs (M, 2), rest, stiffness (M,) (k in N/m);
                     CSR adjacency adj_start (N + 1,), adj_other / adj_spring (2M,)

A step with ``requires_grad`` allocates its substep arrays afresh (kept alive by the `wp.Tape` that records
it), so gradients reach positions, velocities, the spring constants and the damping rate.
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field

import numpy as np

from simengine.deformables.gripper import GripperControl, quaternion_matrix, slerp
from simengine.errors import InputError, check_range
from simengine.parallel import LaunchCache, prepare, run_parallel, split
from simengine.runtime import default_threads, init_warp, resolve_device
from simengine.simulator import Simulator

DTYPES = {"float32": np.float32, "float64": np.float64}
INTEGRATORS = ("xpbd", "symplectic")
#: below this many particles per thread a second thread costs more than it saves
MIN_PARTICLES_PER_THREAD = 4096


@dataclass
class DeformableState:
    """Particle state at one time (see the module docstring for shapes)."""

    x: object
    v: object
    attached: object
    offset: object
    grip_pos: np.ndarray
    grip_rot: np.ndarray
    grip_closed: np.ndarray
    time: float = 0.0
    step: int = 0
    keep: list = field(default_factory=list)  # substep arrays a tape still needs


class DeformablesModel(Simulator):
    """A spring-mass system (see the module docstring).

    Args:
        positions (N, 3), masses (N,) kg, radius (N,) m, particle_type (N,), springs (M, 2) int, rest (M,) m,
        stiffness (M,) N/m, pinned (N,) bool, grippers: list of `Gripper`, colliders: list of
        (kind, a (3,), b (3,), r, mu) rows (`kernels.deformables` PLANE / SPHERE / BOX), gravity (3,),
        dt: one step (s), substeps: substeps per step, damping: velocity decay rate (1/s),
        integrator: "xpbd" | "symplectic", relaxation: Jacobi averaging factor omega (XPBD),
        self_contact: push apart particles closer than their radii, max_speed: blow-up bound (m/s),
        static / description: per-particle arrays and JSON metadata recorded with a trajectory.
    """

    name = "deformables"

    def __init__(self, *, positions, masses, radius, particle_type, springs, rest, stiffness, pinned, grippers,
                 colliders, gravity, dt, substeps, damping=0.0, integrator="xpbd", relaxation=1.0,
                 self_contact=True, device=None, dtype="float32", threads=None, requires_grad=False,
                 max_speed=100.0, static=None, description=None):
        self.wp = wp = init_warp()
        from kernels.deformables import MAX_COLLIDERS, get_kernels

        if integrator not in INTEGRATORS:
            raise InputError(f"integrator = {integrator!r} is not one of {list(INTEGRATORS)}")
        if dtype not in DTYPES:
            raise InputError(f"dtype = {dtype!r} is not one of {list(DTYPES)}")
        self.device = resolve_device(device)
        self.np_dtype = DTYPES[dtype]
        self.k = get_kernels(wp.float32 if dtype == "float32" else wp.float64)
        self.integrator, self.requires_grad = integrator, bool(requires_grad)
        self.dt = float(check_range("dt", dt, 0.0, None, low_open=True))
        self.substeps = int(check_range("substeps", substeps, 1, None))
        self.h = self.dt / self.substeps
        self.damping = float(check_range("damping", damping, 0.0, None))
        self.relaxation = float(check_range("relaxation", relaxation, 0.0, 2.0, low_open=True))
        self.self_contact = bool(self_contact)
        self.max_speed = float(max_speed)
        self.gravity = np.asarray(gravity, dtype=np.float64).reshape(3)
        x = np.asarray(positions, dtype=np.float64).reshape(-1, 3)
        self.n = n = len(x)
        if n == 0:
            raise InputError("the scene has no particles; add a rope, a cloth or a plush first")
        self.mass = np.asarray(masses, dtype=np.float64).reshape(n)
        self.pinned = np.asarray(pinned, dtype=bool).reshape(n)
        self.radius_np = np.asarray(radius, dtype=np.float64).reshape(n)
        self.particle_type = np.asarray(particle_type, dtype=np.int32).reshape(n)
        self.springs = np.asarray(springs, dtype=np.int32).reshape(-1, 2)
        self.rest_np = np.asarray(rest, dtype=np.float64).reshape(-1)
        self.stiffness_np = np.asarray(stiffness, dtype=np.float64).reshape(-1)
        self.grippers = list(grippers)
        self.colliders = list(colliders)
        if len(self.colliders) > MAX_COLLIDERS:
            raise InputError(f"{len(self.colliders)} colliders given; at most {MAX_COLLIDERS} are supported")
        self.threads = 1 if self.requires_grad else default_threads(self.device, threads)
        self._spans = split(n, self.threads, MIN_PARTICLES_PER_THREAD) if self.device == "cpu" else [(0, n)]
        self._static = dict(static) if static is not None else {"particle_type": self.particle_type}
        self.description = dict(description or {})
        self.initial_positions = x
        self._check_time_step()
        self._upload()
        self._launches = LaunchCache(self.device, limit=4096)
        prepare([self.k.predict, self.k.gather, self.k.apply, self.k.spring_forces, self.k.symplectic,
                 self.k.check_particles], self.device)

    # ---- set-up -------------------------------------------------------------------------------------------
    def stable_substep(self) -> float:
        """Largest stable substep of the chosen integrator: symplectic Euler needs h <= 2 / omega_max, with
        omega_max^2 <= max_i (2 / m_i) sum_j k_ij (Gershgorin); XPBD is stable for any spring stiffness (inf)."""
        if self.integrator == "xpbd" or len(self.springs) == 0:
            return math.inf
        load = np.zeros(self.n)
        np.add.at(load, self.springs[:, 0], self.stiffness_np)
        np.add.at(load, self.springs[:, 1], self.stiffness_np)
        free = ~self.pinned
        omega2 = float(np.max(2.0 * load[free] / self.mass[free])) if free.any() else 0.0
        return math.inf if omega2 <= 0 else 2.0 / math.sqrt(omega2)

    def _check_time_step(self):
        limit = self.stable_substep()
        if self.h > limit:
            need = math.ceil(self.dt / (0.9 * limit))
            raise InputError(f"substep dt / substeps = {self.h:.4g} s is above the stable limit {limit:.4g} s of the "
                             f"{self.integrator} integrator (stiffest spring per mass); use substeps >= {need}")

    def _array(self, data, dtype, requires_grad=False):
        return self.wp.array(np.ascontiguousarray(data), dtype=dtype, device=self.device, requires_grad=requires_grad)

    def _upload(self):
        wp, k, f, rg = self.wp, self.k, self.np_dtype, self.requires_grad
        n = self.n
        inv = np.where(self.pinned, 0.0, 1.0 / self.mass)
        self.inv_mass = self._array(inv.astype(f), k.scalar)
        self.radius = self._array(self.radius_np.astype(f), k.scalar)
        order = np.argsort(np.concatenate([self.springs[:, 0], self.springs[:, 1]]), kind="stable")
        ends = np.concatenate([self.springs[:, 0], self.springs[:, 1]])[order]
        others = np.concatenate([self.springs[:, 1], self.springs[:, 0]])[order]
        spring_ids = np.concatenate([np.arange(len(self.springs))] * 2)[order]
        counts = np.bincount(ends, minlength=n)
        self.adj_start = self._array(np.concatenate([[0], np.cumsum(counts)]).astype(np.int32), wp.int32)
        self.adj_other = self._array(np.append(others, 0).astype(np.int32), wp.int32)
        self.adj_spring = self._array(np.append(spring_ids, 0).astype(np.int32), wp.int32)
        self.rest = self._array(np.append(self.rest_np, 1.0).astype(f), k.scalar)
        self.stiffness = self._array(np.append(self.stiffness_np, 1.0).astype(f), k.scalar, rg)
        self.decay = self._array(np.array([math.exp(-self.damping * self.h)], f), k.scalar, rg)
        rows = self.colliders or [(0, np.zeros(3), np.zeros(3), 0.0, 0.0)]
        self.n_col = len(self.colliders)
        self.col_kind = self._array(np.array([r[0] for r in rows], np.int32), wp.int32)
        self.col_a = self._array(np.array([r[1] for r in rows], f), k.vec3)
        self.col_b = self._array(np.array([r[2] for r in rows], f), k.vec3)
        self.col_r = self._array(np.array([r[3] for r in rows], f), k.scalar)
        self.col_mu = self._array(np.array([r[4] for r in rows], f), k.scalar)
        self.g = max(len(self.grippers), 1)
        self.query_radius = self._array(np.zeros(1, f), k.scalar)
        self.grid = wp.HashGrid(64, 64, 64, device=self.device, dtype=k.scalar) if self.self_contact else None
        self._grid_id = self.grid.id if self.grid is not None else 0
        self._first_bad = wp.zeros(1, dtype=int, device=self.device)
        self._schedule = None
        # kernel scalars made once: recorded launches are keyed by their arguments' identities
        self._gravity_v, self._h = k.vec3(*self.gravity), k.scalar(self.h)
        self._omega, self._grid_u64 = k.scalar(self.relaxation), wp.uint64(self._grid_id)

    def set_stiffness(self, stiffness) -> None:
        """Replace the spring constants (M,) N/m (e.g. during system identification)."""
        k = np.asarray(stiffness, dtype=np.float64).reshape(-1)
        if k.shape != self.stiffness_np.shape or not np.all(np.isfinite(k) & (k > 0)):
            raise InputError(f"stiffness must be {len(self.stiffness_np)} positive finite spring constants")
        self.stiffness_np = k
        self.stiffness.assign(np.append(k, 1.0).astype(self.np_dtype))
        self._check_time_step()

    def set_damping(self, damping: float) -> None:
        self.damping = float(check_range("damping", damping, 0.0, None))
        self.decay.assign(np.array([math.exp(-self.damping * self.h)], self.np_dtype))

    # ---- states -------------------------------------------------------------------------------------------
    def new_state(self, x=None, v=None, requires_grad=None) -> DeformableState:
        """A state with positions ``x`` (default: the initial ones) and velocities ``v`` (default 0), every
        gripper at its first keyframe, open, nothing attached."""
        rg = self.requires_grad if requires_grad is None else requires_grad
        k, f, n = self.k, self.np_dtype, self.n
        x = self.initial_positions if x is None else np.asarray(x, dtype=np.float64)
        v = np.zeros((n, 3)) if v is None else np.asarray(v, dtype=np.float64)
        for name, value in (("x", x), ("v", v)):
            if value.shape != (n, 3):
                raise InputError(f"state {name} has shape {value.shape}; expected ({n}, 3)")
        poses = [g.pose(-math.inf) for g in self.grippers] or [(np.zeros(3), np.array([0, 0, 0, 1.0]), False)]
        return DeformableState(
            x=self._array(x.astype(f), k.vec3, rg), v=self._array(v.astype(f), k.vec3, rg),
            attached=self._array(np.full(n, -1, np.int32), self.wp.int32),
            offset=self._array(np.zeros((n, 3), f), k.vec3),
            grip_pos=np.array([p[0] for p in poses]), grip_rot=np.array([p[1] for p in poses]),
            grip_closed=np.zeros(len(poses), dtype=bool))

    # ---- stepping -----------------------------------------------------------------------------------------
    def step(self, state_in: DeformableState, state_out: DeformableState, control: GripperControl | None = None,
             dt=None, *, stiffness=None, decay=None) -> DeformableState:
        """Advance ``state_in`` by one step (``substeps`` substeps) into ``state_out``; grippers move to the
        targets of ``control`` (None: they hold their pose and state). ``stiffness`` (M + 1,) and ``decay`` (1,)
        Warp arrays replace the model's spring constants and damping factor exp(-damping h) (differentiable
        use, `simengine.deformables.differentiable`)."""
        self._own_step(dt)
        stiffness = self.stiffness if stiffness is None else stiffness
        decay = self.decay if decay is None else decay
        target = self._target(state_in, control)
        self._grasp(state_in, state_out, target)
        self._gripper_schedule(state_in, target)
        rebuild = self._grid_plan(state_in, target) if self.self_contact else 0
        rg = self.requires_grad
        x_cur, v_cur = state_in.x, state_in.v
        keep = []
        for s in range(self.substeps):
            last = s == self.substeps - 1
            if last:
                x_next, v_next = state_out.x, state_out.v
            elif rg:
                x_next, v_next = self._fresh(), self._fresh()
                keep += [x_next, v_next]
            else:
                x_next, v_next = self._scratch(s % 2)
            if rebuild and s % rebuild == 0:
                self.grid.build(x_cur, float(self.query_radius.numpy()[0]))
            delta, count = self._sums(keep)
            if self.integrator == "xpbd":
                x_pred = self._fresh() if rg else self._scratch(2)[0]
                keep.append(x_pred)
                self._launch(self.k.predict, [x_cur, v_cur, self.inv_mass, state_out.attached, state_out.offset,
                                              self._sched_pos, self._sched_rot, s * self.g, self._gravity_v, self._h,
                                              decay, x_pred])
                self._launch(self.k.gather, [
                    x_pred, self.inv_mass, state_out.attached, self.radius, self.adj_start, self.adj_other,
                    self.adj_spring, self.rest, stiffness, self._h, int(self.self_contact), self._grid_u64,
                    self.query_radius, delta, count])
                self._launch(self.k.apply, [
                    x_cur, x_pred, self.inv_mass, state_out.attached, self.radius, delta, count, self._h, self._omega,
                    self.n_col, self.col_kind, self.col_a, self.col_b, self.col_r, self.col_mu, x_next, v_next])
            else:
                self._launch(self.k.spring_forces, [x_cur, self.adj_start, self.adj_other, self.adj_spring, self.rest,
                                                    stiffness, delta])
                self._launch(self.k.symplectic, [
                    x_cur, v_cur, self.inv_mass, state_out.attached, state_out.offset, self._sched_pos,
                    self._sched_rot, s * self.g, self.radius, delta, self._gravity_v, self._h, decay,
                    self.n_col, self.col_kind, self.col_a, self.col_b, self.col_r, self.col_mu, x_next, v_next])
            x_cur, v_cur = x_next, v_next
        state_out.grip_pos, state_out.grip_rot, state_out.grip_closed = target
        state_out.time = state_in.time + self.dt
        state_out.step = state_in.step + 1
        state_out.keep = keep + [self._sched_pos, self._sched_rot] if rg else []
        return state_out

    def _fresh(self):
        return self.wp.zeros(self.n, dtype=self.k.vec3, device=self.device, requires_grad=True)

    def _sums(self, keep):
        """Zeroed (delta (N,) vec3, count (N,)) for one substep's Jacobi sums or spring forces."""
        if self.requires_grad:
            sums = (self._fresh(), self.wp.zeros(self.n, dtype=self.k.scalar, device=self.device, requires_grad=True))
            keep.extend(sums)
            return sums
        if not hasattr(self, "_sum_buffers"):
            self._sum_buffers = (self.wp.zeros(self.n, dtype=self.k.vec3, device=self.device),
                                 self.wp.zeros(self.n, dtype=self.k.scalar, device=self.device))
        for array in self._sum_buffers:
            array.zero_()
        return self._sum_buffers

    def _scratch(self, k: int):
        pool = self.__dict__.setdefault("_scratch_pool", {})
        if k not in pool:
            pool[k] = (self.wp.zeros(self.n, dtype=self.k.vec3, device=self.device),
                       self.wp.zeros(self.n, dtype=self.k.vec3, device=self.device))
        return pool[k]

    def _launch(self, kernel, inputs):
        wp = self.wp
        if self.requires_grad:
            for begin, end in self._spans:
                wp.launch(kernel, dim=end - begin, inputs=[begin, *inputs], device=self.device)
            return

        def task(begin, end, _t):
            self._launches.launch(kernel, end - begin, [begin, *inputs])

        run_parallel(task, self._spans, kernels=[kernel], device=self.device)

    def _target(self, state, control):
        """(positions (G, 3), quaternions (G, 4), closed (G,)) at the end of the step."""
        if control is None:
            return state.grip_pos.copy(), state.grip_rot.copy(), state.grip_closed.copy()
        if not isinstance(control, GripperControl):
            raise InputError(f"control = {control!r} is not a GripperControl (positions, rotations, closed)")
        g = len(self.grippers)
        pos = np.asarray(control.position, dtype=np.float64).reshape(-1, 3)
        rot = np.asarray(control.rotation, dtype=np.float64).reshape(-1, 4)
        closed = np.asarray(control.closed, dtype=bool).reshape(-1)
        if not (len(pos) == len(rot) == len(closed) == g):
            raise InputError(f"control has {len(pos)} positions, {len(rot)} rotations and {len(closed)} closed "
                             f"flags; the scene has {g} grippers")
        if g == 0:
            return state.grip_pos.copy(), state.grip_rot.copy(), state.grip_closed.copy()
        norms = np.linalg.norm(rot, axis=1)
        if not (np.all(np.isfinite(pos)) and np.all(norms > 1e-12)):
            raise InputError("control positions must be finite and its quaternions non-zero")
        return pos, rot / norms[:, None], closed

    def _grasp(self, state_in, state_out, target):
        """state_out's attachments: state_in's, plus the particles within ``radius`` of a gripper that closes
        in this step (offsets in its frame at the start of the step), minus those of a gripper that opens."""
        closed = target[2]
        changed = [g for g in range(len(self.grippers)) if bool(closed[g]) != bool(state_in.grip_closed[g])]
        if not changed:
            self.wp.copy(state_out.attached, state_in.attached)
            self.wp.copy(state_out.offset, state_in.offset)
            return
        attached, offset = state_in.attached.numpy().copy(), state_in.offset.numpy().copy()
        x = state_in.x.numpy().astype(np.float64)
        for g in changed:
            if closed[g]:
                grip = self.grippers[g]
                centre, rotation = state_in.grip_pos[g], quaternion_matrix(state_in.grip_rot[g])
                near = np.flatnonzero((np.linalg.norm(x - centre, axis=1) <= grip.radius) & (attached < 0)
                                      & ~self.pinned)
                if len(near) == 0:
                    warnings.warn(f"{grip.name} closed at t = {state_in.time:.4g} s at position "
                                  f"{np.round(centre, 4).tolist()} with no particle within its radius "
                                  f"{grip.radius:g} m", stacklevel=3)
                attached[near] = g
                offset[near] = (x[near] - centre) @ rotation  # R^T (x - p), row by row
            else:
                offset[attached == g] = 0.0
                attached[attached == g] = -1
        state_out.attached.assign(attached)
        state_out.offset.assign(offset.astype(self.np_dtype))

    def _gripper_schedule(self, state, target):
        """Gripper poses at the end of every substep (S G rows), moved from the state's pose to the target."""
        g_count, s_count = self.g, self.substeps
        pos = np.zeros((s_count, g_count, 3))
        rot = np.zeros((s_count, g_count, 4))
        rot[..., 3] = 1.0
        fractions = np.arange(1, s_count + 1) / s_count
        for g in range(len(self.grippers)):
            pos[:, g] = (1 - fractions)[:, None] * state.grip_pos[g] + fractions[:, None] * target[0][g]
            rot[:, g] = slerp(state.grip_rot[g], target[1][g], fractions)
        pos, rot = pos.reshape(-1, 3).astype(self.np_dtype), rot.reshape(-1, 4).astype(self.np_dtype)
        if self.requires_grad or self._schedule is None:
            self._sched_pos = self._array(pos, self.k.vec3)
            self._sched_rot = self._array(rot, self.k.quat)
            self._schedule = True
        else:
            self._sched_pos.assign(pos)
            self._sched_rot.assign(rot)

    def _grid_plan(self, state, target) -> int:
        """Substeps between rebuilds of the contact hash grid: as many as keep the largest possible motion
        since the last build (fastest particle, gravity, gripper motion) under 2 particle radii, at least 1; the
        grid query then reaches 2 r_max plus twice that motion. (One build per step would let one fast particle
        widen every query: measured 25x slower on a settling plush.)"""
        v = state.v.numpy().astype(np.float64)
        speed = float(np.sqrt((v * v).sum(1).max(initial=0.0)))
        if len(self.grippers):  # attached particles move with their gripper
            speed += float(np.linalg.norm(target[0] - state.grip_pos, axis=1).max()) / self.dt
        g, r = float(np.linalg.norm(self.gravity)), float(self.radius_np.max())

        def motion(steps):
            t = steps * self.h
            return 1.5 * ((speed + g * self.dt) * t + 0.5 * g * t * t)

        every = self.substeps
        while every > 1 and motion(every) > 2.0 * r:
            every = max(1, every // 2)
        self.query_radius.assign(np.array([2.0 * r + 2.0 * motion(every)], self.np_dtype))
        return every

    # ---- the contract: checks and recording ----------------------------------------------------------------
    def check(self, state: DeformableState, step: int) -> None:
        """`SimulationError` naming step, time and the first particle that is non-finite or faster than
        ``max_speed``."""
        self._check_particles(self.k.check_particles, state, state.step, self.k.scalar(self.max_speed),
                              label="deformables", bound=f"{self.max_speed:g} m/s",
                              hint="use more substeps or softer springs")

    def frame(self, state: DeformableState) -> dict:
        out = {"position": state.x.numpy().astype(np.float32), "velocity": state.v.numpy().astype(np.float32)}
        if self.grippers:
            out["action"] = np.concatenate([state.grip_pos, state.grip_rot, state.grip_closed[:, None]],
                                           axis=1).astype(np.float32)
        return out

    def static(self) -> dict:
        return dict(self._static)

    def metadata(self) -> dict:
        return {"dim": 3, "dt": self.dt, "substeps": self.substeps, "integrator": self.integrator,
                "damping": self.damping, "gravity": self.gravity.tolist(), **self.description}

    # ---- energies (symplectic validation) ------------------------------------------------------------------
    def energy(self, state: DeformableState) -> dict:
        """Kinetic, spring and gravitational potential energy (J) of ``state`` (free particles' gravity)."""
        x, v = state.x.numpy().astype(np.float64), state.v.numpy().astype(np.float64)
        kinetic = 0.5 * float((self.mass[:, None] * v * v).sum())
        length = np.linalg.norm(x[self.springs[:, 0]] - x[self.springs[:, 1]], axis=1)
        spring = 0.5 * float((self.stiffness_np * (length - self.rest_np) ** 2).sum())
        gravity = -float((self.mass * (x @ self.gravity)).sum())
        return {"kinetic": kinetic, "spring": spring, "gravity": gravity, "total": kinetic + spring + gravity}

    def close(self):
        self._launches.clear()
