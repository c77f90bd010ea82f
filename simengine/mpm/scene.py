"""`Scene`: bodies of materials and colliders in a box, simulated with MLS-MPM (`simengine.mpm`).

    from simengine import Scene, materials, shapes
    scene = Scene(dim=3, domain=(1.0, 1.0, 1.0), grid_res=64, device="cpu", seed=0)
    scene.add_body(shapes.Box(lower=(0.3, 0.1, 0.3), size=(0.2, 0.2, 0.2)), materials.Sand(friction_angle=30.0),
                   density=1600.0)
    scene.add_collider(shapes.Plane(normal=(0, 1, 0), offset=0.05), friction=0.5)
    traj = scene.run(duration=1.0, record_every=10)   # Trajectory: position (T, N, D), velocity, ...

The grid has ``grid_res`` cells along the longest side of ``domain`` (dx = max(domain) / grid_res) and
nodes at ``index * dx``; the outer ``pad = 3`` node layers are the domain walls, except along axes given as
``periodic=(True, False)``: there the region between the wall layers, ``[pad dx, (cells - pad) dx)``, repeats
(particles leaving it re-enter on the other side; ``metadata["bounds"]`` is that period). The time step, unless
given, is ``cfl * dx / (c + |v|_max)`` with c the fastest P-wave speed sqrt((lambda + 2 mu) / rho) (the
bulk sound speed for fluids) and |v|_max the fastest initial speed plus sqrt(2 |g| L), also bounded
by the explicit-viscosity limit ``dx^2 / (2 d nu)``; an explicit dt above the limit (cfl = 1) is
refused. For differentiable use, `Scene.build` returns the solver and the initial state (see
`simengine.mpm.differentiable`).
"""
from __future__ import annotations

import math

import numpy as np

from simengine.errors import InputError, check_range
from simengine.mpm.colliders import Collider, check_mode, describe
from simengine.mpm.materials import Material

PAD = 3  # wall thickness in grid nodes


