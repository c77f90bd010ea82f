"""`deformables.Scene`: ropes, cloth and plush toys as particles joined by springs, handled by grippers.

    from simengine import deformables, shapes
    scene = deformables.Scene(gravity=(0, -9.81, 0), dt=1 / 60, substeps=100, damping=0.5)
    rope = scene.add_rope(start=(0, 0.5, 0), end=(0.6, 0.5, 0), segments=40, mass=0.05, stiffness=2e3,
                          bend_stiffness=2.0, radius=0.006)
    scene.add_ground(height=0.0, friction=0.5)
    scene.add_gripper(radius=0.03, keyframes=[(0.0, (0, 0.5, 0), (0, 0, 0, 1), False),
                                              (0.2, (0, 0.5, 0), (0, 0, 0, 1), True),
                                              (1.5, (0.2, 0.8, 0), (0, 0, 0, 1), True)])
    traj = scene.run(duration=2.0, record_every=2)   # position, velocity, action (T, G, 8), cells = springs

Units SI, y up (as in the MPM scenes). Material parameters (so that refining a body keeps its material):

* **stiffness** is a force per unit strain (N): a rope segment of rest length L gets the spring constant
  k = stiffness / L; a cloth carries ``stiffness`` across its whole width, shared by its parallel springs
  (k = stiffness / (n_parallel L)); a plush spring gets k = stiffness / L.
* **bend_stiffness** / **shear_stiffness** (N) work the same way on the bending springs (two apart) and the
  cloth's diagonal springs.
* **mass** is each body's total (kg), shared equally by its particles.
"""
from __future__ import annotations

import math

import numpy as np

from simengine.deformables.gripper import Gripper, GripperControl
from simengine.errors import InputError, check_range
from simengine.io.types import ParticleType

DEFAULT_DT = 1.0 / 60.0
#: XPBD substeps per 1/60 s step of the shipped scenes: a 60-segment rope hangs within 1 mm of the catenary
DEFAULT_SUBSTEPS = 100


