"""Algorithmically regularized integration of one region: Gragg-Bulirsch-Stoer over the TTL leapfrog.

Each macro step of fictitious-time length H runs the logarithmic-Hamiltonian leapfrog
(`kernels.nbody.regularized.logh_leapfrog`) with n_k = 2k substeps, k = 1, 2, ..., and extrapolates
the results to zero substep length with the Aitken-Neville scheme in (H/n_k)^2 (Bulirsch & Stoer
1966; Mikkola & Merritt 2008, AR-CHAIN; Rantala et al. 2020, MSTAR). A step is accepted at the first
k whose last two extrapolations differ by less than ``tolerance`` (relative, per tree edge, in
position, velocity, time, binding energy and black-hole spin); the next H follows the usual error-per-order estimate
with a work-per-unit-step choice of order (Hairer, Norsett & Wanner, Solving ODEs I, II.9). A step
that does not converge by k_max is retried with smaller H; one that still fails raises
`SimulationError`. The last step of an interval is solved for by secant iteration on H so the output
time is hit exactly.

A step that cannot proceed is reported, never run into a kernel: two unsoftened members at zero
separation (U = inf), a non-finite or vanishing step H, a physical step that underflows, and an
interval that would need more than ``max_steps`` accepted steps (projected from the recent physical step
length, so e.g. a pair 1e-6 apart asked to cover an interval of millions of its orbits fails within a
second instead of running for hours) all raise `SimulationError` naming the members and the time.
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import numpy as np

from simengine.errors import SimulationError
from simengine.nbody import _tree
from simengine.parallel import RecordedLaunch


@dataclass
class RegionState:
    """One region in tree coordinates, in its centre-of-mass frame.

    members: (n,) global particle ids; mass (n,); is_bh (n,) int32; tree; edge_x, edge_v (n, 3);
    cm_x, cm_v (3,): centre of mass in the simulation frame; step_hint: last accepted H (fictitious);
    spin (n, 3): spin angular momenta S of the members (zero for stars; default all zero).
    """

    members: np.ndarray
    mass: np.ndarray
    is_bh: np.ndarray
    tree: _tree.Tree
    edge_x: np.ndarray
    edge_v: np.ndarray
    cm_x: np.ndarray
    cm_v: np.ndarray
    step_hint: float | None = None
    stats: dict = field(default_factory=lambda: {"steps": 0, "rejected": 0, "launches": 0})
    spin: np.ndarray | None = None

    def __post_init__(self):
        if self.spin is None:
            self.spin = np.zeros((len(self.members), 3))

    @property
    def n(self) -> int:
        return len(self.members)

    def internal_positions(self) -> np.ndarray:
        return _tree.absolute(self.edge_x, self.tree)

    def internal_velocities(self) -> np.ndarray:
        return _tree.absolute(self.edge_v, self.tree)


class RegularizedIntegrator:
    """GBS-extrapolated TTL leapfrog for regions (few to a few hundred bodies)."""

    def __init__(self, G, c, pn_mask, tolerance, softening_kind, softening, soften_star_pairs=True,
                 k_max=8, retree_every=8, max_retries=40, max_steps=100_000, device="cpu"):
        from simengine.runtime import init_warp

        self.wp = init_warp()
        import kernels.nbody.regularized as kr

        self._kr = kr
        self.G, self.pn_mask, self.tol = float(G), int(pn_mask), float(tolerance)
        self.inv_c = 0.0 if not c else 1.0 / float(c)
        self.kind, self.eps, self.soften = int(softening_kind), float(softening), int(bool(soften_star_pairs))
        self.k_max, self.retree_every, self.max_retries = int(k_max), int(retree_every), int(max_retries)
        # Work bound per `integrate` call: at most max_steps accepted steps; from `work_window` steps on, the
        # remaining work is projected from the mean physical step of the last `work_window` steps.
        self.max_steps = int(max_steps)
        self.work_window = max(64, self.max_steps // 64)
        self.device = device
        self._buffers = {}

    # -- Warp buffers ---------------------------------------------------------------------------
    def _bufs(self, n):
        if n not in self._buffers:
            wp, dev, kk = self.wp, self.device, self.k_max
            v2 = lambda: wp.zeros((kk, n), dtype=wp.vec3d, device=dev)  # noqa: E731
            self._buffers[n] = dict(
                x0=wp.zeros(n, dtype=wp.vec3d, device=dev), v0=wp.zeros(n, dtype=wp.vec3d, device=dev),
                edge_x=v2(), edge_v=v2(), scalars=wp.zeros((kk, 2), dtype=wp.float64, device=dev),
                vel=v2(), vaux=v2(), acc=v2(), apn=v2(), dv=v2(), acc_bh=v2(),
                phi_bh=wp.zeros((kk, n), dtype=wp.float64, device=dev),
                vel1=wp.zeros(n, dtype=wp.vec3d, device=dev), acc1=wp.zeros(n, dtype=wp.vec3d, device=dev),
                energy=wp.zeros(2, dtype=wp.float64, device=dev),
                s0=wp.zeros(n, dtype=wp.vec3d, device=dev), spin=v2(), saux=v2(), srate=v2())
        return self._buffers[n]

    def _upload_tree(self, region, b):
        _check_tree(region)  # the kernels walk parent chains and `order` without bounds checks
        wp, dev = self.wp, self.device
        b["mass"] = wp.array(region.mass, dtype=wp.float64, device=dev)
        b["is_bh"] = wp.array(region.is_bh.astype(np.int32), dtype=wp.int32, device=dev)
        b["parent"] = wp.array(region.tree.parent, dtype=wp.int32, device=dev)
        b["depth"] = wp.array(region.tree.depth, dtype=wp.int32, device=dev)
        b["order"] = wp.array(region.tree.order, dtype=wp.int32, device=dev)
        b["cmd"] = None

    def energies(self, region):
        """(T, U) of the region in its centre-of-mass frame (U > 0, softening as configured)."""
        b = self._bufs(region.n)
        self._upload_tree(region, b)
        b["x0"].assign(region.edge_x)
        b["v0"].assign(region.edge_v)
        self.wp.launch(self._kr.region_energy, dim=1, device=self.device, inputs=[
            region.n, b["mass"], b["is_bh"], b["parent"], b["depth"], b["order"], self.G, self.kind,
            self.eps, self.soften, b["x0"], b["v0"], b["vel1"], b["acc1"], b["energy"]])
        T, U = b["energy"].numpy()
        return float(T), float(U)

    def _sequences(self, region, b, B0, H, k_first, k_last):
        """Leapfrog results for k = k_first..k_last (n_k = 2k substeps), one launch: rows of y."""
        count = k_last - k_first + 1
        cmd = b.get("cmd")
        if cmd is None:  # record the launch once per tree upload; later calls only change scalars
            cmd = b["cmd"] = RecordedLaunch(self._kr.logh_leapfrog, count, [
                region.n, k_first, H, B0, b["mass"], b["is_bh"], b["parent"], b["depth"], b["order"],
                self.G, self.inv_c, self.pn_mask, self.kind, self.eps, self.soften, b["x0"], b["v0"],
                b["edge_x"], b["edge_v"], b["scalars"], b["vel"], b["vaux"], b["acc"], b["apn"], b["dv"],
                b["phi_bh"], b["acc_bh"], b["s0"], b["spin"], b["saux"], b["srate"]], self.device)
        cmd.set_dim(count)
        cmd.set_param(1, k_first)
        cmd.set_param(2, H)
        cmd.set_param(3, B0)
        cmd.launch()
        region.stats["launches"] += 1
        n = region.n
        return np.concatenate([b["edge_x"].numpy()[:count].reshape(count, 3 * n),
                               b["edge_v"].numpy()[:count].reshape(count, 3 * n),
                               b["scalars"].numpy()[:count],
                               b["spin"].numpy()[:count].reshape(count, 3 * n)], axis=1)

    # -- one extrapolated macro step ------------------------------------------------------------
    def _scales(self, region, y0, U0):
        n = region.n
        x = y0[:3 * n].reshape(n, 3)
        v = y0[3 * n:6 * n].reshape(n, 3)
        lx = np.linalg.norm(x, axis=1)
        lv = np.linalg.norm(v, axis=1)
        root = region.tree.root
        nonroot = region.tree.parent >= 0
        pm = region.mass + np.where(nonroot, region.mass[np.maximum(region.tree.parent, 0)], 0.0)
        kepler = np.sqrt(self.G * pm / np.maximum(lx, 1e-300))
        big_x = lx[nonroot].max() if nonroot.any() else max(lx[root], 1e-300)
        big_v = (lv[nonroot] + kepler[nonroot]).max() if nonroot.any() else max(lv[root], 1e-300)
        sx = lx.copy()
        sv = lv + kepler
        sx[root] = max(lx[root], big_x)
        sv[root] = max(lv[root], big_v)
        spin_scale = float(np.linalg.norm(y0[6 * n + 2:].reshape(n, 3), axis=1).max())
        return np.concatenate([sx, sv]) ** 2, U0, spin_scale

    def _error(self, region, diff, scales, dt_step):
        n = region.n
        s2, U0, spin_scale = scales
        d2 = (diff[:6 * n].reshape(2 * n, 3) ** 2).sum(1)
        ex = np.sqrt((d2 / s2).max())
        et = abs(diff[6 * n]) / max(abs(dt_step), 1e-300)
        eB = abs(diff[6 * n + 1]) / U0
        # spins relative to the largest spin of the region (none: no spin error)
        eS = np.linalg.norm(diff[6 * n + 2:].reshape(n, 3), axis=1).max() / spin_scale if spin_scale > 0 else 0.0
        return max(ex, et, eB, eS) / self.tol

    def _macro_step(self, region, b, y0, B0, U0, H, k_target):
        """Returns (y, k, err, H_next, k_next) on success or (None, k_max, err, H_retry, k_target)."""
        with np.errstate(all="ignore"):  # a non-finite sequence counts as not converged (err = 1e300)
            return self._extrapolate(region, b, y0, B0, U0, H, k_target)

    def _extrapolate(self, region, b, y0, B0, U0, H, k_target):
        n = region.n
        x0 = y0[:3 * n].reshape(n, 3)
        v0 = y0[3 * n:6 * n].reshape(n, 3)
        scales = self._scales(region, y0, U0)
        table, work, h_opt, errs = [], [], {}, {}
        _assign(b["x0"], x0)
        _assign(b["v0"], v0)
        _assign(b["s0"], y0[6 * n + 2:].reshape(n, 3))
        rows = {}
        for k in range(1, self.k_max + 1):
            n_k = 2 * k
            if k not in rows:
                # First batch up to one order above the target, then one order per launch.
                k_last = min(self.k_max, k_target + 1) if k == 1 else k
                for kk, y in zip(range(k, k_last + 1), self._sequences(region, b, B0, H, k, k_last)):
                    rows[kk] = y
            row = [rows[k]]
            for j in range(1, k):
                ratio = (n_k / (2 * (k - j))) ** 2
                row.append(row[j - 1] + (row[j - 1] - table[-1][j - 1]) / (ratio - 1.0))
            table.append(row)
            work.append(n_k + (work[-1] if work else 1))
            if k < 2:
                continue
            err = self._error(region, row[-1] - row[-2], scales, row[-1][6 * n])
            if not np.isfinite(err):
                err = 1e300
            errs[k] = err
            fac = 0.94 * (0.65 / max(err, 1e-300)) ** (1.0 / (2 * k - 1))
            h_opt[k] = H * min(4.0 if k < self.k_max else 1.5, max(0.05, fac))
            if err <= 1.0:
                # Choose the next order by work per unit step among k-1 and k (and k+1 if k won).
                cands = [kk for kk in (k - 1, k) if kk in h_opt]
                best = min(cands, key=lambda kk: work[kk - 1] / h_opt[kk])
                H_next = h_opt[best]
                if best == k and k < self.k_max and k >= k_target:
                    best, H_next = k + 1, h_opt[k] * (work[k - 1] + 2 * (k + 1)) / work[k - 1]
                return row[-1], k, err, H_next, best
        err = errs.get(self.k_max, 1e300)
        return None, self.k_max, err, min(h_opt.get(self.k_max, 0.5 * H), 0.9 * H), k_target

    # -- public: advance a region by physical time dt ---------------------------------------------
    def integrate(self, region: RegionState, dt: float, stop=None, time_origin: float = 0.0):
        """Advance `region` (in place) by physical time `dt`. Returns (time_done, pn_work).

        ``stop(region) -> bool`` is checked before each step, the first included (e.g. a black-hole
        merger: a pair that starts, or arrives, inside its merger radius never reaches a singular step);
        when it returns True the integration ends early at the time reached (possibly 0). ``pn_work`` is
        the work done by the post-Newtonian forces (the change of the region's Newtonian energy they caused).
        A step that cannot proceed raises `SimulationError` (see the module docstring).
        """
        if region.n < 2 or dt <= 0:
            return dt, 0.0
        if stop is not None and stop(region):
            return 0.0, 0.0
        b = self._bufs(region.n)
        self._upload_tree(region, b)
        T, U = self.energies(region)
        if not (np.isfinite(T) and np.isfinite(U) and U > 0):
            raise SimulationError(self._describe(
                region, time_origin, f"the regularized step cannot start: T = {T:.3g}, U = {U:.3g} (U is infinite "
                f"when two members without softening are at zero separation, e.g. black holes with mergers off)"))
        B = U - T
        B_start = B
        t = 0.0
        H = region.step_hint if region.step_hint else self._initial_step(region, U)
        k_target = 4
        since_retree = 0
        retries = 0
        n_steps = 0
        recent = deque(maxlen=self.work_window)  # physical lengths of the last accepted steps
        while t < dt:
            if stop is not None and t > 0 and stop(region):
                return t, -(B - B_start)
            remaining = dt - t
            y0 = np.concatenate([region.edge_x.ravel(), region.edge_v.ravel(), [0.0, B], region.spin.ravel()])
            U_now = T + B
            if not (np.isfinite(H) and H > 0 and np.isfinite(U_now) and U_now > 0):
                raise SimulationError(self._describe(
                    region, time_origin + t, f"the regularized step cannot proceed: step H = {H:.3g}, "
                    f"U = T + B = {U_now:.3g} (must be finite and > 0)"))
            final = H / U_now >= remaining
            if final:
                H = remaining * U_now
            y, k, err, H_next, k_next = self._macro_step(region, b, y0, B, U_now, H, k_target)
            if y is None:
                retries += 1
                region.stats["rejected"] += 1
                if retries > self.max_retries:
                    raise SimulationError(self._describe(
                        region, None, f"the extrapolation did not converge (error {err:.3g} x tolerance) after "
                        f"{retries} step reductions at time {time_origin + t:.17g} (step H = {H:.3g}); try a looser "
                        f"tolerance or check for a collision"))
                H = H_next
                continue
            retries = 0
            step_dt = y[6 * region.n]
            if step_dt > remaining * (1.0 + 1e-13):
                y, step_dt, H = self._hit_time(region, b, y0, B, U_now, H, step_dt, remaining, k_target,
                                               time_origin + t)
            if not (np.isfinite(y).all() and step_dt > 0 and t + step_dt > t):
                what = ("a non-finite state" if not np.isfinite(y).all()
                        else f"a physical step {step_dt:.3g} that underflows at t = {t:.3g} into the interval")
                raise SimulationError(self._describe(region, time_origin + t, f"the regularized step (H = {H:.3g})"
                                                     f" gave {what}; check for a collision"))
            self._accept(region, y, step_dt)
            t += step_dt
            B = y[6 * region.n + 1]
            T = 0.5 * float((region.mass * (region.internal_velocities() ** 2).sum(1)).sum())
            region.stats["steps"] += 1
            n_steps += 1
            recent.append(step_dt)
            if abs(dt - t) <= 1e-13 * dt:
                # Close the last round-off gap with a drift: the error is O(gap^2 * a), far below tolerance.
                region.edge_x += (dt - t) * region.edge_v
                t = dt
            else:
                H, k_target = H_next, k_next
                region.step_hint = H
                self._check_work(region, n_steps, recent, t, dt, time_origin)
            since_retree += 1
            if since_retree >= self.retree_every:
                region.tree, region.edge_x, region.edge_v = _tree.retree(
                    region.edge_x, region.edge_v, region.tree, region.mass)
                self._upload_tree(region, b)
                since_retree = 0
        return t, -(B - B_start)

    def _check_work(self, region, n_steps, recent, t, dt, time_origin):
        """Raise `SimulationError` when the interval would take more than `max_steps` accepted steps."""
        if n_steps < self.work_window and n_steps < self.max_steps:
            return
        mean = sum(recent) / len(recent)
        projected = n_steps + (dt - t) / mean
        if projected <= self.max_steps and n_steps < self.max_steps:
            return
        raise SimulationError(self._describe(
            region, time_origin + t,
            f"covering the interval {dt:.6g} (from time {time_origin:.17g}) would take ~{projected:.3g} regularized "
            f"steps, more than max_region_steps = {self.max_steps}: after {n_steps} steps the physical step is "
            f"~{mean:.3g} and {dt - t:.6g} of the interval remain. Set merger_radius to merge black holes, use a "
            f"shorter max_timestep, or raise max_region_steps"))

    def _describe(self, region, time, what):
        """One message: the members, the time (None: `what` names it), what happened and the region's closest pair."""
        when = "" if time is None else f" at time {time:.17g}"
        msg = f"regularized region with particles {region.members.tolist()}{when}: {what}"
        if region.n >= 2:
            x, v = region.internal_positions(), region.internal_velocities()
            d = np.sqrt(((x[:, None] - x[None]) ** 2).sum(-1))
            d[np.diag_indices(region.n)] = np.inf
            i, j = np.unravel_index(int(np.argmin(d)), d.shape)
            r = float(np.linalg.norm(_tree.path_difference(i, j, region.tree, region.edge_x)))
            kinds = "/".join("smbh" if region.is_bh[k] else "star" for k in (i, j))
            msg += (f" (closest pair: particles {int(region.members[i])} and {int(region.members[j])} ({kinds}), "
                    f"{r:.3g} apart")
            if r > 0:
                m = float(region.mass[i] + region.mass[j])
                dv = float(np.linalg.norm(v[i] - v[j]))
                inv_a = 2.0 / r - dv * dv / (self.G * m)
                if inv_a > 0:
                    msg += f", orbital period {2 * np.pi * np.sqrt(1.0 / inv_a ** 3 / (self.G * m)):.3g}"
            msg += ")"
        return msg

    def _initial_step(self, region, U):
        x = region.internal_positions()
        d2 = ((x[:, None] - x[None]) ** 2).sum(-1)
        if self.soften:  # softened star pairs: their force saturates below eps, so does their time scale
            stars = region.is_bh == 0
            d2 = np.where(stars[:, None] & stars[None, :], d2 + self.eps * self.eps, d2)
        d = np.sqrt(d2)
        m = region.mass[:, None] + region.mass[None, :]
        iu = np.triu_indices(region.n, 1)
        t_dyn = np.min(np.sqrt(d[iu] ** 3 / (self.G * m[iu])))
        return 0.05 * t_dyn * U

    def _accept(self, region, y, step_dt):
        n = region.n
        region.edge_x = y[:3 * n].reshape(n, 3).copy()
        region.edge_v = y[3 * n:6 * n].reshape(n, 3).copy()
        region.spin = y[6 * n + 2:].reshape(n, 3).copy()

    def _hit_time(self, region, b, y0, B0, U0, H, dt_got, target, k_target, time=float("nan")):
        """Secant iteration on H so that the step's physical time equals `target`."""
        n = region.n
        H_a, f_a = H, dt_got - target
        H_b = H * target / dt_got
        y = None
        for _ in range(30):
            y, k, err, _, _ = self._macro_step(region, b, y0, B0, U0, H_b, k_target)
            if y is None:
                H_b *= 0.5
                continue
            f_b = y[6 * n] - target
            if abs(f_b) <= 1e-14 * target or f_b == f_a:
                return y, y[6 * n], H_b
            H_a, H_b, f_a = H_b, H_b - f_b * (H_b - H_a) / (f_b - f_a), f_b
            if H_b <= 0:
                H_b = 0.5 * H_a
        if y is None:
            raise SimulationError(self._describe(region, time, f"could not hit the output time "
                                                 f"{target:.6g} ahead"))
        return y, y[6 * n], H_b


def _assign(arr, values):
    """Copy numpy values into a Warp array (in place through the shared buffer on the CPU)."""
    if arr.device.is_cpu:
        arr.numpy()[...] = values
    else:
        arr.assign(values)


def _check_tree(region) -> None:
    """Refuse a tree the kernels cannot walk: one root, parents in range, `order` a breadth-first
    permutation (what `_tree.spanning_tree` builds); anything else is a bug upstream, not a crash here."""
    tree, n = region.tree, region.n
    parent, order, depth = np.asarray(tree.parent), np.asarray(tree.order), np.asarray(tree.depth)
    ok = parent.shape == depth.shape == order.shape == (n,) and (parent < n).all() and (parent >= -1).all()
    if ok:
        ok = (parent == -1).sum() == 1 and np.array_equal(np.sort(order), np.arange(n)) and parent[order[0]] == -1
    if ok:
        nonroot = parent >= 0
        rank = np.argsort(order)  # parents come before their children in `order` (kernels rely on it)
        ok = (depth[order[0]] == 0 and (depth[nonroot] == depth[parent[nonroot]] + 1).all()
              and (rank[parent[nonroot]] < rank[nonroot]).all())
    if not ok:
        raise SimulationError(f"regularized region with particles {region.members.tolist()}: invalid spanning tree "
                              f"(parent {parent.tolist()}, order {order.tolist()}, depth {depth.tolist()})")
