"""`fem.Scene`: flexible bodies meshed with linear triangles (2D) or tetrahedra (3D), hit by rigid impactors and
pressed by kinematic actuators, simulated by explicit FEM with penalty contact.

    from simengine import fem
    scene = fem.Scene(dim=2, gravity=(0.0, -9.81))
    plate = scene.add_body(*fem.meshes.rectangle(0.5, 0.02, 100, 4), fem.LinearElastic(70e9, 0.33), density=2700.0)
    scene.fix(plate.nodes_where(lambda x: x[:, 0] > 0.499))                  # clamped right end
    scene.fix(plate.nodes_where(lambda x: x[:, 0] < 1e-9), axes=(0,))         # symmetry plane x = 0
    scene.add_impactor(*fem.meshes.disk((0.0, 0.05), 0.02, 32), mass=0.1, velocity=(0.0, -5.0))
    traj = scene.run(duration=2e-3, record_every=20)   # position, velocity, stress (von Mises), node_type, ...

Node types (MeshGraphNets numbering, HCMT's SYMMETRIC): NORMAL 0, OBSTACLE 1 (impactor and actuator nodes),
HANDLE 3 (every axis fixed), SYMMETRIC 7 (some axes fixed). 2D forces are per unit thickness.
"""
from __future__ import annotations

import math

import numpy as np

from simengine.errors import InputError, check_range
from simengine.fem.materials import Material
from simengine.fem.meshes import boundary_facets
from simengine.io.types import ParticleType

NORMAL, OBSTACLE, HANDLE, SYMMETRIC = 0, 1, 3, 7
#: default penalty stiffness: this factor x the stiffest body's E x (median element size)^(dim - 2)
CONTACT_FACTOR = 5.0


class Body:
    """A handle to one body: ``nodes`` (global node ids), ``kind`` ("deformable", "rigid", "kinematic")."""

    def __init__(self, scene, index, kind, nodes):
        self.scene, self.index, self.kind, self.nodes = scene, index, kind, nodes

    @property
    def indices(self) -> np.ndarray:
        return self.nodes

    def nodes_where(self, predicate) -> np.ndarray:
        """Global ids of this body's nodes whose rest positions satisfy ``predicate(X (M, d)) -> bool (M,)``."""
        X = self.scene._vertices[self.index]
        return self.nodes[np.asarray(predicate(X), dtype=bool)]

    def __repr__(self):
        return f"Body({self.index}, {self.kind}, {len(self.nodes)} nodes)"