class Scene:
    """An MPM scene. See the module docstring; every argument is validated with a clear error."""

    def __init__(self, dim=3, domain=(1.0, 1.0, 1.0), grid_res=64, device=None, seed=0, dt=None, gravity=None,
                 boundary="separate", boundary_friction=0.0, threads=None, cfl=0.5, dtype="float32", periodic=None):
        if dim not in (2, 3):
            raise InputError(f"dim = {dim!r} is not one of [2, 3]")
        self.dim = dim
        domain = np.asarray(domain, dtype=np.float64).reshape(-1)
        if domain.shape != (dim,):
            raise InputError(f"domain = {domain.tolist()} must have {dim} entries (dim = {dim})")
        for a, length in enumerate(domain):
            check_range(f"domain[{a}]", float(length), 0.0, None, low_open=True)
        if not isinstance(grid_res, (int, np.integer)):
            raise InputError(f"grid_res = {grid_res!r} must be an integer")
        check_range("grid_res", int(grid_res), 8, 1024)
        self.domain, self.grid_res, self.seed = domain, int(grid_res), seed
        self.dx = float(domain.max()) / self.grid_res
        self.cells = tuple(int(math.ceil(length / self.dx - 1e-9)) for length in domain)
        if gravity is None:
            gravity = [0.0, -9.81] + [0.0] * (dim - 2)
        self.gravity = np.asarray(gravity, dtype=np.float64).reshape(-1)
        if self.gravity.shape != (dim,) or not np.all(np.isfinite(self.gravity)):
            raise InputError(f"gravity = {gravity!r} must be {dim} finite numbers")
        check_mode("boundary", boundary)
        from simengine.mpm.solver import check_periodic

        self.periodic = check_periodic(periodic, dim, self.cells, PAD)
        self.boundary = boundary
        self.boundary_friction = float(check_range("boundary_friction", float(boundary_friction), 0.0, None))
        self.cfl = float(check_range("cfl", float(cfl), 0.0, 1.0, low_open=True))
        if dt is not None:
            check_range("dt", float(dt), 0.0, None, low_open=True)
        self._dt = None if dt is None else float(dt)
        # device None: $SIMENGINE_DEVICE (set by `simengine generate --device`), else the best available;
        # threads None: $SIMENGINE_THREADS, else every core (`simengine.runtime`, one policy for all simulators)
        from simengine.runtime import resolve_device

        self.device = resolve_device(device)
        if threads is not None:  # None: $SIMENGINE_THREADS, else every core (`simengine.runtime`)
            check_range("threads", int(threads), 1, 256)
        self.threads, self.dtype = threads, dtype
        self.rng = np.random.default_rng(seed)
        self.bodies: list[dict] = []
        self.colliders: list[Collider] = []

    # ---- content -----------------------------------------------------------------------------------
    @property
    def region(self) -> tuple[np.ndarray, np.ndarray]:
        """Where particles may be placed: the domain minus the wall layers."""
        return np.full(self.dim, PAD * self.dx), (np.asarray(self.cells) - PAD) * self.dx

    def add_body(self, shape, material, density=1000.0, velocity=None, particles_per_cell=None, jitter=False,
                 name=None) -> int:
        """Fill ``shape`` with particles (``particles_per_cell`` per cell, default 2^dim) of ``material``."""
        ppc = 2**self.dim if particles_per_cell is None else particles_per_cell
        check_range("particles_per_cell", float(ppc), 1.0, 64.0)
        spacing = self.dx / ppc ** (1.0 / self.dim)
        if not callable(getattr(shape, "sample", None)):
            raise InputError(f"shape {shape!r} has no sample(spacing, dim, rng, jitter) method")
        points = np.asarray(shape.sample(spacing, self.dim, self.rng, bool(jitter)), dtype=np.float64)
        name = name or f"body{len(self.bodies)}"
        if points.ndim != 2 or points.shape[1] != self.dim or len(points) == 0:
            raise InputError(f"body {name!r}: shape {describe(shape)} gave no particles at spacing {spacing:g} "
                             f"(got an array of shape {points.shape}); make it larger or raise grid_res")
        return self._add(points, material, density, velocity, spacing**self.dim, name,
                         {"shape": describe(shape), "particles_per_cell": ppc, "jitter": bool(jitter)})

    def add_particles(self, positions, material, density=1000.0, velocity=None, volume=None, name=None) -> int:
        """Add explicit particles (M, dim); ``volume`` per particle defaults to dx^dim / 2^dim."""
        positions = np.asarray(positions, dtype=np.float64)
        name = name or f"body{len(self.bodies)}"
        if positions.ndim != 2 or positions.shape[1] != self.dim or len(positions) == 0:
            raise InputError(f"body {name!r}: positions have shape {positions.shape}; expected (M, {self.dim})")
        volume = (self.dx / 2) ** self.dim if volume is None else volume
        return self._add(positions, material, density, velocity, volume, name, {"shape": "particles"})

    def _add(self, points, material, density, velocity, volume, name, info) -> int:
        if not isinstance(material, Material):
            raise InputError(f"body {name!r}: material = {material!r} is not a simengine.materials material")
        density = float(check_range(f"body {name!r} density", float(density), 0.0, None, low_open=True))
        volume = np.broadcast_to(np.asarray(volume, dtype=np.float64), (len(points),)).copy()
        if not np.all(np.isfinite(volume) & (volume > 0)):
            raise InputError(f"body {name!r}: volume must be positive and finite, got min {volume.min():g}")
        if not np.all(np.isfinite(points)):
            raise InputError(f"body {name!r}: positions contain NaN or inf")
        lo, hi = self.region
        for a in range(self.dim):
            bad = np.flatnonzero((points[:, a] < lo[a]) | (points[:, a] > hi[a]))
            if len(bad):
                raise InputError(
                    f"body {name!r}: particle {bad[0]} at x[{a}] = {points[bad[0], a]:.6g} lies outside the allowed "
                    f"range [{lo[a]:.6g}, {hi[a]:.6g}] (domain minus {PAD} wall cells of dx = {self.dx:.6g})")
        velocity = np.zeros(self.dim) if velocity is None else np.asarray(velocity, dtype=np.float64)
        velocity = np.broadcast_to(velocity, points.shape).copy() if velocity.shape in ((self.dim,), points.shape) \
            else None
        if velocity is None or not np.all(np.isfinite(velocity)):
            raise InputError(f"body {name!r}: velocity must be {self.dim} finite numbers or a ({len(points)}, "
                             f"{self.dim}) array")
        self.bodies.append(dict(name=name, positions=points, velocity=velocity, volume=volume, density=density,
                                material=material, info=info))
        return len(self.bodies) - 1

    def add_collider(self, shape, friction=0.0, mode="slip", velocity=None) -> int:
        """A solid given by ``shape.sdf``; ``velocity``: None, a (dim,) vector or a callable t -> vector."""
        if velocity is not None and not callable(velocity):
            velocity = np.asarray(velocity, dtype=np.float64).reshape(-1)
            if velocity.shape != (self.dim,) or not np.all(np.isfinite(velocity)):
                raise InputError(f"collider velocity = {velocity.tolist()} must be {self.dim} finite numbers")
        self.colliders.append(Collider(shape, friction=friction, mode=mode, velocity=velocity))
        return len(self.colliders) - 1

    # ---- time step -----------------------------------------------------------------------------------
    def time_step_limit(self) -> float:
        """Largest stable dt: min(dx / (c_max + |v|_max), dx^2 / (2 d nu_max)) over all bodies, where
        |v|_max is the fastest initial speed plus sqrt(2 |g| L), the speed of a fall across the domain, plus
        the fastest collider's speed at t = 0."""
        if not self.bodies:
            raise InputError("the scene has no bodies; add_body or add_particles first")
        c = max(b["material"].wave_speed(b["density"]) for b in self.bodies)
        v = max(float(np.linalg.norm(b["velocity"], axis=1).max()) for b in self.bodies)
        v += math.sqrt(2.0 * float(np.linalg.norm(self.gravity)) * float(self.domain.max()))  # fall through the box
        v += max([float(np.linalg.norm(c.velocity_at(0.0, self.dim))) for c in self.colliders], default=0.0)
        nu = max(b["material"].kinematic_viscosity(b["density"]) for b in self.bodies)
        limit = self.dx / (c + v)
        if nu > 0:
            limit = min(limit, self.dx**2 / (2 * self.dim * nu))
        return limit

    @property
    def dt(self) -> float:
        limit = self.time_step_limit()
        if self._dt is None:
            return self.cfl * limit
        if self._dt > limit:
            raise InputError(f"dt = {self._dt:.6g} is above the stability limit {limit:.6g} (elastic-wave / CFL / "
                             f"viscosity bound at dx = {self.dx:.6g}); use dt <= {limit:.6g} or dt=None")
        return self._dt

    # ---- build and run ---------------------------------------------------------------------------------
    def particle_data(self) -> dict:
        """Concatenated per-particle arrays: x, v, mass, volume, material_id, particle_type, model, E, nu, params."""
        from kernels.mpm import MODELS

        if not self.bodies:
            raise InputError("the scene has no bodies; add_body or add_particles first")
        mats = self.materials()
        out = {key: [] for key in ("x", "v", "mass", "volume", "material_id", "particle_type", "model", "E", "nu",
                                   "params")}
        for body in self.bodies:
            m, n = body["material"], len(body["positions"])
            E, nu, params = m.pack()
            for key, value in (("x", body["positions"]), ("v", body["velocity"]), ("volume", body["volume"]),
                               ("mass", body["volume"] * body["density"]), ("material_id", [mats.index(m)] * n),
                               ("particle_type", [m.particle_type] * n), ("model", [MODELS.index(m.model)] * n),
                               ("E", [E] * n), ("nu", [nu] * n), ("params", [params] * n)):
                out[key].append(np.asarray(value))
        return {key: np.concatenate(value) for key, value in out.items()}

    def materials(self) -> list:
        unique = []
        for body in self.bodies:
            if body["material"] not in unique:
                unique.append(body["material"])
        return unique

    def check_bodies_outside_colliders(self) -> None:
        """`InputError` naming the body and the collider when particles start deeper than half a grid cell
        inside a collider's solid (where the grid would only push them out violently)."""
        for body in self.bodies:
            for k, collider in enumerate(self.colliders):
                phi = np.asarray(collider.shape.sdf(body["positions"]), dtype=np.float64).reshape(-1)
                inside = np.flatnonzero(phi < -0.5 * self.dx)
                if len(inside):
                    i = inside[np.argmin(phi[inside])]
                    raise InputError(
                        f"body {body['name']!r}: {len(inside)} of {len(phi)} particles start inside collider {k} "
                        f"({describe(collider.shape)}), particle {i} at {np.round(body['positions'][i], 5).tolist()} "
                        f"{-phi[i]:.4g} deep; move the body out of the solid")

    def build(self, requires_grad=False, dtype=None):
        """(solver, initial state): an `MPMSolver` for this scene and its t = 0 `MPMState`."""
        from simengine.mpm.solver import MPMSolver

        self.check_bodies_outside_colliders()
        data = self.particle_data()
        static = {"particle_type": data["particle_type"].astype(np.int32), "mass": data["mass"].astype(np.float32),
                  "material_id": data["material_id"].astype(np.int32)}
        solver = MPMSolver(
            dim=self.dim, cells=self.cells, dx=self.dx, dt=self.dt, gravity=self.gravity, boundary=self.boundary,
            boundary_friction=self.boundary_friction, periodic=self.periodic, colliders=self.colliders,
            device=self.device,
            dtype=dtype or self.dtype, threads=self.threads, pad=PAD, requires_grad=requires_grad,
            particles={k: data[k] for k in ("mass", "volume", "model", "E", "nu", "params")}, static=static)
        return solver, solver.new_state(data["x"], data["v"])

    def run(self, duration, record_every=10, progress=True):
        """Simulate ``duration`` seconds (rounded up to whole frames); record every ``record_every`` steps ->
        `Trajectory`, through the one recording loop `simengine.simulator.record`."""
        from simengine.simulator import record

        check_range("duration", float(duration), 0.0, None, low_open=True)
        if not isinstance(record_every, (int, np.integer)) or record_every < 1:
            raise InputError(f"record_every = {record_every!r} must be an integer >= 1")
        solver, state = self.build()
        dt, record_every = solver.dt, int(record_every)
        n_frames = max(1, int(math.ceil(float(duration) / (dt * record_every) - 1e-9))) + 1
        steps = (n_frames - 1) * record_every
        try:
            traj, _ = record(solver, state, steps, record_every, progress=bool(progress), desc="mls-mpm",
                             metadata=self.metadata(dt, record_every, steps * dt))
        finally:
            solver.close()
        return traj

    def metadata(self, dt: float, record_every: int, duration: float) -> dict:
        """Every scene parameter, JSON-serialisable.

        ``grid_dx`` is the grid cell; ``dx`` is the initial particle spacing, as LagrangeBench means it: the
        mean distance from each particle to its nearest neighbour at t = 0 (the lattice spacing
        ``grid_dx / ppc**(1/dim)`` without jitter), measured as `simengine.io` measures a dataset's ``dx``;
        ``default_connectivity_radius`` stays 1.45 ``grid_dx`` (two digits).
        """
        import simengine
        from simengine.io.metadata import mean_nearest_neighbour_distance

        points = np.concatenate([b["positions"] for b in self.bodies]) if self.bodies else np.zeros((0, self.dim))
        return {
            "solver": "mls-mpm", "version": simengine.__version__, "dim": self.dim,
            "dx": mean_nearest_neighbour_distance(points.astype(np.float32)), "grid_dx": self.dx,
            "default_connectivity_radius": float(f"{1.45 * self.dx:.2g}"), "dt": dt,
            "write_every": record_every, "t_end": duration,
            "bounds": [[PAD * self.dx, (c - PAD) * self.dx] if p else [0.0, float(c * self.dx)]
                       for c, p in zip(self.cells, self.periodic)], "domain": self.domain.tolist(),
            "grid_res": self.grid_res, "cells": list(self.cells), "pad": PAD, "gravity": self.gravity.tolist(),
            "boundary": self.boundary, "boundary_friction": self.boundary_friction, "cfl": self.cfl,
            "seed": self.seed if isinstance(self.seed, (int, type(None))) else repr(self.seed),
            "device": str(self.device), "dtype": self.dtype, "periodic_boundary_conditions": list(self.periodic),
            "materials": [m.to_dict() for m in self.materials()],
            "bodies": [{"name": b["name"], "material_id": self.materials().index(b["material"]),
                        "density": b["density"], "num_particles": len(b["positions"]),
                        "velocity": b["velocity"].mean(axis=0).tolist(), **b["info"]} for b in self.bodies],
            "colliders": [c.describe() for c in self.colliders],
        }
