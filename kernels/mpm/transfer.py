"""MLS-MPM transfer kernels (Hu et al. 2018, "A moving least squares material point method with
displacement discontinuity and two-way rigid body coupling"), quadratic B-splines, APIC (Jiang et al. 2015).

One factory writes the kernels for 2D and 3D and for float32/float64 from a single body. The grid is
flattened, node (i, j[, k]) at ``(i, j, k) * dx``, index ``(i * ny + j) * nz + k``. One step:

* `p2g`:  ``m_i += w_ip m_p``, ``(mv)_i += w_ip (m_p v_p + A_p (x_i - x_p))`` with the MLS affine
          ``A_p = -dt V_p (4 / dx^2) tau_p + m_p C_p`` (tau the Kirchhoff stress). Each CPU thread may
          scatter into a private grid copy (``buffer_offset``), summed by `grid_update`.
* `grid_update`: ``v_i = (mv)_i / m_i + dt g``, then collider (signed distance) and domain-wall
          conditions: slip (normal part removed), sticky (v = collider velocity), separate (normal
          part removed only when moving into the solid), Coulomb friction on the tangential part. Along
          periodic axes there are no walls: the period is the cells between the wall layers, nodes a
          stencil reaches beyond it are ghosts, and each node gathers the mass and momentum of all its
          copies (so ghosts and their canonical nodes get the same velocity; `wrap_periodic` then moves
          particles that left the period back by one period).
* `g2p`:  ``v_p = sum w_ip v_i``, ``C_p = (4 / dx^2) sum w_ip v_i (x_i - x_p)^T``, ``x_p += dt v_p``,
          ``F_trial = (I + dt C_p) F_p``, then the material's return mapping.

Each kernel thread handles a ``chunk`` of consecutive particles or nodes (a loop in the kernel):
on CPU this amortises Warp's per-thread argument set-up, which otherwise dominates (measured on a shared
2-core machine: the grid update at 65^3 nodes fell from ~10 ms to ~2 ms); on CUDA chunk = 1. The
iterations are independent and nothing after the loop uses them, so its adjoint is exact.

The 3^dim stencil is unrolled axis by axis over rows of 3 consecutive nodes: P2G adds ``dx A[:, a]`` per
offset step instead of forming ``A (o - fx) dx`` per node, and G2P accumulates ``v`` and the centred first
moment ``c`` by partial sums per row, so ``B = (4 / dx) (c - v (fx - 1)^T)`` costs no per-node outer product
(benchmarks/mpm.py's scene, one thread, CPU time on a loaded machine: G2P ~15 -> ~11 ms per step, P2G
up to ~10% less; results equal to round-off).

Variants: ``p2g_external`` reads tau from an array instead of the material table and ``g2p_trial``
returns ``F_trial`` unprojected, for constitutive laws evaluated outside (e.g. in torch).
"""
import functools

import warp as wp

from kernels.mpm.constitutive import MODELS, make_constitutive

BOUNDARY_MODES = ("slip", "sticky", "separate")
MAX_COLLIDERS = 8  # the grid update unrolls its collider loop to this many
MAX_UNROLL = 32
SLIP, STICKY, SEPARATE = range(3)