class Scene:
    """An FEM scene (see the module docstring).

    Args:
        dim: 2 or 3. gravity: (dim,) m/s^2 (default -9.81 along y). damping: velocity decay rate (1/s).
        dt: the step (default: half the stability limit, the smallest element's P-wave crossing time and the
            contact springs' period). contact_stiffness: penalty stiffness k (N/m per unit thickness in 2D;
            default CONTACT_FACTOR E_max h^(dim - 2)). contact_damping: damping ratio of the contact springs
            (c = 2 ratio sqrt(k m), m the lighter side's nodal mass).
        friction: Coulomb coefficient of every contact. device / dtype: as for the other simulators.
    """

    def __init__(self, dim=2, gravity=None, damping=0.0, device=None, dt=None, dtype="float64",
                 contact_stiffness=None, contact_damping=0.1, friction=0.0, seed=0):
        from simengine.runtime import resolve_device

        if dim not in (2, 3):
            raise InputError(f"dim = {dim!r} is not one of [2, 3]")
        self.dim = dim
        self.gravity = np.array([0.0, -9.81, 0.0][:dim]) if gravity is None else np.asarray(gravity, float).reshape(-1)
        if self.gravity.shape != (dim,) or not np.all(np.isfinite(self.gravity)):
            raise InputError(f"gravity = {gravity!r} must be {dim} finite numbers")
        self.damping = float(check_range("damping", damping, 0.0, None))
        self._dt = None if dt is None else float(check_range("dt", dt, 0.0, None, low_open=True))
        self.contact_stiffness = None if contact_stiffness is None else float(
            check_range("contact_stiffness", contact_stiffness, 0.0, None))
        self.contact_damping = float(check_range("contact_damping", contact_damping, 0.0, None))
        self.friction = float(check_range("friction", friction, 0.0, None))
        self.device, self.dtype, self.seed = resolve_device(device), dtype, seed
        self._vertices, self._cells, self._bodies = [], [], []
        self._fixed: dict[int, set] = {}
        self._loads: list[tuple[np.ndarray, np.ndarray]] = []

    @property
    def num_nodes(self) -> int:
        return sum(len(v) for v in self._vertices)

    # ---- bodies ----------------------------------------------------------------------------------------------
    def _mesh(self, name, vertices, cells):
        vertices = np.asarray(vertices, dtype=np.float64)
        cells = np.asarray(cells)
        if vertices.ndim != 2 or vertices.shape[1] != self.dim or not np.all(np.isfinite(vertices)):
            raise InputError(f"{name} vertices have shape {vertices.shape}; expected finite (N, {self.dim})")
        if cells.ndim != 2 or cells.shape[1] != self.dim + 1 or cells.dtype.kind not in "iu":
            raise InputError(f"{name} cells have shape {cells.shape}; expected integer (E, {self.dim + 1})")
        bad = np.flatnonzero((cells < 0).any(axis=1) | (cells >= len(vertices)).any(axis=1))
        if len(bad):
            raise InputError(f"{name} cell {int(bad[0])} = {cells[bad[0]].tolist()} has a node index outside the "
                             f"allowed range [0, {len(vertices) - 1}]")
        edges = np.stack([vertices[cells[:, k + 1]] - vertices[cells[:, 0]] for k in range(self.dim)], axis=-1)
        det = np.linalg.det(edges)
        scale = np.linalg.norm(edges, axis=1).max(axis=1) ** self.dim
        degenerate = np.flatnonzero(np.abs(det) <= 1e-10 * scale)
        if len(degenerate):
            e = int(degenerate[0])
            measure = "area" if self.dim == 2 else "volume"
            raise InputError(f"{name} cell {e} = {cells[e].tolist()} is degenerate (zero {measure})")
        inverted = np.flatnonzero(det < 0)
        if len(inverted):
            e = int(inverted[0])
            how = "clockwise" if self.dim == 2 else "negative volume"
            raise InputError(f"{name} cell {e} = {cells[e].tolist()} is inverted ({how}); order its nodes "
                             "counter-clockwise / with positive volume (fem.meshes.orient)")
        return vertices, cells.astype(np.int64), np.abs(det) / math.factorial(self.dim)

    def _add(self, kind, vertices, cells, info) -> Body:
        start = self.num_nodes
        self._vertices.append(vertices)
        self._cells.append(cells)
        body = Body(self, len(self._bodies), kind, np.arange(start, start + len(vertices)))
        self._bodies.append({"kind": kind, "body": body, **info})
        return body

    def add_body(self, vertices, cells, material, density=1000.0, plane="strain", name=None) -> Body:
        """A deformable body of ``material`` (`fem.LinearElastic`, `fem.Corotated`, `fem.NeoHookean`); 2D bodies
        are plane strain or plane stress. ``density`` (kg/m^3; per unit thickness in 2D) is one value or one per
        cell (graded materials, or mass scaling of a quasi-static run: static answers do not depend on it)."""
        name = name or f"body{len(self._bodies)}"
        if not isinstance(material, Material):
            raise InputError(f"{name}: material = {material!r} is not a simengine.fem material")
        if plane not in ("strain", "stress"):
            raise InputError(f"{name}: plane = {plane!r} is not one of ['strain', 'stress']")
        if np.ndim(density) == 0:
            density = float(check_range(f"{name} density", density, 0.0, None, low_open=True))
        vertices, cells, measure = self._mesh(name, vertices, cells)
        cell_density = self._cell_density(name, density, len(cells))
        self._check_overlap(name, vertices, cells)
        return self._add("deformable", vertices, cells, {"name": name, "material": material, "density": cell_density,
                                                          "plane": plane, "measure": measure})

    @staticmethod
    def _cell_density(name, density, n_cells) -> np.ndarray:
        if np.ndim(density) == 0:
            return np.full(n_cells, float(density))
        try:
            values = np.asarray(density, dtype=np.float64)
        except (TypeError, ValueError):
            raise InputError(f"{name} density must be a number or one number per cell") from None
        if values.shape != (n_cells,):
            raise InputError(f"{name} density has shape {values.shape}; expected one value or one per cell "
                             f"({n_cells},)")
        bad = np.flatnonzero(~(np.isfinite(values) & (values > 0)))
        if len(bad):
            raise InputError(f"{name} density of cell {int(bad[0])} = {values[bad[0]]!r} is outside the allowed "
                             "range (0, inf)")
        return values

    def _rigid_info(self, name, vertices, cells, measure, mass):
        nodal = np.zeros(len(vertices))
        np.add.at(nodal, cells.ravel(), np.repeat(measure / (self.dim + 1), self.dim + 1))
        nodal *= mass / nodal.sum()
        com = (nodal[:, None] * vertices).sum(axis=0) / mass
        r = vertices - com
        if self.dim == 2:
            inertia = float((nodal * (r * r).sum(axis=1)).sum())
        else:
            inertia = (nodal[:, None, None] * ((r * r).sum(axis=1)[:, None, None] * np.eye(3)
                                               - r[:, :, None] * r[:, None, :])).sum(axis=0)
        return {"name": name, "nodal_mass": nodal, "mass": float(mass), "com": com, "offsets": r,
                "inertia": inertia, "measure": measure}

    def add_impactor(self, vertices, cells, mass, velocity=None, fixed_axes=(), rotates=True, name=None) -> Body:
        """A meshed rigid body with its own dynamics (gravity, contact forces; translation and rotation); its
        nodes are recorded as OBSTACLE nodes with masses summing to ``mass``. ``fixed_axes`` (translation axes it
        may not move along) and ``rotates=False`` hold it on a symmetry plane of a half model (give the half
        model's mass)."""
        name = name or f"impactor{len(self._bodies)}"
        mass = float(check_range(f"{name} mass", mass, 0.0, None, low_open=True))
        translation = np.ones(self.dim)
        for a in fixed_axes:
            if not 0 <= int(a) < self.dim:
                raise InputError(f"{name} fixed axis {a} is outside the allowed range [0, {self.dim - 1}]")
            translation[int(a)] = 0.0
        vertices, cells, measure = self._mesh(name, vertices, cells)
        self._check_overlap(name, vertices, cells)
        velocity = np.zeros(self.dim) if velocity is None else np.asarray(velocity, float).reshape(-1)
        if velocity.shape != (self.dim,) or not np.all(np.isfinite(velocity)):
            raise InputError(f"{name} velocity = {velocity.tolist()} must be {self.dim} finite numbers")
        return self._add("rigid", vertices, cells, {**self._rigid_info(name, vertices, cells, measure, mass),
                                                     "velocity": velocity * translation, "translation": translation,
                                                     "rotates": bool(rotates)})

    def add_actuator(self, vertices, cells, keyframes, name=None) -> Body:
        """A kinematic rigid body following ``keyframes = [(t, position (dim,)), ...]`` (its centre's position,
        linearly interpolated, held before the first and after the last); OBSTACLE nodes."""
        name = name or f"actuator{len(self._bodies)}"
        vertices, cells, measure = self._mesh(name, vertices, cells)
        self._check_overlap(name, vertices, cells)
        times, points = [], []
        for k, frame in enumerate(keyframes):
            t, p = float(frame[0]), np.asarray(frame[1], float).reshape(-1)
            if times and t <= times[-1]:
                raise InputError(f"{name} keyframe {k}: t = {t:g} must be greater than the previous keyframe's")
            if p.shape != (self.dim,):
                raise InputError(f"{name} keyframe {k}: position must have {self.dim} numbers")
            times.append(t)
            points.append(p)
        if not times:
            raise InputError(f"{name}: keyframes = []: give at least one (t, position)")
        info = self._rigid_info(name, vertices, cells, measure, 1.0)
        times, points = np.array(times), np.array(points)
        start = info["com"] - points[0]

        def path(t, times=times, points=points, start=start):
            k = int(np.clip(np.searchsorted(times, t, side="right") - 1, 0, len(times) - 1))
            if t <= times[0] or k == len(times) - 1:
                return start + points[0 if t <= times[0] else -1], np.zeros(len(start))
            s = (t - times[k]) / (times[k + 1] - times[k])
            velocity = (points[k + 1] - points[k]) / (times[k + 1] - times[k])
            return start + points[k] + s * (points[k + 1] - points[k]), velocity

        info.update(path=path, keyframes=[[float(t), p.tolist()] for t, p in zip(times, points)])
        return self._add("kinematic", vertices, cells, info)

    def _check_overlap(self, name, vertices, cells):
        """`InputError` when the new body's nodes lie inside an existing body or the reverse (at t = 0)."""
        for other, (v2, c2) in enumerate(zip(self._vertices, self._cells)):
            for pts, verts, cs, who in ((vertices, v2, c2, f"body {other}"), (v2, vertices, cells, name)):
                inside = _points_inside(pts, verts, cs, self.dim)
                if len(inside):
                    raise InputError(f"{name} overlaps {'body ' + str(other) if who == name else who} at t = 0: "
                                     f"{len(inside)} nodes inside it (e.g. at {np.round(pts[inside[0]], 6).tolist()}); "
                                     "move it apart")

    def fix(self, indices, axes=None) -> None:
        """Dirichlet conditions: fix the listed nodes along ``axes`` (default all: a clamp; one axis: a
        symmetry plane normal to it)."""
        idx = np.asarray(indices, dtype=np.int64).reshape(-1)
        n = self.num_nodes
        bad = idx[(idx < 0) | (idx >= n)]
        if len(bad):
            raise InputError(f"fix index {int(bad[0])} is outside the allowed range [0, {n - 1}]")
        axes = tuple(range(self.dim)) if axes is None else tuple(int(a) for a in np.atleast_1d(axes))
        for a in axes:
            if not 0 <= a < self.dim:
                raise InputError(f"fix axis {a} is outside the allowed range [0, {self.dim - 1}]")
        for i in idx:
            self._fixed.setdefault(int(i), set()).update(axes)

    def add_load(self, indices, force) -> None:
        """Add ``force`` (one (dim,) vector, or one per node) to each listed node (N, per unit thickness in 2D)."""
        idx = np.asarray(indices, dtype=np.int64).reshape(-1)
        n = self.num_nodes
        bad = idx[(idx < 0) | (idx >= n)]
        if len(bad):
            raise InputError(f"load index {int(bad[0])} is outside the allowed range [0, {n - 1}]")
        force = np.broadcast_to(np.asarray(force, float), (len(idx), self.dim)).copy()
        if not np.all(np.isfinite(force)):
            raise InputError("load force must be finite")
        self._loads.append((idx, force))

    # ---- build and run ---------------------------------------------------------------------------------------------
    def build(self, requires_grad=False, dtype=None):
        """(model, initial state): an `FEMModel` of this scene and its t = 0 state."""
        from simengine.fem.materials import LAWS
        from simengine.fem.model import FEMModel

        if not self._bodies:
            raise InputError("the scene has no bodies; add_body first")
        d, n = self.dim, self.num_nodes
        X = np.concatenate(self._vertices)
        mass, free, load = np.zeros(n), np.ones((n, d)), np.zeros((n, d))
        node_body, node_type = np.zeros(n, np.int32), np.full(n, NORMAL, np.int32)
        ptype = np.full(n, int(ParticleType.ELASTIC), np.int32)
        cells, law, mu, lam, nu, strain, density, element_body = [], [], [], [], [], [], [], []
        facets, facet_body, bodies, params = [], [], [], np.zeros((n, 3))
        for b, info in enumerate(self._bodies):
            nodes = info["body"].nodes
            start = nodes[0]
            node_body[nodes] = b
            body_cells = self._cells[b] + start
            f = boundary_facets(self._vertices[b], self._cells[b]) + start
            facets.append(f)
            facet_body.append(np.full(len(f), b))
            if info["kind"] == "deformable":
                m = info["material"]
                mu_b, lam_b = m.lame()
                if d == 2 and info["plane"] == "stress":
                    lam_b = 2 * lam_b * mu_b / (lam_b + 2 * mu_b)
                cells.append(body_cells)
                k = len(body_cells)
                law += [LAWS.index(m.law)] * k
                mu += [mu_b] * k
                lam += [lam_b] * k
                nu += [float(m.poisson_ratio)] * k
                strain += [int(info["plane"] == "strain")] * k
                density += info["density"].tolist()
                element_body += [b] * k
                cell_mass = info["density"] * info["measure"]
                np.add.at(mass, body_cells.ravel(), np.repeat(cell_mass / (d + 1), d + 1))
                volume = np.zeros(n)
                np.add.at(volume, body_cells.ravel(), np.repeat(info["measure"], d + 1))
                weighted = np.zeros(n)
                np.add.at(weighted, body_cells.ravel(), np.repeat(cell_mass, d + 1))
                params[nodes, 0], params[nodes, 1] = float(m.youngs_modulus), float(m.poisson_ratio)
                params[nodes, 2] = weighted[nodes] / np.maximum(volume[nodes], 1e-300)  # measure-weighted density
                bodies.append({"kind": "deformable", "nodes": nodes})
            else:
                mass[nodes] = info["nodal_mass"]
                free[nodes] = 0.0
                node_type[nodes] = OBSTACLE
                ptype[nodes] = int(ParticleType.RIGID_BODY if info["kind"] == "rigid" else ParticleType.MOVING_WALL)
                bodies.append({k2: info[k2] for k2 in ("kind", "mass", "com", "offsets", "inertia")}
                              | {"nodes": nodes, "path": info.get("path"),
                                 "until": info["keyframes"][-1][0] if info["kind"] == "kinematic" else 0.0,
                                 "translation": info.get("translation", np.ones(d)),
                                 "rotates": info.get("rotates", True)})
        for i, axes in self._fixed.items():
            if node_type[i] == OBSTACLE:
                raise InputError(f"fix: node {i} belongs to a rigid body or actuator; fix the deformable nodes only")
            free[i, list(axes)] = 0.0
            node_type[i] = HANDLE if len(axes) == d else SYMMETRIC
            ptype[i] = int(ParticleType.PINNED) if len(axes) == d else ptype[i]
        for idx, force in self._loads:
            np.add.at(load, idx, force)
        all_cells = np.concatenate(self._cells_global())
        static = {"particle_type": ptype, "node_type": node_type, "mass": mass.astype(np.float32),
                  "cells": all_cells.astype(np.int32), "mesh_pos": X.astype(np.float32),
                  "material_params": params.astype(np.float32)}
        stiffness = self._contact_stiffness()
        model = FEMModel(
            dim=d, vertices=X, cells=np.concatenate(cells) if cells else np.zeros((0, d + 1), np.int64),
            element_law=law, element_mu=mu, element_lam=lam, element_nu=nu, element_strain=strain,
            element_density=density, element_body=element_body, mass=mass, free=free, load=load,
            node_body=node_body, node_type=node_type, facets=np.concatenate(facets),
            facet_body=np.concatenate(facet_body), bodies=bodies, gravity=self.gravity,
            dt=self._dt, damping=self.damping, contact_stiffness=stiffness,
            contact_damping=self.contact_damping,
            friction=self.friction, device=self.device, dtype=dtype or self.dtype, requires_grad=requires_grad,
            static=static, description=self.description())
        v0 = np.zeros((n, d))
        for info in self._bodies:
            if info["kind"] == "rigid":
                v0[info["body"].nodes] = info["velocity"]
        return model, model.new_state(v=v0)

    def _cells_global(self):
        out, start = [], 0
        for v, c in zip(self._vertices, self._cells):
            out.append(c + start)
            start += len(v)
        return out

    def _contact_stiffness(self) -> float:
        if self.contact_stiffness is not None:
            return self.contact_stiffness
        moduli = [float(b["material"].youngs_modulus) for b in self._bodies if b["kind"] == "deformable"]
        if not moduli:
            return 0.0
        sizes = []
        for v, c, b in zip(self._vertices, self._cells, self._bodies):
            if b["kind"] == "deformable":
                sizes.append(np.median(b["measure"]) ** (1.0 / self.dim))
        return CONTACT_FACTOR * max(moduli) * float(np.median(sizes)) ** (self.dim - 2)

    def run(self, duration, record_every=1, progress=True):
        """Simulate ``duration`` seconds (rounded up to whole frames); record every ``record_every`` steps ->
        `Trajectory` (position, velocity, stress, node_type, cells, mesh_pos, mass, material_params), through the
        one recording loop `simengine.simulator.record`."""
        from simengine.simulator import record

        check_range("duration", float(duration), 0.0, None, low_open=True)
        if isinstance(record_every, bool) or int(record_every) != record_every or record_every < 1:
            raise InputError(f"record_every = {record_every!r} must be an integer >= 1")
        model, state = self.build()
        frames = max(1, math.ceil(float(duration) / (model.dt * record_every) - 1e-9))
        traj, _ = record(model, state, frames * int(record_every), int(record_every), progress=bool(progress),
                         desc="fem")
        return traj

    def relax(self, tolerance=1e-6, max_steps=200_000) -> np.ndarray:
        """Rest positions (N, dim) under gravity, loads and fixed nodes, by damped dynamic relaxation."""
        model, state = self.build()
        return model.relax(state, tolerance, max_steps).x.numpy().astype(np.float64)

    def description(self) -> dict:
        import simengine

        bodies = []
        for b, info in enumerate(self._bodies):
            entry = {"kind": info["kind"], "name": info.get("name"), "nodes": len(self._vertices[b]),
                     "cells": len(self._cells[b])}
            if info["kind"] == "deformable":
                rho = info["density"]
                mean = float((rho * info["measure"]).sum() / info["measure"].sum())
                entry.update(material=info["material"].to_dict(), density=mean, plane=info["plane"])
                if rho.min() != rho.max():
                    entry.update(density_range=[float(rho.min()), float(rho.max())])
            elif info["kind"] == "rigid":
                entry.update(mass=info["mass"], velocity=info["velocity"].tolist())
            else:
                entry.update(keyframes=info["keyframes"])
            bodies.append(entry)
        return {"solver": "simengine.fem (explicit central differences, lumped masses, penalty contact)",
                "version": simengine.__version__, "dim": self.dim, "gravity": self.gravity.tolist(),
                "damping": self.damping, "friction": self.friction, "seed": self.seed, "device": str(self.device),
                "dtype": self.dtype, "bodies": bodies, "fixed": {str(i): sorted(a) for i, a in self._fixed.items()},
                "node_types": {"NORMAL": 0, "OBSTACLE": 1, "HANDLE": 3, "SYMMETRIC": 7}}


