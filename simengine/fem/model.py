"""The FEM model on the simulator contract: deformable bodies of linear elements, rigid impactors and kinematic
actuators, penalty contact, velocity Verlet (central differences) with lumped masses (`kernels.fem`).

    model, state = scene.build()                  # `simengine.fem.Scene`
    other = model.new_state()
    model.step(state, other)                      # one explicit step of model.dt; state is not written

Shapes (N nodes of every body, E elements of the deformable bodies, B bodies, d = dim):

    FEMState   x, v, f (N,) vec_d: positions, velocities and the total force at x; time, step; per rigid body
               its centre of mass, rotation (2D angle / 3D matrix), velocity and angular velocity (host)
    model      X (N, d) rest positions; cells (E, d + 1); dm_inv (E,) mat; volume (E,); mass (N,);
               free (N, d) 1 / 0 per axis (0: fixed, or a rigid node); boundary facets grouped by body

A rigid body's nodes move with its pose; its dynamics (translation and rotation under gravity and the contact
forces on its nodes) are integrated on the host, so gradients (`wp.Tape`, ``requires_grad``) reach the
deformable bodies' positions, velocities and moduli but not through an impactor's motion:

    model, _ = scene.build(requires_grad=True)    # give the scene a fixed dt: the default one depends on E
    states = [model.new_state(v=v0, requires_grad=True) for _ in range(steps + 1)]
    with wp.Tape() as tape:
        model.compute_forces(states[0].x, states[0].v, states[0].f)   # new_state's forces are off the tape
        for k in range(steps):
            model.step(states[k], states[k + 1])
    tape.backward(grads={states[-1].x: dL_dx})
    model.youngs_modulus_gradient(), states[0].v.grad                 # dL/dE per body, dL/dv0 per node
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from simengine.errors import InputError, SimulationError, check_range
from simengine.runtime import init_warp, resolve_device
from simengine.simulator import Simulator

LAW_IDS = {"linear": 0, "corotated": 1, "neo_hookean": 2}


@dataclass
class FEMState:
    x: object
    v: object
    f: object
    rigid: dict = field(default_factory=dict)  # body -> {"com", "rot", "vel", "omega"} (numpy)
    time: float = 0.0
    step: int = 0
    keep: list = field(default_factory=list)


def _rotation_2d(angle: float) -> np.ndarray:
    c, s = math.cos(angle), math.sin(angle)
    return np.array([[c, -s], [s, c]])


def _rodrigues(w: np.ndarray) -> np.ndarray:
    angle = float(np.linalg.norm(w))
    if angle < 1e-15:
        return np.eye(3)
    k = w / angle
    K = np.array([[0, -k[2], k[1]], [k[2], 0, -k[0]], [-k[1], k[0], 0]])
    return np.eye(3) + math.sin(angle) * K + (1 - math.cos(angle)) * K @ K


class FEMModel(Simulator):
    """See the module docstring. Built by `simengine.fem.Scene.build`."""

    name = "fem"

    def __init__(self, *, dim, vertices, cells, element_law, element_mu, element_lam, element_nu, element_strain,
                 element_density, element_body, mass, free, load, node_body, node_type, facets, facet_body, bodies,
                 gravity, dt=None, damping=0.0, contact_stiffness, contact_damping, friction, device=None,
                 dtype="float64", requires_grad=False, static=None, description=None):
        self.wp = wp = init_warp()
        from kernels.fem import get_kernels

        self.dim = int(dim)
        self.device = resolve_device(device)
        if dtype not in ("float32", "float64"):
            raise InputError(f"dtype = {dtype!r} is not one of ['float32', 'float64']")
        self.np_dtype = np.float32 if dtype == "float32" else np.float64
        self.k = get_kernels(self.dim, wp.float32 if dtype == "float32" else wp.float64)
        self.requires_grad, self.threads = bool(requires_grad), 1
        self.X = np.asarray(vertices, dtype=np.float64)
        self.n = len(self.X)
        self.cells_np = np.asarray(cells, dtype=np.int64).reshape(-1, self.dim + 1)
        self.n_elem = len(self.cells_np)
        self.mass_np = np.asarray(mass, dtype=np.float64)
        self.free_np = np.asarray(free, dtype=np.float64).reshape(self.n, self.dim)
        self.load_np = np.asarray(load, dtype=np.float64).reshape(self.n, self.dim)
        self.node_body = np.asarray(node_body, dtype=np.int32)
        self.node_type = np.asarray(node_type, dtype=np.int32)
        self.bodies = bodies
        self.gravity = np.asarray(gravity, dtype=np.float64).reshape(self.dim)
        self.damping = float(check_range("damping", damping, 0.0, None))
        self.contact_stiffness, self.contact_damping = float(contact_stiffness), float(contact_damping)
        self.friction = float(friction)
        self._element_data(element_law, element_mu, element_lam, element_nu, element_strain, element_density,
                           element_body)
        self.dt_limit = self.stable_dt()
        #: default step: half the stability limit (as explicit impact codes do)
        self.dt = 0.5 * self.dt_limit if dt is None else float(check_range("dt", dt, 0.0, None, low_open=True))
        if self.dt > self.dt_limit:
            raise InputError(f"dt = {self.dt:.4g} s is above the stability limit {self.dt_limit:.4g} s (the "
                             "smallest element's P-wave crossing time, and the contact springs); use dt <= "
                             f"{self.dt_limit:.4g} or dt=None")
        self.facets_np = np.asarray(facets, dtype=np.int64).reshape(-1, self.dim)
        self.facet_body = np.asarray(facet_body, dtype=np.int64)
        self._static = dict(static or {})
        self.description = dict(description or {})
        self._upload()

    # ---- set-up ---------------------------------------------------------------------------------------------
    def _element_data(self, law, mu, lam, nu, strain, density, body):
        d, X, cells = self.dim, self.X, self.cells_np
        if len(cells):
            edges = np.stack([X[cells[:, k + 1]] - X[cells[:, 0]] for k in range(d)], axis=-1)
            det = np.linalg.det(edges)
            self.volume_np = np.abs(det) / math.factorial(d)
            self.dm_inv_np = np.linalg.inv(edges)
        else:
            self.volume_np, self.dm_inv_np = np.zeros(0), np.zeros((0, d, d))
        self.law_np = np.asarray(law, dtype=np.int32)
        self.mu_np, self.lam_np = np.asarray(mu, float), np.asarray(lam, float)
        self.nu_np, self.strain_np = np.asarray(nu, float), np.asarray(strain, np.int32)
        self.density_np, self.element_body = np.asarray(density, float), np.asarray(body, np.int64)

    def element_sizes(self) -> np.ndarray:
        """Each element's smallest height (2D: 2A / longest edge; 3D: 3V / largest face area)."""
        X, cells, d = self.X, self.cells_np, self.dim
        if d == 2:
            edges = [np.linalg.norm(X[cells[:, a]] - X[cells[:, b]], axis=1) for a, b in ((0, 1), (1, 2), (2, 0))]
            return 2 * self.volume_np / np.max(edges, axis=0)
        faces = [(1, 2, 3), (0, 3, 2), (0, 1, 3), (0, 2, 1)]
        areas = [0.5 * np.linalg.norm(np.cross(X[cells[:, b]] - X[cells[:, a]], X[cells[:, c]] - X[cells[:, a]]),
                                      axis=1) for a, b, c in faces]
        return 3 * self.volume_np / np.max(areas, axis=0)

    def stable_dt(self) -> float:
        """min(h_e / c_e) over elements (c the P-wave speed) and the contact springs' 2 sqrt(m / k)."""
        limit = math.inf
        if self.n_elem:
            c = np.sqrt((self.lam_np + 2 * self.mu_np) / self.density_np)
            limit = float(np.min(self.element_sizes() / c))
        moving = self.mass_np[self.free_np.any(axis=1) & np.isfinite(self.mass_np) & (self.mass_np > 0)]
        if len(moving) and self.contact_stiffness > 0:
            limit = min(limit, 2.0 * math.sqrt(float(moving.min()) / self.contact_stiffness))
        return limit

    def _array(self, data, dtype, requires_grad=False):
        return self.wp.array(np.ascontiguousarray(data), dtype=dtype, device=self.device, requires_grad=requires_grad)

    def _upload(self):
        wp, k, f, rg = self.wp, self.k, self.np_dtype, self.requires_grad
        self.cells = self._array(self.cells_np.astype(np.int32), k.cell)
        self.dm_inv = self._array(self.dm_inv_np.astype(f), k.mat)
        self.volume = self._array(self.volume_np.astype(f), k.scalar)
        self.law = self._array(self.law_np, wp.int32)
        self.mu = self._array(self.mu_np.astype(f), k.scalar, rg)
        self.lam = self._array(self.lam_np.astype(f), k.scalar, rg)
        self.nu = self._array(self.nu_np.astype(f), k.scalar)
        self.strain = self._array(self.strain_np, wp.int32)
        inv = np.where(self.mass_np > 0, 1.0 / np.where(self.mass_np > 0, self.mass_np, 1.0), 0.0)
        self.mass = self._array(self.mass_np.astype(f), k.scalar)
        self.inv_mass = self._array(inv.astype(f), k.scalar)
        self.free = self._array(self.free_np.astype(f), k.vec)
        self.load = self._array(self.load_np.astype(f), k.vec)
        self.node_body_wp = self._array(self.node_body, wp.int32)
        contact = np.zeros(self.n, np.int32)
        contact[np.unique(self.facets_np)] = 1  # boundary nodes take part in contact
        self.node_contact = self._array(contact, wp.int32)
        rigid_node = np.zeros(self.n, bool)
        for body in self.bodies:
            if body["kind"] in ("rigid", "kinematic"):
                rigid_node[body["nodes"]] = True
        #: the mass that sets a contact's damping: lumped masses, rigid and kinematic nodes as (nearly) infinite
        self.contact_mass = self._array(np.where(rigid_node, 1e30, self.mass_np).astype(f), k.scalar)
        order = np.argsort(self.facet_body, kind="stable")
        self.facets = self._array(self.facets_np[order].astype(np.int32).reshape(-1, self.dim) if len(order) else
                                  np.zeros((1, self.dim), np.int32), k.facet)
        nb = len(self.bodies)
        starts = np.searchsorted(self.facet_body[order], np.arange(nb + 1))
        self.facet_start = self._array(starts.astype(np.int32), wp.int32)
        self.body_lo = wp.zeros(max(nb, 1), dtype=k.vec, device=self.device)
        self.body_hi = wp.zeros(max(nb, 1), dtype=k.vec, device=self.device)
        self._far, self._near = k.vec(*([1e30] * self.dim)), k.vec(*([-1e30] * self.dim))
        # rigid and kinematic bodies: a slot each; their nodes' rest offsets from the centre of mass
        self.rigid_bodies = [b for b, body in enumerate(self.bodies) if body["kind"] in ("rigid", "kinematic")]
        node_rigid, offsets = np.full(self.n, -1, np.int32), np.zeros((self.n, self.dim))
        for slot, b in enumerate(self.rigid_bodies):
            node_rigid[self.bodies[b]["nodes"]] = slot
            offsets[self.bodies[b]["nodes"]] = self.bodies[b]["offsets"]
        r = max(len(self.rigid_bodies), 1)
        self.node_rigid = self._array(node_rigid, wp.int32)
        self.rigid_offset = self._array(offsets.astype(f), k.vec)
        self.rigid_com = wp.zeros(r, dtype=k.vec, device=self.device)
        self.rigid_rot = wp.zeros(r, dtype=k.mat, device=self.device)
        self.rigid_vel = wp.zeros(r, dtype=k.vec, device=self.device)
        self.rigid_omega = wp.zeros(r, dtype=k.vec3, device=self.device)
        self.rigid_total = wp.zeros(r, dtype=k.vec, device=self.device)
        self.rigid_torque = wp.zeros(r, dtype=k.vec3, device=self.device)
        from simengine.parallel import LaunchCache

        self._launches = LaunchCache(self.device, limit=256)
        self._first_inverted = wp.zeros(1, dtype=int, device=self.device)
        self._contacts = wp.zeros(1, dtype=int, device=self.device)
        self._vm = wp.zeros(max(self.n_elem, 1), dtype=k.scalar, device=self.device)
        self._gravity = k.vec(*self.gravity)
        self._dt, self._decay = k.scalar(self.dt), k.scalar(math.exp(-self.damping * self.dt))
        self._kc, self._cc, self._mu_c = (k.scalar(self.contact_stiffness), k.scalar(self.contact_damping),
                                          k.scalar(self.friction))
        sizes = self.element_sizes() if self.n_elem else np.array([0.0])
        self._margin = k.scalar(2.0 * float(np.max(sizes)))
        # node stress = element von Mises averaged by element measure
        from scipy.sparse import coo_matrix

        rows = self.cells_np.ravel()
        cols = np.repeat(np.arange(self.n_elem), self.dim + 1)
        weights = np.repeat(self.volume_np, self.dim + 1)
        W = coo_matrix((weights, (rows, cols)), shape=(self.n, self.n_elem)).tocsr()
        total = np.asarray(W.sum(axis=1)).ravel()
        self._stress_average = W.multiply(1.0 / np.where(total > 0, total, 1.0)[:, None]).tocsr()

    # ---- states -----------------------------------------------------------------------------------------------
    def new_state(self, x=None, v=None, requires_grad=None) -> FEMState:
        """A state at rest positions ``x`` (default the mesh's) with velocities ``v``, its forces computed."""
        rg = self.requires_grad if requires_grad is None else requires_grad
        k, f = self.k, self.np_dtype
        x = self.X if x is None else np.asarray(x, dtype=np.float64)
        v = np.zeros_like(self.X) if v is None else np.asarray(v, dtype=np.float64)
        for name, value in (("x", x), ("v", v)):
            if value.shape != self.X.shape:
                raise InputError(f"state {name} has shape {value.shape}; expected {self.X.shape}")
        state = FEMState(x=self._array(x.astype(f), k.vec, rg), v=self._array(v.astype(f), k.vec, rg),
                         f=self.wp.zeros(self.n, dtype=k.vec, device=self.device, requires_grad=rg))
        for b, body in enumerate(self.bodies):
            if body["kind"] in ("rigid", "kinematic"):
                idx = body["nodes"]
                state.rigid[b] = {"com": body["com"].copy(), "rot": np.eye(self.dim) if self.dim == 3 else 0.0,
                                  "vel": (v[idx].mean(axis=0) if len(idx) else np.zeros(self.dim))
                                  * body["translation"],
                                  "omega": np.zeros(3) if self.dim == 3 else 0.0}
        self.compute_forces(state.x, state.v, state.f)
        return state

    def _launch(self, kernel, dim, inputs):
        if self.requires_grad:
            self.wp.launch(kernel, dim=dim, inputs=inputs, device=self.device)
        else:
            self._launches.launch(kernel, dim, inputs)

    def compute_forces(self, x, v, force) -> None:
        """force = m g + loads + element forces + contact forces at positions x (velocities v for contact)."""
        k = self.k
        self._launch(k.external_forces, self.n, [self.mass, self._gravity, self.load, force])
        self._first_inverted.fill_(self.n_elem)
        if self.n_elem:
            self._launch(k.element_forces, self.n_elem, [x, self.cells, self.dm_inv, self.volume, self.law, self.mu,
                                                         self.lam, force, self._first_inverted])
        if len(self.bodies) > 1 and len(self.facets_np):
            self.body_lo.fill_(self._far)
            self.body_hi.fill_(self._near)
            self._launch(k.body_bounds, self.n, [x, self.node_body_wp, self.body_lo, self.body_hi])
            self._launch(k.contact_forces, self.n, [
                x, v, self.contact_mass, self.node_body_wp, self.node_contact, self.facets, self.facet_start,
                len(self.bodies), self.body_lo, self.body_hi, self._margin, self._kc, self._cc, self._mu_c, force,
                self._contacts])

    # ---- stepping ---------------------------------------------------------------------------------------------
    def step(self, state_in: FEMState, state_out: FEMState, control=None, dt=None) -> FEMState:
        """One velocity-Verlet step: v_half = v + dt/2 f/m, x' = x + dt v_half, f' = f(x'), v' = v_half + dt/2 f'/m;
        rigid bodies by the same scheme on their pose, kinematic ones by their keyframes. FEM takes no control."""
        self._no_control(control)
        self._own_step(dt)
        wp, k = self.wp, self.k
        v_half = wp.zeros(self.n, dtype=k.vec, device=self.device, requires_grad=self.requires_grad) \
            if self.requires_grad else self._scratch()
        self._launch(k.kick_drift, self.n, [state_in.x, state_in.v, state_in.f, self.inv_mass, self.free, self._dt,
                                            self._decay, state_out.x, v_half])
        halves = self._rigid_half_step(state_in, state_out, v_half)
        self.compute_forces(state_out.x, v_half, state_out.f)
        self._launch(k.kick, self.n, [v_half, state_out.f, self.inv_mass, self.free, self._dt, state_out.v])
        self._rigid_final_kick(state_out, halves)
        state_out.time, state_out.step = state_in.time + self.dt, state_in.step + 1
        state_out.keep = [v_half] if self.requires_grad else []
        return state_out

    def _scratch(self):
        if not hasattr(self, "_v_half"):
            self._v_half = self.wp.zeros(self.n, dtype=self.k.vec, device=self.device)
        return self._v_half

    def _rigid_loads(self, x, force, coms):
        """(total force (R, d), torque (R, 3)) on each rigid body about the given centres of mass."""
        self.rigid_com.assign(np.array(coms, self.np_dtype))
        self.rigid_total.zero_()
        self.rigid_torque.zero_()
        self._launch(self.k.rigid_sums, self.n, [x, force, self.node_rigid, self.rigid_com, self.rigid_total,
                                                 self.rigid_torque])
        return self.rigid_total.numpy().astype(np.float64), self.rigid_torque.numpy().astype(np.float64)

    def _place(self, poses, x_out, v_out, place: int):
        d = self.dim
        rot = [(_rotation_2d(p["rot"]) if d == 2 else p["rot"]) for p in poses]
        omega = [np.array([0.0, 0.0, p["omega"]]) if d == 2 else p["omega"] for p in poses]
        self.rigid_com.assign(np.array([p["com"] for p in poses], self.np_dtype))
        self.rigid_rot.assign(np.array(rot, self.np_dtype))
        self.rigid_vel.assign(np.array([p["vel"] for p in poses], self.np_dtype))
        self.rigid_omega.assign(np.array(omega, self.np_dtype))
        self._launch(self.k.rigid_place, self.n, [self.node_rigid, self.rigid_offset, self.rigid_com, self.rigid_rot,
                                                  self.rigid_vel, self.rigid_omega, place, x_out, v_out])

    def _advance(self, body, pose, F, torque, h):
        """Half a kick of (velocity, angular velocity) by (F, torque) over h; 3D through I_world = R I R^T."""
        vel = pose["vel"] + h * (F * body["translation"]) / body["mass"]
        if not body["rotates"]:
            return vel, pose["omega"]
        if self.dim == 2:
            return vel, pose["omega"] + h * float(torque[2]) / body["inertia"]
        R = pose["rot"]
        inertia = R @ body["inertia"] @ R.T
        return vel, np.linalg.solve(inertia, inertia @ pose["omega"] + h * torque)

    def _rigid_half_step(self, s_in, s_out, v_half):
        """Rigid and kinematic bodies: pose at t + dt and half-step velocities, written to their nodes."""
        if not self.rigid_bodies:
            return None
        dt = self.dt
        F, T = self._rigid_loads(s_in.x, s_in.f, [s_in.rigid[b]["com"] for b in self.rigid_bodies])
        halves = []
        for slot, b in enumerate(self.rigid_bodies):
            body, pose = self.bodies[b], s_in.rigid[b]
            if body["kind"] == "kinematic":
                com, vel = body["path"](s_in.time + dt)
                halves.append({"com": com, "rot": pose["rot"], "vel": vel, "omega": pose["omega"]})
                continue
            vel, omega = self._advance(body, pose, F[slot], T[slot], 0.5 * dt)
            if self.dim == 2:
                rot = pose["rot"] + dt * omega
            else:
                rot = _rodrigues(dt * omega) @ pose["rot"]
            halves.append({"com": pose["com"] + dt * vel, "rot": rot, "vel": vel, "omega": omega})
        self._place(halves, s_out.x, v_half, 1)
        return halves

    def _rigid_final_kick(self, s_out, halves):
        if not halves:
            return
        F, T = self._rigid_loads(s_out.x, s_out.f, [h["com"] for h in halves])
        final = []
        for slot, (b, h) in enumerate(zip(self.rigid_bodies, halves)):
            body = self.bodies[b]
            if body["kind"] == "kinematic":
                final.append(dict(h))
                continue
            vel, omega = self._advance(body, h, F[slot], T[slot], 0.5 * self.dt)
            final.append({"com": h["com"], "rot": h["rot"], "vel": vel, "omega": omega})
        self._place(final, s_out.x, s_out.v, 0)
        s_out.rigid = {b: p for b, p in zip(self.rigid_bodies, final)}

    def youngs_modulus_gradient(self) -> np.ndarray:
        """dL/dE of each body (zero for rigid and kinematic ones) after ``tape.backward`` of a loss L on a model
        built with ``requires_grad=True``: every element's mu and lambda (plane stress's lambda* too) are
        proportional to its body's E, so dL/dE = sum_e (mu_e dL/dmu_e + lambda_e dL/dlambda_e) / E."""
        if self.mu.grad is None or self.lam.grad is None:
            raise InputError("youngs_modulus_gradient needs a model built with requires_grad=True and a "
                             "tape.backward() first")
        per_cell = (self.mu_np * self.mu.grad.numpy().astype(np.float64)[:self.n_elem]
                    + self.lam_np * self.lam.grad.numpy().astype(np.float64)[:self.n_elem])
        E = 2.0 * self.mu_np * (1.0 + self.nu_np)
        out = np.zeros(len(self.bodies))
        np.add.at(out, self.element_body, per_cell / E)
        return out

    # ---- checks and recording ------------------------------------------------------------------------------
    def check(self, state: FEMState, step: int) -> None:
        """`SimulationError` naming step, time and the first inverted element (or non-finite node)."""
        x = state.x.numpy()
        bad = np.flatnonzero(~np.isfinite(x).all(axis=1))
        where = f"at step {state.step}, t = {state.time:.6g} s"
        if len(bad):
            raise SimulationError(f"FEM blew up {where}: node {int(bad[0])} has a non-finite position")
        if self.n_elem:
            d = self.dim
            cells = self.cells_np
            edges = np.stack([x[cells[:, k + 1]] - x[cells[:, 0]] for k in range(d)], axis=-1)
            J = np.linalg.det(edges.astype(np.float64) @ self.dm_inv_np)
            inverted = np.flatnonzero(J <= 0)
            if len(inverted):
                e = int(inverted[0])
                raise SimulationError(f"FEM element {e} (nodes {cells[e].tolist()}) inverted {where} (J = "
                                      f"{J[e]:.3g}); use a smaller dt, a finer mesh or a stiffer material")

    def von_mises(self, state: FEMState) -> np.ndarray:
        """(N,) von Mises stress at the nodes: element values averaged by element measure (0 on rigid nodes)."""
        if not self.n_elem:
            return np.zeros(self.n)
        self.wp.launch(self.k.element_von_mises, dim=self.n_elem, device=self.device,
                       inputs=[state.x, self.cells, self.dm_inv, self.law, self.mu, self.lam, self.nu, self.strain,
                               self._vm])
        return self._stress_average @ self._vm.numpy()[:self.n_elem].astype(np.float64)

    def frame(self, state: FEMState) -> dict:
        return {"position": state.x.numpy().astype(np.float32), "velocity": state.v.numpy().astype(np.float32),
                "stress": self.von_mises(state).astype(np.float32)}

    def static(self) -> dict:
        return dict(self._static)

    def metadata(self) -> dict:
        return {"dim": self.dim, "dt": self.dt, "stable_dt": self.dt_limit, "damping": self.damping,
                "contact_stiffness": self.contact_stiffness, "contact_damping": self.contact_damping,
                "friction": self.friction, **self.description}

    def energy(self, state: FEMState) -> dict:
        """Kinetic, elastic (linear law: exact; others: by the linear law) and gravitational energy (J)."""
        x, v = state.x.numpy().astype(np.float64), state.v.numpy().astype(np.float64)
        kinetic = 0.5 * float((self.mass_np[:, None] * v * v).sum())
        elastic = 0.0
        if self.n_elem:
            d, cells = self.dim, self.cells_np
            edges = np.stack([x[cells[:, k + 1]] - x[cells[:, 0]] for k in range(d)], axis=-1)
            F = edges @ self.dm_inv_np
            eps = 0.5 * (F + np.swapaxes(F, 1, 2)) - np.eye(d)
            tr = np.trace(eps, axis1=1, axis2=2)
            density = self.mu_np * np.einsum("eij,eij->e", eps, eps) + 0.5 * self.lam_np * tr * tr
            elastic = float((density * self.volume_np).sum())
        gravity = -float((self.mass_np * (x @ self.gravity)).sum())
        return {"kinetic": kinetic, "elastic": elastic, "gravity": gravity, "total": kinetic + elastic + gravity}

    def relax(self, state: FEMState, tolerance: float = 1e-6, max_steps: int = 200_000) -> FEMState:
        """Damped dynamic relaxation by kinetic damping (velocities, rigid impactors' included, zeroed at every
        kinetic-energy peak) until the largest unbalanced nodal force on a free axis is below ``tolerance`` x the
        largest applied one: gravity and loads, or the contact force on a rigid or kinematic body's node (a body
        pressed by an actuator). Actuators follow their keyframes; convergence counts after their last one."""
        check_range("tolerance", tolerance, 0.0, None, low_open=True)
        external = float(np.abs(self.mass_np[:, None] * self.gravity + self.load_np).max())
        rigid = np.zeros(self.n, bool)
        dynamic = np.ones(self.n, bool)
        until = 0.0
        for body in self.bodies:
            if body["kind"] in ("rigid", "kinematic"):
                rigid[body["nodes"]] = True
            if body["kind"] == "kinematic":
                dynamic[body["nodes"]] = False
                until = max(until, float(body.get("until", 0.0)))
        a, b = state, self.new_state(state.x.numpy(), state.v.numpy())
        previous, residual, applied = math.inf, math.inf, external
        for _ in range(int(max_steps)):
            self.step(a, b)
            a, b = b, a
            v = a.v.numpy()
            kinetic = float((self.mass_np[dynamic, None] * v[dynamic] ** 2).sum())
            if kinetic < previous:  # past a peak: restart from rest
                a.v.zero_()
                for b_index, pose in a.rigid.items():
                    if self.bodies[b_index]["kind"] == "rigid":
                        pose["vel"] = np.zeros_like(pose["vel"])
                        pose["omega"] = np.zeros_like(pose["omega"]) if self.dim == 3 else 0.0
                kinetic = 0.0
            previous = kinetic
            f = a.f.numpy()
            residual = np.abs(f * self.free_np).max()
            contact = float(np.abs(f[rigid] - self.mass_np[rigid, None] * self.gravity).max()) if rigid.any() else 0.0
            applied = max(external, contact, 1e-30)
            if a.time >= until and residual <= tolerance * applied:
                return a
        raise SimulationError(f"relax did not converge in {max_steps} steps (unbalanced force {residual:.3g}, "
                              f"tolerance {tolerance:g} x {applied:.3g})")
