"""MLS-MPM solver (Hu et al. 2018): orchestrates the Warp kernels of `kernels.mpm` for one step.

    solver = MPMSolver(dim=2, cells=(32, 32), dx=1/32, dt=1e-4, particles=dict(...))
    s0 = solver.new_state(x0, v0); s1 = solver.new_state()
    solver.step(s0, s1)            # s0 -> s1; never writes s0 (the `simengine.simulator` contract)

On CPU, ``threads > 1`` splits the particles (and grid nodes) into fixed slices launched from the
shared thread pool of `simengine.parallel` (`wp.launch` releases the GIL); each thread scatters into a
private grid copy and the grid update sums the copies in a fixed order, so a run is deterministic for a
given thread count. Under a `wp.Tape` (``requires_grad=True``) the solver runs one thread and gives each
step a fresh grid.
"""
from __future__ import annotations

import numpy as np

from simengine.errors import InputError
from simengine.mpm.colliders import check_mode, sample_colliders
from simengine.mpm.state import MPMGrid, MPMParticles, MPMState
from simengine.parallel import LaunchCache, prepare, run_parallel, split
from simengine.runtime import default_threads, init_warp, resolve_device
from simengine.simulator import Simulator

DTYPES = {"float32": np.float32, "float64": np.float64}
CPU_CHUNK = 64
#: below this many particles, thread hand-offs cost more than they save (one thread)
MIN_PARTICLES_THREADED = 8192


def check_periodic(periodic, dim: int, cells, pad: int) -> tuple[bool, ...]:
    """``periodic`` as ``dim`` bools (None: no periodic axis); each periodic axis needs a period of >= 4 cells."""
    if periodic is None:
        return (False,) * dim
    flags = np.asarray(periodic).reshape(-1)
    if flags.shape != (dim,) or flags.dtype.kind not in "bi" or not np.isin(flags, (0, 1)).all():
        raise InputError(f"periodic = {periodic!r} must be {dim} booleans, one per axis")
    for a, flag in enumerate(flags):
        if flag and cells[a] - 2 * pad < 4:
            raise InputError(f"periodic[{a}]: the period along axis {a} is {cells[a] - 2 * pad} cells (cells minus "
                             f"2 x {pad} wall cells); it must be at least 4: enlarge the domain or grid_res")
    return tuple(bool(f) for f in flags)