def _points_inside(points, vertices, cells, dim, tolerance=1e-9) -> np.ndarray:
    """Indices of ``points`` strictly inside the mesh (vertices, cells), by barycentric coordinates."""
    from scipy.spatial import cKDTree

    if len(cells) == 0 or len(points) == 0:
        return np.zeros(0, np.int64)
    lo, hi = vertices.min(axis=0), vertices.max(axis=0)
    candidates = np.flatnonzero(np.all((points > lo) & (points < hi), axis=1))
    if len(candidates) == 0:
        return np.zeros(0, np.int64)
    centroids = vertices[cells].mean(axis=1)
    tree = cKDTree(centroids)
    k = min(12, len(cells))
    _, near = tree.query(points[candidates], k=k)
    near = near.reshape(len(candidates), k)
    edges = np.stack([vertices[cells[:, j + 1]] - vertices[cells[:, 0]] for j in range(dim)], axis=-1)
    inv = np.linalg.inv(edges)
    inside = []
    for row, p in zip(near, points[candidates]):
        lam = np.einsum("kij,kj->ki", inv[row], p - vertices[cells[row, 0]])
        full = np.concatenate([1.0 - lam.sum(axis=1, keepdims=True), lam], axis=1)
        inside.append(bool((full > tolerance).all(axis=1).any()))
    return candidates[np.array(inside, dtype=bool)]