@functools.lru_cache(maxsize=None)
def get_kernels(dim: int, scalar=wp.float32):
    """Kernels and types for ``dim``-D MPM in ``scalar`` precision (built once per combination)."""
    module = f"simengine_mpm_{dim}d_{scalar.__name__}"
    # Warp's backward pass does not replay dynamic loops before the code after them, so every loop
    # whose results are used later must unroll: the 27-node 3D stencil and the yield bisection.
    wp.set_module_options({"max_unroll": MAX_UNROLL}, module=module)
    la, STRESS, PROJECT = make_constitutive(dim, scalar, module)
    vec = wp.types.vector(dim, scalar)
    ivec = wp.types.vector(dim, wp.int32)
    mat = wp.types.matrix((dim, dim), scalar)
    vec4 = wp.types.vector(4, scalar)
    nodevec = wp.types.vector(dim + 1, scalar)  # a grid node's P2G sums: momentum, then mass
    wmat = wp.types.matrix((3, dim), scalar)
    # A dispatch through a wrapper function costs a call (with the heavy models' frame) per particle, so
    # the cheap, common neo-Hookean stress is inlined and elastic models skip the return-mapping call.
    NEO_HOOKEAN = MODELS.index("neo_hookean")
    FIRST_PLASTIC = 2
    assert set(MODELS[:FIRST_PLASTIC]) == {"fixed_corotated", "neo_hookean"}
    CORNERS = 2**dim

    @wp.func(module=module)
    def node_index(c: ivec, res: ivec) -> int:
        if wp.static(dim == 2):
            return c[0] * res[1] + c[1]
        else:
            return (c[0] * res[1] + c[1]) * res[2] + c[2]

    @wp.func(module=module)
    def node_coord(n: int, res: ivec) -> ivec:
        if wp.static(dim == 2):
            return ivec(n // res[1], n % res[1])
        else:
            return ivec(n // (res[1] * res[2]), (n // res[2]) % res[1], n % res[2])

    @wp.func(module=module)
    def offset_of(s: int, base: int) -> ivec:
        """The s-th offset of a ``base^dim`` stencil (base 3: B-spline support, base 2: cell corners)."""
        if wp.static(dim == 2):
            return ivec(s // base, s % base)
        else:
            return ivec(s // (base * base), (s // base) % base, s % base)

    @wp.func(module=module)
    def lower_node(g: vec, res: ivec) -> ivec:
        """Component-wise ``clamp(int(g), 0, res - 3)``, built from scalar ints: Warp's adjoint of a vector
        float-to-int conversion passes gradient through, a scalar ``int()`` does not."""
        if wp.static(dim == 2):
            return ivec(wp.clamp(int(g[0]), 0, res[0] - 3), wp.clamp(int(g[1]), 0, res[1] - 3))
        else:
            return ivec(wp.clamp(int(g[0]), 0, res[0] - 3), wp.clamp(int(g[1]), 0, res[1] - 3),
                        wp.clamp(int(g[2]), 0, res[2] - 3))

    @wp.func(module=module)
    def bspline(xp: vec, inv_dx: scalar, res: ivec):
        """Lower stencil node, fractional position fx = x / dx - base, and the 3 x dim weight rows."""
        base = lower_node(xp * inv_dx - vec(scalar(0.5)), res)
        fx = xp * inv_dx - vec(base)
        h0 = vec(scalar(1.5)) - fx
        h1 = fx - vec(scalar(1.0))
        h2 = fx - vec(scalar(0.5))
        w = wp.matrix_from_rows(
            scalar(0.5) * wp.cw_mul(h0, h0), vec(scalar(0.75)) - wp.cw_mul(h1, h1), scalar(0.5) * wp.cw_mul(h2, h2))
        return base, fx, w

    @wp.func(module=module)
    def pack(a: vec, s: scalar) -> nodevec:
        """``(a, s)``: a vector with one more component."""
        if wp.static(dim == 2):
            return nodevec(a[0], a[1], s)
        else:
            return nodevec(a[0], a[1], a[2], s)

    @wp.func(module=module)
    def momentum_of(mm: nodevec) -> vec:
        if wp.static(dim == 2):
            return vec(mm[0], mm[1])
        else:
            return vec(mm[0], mm[1], mm[2])

    @wp.func(module=module)
    def to_scalar(i: int) -> scalar:
        """``scalar(i)`` through a call: converting an unrolled loop's index in place retypes it (Warp 1.19)."""
        return scalar(i)

    @wp.func(module=module)
    def strides(res: ivec) -> ivec:
        """Flat-index step along each axis."""
        if wp.static(dim == 2):
            return ivec(res[1], 1)
        else:
            return ivec(res[1] * res[2], res[2], 1)

    @wp.func(module=module)
    def shift(q: nodevec, c: nodevec, o: int) -> nodevec:
        """``q + o c`` for a stencil offset o (a constant once unrolled); o = 0 returns q without adding the
        ``0 c`` that the compiler may not drop (IEEE: it could be NaN or -0)."""
        if o == 0:
            return q
        return q + to_scalar(o) * c

    @wp.func(module=module)
    def along(w: wmat, a: int, x0: vec, x1: vec, x2: vec):
        """Over a stencil line along axis a: ``sum_o w_o x_o`` and ``sum_o w_o (o - 1) x_o = w_2 x_2 - w_0 x_0``."""
        return w[0, a] * x0 + w[1, a] * x1 + w[2, a] * x2, w[2, a] * x2 - w[0, a] * x0

    @wp.func(module=module)
    def gather_row(grid_v: wp.array(dtype=vec), row: int, w: wmat):
        """`along` the last axis over the 3 consecutive nodes from ``row``."""
        return along(w, dim - 1, grid_v[row], grid_v[row + 1], grid_v[row + 2])

    @wp.func(module=module)
    def gather_plane(grid_v: wp.array(dtype=vec), first: int, step: int, w: wmat):
        """3D: over the 3 rows from ``first`` (``step`` apart along axis 1): the row sums, their first moment
        along axis 1 and the sum of their first moments along axis 2."""
        v0, d0 = gather_row(grid_v, first, w)
        v1, d1 = gather_row(grid_v, first + step, w)
        v2, d2 = gather_row(grid_v, first + 2 * step, w)
        v, c1 = along(w, 1, v0, v1, v2)
        c2, unused = along(w, 1, d0, d1, d2)
        return v, c1, c2

    @wp.func(module=module)
    def gather(grid_v: wp.array(dtype=vec), first_node: int, step: ivec, w: wmat):
        """``v = sum_o w_o v_o`` and ``c = sum_o w_o v_o (o - 1)^T`` over the 3^dim stencil from ``first_node``,
        summed axis by axis (rows of 3 consecutive nodes; centred offsets o - 1 keep the cancellation in
        ``c - v (fx - 1)^T`` as small as in the plain sum over ``o - fx``), written out so that no term is a
        multiple of the zero offset ``o - 1 = 0`` or an addition to a zero start."""
        if wp.static(dim == 2):
            v0, d0 = gather_row(grid_v, first_node, w)
            v1, d1 = gather_row(grid_v, first_node + step[0], w)
            v2, d2 = gather_row(grid_v, first_node + 2 * step[0], w)
            v, c0 = along(w, 0, v0, v1, v2)
            c1, unused = along(w, 0, d0, d1, d2)
            return v, wp.matrix_from_cols(c0, c1)
        else:
            v0, e0, f0 = gather_plane(grid_v, first_node, step[1], w)
            v1, e1, f1 = gather_plane(grid_v, first_node + step[0], step[1], w)
            v2, e2, f2 = gather_plane(grid_v, first_node + 2 * step[0], step[1], w)
            v, c0 = along(w, 0, v0, v1, v2)
            c1, unused1 = along(w, 0, e0, e1, e2)
            c2, unused2 = along(w, 0, f0, f1, f2)
            return v, wp.matrix_from_cols(c0, c1, c2)

    @wp.func(module=module)
    def material_stress(model: int, F: mat, C: mat, plastic: scalar, E: scalar, nu: scalar, params: vec4) -> mat:
        tau = mat()
        for m in range(wp.static(len(MODELS))):
            if model == m:
                tau = wp.static(STRESS[m])(F, C, plastic, E, nu, params)
        return tau

    @wp.func(module=module)
    def material_project(model: int, F: mat, plastic: scalar, E: scalar, nu: scalar, params: vec4, dt: scalar):
        F_new = F
        plastic_new = plastic
        for m in range(wp.static(len(MODELS))):
            if model == m:
                F_new, plastic_new = wp.static(PROJECT[m])(F, plastic, E, nu, params, dt)
        return F_new, plastic_new

    def make_p2g(external: bool):
        @wp.kernel(module=module, name=f"p2g_{'external' if external else 'material'}")
        def p2g(x: wp.array(dtype=vec), v: wp.array(dtype=vec), C: wp.array(dtype=mat), F: wp.array(dtype=mat),
                plastic: wp.array(dtype=scalar), stress: wp.array(dtype=mat), mass: wp.array(dtype=scalar),
                volume: wp.array(dtype=scalar), model: wp.array(dtype=int), E: wp.array(dtype=scalar),
                nu: wp.array(dtype=scalar), params: wp.array(dtype=vec4), dx: scalar, dt: scalar, res: ivec,
                begin: int, end: int, chunk: int, buffer_offset: int, grid_mm: wp.array(dtype=nodevec)):
            inv_dx = scalar(1.0) / dx
            first = begin + wp.tid() * chunk
            for p in range(first, wp.min(first + chunk, end)):  # independent iterations: exact adjoint
                tau = mat()
                if wp.static(external):
                    tau = stress[p]
                elif model[p] == NEO_HOOKEAN:  # the cheap common case inline; the heavy models behind a call
                    tau = wp.static(STRESS[NEO_HOOKEAN])(F[p], C[p], plastic[p], E[p], nu[p], params[p])
                else:
                    tau = material_stress(model[p], F[p], C[p], plastic[p], E[p], nu[p], params[p])
                m = mass[p]
                affine = (-dt * volume[p] * scalar(4.0) * inv_dx * inv_dx) * tau + m * C[p]
                base, fx, w = bspline(x[p], inv_dx, res)
                # node o gets w_o (m v + A (o - fx) dx) = w_o (q + sum_a o_a dx A[:, a]), q = m v - A fx dx, and
                # mass w_o m: one (momentum, mass) vector w_o (q + sum_a o_a c_a, m), c_a = (dx A[:, a], 0), built
                # up axis by axis over the unrolled stencil, rows of 3 consecutive nodes (one vector add per node)
                q = pack(m * v[p] - affine @ (fx * dx), m)
                cols = wp.transpose(affine) * dx  # row a: column a of A, times dx
                c0 = pack(cols[0], scalar(0.0))
                c1 = pack(cols[1], scalar(0.0))
                first_node = node_index(base, res) + buffer_offset
                step = strides(res)
                for i in range(3):
                    qi = shift(q, c0, i)
                    if wp.static(dim == 2):
                        for j in range(3):
                            weight = w[i, 0] * w[j, 1]
                            wp.atomic_add(grid_mm, first_node + i * step[0] + j, weight * shift(qi, c1, j))
                    else:
                        c2 = pack(cols[2], scalar(0.0))
                        for j in range(3):
                            wij = w[i, 0] * w[j, 1]
                            qij = shift(qi, c1, j)
                            row = first_node + i * step[0] + j * step[1]
                            for k in range(3):
                                wp.atomic_add(grid_mm, row + k, (wij * w[k, 2]) * shift(qij, c2, k))

        return p2g

    @wp.func(module=module)
    def project_velocity(v: vec, normal: vec, mode: int, friction: scalar) -> vec:
        """Boundary condition for velocity v relative to a solid with outward unit normal."""
        if mode == STICKY:
            return vec()
        vn = wp.dot(v, normal)
        if mode == SEPARATE and vn >= scalar(0.0):
            return v
        vt = v - vn * normal
        if friction > scalar(0.0) and vn < scalar(0.0):
            speed = wp.length(vt)
            if speed > scalar(0.0):
                vt = vt * wp.max(scalar(0.0), scalar(1.0) + friction * vn / speed)
        return vt

    @wp.func(module=module)
    def collider_at(c: int, n: int, node: ivec, res: ivec, n_nodes: int, dx: scalar, moving: int, disp: vec,
                    sdf: wp.array(dtype=scalar), normal: wp.array(dtype=vec)):
        """Signed distance and normal of collider c at node n, its t=0 field shifted by ``disp``."""
        if moving == 0:
            return sdf[c * n_nodes + n], normal[c * n_nodes + n]
        q = vec(node) - disp / dx  # where this node sat relative to the collider at t = 0, in cells
        qc = vec()
        base = ivec()
        frac = vec()
        for a in range(dim):
            qc[a] = wp.clamp(q[a], scalar(0.0), scalar(res[a] - 1))
            base[a] = wp.min(int(qc[a]), res[a] - 2)
            frac[a] = qc[a] - scalar(base[a])
        phi = scalar(0.0)
        nrm = vec()
        for s in range(CORNERS):
            corner = offset_of(s, 2)
            weight = scalar(1.0)
            for a in range(dim):
                if corner[a] == 1:
                    weight = weight * frac[a]
                else:
                    weight = weight * (scalar(1.0) - frac[a])
            k = c * n_nodes + node_index(base + corner, res)
            phi += weight * sdf[k]
            nrm += weight * normal[k]
        nrm = wp.normalize(nrm)
        return phi + wp.dot(nrm, q - qc) * dx, nrm  # beyond the sampled grid: extend linearly

    @wp.func(module=module)
    def canonical_node(node: ivec, res: ivec, pad: int, periodic: ivec) -> ivec:
        """The node's copy inside the period along periodic axes (the period is the M = res - 1 - 2 pad cells
        from node ``pad``: nodes below ``pad`` or from ``pad + M`` on are ghosts of the node M away)."""
        out = ivec()
        for a in range(dim):
            out[a] = node[a]
            if periodic[a] != 0:
                m = res[a] - 1 - 2 * pad
                if node[a] < pad:
                    out[a] = node[a] + m
                elif node[a] >= pad + m:
                    out[a] = node[a] - m
        return out

    @wp.func(module=module)
    def ghost_of(c: int, res_a: int, pad: int) -> int:
        """The ghost node that a B-spline stencil reaches for canonical node c along a periodic axis, or -1."""
        m = res_a - 1 - 2 * pad
        if c == pad or c == pad + 1:
            return c + m
        if c == pad + m - 1:
            return c - m
        return -1

    @wp.kernel(module=module, name="grid_update")
    def grid_update(grid_mm: wp.array(dtype=nodevec), n_buffers: int, n_nodes: int,
                    res: ivec, dx: scalar, dt: scalar, gravity: vec, pad: int, wall_mode: int, wall_friction: scalar,
                    n_colliders: int, col_sdf: wp.array(dtype=scalar), col_normal: wp.array(dtype=vec),
                    col_mode: wp.array(dtype=int), col_friction: wp.array(dtype=scalar),
                    col_moving: wp.array(dtype=int), col_disp: wp.array(dtype=vec), col_vel: wp.array(dtype=vec),
                    periodic: ivec, begin: int, end: int, chunk: int, grid_v: wp.array(dtype=vec)):
        first = begin + wp.tid() * chunk
        any_periodic = int(0)
        for a in range(dim):
            any_periodic = any_periodic + periodic[a]
        for n in range(first, wp.min(first + chunk, end)):
            node = ivec()
            own = n  # the node whose mass, colliders and walls set this node's velocity
            mm = nodevec()
            if any_periodic == 0:
                mm = grid_mm[n]
                for b in range(1, n_buffers):  # other threads' copies; empty (1 buffer) whenever a tape records
                    mm += grid_mm[b * n_nodes + n]
            else:  # a ghost node takes its canonical node's velocity; both gather the mass of all copies
                node = canonical_node(node_coord(n, res), res, pad, periodic)
                own = node_index(node, res)
                for s in range(CORNERS):  # per periodic axis: the canonical node, or its ghost
                    corner = offset_of(s, 2)
                    copy = ivec()
                    valid = int(1)
                    for a in range(dim):
                        copy[a] = node[a]
                        if corner[a] == 1:
                            ghost = int(-1)
                            if periodic[a] != 0:
                                ghost = ghost_of(node[a], res[a], pad)
                            if ghost < 0:
                                valid = 0
                            copy[a] = ghost
                    if valid == 1:
                        k = node_index(copy, res)
                        for b in range(n_buffers):
                            mm += grid_mm[b * n_nodes + k]
            m = mm[dim]
            v = vec()
            if m > scalar(0.0):
                v = momentum_of(mm) / m + dt * gravity
                if any_periodic == 0:
                    node = node_coord(n, res)
                for c in range(wp.static(MAX_COLLIDERS)):  # unrolled, so the chain v -> v is differentiated
                    if c < n_colliders:
                        phi, normal = collider_at(c, own, node, res, n_nodes, dx, col_moving[c], col_disp[c],
                                                  col_sdf, col_normal)
                        if phi < scalar(0.0):
                            v = col_vel[c] + project_velocity(v - col_vel[c], normal, col_mode[c], col_friction[c])
                eye = la.identity()
                for a in range(dim):
                    if periodic[a] == 0:
                        if node[a] < pad:
                            v = project_velocity(v, eye[a], wall_mode, wall_friction)
                        if node[a] > res[a] - 1 - pad:
                            v = project_velocity(v, -eye[a], wall_mode, wall_friction)
            grid_v[n] = v

    @wp.kernel(module=module, name="wrap_periodic")
    def wrap_periodic(x: wp.array(dtype=vec), dx: scalar, res: ivec, pad: int, periodic: ivec, begin: int,
                      end: int, chunk: int):
        """Move particles that left the period [pad dx, (res - 1 - pad) dx) along a periodic axis back into it."""
        first = begin + wp.tid() * chunk
        for p in range(first, wp.min(first + chunk, end)):
            shift = vec()
            for a in range(dim):
                if periodic[a] != 0:
                    lo = to_scalar(pad) * dx
                    period = to_scalar(res[a] - 1 - 2 * pad) * dx
                    shift[a] = -period * wp.floor((x[p][a] - lo) / period)
            x[p] = x[p] + shift

    def make_g2p(project: bool):
        @wp.kernel(module=module, name=f"g2p_{'projected' if project else 'trial'}")
        def g2p(x: wp.array(dtype=vec), F: wp.array(dtype=mat), plastic: wp.array(dtype=scalar),
                model: wp.array(dtype=int), E: wp.array(dtype=scalar), nu: wp.array(dtype=scalar),
                params: wp.array(dtype=vec4), grid_v: wp.array(dtype=vec), dx: scalar, dt: scalar, res: ivec,
                begin: int, end: int, chunk: int, x_out: wp.array(dtype=vec), v_out: wp.array(dtype=vec),
                C_out: wp.array(dtype=mat), F_out: wp.array(dtype=mat), plastic_out: wp.array(dtype=scalar)):
            inv_dx = scalar(1.0) / dx
            # keep the B-spline stencil on the grid (walls stop bodies well before); vector min/max, as
            # Warp's adjoint of an overwritten vector component double-counts
            upper = (vec(res) - vec(scalar(2.0))) * dx
            first = begin + wp.tid() * chunk
            for p in range(first, wp.min(first + chunk, end)):
                base, fx, w = bspline(x[p], inv_dx, res)
                v_new, c = gather(grid_v, node_index(base, res), strides(res), w)
                # B = (4 / dx^2) sum_o w_o v_o (o - fx)^T dx = (4 / dx) (c - v (fx - 1)^T), c = sum_o w_o v_o (o - 1)^T
                B = (scalar(4.0) * inv_dx) * (c - wp.outer(v_new, fx - vec(scalar(1.0))))
                x_out[p] = wp.min(wp.max(x[p] + dt * v_new, vec(dx)), upper)
                v_out[p] = v_new
                C_out[p] = B
                F_trial = (la.identity() + dt * B) @ F[p]
                F_new = F_trial
                plastic_new = plastic[p]
                if wp.static(project):
                    if model[p] >= FIRST_PLASTIC:  # elastic models have no return mapping: skip the call
                        F_new, plastic_new = material_project(model[p], F_trial, plastic[p], E[p], nu[p], params[p],
                                                              dt)
                F_out[p] = F_new
                plastic_out[p] = plastic_new

        return g2p

    @wp.kernel(module=module, name="check_particles")
    def check_particles(x: wp.array(dtype=vec), v: wp.array(dtype=vec), max_speed: scalar,
                        first_bad: wp.array(dtype=int)):
        p = wp.tid()
        ok = wp.length(v[p]) <= max_speed  # False for NaN
        for a in range(dim):
            if not (wp.isfinite(x[p][a]) and wp.isfinite(v[p][a])):
                ok = False
        if not ok:
            wp.atomic_min(first_bad, 0, p)

    class Kernels:
        pass

    k = Kernels()
    k.dim, k.scalar, k.vec, k.ivec, k.mat, k.vec4, k.module = dim, scalar, vec, ivec, mat, vec4, module
    k.nodevec = nodevec
    k.p2g, k.p2g_external = make_p2g(False), make_p2g(True)
    k.g2p, k.g2p_trial = make_g2p(True), make_g2p(False)
    k.grid_update, k.check_particles, k.wrap_periodic = grid_update, check_particles, wrap_periodic
    k.polar_rotation = la.polar_rotation
    return k
