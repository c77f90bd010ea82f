"""Collisionless stars plus black holes: softened KDK leapfrog outside, regularized regions inside.

The KETJU scheme (Rantala et al. 2017, ApJ 840, 53; Mannerkoski et al. 2023): every outer step is

    kick(dt/2) with the softened field  ->  drift(dt)  ->  kick(dt/2) with the softened field

where the field acceleration of a region member leaves out the other members of its region (the
exact form of KETJU's negative half-kicks removing the softened intra-region forces), and the
"drift" of a region moves its centre of mass ballistically while `RegularizedIntegrator` advances
its internal, unsoftened (for every pair with a black hole) and post-Newtonian dynamics for dt in
the centre-of-mass frame. The global step is the smallest of dt_i = sqrt(2 eta eps / |a_i|)
(the GADGET acceleration criterion), rounded down to max_timestep / 2^k.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field

import numpy as np

from simengine.errors import InputError, SimulationError, check_range
from simengine.io.types import ParticleType
from simengine.nbody import _mergers, _orbits, _regions, _spin, _tree
from simengine.nbody._gravity import NEWTONIAN_BEYOND, SOFTENING_KERNELS, FieldGravity
from simengine.nbody._pn import PN_BITS, pn_mask
from simengine.nbody._regularized import RegularizedIntegrator
from simengine.simulator import Simulator

KINDS = {"star": False, "smbh": True}
_ARRAYS = ("x", "v", "m", "alive", "merged_into", "spin")


@dataclass
class NBodyState:
    """Everything `Simulation.step` reads and writes, as copies: positions ``x``, velocities ``v``, masses
    ``m``, spin angular momenta ``spin`` (N, 3)/(N,) float64, ``alive`` and ``merged_into`` (N,), the
    regularized ``regions``, the field accelerations ``acc``, the ``time`` and the energy bookkeeping
    (``pn_work``, ``mergers``, ``merger_energy``)."""

    time: float = 0.0
    x: np.ndarray = None
    v: np.ndarray = None
    m: np.ndarray = None
    alive: np.ndarray = None
    merged_into: np.ndarray = None
    spin: np.ndarray = None
    regions: list = field(default_factory=list)
    acc: np.ndarray = None
    pn_work: float = 0.0
    mergers: list = field(default_factory=list)
    merger_energy: float = 0.0


class Simulation(Simulator):
    """N-body simulation of stars and supermassive black holes (float64 throughout).

    On the simulator contract (`simengine.simulator`): ``state = sim.current_state()``, then
    ``sim.step(state_in, state_out, None, dt)`` integrates adaptively over the interval ``dt`` (exactly to
    ``state_in.time + dt``); `integrate` advances the simulation's own current state.

    Args:
        G, c: gravitational constant and speed of light in code units (see `nbody.units`).
        softening: Plummer-equivalent softening length eps of the stellar field.
        region_radius: radius of the regularized sphere around each black hole; at least
            2.8 eps (beyond which the cubic-spline kernel is exactly Newtonian). Default 2.8 eps.
        pn_orders: post-Newtonian orders for black holes, any of "1", "2", "2.5", "3", "3.5", and
            "1.5so": spin-orbit coupling and spin precession of black-hole pairs in a region
            (spins from ``add_particles(..., spin=chi)``; `simengine.nbody._spin`).
        tolerance: relative tolerance of the regularized (GBS) integrator, in (1e-15, 1e-4).
        softening_kernel: "cubic_spline" (GADGET, default) or "plummer".
        eta: accuracy parameter of the outer step criterion dt = sqrt(2 eta eps / |a|).
        max_timestep: largest outer step (default: the whole interval of each `integrate` call).
        soften_star_pairs: soften star-star pairs inside regions too (KETJU does); pairs with a
            black hole are never softened inside a region.
        merger_radius: merge two black holes closer than this many Schwarzschild radii of their
            total mass, 2 G (m1 + m2) / c^2 (None: never). Checked before every regularized step, the
            first one of a run included, so a pair that starts inside merges at once.
        max_region_steps: most regularized steps one region may take in one outer step; an interval that
            would need more (projected from the recent step length, e.g. a pair far tighter than the
            outer step resolves, without mergers) raises `SimulationError` early instead of running for
            hours. Default 100000.
        device: "cpu" or "cuda" (default `simengine.runtime.resolve_device`); threads: CPU threads for
            the field direct sum (default `simengine.runtime.default_threads`: $SIMENGINE_THREADS, else
            every core).
    """

    def __init__(self, G=1.0, c=None, softening=1e-3, region_radius=None, pn_orders=(), tolerance=1e-10,
                 softening_kernel="cubic_spline", eta=0.02, max_timestep=None, soften_star_pairs=True,
                 merger_radius=None, k_max=7, max_region_steps=100_000, device=None, threads=None):
        from simengine.runtime import resolve_device

        self.G = check_range("G", float(G), 0.0, None, low_open=True)
        self.softening = check_range("softening", float(softening), 0.0, None, low_open=True)
        self.tolerance = check_range("tolerance", float(tolerance), 1e-15, 1e-4, low_open=True, high_open=True)
        self.eta = check_range("eta", float(eta), 0.0, 1.0, low_open=True)
        if softening_kernel not in SOFTENING_KERNELS:
            raise InputError(f"softening_kernel = {softening_kernel!r} is not one of {sorted(SOFTENING_KERNELS)}")
        self.softening_kernel = softening_kernel
        self.pn_orders = tuple(str(o) for o in pn_orders)
        self._pn_mask = pn_mask(self.pn_orders)
        if (self._pn_mask or merger_radius) and (c is None or not float(c) > 0):
            raise InputError(f"c = {c!r} must be > 0 when pn_orders = {self.pn_orders} or merger_radius is set")
        self.c = None if c is None else float(c)
        low = 2.8 * self.softening
        self.region_radius = low if region_radius is None else float(region_radius)
        check_range("region_radius", self.region_radius, low, None)
        if merger_radius is not None:
            check_range("merger_radius", float(merger_radius), 0.0, None, low_open=True)
        self.merger_radius = None if merger_radius is None else float(merger_radius)
        self.max_timestep = None if max_timestep is None else check_range(
            "max_timestep", float(max_timestep), 0.0, None, low_open=True)
        self.soften_star_pairs = bool(soften_star_pairs)
        self.max_region_steps = int(check_range("max_region_steps", max_region_steps, 1, None))
        self.device = resolve_device(device)
        self._gravity = FieldGravity(self.G, self.softening, softening_kernel, self.device, threads)
        self.threads = self._gravity.threads
        self._ar = RegularizedIntegrator(self.G, self.c, self._pn_mask, self.tolerance,
                                         SOFTENING_KERNELS[softening_kernel], self.softening,
                                         soften_star_pairs, k_max=k_max, max_steps=self.max_region_steps,
                                         device=self.device)
        self._x = np.zeros((0, 3))
        self._v = np.zeros((0, 3))
        self._spin = np.zeros((0, 3))  # spin angular momenta S = chi G m^2 / c
        self._m = np.zeros(0)
        self._bh = np.zeros(0, bool)
        self._alive = np.zeros(0, bool)
        self._merged_into = np.zeros(0, np.int64)
        self.time = 0.0
        self.pn_work = 0.0          # work done by the PN forces (change of Newtonian energy they caused)
        self.mergers = []           # (time, kept id, absorbed id)
        self.merger_energy = 0.0    # Newtonian energy change caused by mergers (the pairs' orbital energy)
        self.stats = {"outer_steps": 0, "region_steps": 0}
        self._regions = []
        self._acc = None
        self._live = None  # the state last written by `step` (the simulation holds it)

    name = "nbody"
    dt = None  # no own step: `step` integrates adaptively over the interval it is given

    # -- particles ------------------------------------------------------------------------------
    def add_particles(self, mass, position, velocity, kind="star", spin=None):
        """Append particles: mass (N,), position (N, 3), velocity (N, 3); kind "star" or "smbh";
        spin (N, 3): dimensionless spin vectors chi of black holes, |chi| <= 1 (default zero)."""
        if kind not in KINDS:
            raise InputError(f"kind = {kind!r} is not one of {sorted(KINDS)}")
        m = np.atleast_1d(np.asarray(mass, dtype=np.float64))
        x = np.asarray(position, dtype=np.float64).reshape(-1, 3)
        v = np.asarray(velocity, dtype=np.float64).reshape(-1, 3)
        if not (len(m) == len(x) == len(v)):
            raise InputError(f"mass, position, velocity must have N, (N, 3), (N, 3); got {m.shape}, "
                             f"{np.shape(position)}, {np.shape(velocity)}")
        bad = np.flatnonzero(~(np.isfinite(m) & (m > 0)))
        if len(bad):
            raise InputError(f"mass[{bad[0]}] = {float(m[bad[0]])!r} is outside the allowed range (0, inf)")
        for name, arr in (("position", x), ("velocity", v)):
            if not np.isfinite(arr).all():
                i = int(np.flatnonzero(~np.isfinite(arr).all(1))[0])
                raise InputError(f"{name}[{i}] = {arr[i].tolist()} is not finite")
        chi = _spin.check_chi(spin, len(m), kind, self.c)
        S = _spin.chi_to_angular_momentum(chi, m, self.G, self.c) if chi.any() else np.zeros((len(m), 3))
        n0 = len(self._m)
        self._spin = np.vstack([self._spin, S])
        self._x = np.vstack([self._x, x])
        self._v = np.vstack([self._v, v])
        self._m = np.concatenate([self._m, m])
        self._bh = np.concatenate([self._bh, np.full(len(m), KINDS[kind])])
        self._alive = np.concatenate([self._alive, np.ones(len(m), bool)])
        self._merged_into = np.concatenate([self._merged_into, np.arange(n0, n0 + len(m))])
        self._regions, self._acc, self._live = [], None, None
        return np.arange(n0, n0 + len(m))

    @property
    def n_particles(self) -> int:
        return len(self._m)

    @property
    def positions(self) -> np.ndarray:
        return self._x.copy()

    @property
    def velocities(self) -> np.ndarray:
        return self._v.copy()

    @property
    def masses(self) -> np.ndarray:
        return self._m.copy()

    @property
    def spins(self) -> np.ndarray:
        """Dimensionless spins chi = c S / (G m^2), (N, 3) (zero for stars and absorbed black holes)."""
        return _spin.angular_momentum_to_chi(self._spin, self._m, self.G, self.c) if self._spin.any() \
            else np.zeros_like(self._spin)

    @property
    def spin_angular_momenta(self) -> np.ndarray:
        """Spin angular momenta S (N, 3)."""
        return self._spin.copy()

    def angular_momentum(self) -> np.ndarray:
        """Newtonian orbital plus spin angular momentum about the origin, sum m x X v + sum S (3,)."""
        live = self._alive
        return (self._m[live, None] * np.cross(self._x[live], self._v[live])).sum(0) + self._spin[live].sum(0)

    @property
    def is_smbh(self) -> np.ndarray:
        return self._bh.copy()

    @property
    def alive(self) -> np.ndarray:
        return self._alive.copy()

    @property
    def regions(self) -> list:
        """Member ids of the current regularized regions."""
        return [r.members.copy() for r in self._regions]

    # -- diagnostics ----------------------------------------------------------------------------
    def energy(self) -> float:
        """Newtonian energy T + W with softening accounted as integrated: star-star pairs softened,
        every pair with a black hole Newtonian (identical to softened beyond 2.8 eps)."""
        live = np.flatnonzero(self._alive)  # absorbed black holes sit on their remnant: leave them out
        T = 0.5 * float((self._m[live] * (self._v[live] ** 2).sum(1)).sum())
        phi = self._gravity.potentials(self._x[live], self._m[live], self._bh[live].astype(np.int32))
        W = 0.5 * float((self._m[live] * phi).sum())
        if not self.soften_star_pairs:
            W += self._unsoftened_star_pairs_correction()
        return T + W

    def _unsoftened_star_pairs_correction(self) -> float:
        from simengine.nbody._pn import softened_potential_factor_np

        dW = 0.0
        kind = SOFTENING_KERNELS[self.softening_kernel]
        for r in self._regions:
            s = r.members[~self._bh[r.members]]
            for a in range(len(s)):
                d = np.linalg.norm(self._x[s[a + 1:]] - self._x[s[a]], axis=1)
                f = softened_potential_factor_np(kind, d * d, self.softening)
                dW -= self.G * self._m[s[a]] * float((self._m[s[a + 1:]] * (1.0 / d - f)).sum())
        return dW

    def binary_elements(self, i: int, j: int) -> dict:
        """Newtonian osculating elements of particles i and j (a, e, period, separation, ...)."""
        i, j = self._index("i", i), self._index("j", j)
        dx, dv = self._relative(i, j)
        return _orbits.elements(dx, dv, self._m[i], self._m[j], self.G)

    def _index(self, name, value) -> int:
        """A particle index in [0, n_particles) (negative indices are refused too), else `InputError`."""
        n = self.n_particles
        try:
            k = int(value)
            ok = k == value and 0 <= k < n
        except (TypeError, ValueError, OverflowError):
            ok = False
        if not ok:
            raise InputError(f"{name} = {value!r} is outside the allowed range [0, {n - 1}] "
                             f"(particle indices of the {n} particles)")
        return k

    def _relative(self, i, j):
        for r in self._regions:
            where = {int(g): k for k, g in enumerate(r.members)}
            if i in where and j in where:
                return (_tree.path_difference(where[i], where[j], r.tree, r.edge_x),
                        _tree.path_difference(where[i], where[j], r.tree, r.edge_v))
        return self._x[i] - self._x[j], self._v[i] - self._v[j]

    # -- integration ----------------------------------------------------------------------------
    def integrate(self, t_end: float, progress: bool = False):
        """Advance to time `t_end` exactly (outer steps shrink to land on it)."""
        t_end = float(t_end)
        if not np.isfinite(t_end) or t_end < self.time:
            raise InputError(f"t_end = {t_end!r} is outside the allowed range [{self.time!r}, inf)")
        self._prepare()
        self._live = None  # the current state moves on
        dt_max = self.max_timestep or (t_end - self.time)
        from tqdm.auto import tqdm

        bar = tqdm(total=t_end - self.time, disable=not progress, desc="n-body", unit="t")
        while t_end - self.time > 1e-15 * max(1.0, abs(t_end)):
            dt = min(self._timestep(dt_max), t_end - self.time)
            saved = self._snapshot()
            try:
                self._step(dt)
            except SimulationError:
                self._restore(saved)  # a failed step leaves the state of the last completed step
                bar.close()
                raise
            self.time = t_end if t_end - self.time - dt <= 1e-15 * max(1.0, abs(t_end)) else self.time + dt
            bar.update(dt)
        bar.close()

    def _step(self, dt):
        self._kick(0.5 * dt)
        self._drift(dt)
        self._acc = self._field_acc(np.flatnonzero(self._alive))
        self._kick(0.5 * dt)
        self.stats["outer_steps"] += 1
        self._check_finite(dt)
        self._rebuild_regions()

    def _snapshot(self) -> NBodyState:
        return NBodyState(self.time, *(getattr(self, "_" + k).copy() for k in _ARRAYS), copy.deepcopy(self._regions),
                          None if self._acc is None else self._acc.copy(), self.pn_work, list(self.mergers),
                          self.merger_energy)

    def _restore(self, saved: NBodyState) -> None:
        for k in _ARRAYS:
            setattr(self, "_" + k, getattr(saved, k).copy())
        self._regions, self._acc = copy.deepcopy(saved.regions), None if saved.acc is None else saved.acc.copy()
        self.time, self.pn_work, self.mergers = saved.time, saved.pn_work, list(saved.mergers)
        self.merger_energy = saved.merger_energy

    # -- the simulator contract -----------------------------------------------------------------------
    def current_state(self) -> NBodyState:
        """A copy of the current state (regions set up first, as `integrate` would)."""
        self._prepare()
        return self._snapshot()

    def new_state(self) -> NBodyState:
        return NBodyState()

    def step(self, state_in: NBodyState, state_out: NBodyState, control=None, dt=None) -> NBodyState:
        """Integrate ``state_in`` over ``dt`` into ``state_out`` (adaptive outer steps and regularized regions
        inside); ``state_in`` is not changed. The simulation's current state becomes ``state_out``."""
        self._no_control(control)
        if dt is None:
            raise InputError("dt = None: the nbody simulator has no own step; give the interval to integrate")
        check_range("dt", float(dt), 0.0, None)
        if state_in is not self._live:
            self._restore(state_in)
        self.integrate(state_in.time + float(dt))
        saved = self._snapshot()
        for name in saved.__dataclass_fields__:
            setattr(state_out, name, getattr(saved, name))
        self._live = state_out
        return state_out

    def check(self, state: NBodyState, step: int) -> None:
        ok = np.isfinite(state.x).all(1) & np.isfinite(state.v).all(1)
        if not ok.all():
            i = int(np.flatnonzero(~ok)[0])
            raise SimulationError(f"n-body blew up at step {step}, time {state.time:.17g}: particle {i} "
                                  f"({'smbh' if self._bh[i] else 'star'}) has a non-finite position or velocity")

    def frame(self, state: NBodyState) -> dict:
        return {"position": state.x.astype(np.float32), "velocity": state.v.astype(np.float32),
                "time": np.float64(state.time)}

    def static(self) -> dict:
        ptype = np.where(self._bh, int(ParticleType.SMBH), int(ParticleType.STAR)).astype(np.int32)
        return {"particle_type": ptype, "mass": self._m.astype(np.float64)}

    def metadata(self) -> dict:
        return {"solver": "simengine.nbody (KETJU-style regions, TTL leapfrog + GBS, softened KDK field)",
                "G": self.G, "c": self.c, "softening": self.softening, "softening_kernel": self.softening_kernel,
                "region_radius": self.region_radius, "pn_orders": list(self.pn_orders),
                "tolerance": self.tolerance, "dim": 3}

    def _prepare(self) -> None:
        if self.n_particles == 0:
            raise InputError("the simulation has no particles; call add_particles first")
        if self._acc is None:
            self._check_coincident()
            self._rebuild_regions(initial=True)

    def _groups(self):
        g = np.full(self.n_particles, -1, np.int32)
        for k, r in enumerate(self._regions):
            g[r.members] = k
        return g

    def _field_acc(self, targets):
        acc = np.zeros((self.n_particles, 3)) if self._acc is None else self._acc
        m = np.where(self._alive, self._m, 0.0)
        if len(targets) == self._alive.sum():  # everyone alive: the all-pairs path (absorbed holes have m = 0)
            acc[targets] = self._gravity.accelerations(self._x, m, self._groups())[targets]
        else:
            acc[targets] = self._gravity.accelerations(self._x, m, self._groups(), targets)
        return acc

    def _timestep(self, dt_max):
        live = np.flatnonzero(self._alive)
        a = np.linalg.norm(self._acc[live], axis=1).max(initial=0.0)
        if a <= 0:
            return dt_max
        dt = np.sqrt(2.0 * self.eta * self.softening / a)
        if dt >= dt_max:
            return dt_max
        k = int(np.ceil(np.log2(dt_max / dt)))
        if k > 60:
            raise SimulationError(f"time {self.time:.17g}: outer timestep {dt:.3g} underflows "
                                  f"(max |a| = {a:.3g}); a particle is too close to another")
        return dt_max / 2.0 ** k

    def _in_region(self):
        flag = np.zeros(self.n_particles, bool)
        for r in self._regions:
            flag[r.members] = True
        return flag

    def _kick(self, h):
        free = self._alive & ~self._in_region()
        self._v[free] += h * self._acc[free]
        for r in self._regions:
            _regions.kick(r, h * self._acc[r.members])
            _regions.write_back(r, self._x, self._v, self._spin)

    def _drift(self, dt):
        free = self._alive & ~self._in_region()
        self._x[free] += dt * self._v[free]
        for r in list(self._regions):
            r.cm_x = r.cm_x + dt * r.cm_v
            done = 0.0
            while done < dt:
                stop = self._merger_check if self.merger_radius else None
                before = r.stats["steps"]
                t, work = self._ar.integrate(r, dt - done, stop=stop, time_origin=self.time + done)
                self.stats["region_steps"] += r.stats["steps"] - before
                self.pn_work += work
                done += t
                if done < dt:
                    r = self._merge(r, done)
            _regions.write_back(r, self._x, self._v, self._spin)
        dead = ~self._alive
        self._x[dead] = self._x[self._merged_into[dead]]
        self._v[dead] = self._v[self._merged_into[dead]]

    # -- black-hole mergers -----------------------------------------------------------------------
    def _merger_check(self, r):
        return _mergers.closest_pair(r, self.G, self.c, self.merger_radius) is not None

    def _merge(self, r, done):
        _, i, j = _mergers.closest_pair(r, self.G, self.c, self.merger_radius)
        new, (kept, gone, m, lost) = _mergers.merge_pair(r, i, j, self.G, self.c)
        self._m[kept], self._m[gone] = m, 0.0
        self._alive[gone] = False
        self._spin[gone] = 0.0
        self._merged_into[self._merged_into == gone] = kept
        self.merger_energy -= lost
        self.mergers.append((self.time + done, kept, gone))
        self._regions[self._regions.index(r)] = new
        return new

    # -- regions --------------------------------------------------------------------------------
    def _rebuild_regions(self, initial=False):
        groups = _regions.find_groups(self._x, self._bh, self._alive, self.region_radius)
        old = self._regions
        new = [_regions.assemble(g, self._x, self._v, self._m, self._bh, old, self._spin) for g in groups]
        self._regions = new
        if initial or self._acc is None:
            self._acc = None
            self._acc = self._field_acc(np.flatnonzero(self._alive))
            return
        kept, now = {id(r) for r in old}, {id(r) for r in new}
        changed = [r.members for r in new if id(r) not in kept] + [r.members for r in old if id(r) not in now]
        if changed:
            targets = np.unique(np.concatenate(changed))
            self._acc = self._field_acc(targets[self._alive[targets]])

    def _check_coincident(self):
        live = np.flatnonzero(self._alive)
        _, first, counts = np.unique(self._x[live], axis=0, return_index=True, return_counts=True)
        if (counts > 1).any():
            i = live[first[np.argmax(counts > 1)]]
            same = live[(self._x[live] == self._x[i]).all(1)]
            raise InputError(f"particles {same.tolist()} are coincident at position {self._x[i].tolist()}; "
                             f"positions must be distinct")

    def _check_finite(self, dt):
        ok = np.isfinite(self._x).all(1) & np.isfinite(self._v).all(1)
        if not ok.all():
            i = int(np.flatnonzero(~ok)[0])
            kind = "smbh" if self._bh[i] else "star"
            raise SimulationError(f"step {self.stats['outer_steps']}, time {self.time + dt:.17g}: particle {i} "
                                  f"({kind}) has a non-finite position or velocity")


__all__ = ["Simulation", "PN_BITS", "NEWTONIAN_BEYOND"]