class MPMSolver(Simulator):
    """One MLS-MPM time step on a grid of ``cells`` cells of size ``dx`` (nodes at ``index * dx``).

    Args:
        dim: 2 or 3. cells: cells per axis (nodes = cells + 1). dx: cell size. dt: time step.
        particles: dict of numpy arrays ``mass, volume (N,)``, ``model (N,) int``, ``E, nu (N,)``,
            ``params (N, 4)``, or an `MPMParticles` of Warp arrays.
        gravity: (dim,) acceleration. boundary: domain-wall mode "slip" | "sticky" | "separate";
            boundary_friction: Coulomb coefficient at the walls. pad: wall thickness in nodes.
        periodic: (dim,) bools, axes with no walls that wrap around: the period is the ``cells - 2 pad``
            cells from ``pad dx`` (the region inside the walls); at least 4 cells. Not under a tape.
        colliders: `simengine.mpm.colliders.Collider` list. device: "cpu" / "cuda".
        dtype: "float32" | "float64". threads: CPU threads (None: `simengine.runtime.default_threads`;
            one below ``min_particles_threaded`` particles, under a tape and on CUDA).
        requires_grad: allocate gradient buffers and a fresh grid per step (for `wp.Tape`).
        max_speed: blow-up bound for `check` (default dx / dt: one cell per step).
        static: per-particle arrays recorded once per trajectory (``particle_type`` (N,), ``mass``,
            ``material_id``; default: type 0 and the masses). description: JSON metadata of the scene.
    """

    name = "mpm"

    def __init__(self, *, dim, cells, dx, dt, particles, gravity=None, boundary="separate", boundary_friction=0.0,
                 colliders=(), device="cpu", dtype="float32", threads=None, pad=3, requires_grad=False,
                 max_speed=None, min_particles_threaded=MIN_PARTICLES_THREADED, static=None, description=None,
                 periodic=None):
        self.wp = wp = init_warp()
        from kernels.mpm import get_kernels

        if dim not in (2, 3):
            raise InputError(f"dim = {dim!r} is not one of [2, 3]")
        if dtype not in DTYPES:
            raise InputError(f"dtype = {dtype!r} is not one of {list(DTYPES)}")
        self.dim, self.dx, self.dt, self.pad = dim, float(dx), float(dt), int(pad)
        self.device = resolve_device(device)
        self.np_dtype = DTYPES[dtype]
        self.k = get_kernels(dim, wp.float32 if dtype == "float32" else wp.float64)
        self.cells = tuple(int(c) for c in cells)
        self.nodes = tuple(c + 1 for c in self.cells)
        self.n_nodes = int(np.prod(self.nodes))
        self.res = self.k.ivec(*self.nodes)
        self.gravity = self.k.vec(*(np.zeros(dim) if gravity is None else np.asarray(gravity, float)))
        self.periodic = check_periodic(periodic, dim, self.cells, self.pad)
        if any(self.periodic) and requires_grad:
            raise InputError("periodic = True along an axis is not differentiable yet: use requires_grad=False")
        self._periodic = self.k.ivec(*(int(p) for p in self.periodic))
        self.boundary, self.wall_mode = boundary, check_mode("boundary", boundary)
        self.boundary_friction = float(boundary_friction)
        self.requires_grad = bool(requires_grad)
        self.max_speed = float(max_speed) if max_speed is not None else self.dx / self.dt
        cpu = self.device == "cpu"
        self.threads = 1 if self.requires_grad else default_threads(self.device, threads)
        self.chunk = CPU_CHUNK if cpu else 1  # items per kernel thread (see kernels.mpm.transfer)
        self.particles = particles if isinstance(particles, MPMParticles) else self.make_particles(**particles)
        self.n = len(self.particles)
        if self.n < min_particles_threaded:
            self.threads = 1
        self.colliders = list(colliders)
        from kernels.mpm import MAX_COLLIDERS

        if len(self.colliders) > MAX_COLLIDERS:
            raise InputError(f"{len(self.colliders)} colliders given; at most {MAX_COLLIDERS} are supported")
        self._setup_colliders()
        self._grid = self.new_grid(buffers=self.threads)
        self._first_bad = wp.zeros(1, dtype=int, device=self.device)
        self._static = dict(static) if static is not None else {
            "particle_type": np.zeros(self.n, np.int32), "mass": self.particles.mass.numpy().astype(np.float32)}
        self.description = dict(description or {})
        self._launches = LaunchCache(self.device)
        self._kernels = (self.k.p2g, self.k.p2g_external, self.k.grid_update, self.k.g2p, self.k.g2p_trial,
                         self.k.check_particles, self.k.wrap_periodic)
        prepare(self._kernels, self.device)

    # ---- allocation ------------------------------------------------------------------------------
    def _array(self, data, dtype, requires_grad=False):
        return self.wp.array(np.ascontiguousarray(data), dtype=dtype, device=self.device, requires_grad=requires_grad)

    def make_particles(self, mass, volume, model, E, nu, params) -> MPMParticles:
        k, rg, f = self.k, self.requires_grad, self.np_dtype
        return MPMParticles(
            mass=self._array(np.asarray(mass, f), k.scalar), volume=self._array(np.asarray(volume, f), k.scalar),
            model=self._array(np.asarray(model, np.int32), self.wp.int32),
            E=self._array(np.asarray(E, f), k.scalar, rg), nu=self._array(np.asarray(nu, f), k.scalar, rg),
            params=self._array(np.asarray(params, f).reshape(-1, 4), k.vec4, rg))

    def new_state(self, x=None, v=None, F=None, C=None, plastic=None, requires_grad=None) -> MPMState:
        """A state with the given (N, d) / (N, d, d) / (N,) numpy values (defaults: 0, 0, I, 0, 1)."""
        n, d, f, k = self.n, self.dim, self.np_dtype, self.k
        rg = self.requires_grad if requires_grad is None else requires_grad
        values = {
            "x": np.zeros((n, d)) if x is None else x, "v": np.zeros((n, d)) if v is None else v,
            "C": np.zeros((n, d, d)) if C is None else C,
            "F": np.broadcast_to(np.eye(d), (n, d, d)) if F is None else F,
            "plastic": np.ones(n) if plastic is None else plastic}
        types = {"x": k.vec, "v": k.vec, "C": k.mat, "F": k.mat, "plastic": k.scalar}
        arrays = {}
        for name, value in values.items():
            value = np.asarray(value, dtype=f)
            expected = (n,) + ((d,) if name in "xv" else (d, d) if name in "CF" else ())
            if value.shape != expected:
                raise InputError(f"state {name} has shape {value.shape}; expected {expected}")
            arrays[name] = self._array(value, types[name], rg)
        nc = max(len(self.colliders), 1)
        return MPMState(**arrays, collider_disp=self._array(np.zeros((nc, d), f), k.vec),
                        collider_vel=self._array(np.zeros((nc, d), f), k.vec))

    def motion_buffer(self):
        """A zeroed (n_c,) vector array for a state's collider displacement or velocity."""
        return self.wp.zeros(max(len(self.colliders), 1), dtype=self.k.vec, device=self.device)

    def new_grid(self, buffers: int = 1, requires_grad=None) -> MPMGrid:
        rg = self.requires_grad if requires_grad is None else requires_grad
        wp, k, g = self.wp, self.k, self.n_nodes
        return MPMGrid(moments=wp.zeros(buffers * g, dtype=k.nodevec, device=self.device, requires_grad=rg),
                       velocity=wp.zeros(g, dtype=k.vec, device=self.device, requires_grad=rg))

    def _setup_colliders(self):
        sdf, normal, mode, friction, moving = sample_colliders(self.colliders, self.nodes, self.dx)
        k = self.k
        self.col_sdf, self.col_normal = self._array(sdf.astype(self.np_dtype), k.scalar), self._array(
            normal.astype(self.np_dtype), k.vec)
        self.col_mode, self.col_moving = self._array(mode, self.wp.int32), self._array(moving, self.wp.int32)
        self.col_friction = self._array(friction.astype(self.np_dtype), k.scalar)
        self.any_moving = any(c.moving for c in self.colliders)
        nc = max(len(self.colliders), 1)
        self._motion = [(np.zeros((nc, self.dim)), np.zeros((nc, self.dim)))]  # per step: (disp, vel)
        if self.colliders:
            self._motion[0] = (self._motion[0][0][:len(self.colliders)],
                               np.stack([c.velocity_at(0.0, self.dim) for c in self.colliders]))

    # ---- stepping ----------------------------------------------------------------------------------
    def step(self, state_in: MPMState, state_out: MPMState, control=None, dt=None, *, grid: MPMGrid | None = None,
             particles: MPMParticles | None = None) -> MPMState:
        """Advance ``state_in`` by dt into ``state_out`` with the materials' stress and return mapping. MPM takes
        no control (colliders move by their own velocity functions) and steps with its own dt."""
        self._no_control(control)
        self._own_step(dt)
        return self._step(state_in, state_out, grid, particles, stress=None)

    def step_external(self, state_in: MPMState, stress, state_out: MPMState, grid: MPMGrid | None = None,
                      particles: MPMParticles | None = None) -> MPMState:
        """One step with a given Kirchhoff stress (N,) mat_dd instead of the materials' law; ``state_out.F``
        receives the unprojected trial ``F_trial = (I + dt C^{n+1}) F^n`` (apply a return mapping yourself)."""
        return self._step(state_in, state_out, grid, particles, stress=stress)

    def _step(self, s_in, s_out, grid, particles, stress):
        k = self.k
        p = particles or self.particles
        if grid is None:
            grid = self.new_grid() if self.requires_grad else self._grid
        buffers = grid.moments.shape[0] // self.n_nodes
        threads = min(self.threads, buffers)
        self._move_colliders(s_in, s_out)
        cache = particles is None and stress is None and not self.requires_grad
        launch = self._cached_launch if cache else self._launch
        p2g = k.p2g if stress is None else k.p2g_external
        g2p = k.g2p if stress is None else k.g2p_trial
        stress = s_in.F if stress is None else stress  # (a placeholder of the right type)
        g = self.n_nodes

        def scatter(begin, end, t):
            launch(p2g, (begin, end), [
                s_in.x, s_in.v, s_in.C, s_in.F, s_in.plastic, stress, p.mass, p.volume, p.model, p.E, p.nu,
                p.params, self.dx, self.dt, self.res, begin, end, self.chunk, t * g, grid.moments])

        def update(begin, end, t):
            launch(k.grid_update, (begin, end), [
                grid.moments, threads, g, self.res, self.dx, self.dt, self.gravity, self.pad,
                self.wall_mode, self.boundary_friction, len(self.colliders), self.col_sdf, self.col_normal,
                self.col_mode, self.col_friction, self.col_moving, s_out.collider_disp, s_out.collider_vel,
                self._periodic, begin, end, self.chunk, grid.velocity])

        def gather(begin, end, t):
            launch(g2p, (begin, end), [
                s_in.x, s_in.F, s_in.plastic, p.model, p.E, p.nu, p.params, grid.velocity, self.dx, self.dt,
                self.res, begin, end, self.chunk, s_out.x, s_out.v, s_out.C, s_out.F, s_out.plastic])

        if threads == 1:
            grid.zero()
            scatter(0, self.n, 0)
            update(0, g, 0)
            gather(0, self.n, 0)
        else:
            def zero_and_scatter(begin, end, t):
                grid.moments[t * g:(t + 1) * g].zero_()
                scatter(begin, end, t)

            self._parallel(zero_and_scatter, self.n, threads)
            self._parallel(update, g, threads)
            self._parallel(gather, self.n, threads)
        if any(self.periodic):
            launch(k.wrap_periodic, (0, self.n), [s_out.x, self.dx, self.res, self.pad, self._periodic, 0, self.n,
                                                  self.chunk])
        s_out.time = s_in.time + self.dt
        return s_out

    def _launch(self, kernel, span, args):
        dim = (span[1] - span[0] + self.chunk - 1) // self.chunk
        self.wp.launch(kernel, dim=dim, inputs=args, device=self.device)

    def _cached_launch(self, kernel, span, args):
        """Replay a recorded launch for the same kernel and arrays (double-buffered forward runs): packing
        ~20 arguments costs more than a small scene's kernels. Not used under a tape."""
        self._launches.launch(kernel, (span[1] - span[0] + self.chunk - 1) // self.chunk, args)

    def _parallel(self, fn, total, threads):
        run_parallel(fn, split(total, threads), kernels=self._kernels, device=self.device)

    def collider_motion(self, time: float) -> tuple[np.ndarray, np.ndarray]:
        """(displacement, velocity) (n_c, d) of the colliders at ``time`` (a multiple of dt): velocities
        integrated as ``d_k = d_(k-1) + dt v(k dt)``, the same way particles move, cached per step."""
        k = int(round(time / self.dt))
        while len(self._motion) <= k:
            j = len(self._motion)
            vel = np.stack([c.velocity_at(j * self.dt, self.dim) for c in self.colliders])
            self._motion.append((self._motion[-1][0] + self.dt * vel, vel))
        return self._motion[k]

    def _move_colliders(self, s_in, s_out):
        if not self.any_moving:
            return
        disp, vel = self.collider_motion(s_in.time + self.dt)
        s_out.collider_disp.assign(disp.astype(self.np_dtype))
        s_out.collider_vel.assign(vel.astype(self.np_dtype))

    # ---- recording (the `simengine.simulator` contract) ----------------------------------------------
    def frame(self, state: MPMState) -> dict:
        return {"position": state.x.numpy().astype(np.float32), "velocity": state.v.numpy().astype(np.float32)}

    def static(self) -> dict:
        return dict(self._static)

    def metadata(self) -> dict:
        """The grid cell goes under ``grid_dx``: a dataset's ``dx`` is the particle spacing (`simengine.io`
        measures it from the positions; `simengine.Scene.metadata` writes it)."""
        return {"dim": self.dim, "grid_dx": self.dx, "dt": self.dt, **self.description}

    # ---- safety ------------------------------------------------------------------------------------
    def check(self, state: MPMState, step: int) -> None:
        """Raise `SimulationError` naming the step, time and first particle that is NaN/inf or faster
        than ``max_speed``: a blown-up step never reaches the caller's data."""
        self._check_particles(self.k.check_particles, state, step, self.max_speed, label="MPM",
                              bound=f"{self.max_speed:.4g} = one cell per step",
                              hint="reduce dt or check the material parameters")

    def close(self):
        """Drop recorded launches (the thread pool is shared: nothing else to release)."""
        self._launches.clear()