def _bridges(points: np.ndarray, pairs: set) -> set:
    """Springs joining the connected components of ``pairs`` into one: repeatedly the closest pair of
    particles between the largest component and any other."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components
    from scipy.spatial import cKDTree

    n = len(points)
    edges = np.array(sorted(pairs), dtype=np.int64).reshape(-1, 2)
    graph = coo_matrix((np.ones(len(edges)), (edges[:, 0], edges[:, 1])), shape=(n, n))
    count, label = connected_components(graph, directed=False)
    added = set()
    while count > 1:
        main = np.bincount(label).argmax()
        inside, outside = np.flatnonzero(label == main), np.flatnonzero(label != main)
        distance, nearest = cKDTree(points[inside]).query(points[outside])
        k = int(np.argmin(distance))
        i, j = int(inside[nearest[k]]), int(outside[k])
        added.add((min(i, j), max(i, j)))
        label[label == label[j]] = main
        count -= 1
    return added


class Body:
    """A handle to one body: ``indices`` (its particles' global ids), ``springs`` (its springs' ids)."""

    def __init__(self, name: str, kind: str, indices: np.ndarray, springs: np.ndarray, params: dict):
        self.name, self.kind, self.indices, self.springs, self.params = name, kind, indices, springs, params

    def __repr__(self):
        return f"Body({self.name!r}, {self.kind}, {len(self.indices)} particles, {len(self.springs)} springs)"


def _point(field, value) -> np.ndarray:
    p = np.asarray(value, dtype=np.float64).reshape(-1)
    if p.shape != (3,) or not np.all(np.isfinite(p)):
        raise InputError(f"{field} = {np.asarray(value).tolist()} must be 3 finite numbers (x, y, z)")
    return p


class Scene:
    """A deformables scene (see the module docstring).

    Args:
        gravity: (3,) m/s^2. dt: one step (default 1/60 s), split into ``substeps`` (default 100 for XPBD,
            the smallest stable count for symplectic Euler). damping: velocity decay rate (1/s): every
            substep v <- v exp(-damping h). integrator: "xpbd" (production) or "symplectic" (validation:
            energy is meaningful). self_contact: particle-particle contact within and between bodies.
        device: "cpu" / "cuda" (`simengine.runtime.resolve_device`). dtype: "float64" (default: XPBD derives
            velocities from position changes over tiny substeps, which float32 turns to noise) | "float32".
    """

    def __init__(self, gravity=(0.0, -9.81, 0.0), dt=None, substeps=None, damping=0.0, integrator="xpbd",
                 device=None, seed=0, dtype="float64", self_contact=True, relaxation=1.0, threads=None):
        from simengine.runtime import resolve_device

        self.gravity = _point("gravity", gravity)
        self.dt = DEFAULT_DT if dt is None else float(check_range("dt", dt, 0.0, None, low_open=True))
        if substeps is not None:
            substeps = int(check_range("substeps", substeps, 1, None))
        self.substeps = substeps
        self.damping = float(check_range("damping", damping, 0.0, None))
        if integrator not in ("xpbd", "symplectic"):
            raise InputError(f"integrator = {integrator!r} is not one of ['xpbd', 'symplectic']")
        self.integrator, self.dtype = integrator, dtype
        self.device = resolve_device(device)
        self.seed, self.rng = seed, np.random.default_rng(seed)
        self.self_contact, self.relaxation, self.threads = bool(self_contact), float(relaxation), threads
        self._x, self._mass, self._radius, self._type, self._params = [], [], [], [], []
        self._springs, self._rest, self._k, self._kind = [], [], [], []
        self.bodies: list[Body] = []
        self.pinned: set[int] = set()
        self.grippers: list[Gripper] = []
        self.colliders: list[tuple] = []
        self._collider_info: list[dict] = []

    @property
    def num_particles(self) -> int:
        return sum(len(b) for b in self._x)

    # ---- bodies -----------------------------------------------------------------------------------------
    def _add_body(self, name, kind, points, mass, radius, ptype, springs, rest, k, spring_kind, params) -> Body:
        check_range(f"{name} mass", float(mass), 0.0, None, low_open=True)
        start = self.num_particles
        spring_start = sum(len(s) for s in self._springs)
        n = len(points)
        self._x.append(points)
        self._mass.append(np.full(n, float(mass) / n))
        self._radius.append(np.broadcast_to(np.asarray(radius, dtype=np.float64), (n,)).copy())
        self._type.append(np.full(n, int(ptype), np.int32))
        self._params.append(np.tile([params.get("stiffness", 0.0), params.get("bend_stiffness",
                                     params.get("shear_stiffness", 0.0)), float(mass)], (n, 1)))
        springs = np.asarray(springs, dtype=np.int64).reshape(-1, 2) + start
        self._springs.append(springs)
        self._rest.append(np.asarray(rest, dtype=np.float64))
        self._k.append(np.asarray(k, dtype=np.float64))
        self._kind.append(np.asarray(spring_kind, dtype=np.int32))
        body = Body(name, kind, np.arange(start, start + n), np.arange(spring_start, spring_start + len(springs)),
                    {**params, "mass": float(mass)})
        self.bodies.append(body)
        return body

    def set_stiffness(self, body: Body, stiffness: float) -> None:
        """Scale every spring of ``body`` (stretch, shear and bend alike) so that its stiffness becomes
        ``stiffness`` (N): the one factor `identify` fits, applied to another scene (e.g. a physics baseline
        with identified parameters)."""
        check_range(f"{body.name} stiffness", float(stiffness), 0.0, None, low_open=True)
        index = next((i for i, b in enumerate(self.bodies) if b is body), None)
        if index is None:
            raise InputError(f"body {body.name!r} is not part of this scene")
        factor = float(stiffness) / float(body.params["stiffness"])
        self._k[index] = self._k[index] * factor
        self._params[index][:, :2] *= factor
        for key in ("stiffness", "bend_stiffness", "shear_stiffness"):
            if key in body.params:
                body.params[key] = float(body.params[key]) * factor

    def add_rope(self, start, end, segments, mass, stiffness, bend_stiffness=0.0, radius=0.005, name=None) -> Body:
        """A chain of ``segments + 1`` particles from ``start`` to ``end``, stretch springs between neighbours
        and bending springs two apart (k = stiffness / L, bend_stiffness / 2L)."""
        name = name or f"rope{len(self.bodies)}"
        a, b = _point(f"{name} start", start), _point(f"{name} end", end)
        if isinstance(segments, bool) or int(segments) != segments:
            raise InputError(f"{name} segments = {segments!r} must be an integer >= 1")
        segments = int(check_range(f"{name} segments", int(segments), 1, 100000))
        stiffness = float(check_range(f"{name} stiffness", stiffness, 0.0, None, low_open=True))
        bend = float(check_range(f"{name} bend_stiffness", bend_stiffness, 0.0, None))
        radius = float(check_range(f"{name} radius", radius, 0.0, None, low_open=True))
        length = float(np.linalg.norm(b - a))
        if length <= 0:
            raise InputError(f"{name}: start and end are the same point; a rope needs a length")
        points = a + np.linspace(0.0, 1.0, segments + 1)[:, None] * (b - a)
        seg = length / segments
        i = np.arange(segments)
        springs, rest = [np.stack([i, i + 1], 1)], [np.full(segments, seg)]
        k, kind = [np.full(segments, stiffness / seg)], [np.zeros(segments)]
        if bend > 0 and segments >= 2:
            j = np.arange(segments - 1)
            springs.append(np.stack([j, j + 2], 1))
            rest.append(np.full(segments - 1, 2 * seg))
            k.append(np.full(segments - 1, bend / (2 * seg)))
            kind.append(np.full(segments - 1, 2))
        return self._add_body(name, "rope", points, mass, radius, ParticleType.ROPE, np.concatenate(springs),
                              np.concatenate(rest), np.concatenate(k), np.concatenate(kind),
                              {"stiffness": stiffness, "bend_stiffness": bend, "segments": segments,
                               "radius": radius, "start": a.tolist(), "end": b.tolist()})

    def add_cloth(self, corner, size, resolution, mass, stiffness, shear_stiffness=None, bend_stiffness=0.0,
                  plane="xz", radius=None, name=None) -> Body:
        """A rectangular cloth of ``resolution`` = (nu, nv) particles (or one int for both) spanning ``size`` =
        (su, sv) from ``corner`` in ``plane`` ("xz": horizontal, "xy", "yz"), with structural springs
        (neighbours), shear springs (diagonals) and bending springs (two apart)."""
        name = name or f"cloth{len(self.bodies)}"
        corner = _point(f"{name} corner", corner)
        axes = {"xy": (0, 1), "xz": (0, 2), "yz": (1, 2)}
        if plane not in axes:
            raise InputError(f"{name} plane = {plane!r} is not one of {list(axes)}")
        size = np.asarray(size, dtype=np.float64).reshape(-1)
        if size.shape != (2,) or not np.all(np.isfinite(size) & (size > 0)):
            raise InputError(f"{name} size = {np.asarray(size).tolist()} must be two positive lengths (m)")
        res = np.broadcast_to(np.asarray(resolution), (2,))
        if not all(float(r) == int(r) and int(r) >= 2 for r in res):
            raise InputError(f"{name} resolution = {np.asarray(resolution).tolist()} must be integers >= 2 "
                             "(particles per side)")
        nu, nv = int(res[0]), int(res[1])
        stiffness = float(check_range(f"{name} stiffness", stiffness, 0.0, None, low_open=True))
        shear = stiffness if shear_stiffness is None else float(
            check_range(f"{name} shear_stiffness", shear_stiffness, 0.0, None))
        bend = float(check_range(f"{name} bend_stiffness", bend_stiffness, 0.0, None))
        du, dv = size[0] / (nu - 1), size[1] / (nv - 1)
        radius = 0.45 * min(du, dv) if radius is None else float(check_range(f"{name} radius", radius, 0, None,
                                                                            low_open=True))
        u, v = np.meshgrid(np.arange(nu), np.arange(nv), indexing="ij")
        points = np.repeat(corner[None], nu * nv, 0)
        points[:, axes[plane][0]] += (u * du).ravel()
        points[:, axes[plane][1]] += (v * dv).ravel()
        index = np.arange(nu * nv).reshape(nu, nv)
        springs, rest, k, kind = [], [], [], []

        def add(a, b, length, parallel, body_stiffness, code):
            springs.append(np.stack([a.ravel(), b.ravel()], 1))
            rest.append(np.full(a.size, length))
            k.append(np.full(a.size, body_stiffness / (parallel * length)))
            kind.append(np.full(a.size, code))

        add(index[:-1, :], index[1:, :], du, nv, stiffness, 0)  # along u: nv rows carry it in parallel
        add(index[:, :-1], index[:, 1:], dv, nu, stiffness, 0)
        if shear > 0:
            diag = math.hypot(du, dv)
            add(index[:-1, :-1], index[1:, 1:], diag, nv - 1, shear, 1)
            add(index[1:, :-1], index[:-1, 1:], diag, nv - 1, shear, 1)
        if bend > 0:
            if nu > 2:
                add(index[:-2, :], index[2:, :], 2 * du, nv, bend, 2)
            if nv > 2:
                add(index[:, :-2], index[:, 2:], 2 * dv, nu, bend, 2)
        return self._add_body(name, "cloth", points, mass, radius, ParticleType.CLOTH, np.concatenate(springs),
                              np.concatenate(rest), np.concatenate(k), np.concatenate(kind),
                              {"stiffness": stiffness, "shear_stiffness": shear, "bend_stiffness": bend,
                               "resolution": [nu, nv], "size": size.tolist(), "corner": corner.tolist(),
                               "plane": plane, "radius": radius})

    def add_plush(self, mesh, scale=1.0, center=None, spacing=0.02, mass=0.1, stiffness=100.0, neighbours=16,
                  reach=1.8, jitter=False, name=None) -> Body:
        """A stuffed toy: particles filling the closed ``mesh`` (an `assets/` file or a `shapes.Mesh`) on a
        lattice of ``spacing``, each joined by springs to its neighbours within ``reach`` x spacing (at most
        ``neighbours`` per particle, nearest first; PhysTwin's construction), k = stiffness / L. Parts the
        lattice leaves apart (a thin neck sampled by no particle) are joined to the rest by a spring between
        their closest particles, so the toy is one body."""
        from scipy.spatial import cKDTree

        from simengine import shapes

        name = name or f"plush{len(self.bodies)}"
        spacing = float(check_range(f"{name} spacing", spacing, 0.0, None, low_open=True))
        stiffness = float(check_range(f"{name} stiffness", stiffness, 0.0, None, low_open=True))
        if isinstance(neighbours, bool) or int(neighbours) != neighbours:
            raise InputError(f"{name} neighbours = {neighbours!r} must be an integer >= 1")
        neighbours = int(check_range(f"{name} neighbours", int(neighbours), 1, 64))
        reach = float(check_range(f"{name} reach", reach, 1.0, 4.0))
        shape = mesh if isinstance(mesh, shapes.Mesh) else shapes.Mesh(mesh, scale=scale, center=center)
        points = np.asarray(shape.sample(spacing, 3, self.rng, bool(jitter)), dtype=np.float64)
        if len(points) < 2:
            raise InputError(f"{name}: the mesh holds {len(points)} particles at spacing {spacing:g} m; use a "
                             "smaller spacing or a larger scale")
        tree = cKDTree(points)
        distance, other = tree.query(points, k=min(neighbours + 1, len(points)), distance_upper_bound=reach * spacing)
        pairs = set()
        for i in range(len(points)):
            for d, j in zip(distance[i, 1:], other[i, 1:]):
                if np.isfinite(d) and j < len(points):
                    pairs.add((min(i, int(j)), max(i, int(j))))
        pairs |= _bridges(points, pairs)
        springs = np.array(sorted(pairs), dtype=np.int64).reshape(-1, 2)
        rest = np.linalg.norm(points[springs[:, 0]] - points[springs[:, 1]], axis=1)
        return self._add_body(name, "plush", points, mass, 0.5 * spacing, ParticleType.PLUSH, springs, rest,
                              stiffness / rest, np.zeros(len(springs)),
                              {"stiffness": stiffness, "spacing": spacing, "neighbours": neighbours, "reach": reach,
                               "mesh": getattr(shape, "path", str(mesh)), "scale": float(scale),
                               "center": None if center is None else np.asarray(center, float).tolist()})

    def pin(self, indices) -> None:
        """Fix particles (global ids) in space."""
        idx = np.asarray(indices, dtype=np.int64).reshape(-1)
        n = self.num_particles
        bad = idx[(idx < 0) | (idx >= n)]
        if len(bad):
            raise InputError(f"pin index {int(bad[0])} is outside the allowed range [0, {n - 1}]")
        self.pinned.update(int(i) for i in idx)

    # ---- grippers and colliders ---------------------------------------------------------------------------
    def add_gripper(self, radius=0.04, keyframes=(), name=None) -> Gripper:
        """A keyframed gripper (see `simengine.deformables.gripper`); closing attaches the particles within
        ``radius`` of its centre rigidly, opening releases them."""
        gripper = Gripper(radius, list(keyframes), name or f"gripper{len(self.grippers)}")
        self.grippers.append(gripper)
        return gripper

    def add_collider(self, shape, friction=0.5) -> int:
        """A static solid: `shapes.Plane` (solid where n.x < offset), `shapes.Sphere` or `shapes.Box` (3D),
        with Coulomb friction coefficient ``friction``."""
        from kernels.deformables import BOX, PLANE, SPHERE
        from simengine import shapes

        mu = float(check_range("collider friction", friction, 0.0, None))
        if getattr(shape, "dim", 3) != 3:
            raise InputError(f"collider {shape!r} must be 3D")
        if isinstance(shape, shapes.Plane):
            row = (PLANE, shape.normal, np.zeros(3), shape.offset, mu)
            info = {"shape": "plane", "normal": shape.normal.tolist(), "offset": shape.offset}
        elif isinstance(shape, shapes.Sphere):
            row = (SPHERE, shape.center, np.zeros(3), shape.radius, mu)
            info = {"shape": "sphere", "center": shape.center.tolist(), "radius": shape.radius}
        elif isinstance(shape, shapes.Box):
            row = (BOX, shape.lower, shape.lower + shape.size, 0.0, mu)
            info = {"shape": "box", "lower": shape.lower.tolist(), "size": shape.size.tolist()}
        else:
            raise InputError(f"collider shape {type(shape).__name__} is not one of Plane, Sphere, Box")
        self.colliders.append(row)
        self._collider_info.append({**info, "friction": mu})
        return len(self.colliders) - 1

    def add_ground(self, height=0.0, friction=0.5) -> int:
        """The plane y = height, solid below."""
        from simengine import shapes

        return self.add_collider(shapes.Plane(normal=(0.0, 1.0, 0.0), offset=float(height)), friction)

    # ---- build and run ----------------------------------------------------------------------------------------
    def build(self, requires_grad=False, dtype=None, substeps=None):
        """(model, initial state): a `DeformablesModel` of this scene and its t = 0 state."""
        from simengine.deformables.model import DeformablesModel

        if not self._x:
            raise InputError("the scene has no bodies; add_rope, add_cloth or add_plush first")
        n = self.num_particles
        pinned = np.zeros(n, dtype=bool)
        pinned[list(self.pinned)] = True
        mass = np.concatenate(self._mass)
        springs = np.concatenate(self._springs) if self._springs else np.zeros((0, 2), np.int64)
        substeps = substeps or self.substeps or self.default_substeps()
        static = {"particle_type": np.where(pinned, int(ParticleType.PINNED), np.concatenate(self._type)).astype(
                      np.int32),
                  "mass": mass.astype(np.float32), "cells": springs.astype(np.int32),
                  "material_params": np.concatenate(self._params).astype(np.float32)}
        model = DeformablesModel(
            positions=np.concatenate(self._x), masses=mass, radius=np.concatenate(self._radius),
            particle_type=static["particle_type"], springs=springs, rest=np.concatenate(self._rest),
            stiffness=np.concatenate(self._k), pinned=pinned, grippers=self.grippers, colliders=self.colliders,
            gravity=self.gravity, dt=self.dt, substeps=substeps, damping=self.damping, integrator=self.integrator,
            relaxation=self.relaxation, self_contact=self.self_contact, device=self.device,
            dtype=dtype or self.dtype, threads=self.threads, requires_grad=requires_grad, static=static,
            description=self.description())
        return model, model.new_state()

    def default_substeps(self) -> int:
        """XPBD: `DEFAULT_SUBSTEPS` per 1/60 s (scaled with dt); symplectic Euler: 1.25x the stable minimum."""
        if self.integrator == "xpbd":
            return max(1, math.ceil(DEFAULT_SUBSTEPS * self.dt / DEFAULT_DT))
        from simengine.deformables.model import DeformablesModel  # noqa: F401 - the limit's formula lives there

        k = np.concatenate(self._k) if self._k else np.zeros(0)
        springs = np.concatenate(self._springs) if self._springs else np.zeros((0, 2), np.int64)
        load = np.zeros(self.num_particles)
        np.add.at(load, springs[:, 0], k)
        np.add.at(load, springs[:, 1], k)
        free = np.ones(self.num_particles, bool)
        free[list(self.pinned)] = False
        mass = np.concatenate(self._mass)
        omega2 = float(np.max(2.0 * load[free] / mass[free])) if free.any() else 0.0
        if omega2 <= 0:
            return 1
        return max(1, math.ceil(1.25 * self.dt / (2.0 / math.sqrt(omega2))))

    def control_at(self, t: float) -> GripperControl | None:
        """Every gripper's keyframed target at time ``t`` (None without grippers)."""
        return GripperControl.at(self.grippers, t) if self.grippers else None

    def run(self, duration, record_every=1, progress=True):
        """Simulate ``duration`` seconds (rounded up to whole frames); record every ``record_every`` steps ->
        `Trajectory` (position, velocity, action (T, G, 8) when there are grippers, springs as cells), through
        the one recording loop `simengine.simulator.record`."""
        from simengine.simulator import record

        check_range("duration", float(duration), 0.0, None, low_open=True)
        if isinstance(record_every, bool) or int(record_every) != record_every or record_every < 1:
            raise InputError(f"record_every = {record_every!r} must be an integer >= 1")
        model, state = self.build()
        record_every = int(record_every)
        frames = max(1, math.ceil(float(duration) / (self.dt * record_every) - 1e-9))
        state = self._initial_grasp(model, state)
        control = (lambda step, s: self.control_at((step + 1) * self.dt)) if self.grippers else None
        try:
            traj, _ = record(model, state, frames * record_every, record_every, control=control,
                             progress=bool(progress), desc="deformables")
        finally:
            model.close()
        return traj

    def _initial_grasp(self, model, state):
        """A gripper closed at its first keyframe grasps at t = 0."""
        if not any(g.closed[0] for g in self.grippers):
            return state
        closed = model.new_state()
        model._grasp(state, closed, (state.grip_pos, state.grip_rot, np.array([g.closed[0] for g in self.grippers])))
        state.attached, state.offset = closed.attached, closed.offset
        state.grip_closed = np.array([g.closed[0] for g in self.grippers])
        return state

    def description(self) -> dict:
        import simengine

        return {"solver": "simengine.deformables (spring-mass, XPBD / symplectic Euler)", "version":
                simengine.__version__, "integrator": self.integrator, "dt": self.dt, "damping": self.damping,
                "gravity": self.gravity.tolist(), "self_contact": self.self_contact, "seed": self.seed,
                "device": str(self.device), "dtype": self.dtype,
                "bodies": [{"name": b.name, "kind": b.kind, "first": int(b.indices[0]), "count": len(b.indices),
                            **b.params} for b in self.bodies],
                "pinned": sorted(self.pinned), "grippers": [g.describe() for g in self.grippers],
                "colliders": self._collider_info,
                "spring_kinds": "cells: springs (M, 2); kinds 0 stretch/structural, 1 shear, 2 bend",
                "material_params_columns": ["stiffness", "bend_or_shear_stiffness", "body_mass"]}
