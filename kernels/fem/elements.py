"""Explicit finite elements in Warp: linear triangles (2D) and tetrahedra (3D), three hyperelastic laws, penalty
contact with rigid and deformable surfaces, and velocity-Verlet (central-difference) updates.

An element with rest edge matrix D_m = [X_1 - X_0, ..., X_d - X_0] and rest measure V = |det D_m| / d! has the
deformation gradient F = D_s D_m^-1 (D_s the same matrix of current positions) and gives its nodes the forces
f_k = -V P D_m^-T e_k (k = 1..d), f_0 = -sum_k f_k, with P(F) the first Piola-Kirchhoff stress of its law
(dispatched by a table of `@wp.func`s, unrolled):

    0 linear elastic      P = mu (F + F^T - 2 I) + lambda tr(F - I) I                 (small strain)
    1 corotated           P = 2 mu (F - R) + lambda (J - 1) cof(F),  F = R S           (Stomakhin et al. 2012)
    2 stable neo-Hookean  P = mu F + lambda' (J - alpha) cof(F),  alpha = 1 + mu / lambda',
                          lambda' = lambda + mu                       (Smith et al. 2018, without the log term)

cof(F) = J F^-T, the cofactor matrix, is written out without an inverse, so an inverted element gives finite
forces. 2D elements are plane strain (lambda, mu as given) or plane stress (lambda* = 2 lambda mu /
(lambda + 2 mu)); forces are per unit thickness. Every force is scattered with atomics (a plain add on Warp's
serial CPU backend, and an exact adjoint for `wp.Tape`).
"""
import functools
from types import SimpleNamespace

import warp as wp

LAWS = ("linear", "corotated", "neo_hookean")


@functools.lru_cache(maxsize=None)
def get_kernels(dim: int, scalar=wp.float64):
    """Kernels and types for ``dim``-D elements in ``scalar`` precision (built once per combination)."""
    module = f"simengine_fem_{dim}d_{scalar.__name__}"
    vec = wp.types.vector(dim, scalar)
    mat = wp.types.matrix((dim, dim), scalar)
    cell = wp.types.vector(dim + 1, wp.int32)
    facet = wp.types.vector(dim, wp.int32)
    tiny = scalar(1.0e-30)

    @wp.func(module=module)
    def cofactor(F: mat) -> mat:
        if wp.static(dim == 2):
            return mat(F[1, 1], -F[1, 0], -F[0, 1], F[0, 0])
        else:
            c0 = wp.cross(vec(F[0, 1], F[1, 1], F[2, 1]), vec(F[0, 2], F[1, 2], F[2, 2]))
            c1 = wp.cross(vec(F[0, 2], F[1, 2], F[2, 2]), vec(F[0, 0], F[1, 0], F[2, 0]))
            c2 = wp.cross(vec(F[0, 0], F[1, 0], F[2, 0]), vec(F[0, 1], F[1, 1], F[2, 1]))
            return mat(c0[0], c1[0], c2[0], c0[1], c1[1], c2[1], c0[2], c1[2], c2[2])

    @wp.func(module=module)
    def rotation(F: mat) -> mat:
        """R of the polar decomposition F = R S (closed form in 2D, SVD in 3D; det R = +1)."""
        if wp.static(dim == 2):
            angle = wp.atan2(F[1, 0] - F[0, 1], F[0, 0] + F[1, 1])
            c = wp.cos(angle)
            s = wp.sin(angle)
            return mat(c, -s, s, c)
        else:
            U = mat()
            sigma = vec()
            V = mat()
            wp.svd3(F, U, sigma, V)
            if wp.determinant(U) < scalar(0.0):
                U = mat(U[0, 0], U[0, 1], -U[0, 2], U[1, 0], U[1, 1], -U[1, 2], U[2, 0], U[2, 1], -U[2, 2])
            if wp.determinant(V) < scalar(0.0):
                V = mat(V[0, 0], V[0, 1], -V[0, 2], V[1, 0], V[1, 1], -V[1, 2], V[2, 0], V[2, 1], -V[2, 2])
            return U * wp.transpose(V)

    @wp.func(module=module)
    def stress_linear(F: mat, mu: scalar, lam: scalar) -> mat:
        eye = wp.identity(n=dim, dtype=scalar)
        return mu * (F + wp.transpose(F) - scalar(2.0) * eye) + lam * (wp.trace(F) - scalar(dim)) * eye

    @wp.func(module=module)
    def stress_corotated(F: mat, mu: scalar, lam: scalar) -> mat:
        return scalar(2.0) * mu * (F - rotation(F)) + lam * (wp.determinant(F) - scalar(1.0)) * cofactor(F)

    @wp.func(module=module)
    def stress_neo_hookean(F: mat, mu: scalar, lam: scalar) -> mat:
        lam_s = lam + mu
        alpha = scalar(1.0) + mu / lam_s
        return mu * F + lam_s * (wp.determinant(F) - alpha) * cofactor(F)

    @wp.func(module=module)
    def stress(law: int, F: mat, mu: scalar, lam: scalar) -> mat:
        if law == 0:
            return stress_linear(F, mu, lam)
        if law == 1:
            return stress_corotated(F, mu, lam)
        return stress_neo_hookean(F, mu, lam)

    @wp.func(module=module)
    def shape_matrix(c: cell, x: wp.array(dtype=vec)) -> mat:
        x0 = x[c[0]]
        d1 = x[c[1]] - x0
        d2 = x[c[2]] - x0
        if wp.static(dim == 2):
            return mat(d1[0], d2[0], d1[1], d2[1])
        else:
            d3 = x[c[3]] - x0
            return mat(d1[0], d2[0], d3[0], d1[1], d2[1], d3[1], d1[2], d2[2], d3[2])

    @wp.kernel(module=module)
    def element_forces(x: wp.array(dtype=vec), cells: wp.array(dtype=cell), dm_inv: wp.array(dtype=mat),
                       volume: wp.array(dtype=scalar), law: wp.array(dtype=int), mu: wp.array(dtype=scalar),
                       lam: wp.array(dtype=scalar), force: wp.array(dtype=vec), first_inverted: wp.array(dtype=int)):
        """Elastic forces of element e into ``force`` (atomics); the first element with J <= 0 into
        ``first_inverted`` (atomic min)."""
        e = wp.tid()
        c = cells[e]
        F = shape_matrix(c, x) * dm_inv[e]
        if wp.determinant(F) <= scalar(0.0):
            wp.atomic_min(first_inverted, 0, e)
        H = -volume[e] * stress(law[e], F, mu[e], lam[e]) * wp.transpose(dm_inv[e])
        if wp.static(dim == 2):
            f1 = vec(H[0, 0], H[1, 0])
            f2 = vec(H[0, 1], H[1, 1])
            wp.atomic_add(force, c[1], f1)
            wp.atomic_add(force, c[2], f2)
            wp.atomic_add(force, c[0], -(f1 + f2))
        else:
            g1 = vec(H[0, 0], H[1, 0], H[2, 0])
            g2 = vec(H[0, 1], H[1, 1], H[2, 1])
            g3 = vec(H[0, 2], H[1, 2], H[2, 2])
            wp.atomic_add(force, c[1], g1)
            wp.atomic_add(force, c[2], g2)
            wp.atomic_add(force, c[3], g3)
            wp.atomic_add(force, c[0], -(g1 + g2 + g3))

    @wp.kernel(module=module)
    def element_von_mises(x: wp.array(dtype=vec), cells: wp.array(dtype=cell), dm_inv: wp.array(dtype=mat),
                          law: wp.array(dtype=int), mu: wp.array(dtype=scalar), lam: wp.array(dtype=scalar),
                          nu: wp.array(dtype=scalar), plane_strain: wp.array(dtype=int), out: wp.array(dtype=scalar)):
        """von Mises stress of the Cauchy stress sigma = P F^T / J (2D: sigma_33 = nu (sigma_11 + sigma_22) in plane
        strain, 0 in plane stress)."""
        e = wp.tid()
        F = shape_matrix(cells[e], x) * dm_inv[e]
        J = wp.max(wp.determinant(F), scalar(1.0e-12))
        s = stress(law[e], F, mu[e], lam[e]) * wp.transpose(F) / J
        if wp.static(dim == 2):
            s33 = scalar(0.0)
            if plane_strain[e] != 0:
                s33 = nu[e] * (s[0, 0] + s[1, 1])
            q = (s[0, 0] - s[1, 1]) * (s[0, 0] - s[1, 1]) + (s[1, 1] - s33) * (s[1, 1] - s33) + (s33 - s[0, 0]) * (
                s33 - s[0, 0])
            out[e] = wp.sqrt(scalar(0.5) * q + scalar(3.0) * s[0, 1] * s[0, 1] + tiny)
        else:
            q = (s[0, 0] - s[1, 1]) * (s[0, 0] - s[1, 1]) + (s[1, 1] - s[2, 2]) * (s[1, 1] - s[2, 2]) + (
                s[2, 2] - s[0, 0]) * (s[2, 2] - s[0, 0])
            shear = s[0, 1] * s[0, 1] + s[1, 2] * s[1, 2] + s[0, 2] * s[0, 2]
            out[e] = wp.sqrt(scalar(0.5) * q + scalar(3.0) * shear + tiny)

    @wp.func(module=module)
    def closest_on_facet(p: vec, a: vec, b: vec, c: vec) -> vec:
        """The closest point to p on the segment ab (2D) or the triangle abc (3D)."""
        if wp.static(dim == 2):
            ab = b - a
            t = wp.clamp(wp.dot(p - a, ab) / wp.max(wp.dot(ab, ab), tiny), scalar(0.0), scalar(1.0))
            return a + t * ab
        else:
            # Ericson, Real-Time Collision Detection, 5.1.5
            ab = b - a
            ac = c - a
            ap = p - a
            d1 = wp.dot(ab, ap)
            d2 = wp.dot(ac, ap)
            if d1 <= scalar(0.0) and d2 <= scalar(0.0):
                return a
            bp = p - b
            d3 = wp.dot(ab, bp)
            d4 = wp.dot(ac, bp)
            if d3 >= scalar(0.0) and d4 <= d3:
                return b
            vc = d1 * d4 - d3 * d2
            if vc <= scalar(0.0) and d1 >= scalar(0.0) and d3 <= scalar(0.0):
                return a + (d1 / (d1 - d3)) * ab
            cp = p - c
            d5 = wp.dot(ab, cp)
            d6 = wp.dot(ac, cp)
            if d6 >= scalar(0.0) and d5 <= d6:
                return c
            vb = d5 * d2 - d1 * d6
            if vb <= scalar(0.0) and d2 >= scalar(0.0) and d6 <= scalar(0.0):
                return a + (d2 / (d2 - d6)) * ac
            va = d3 * d6 - d5 * d4
            if va <= scalar(0.0) and (d4 - d3) >= scalar(0.0) and (d5 - d6) >= scalar(0.0):
                return b + ((d4 - d3) / ((d4 - d3) + (d5 - d6))) * (c - b)
            denom = scalar(1.0) / (va + vb + vc)
            return a + (vb * denom) * ab + (vc * denom) * ac

    @wp.func(module=module)
    def facet_normal(a: vec, b: vec, c: vec) -> vec:
        """Outward unit normal of a boundary facet listed counter-clockwise (2D) / outward-wound (3D)."""
        if wp.static(dim == 2):
            t = b - a
            return wp.normalize(vec(t[1], -t[0]))
        else:
            return wp.normalize(wp.cross(b - a, c - a))

    @wp.func(module=module)
    def corner_angle(q: vec, a: vec, b: vec, c: vec) -> scalar:
        """The facet's angle at q when q is one of its corners (3D), else 1: the weights of the angle-weighted
        pseudo-normal (Baerentzen & Aanaes 2005), whose side tells inside from outside at edges and corners."""
        if wp.static(dim == 2):
            return scalar(1.0)
        else:
            scale = scalar(1.0e-9) * (wp.length(b - a) + wp.length(c - a))
            u = vec()
            w = vec()
            if wp.length(q - a) <= scale:
                u = b - a
                w = c - a
            elif wp.length(q - b) <= scale:
                u = c - b
                w = a - b
            elif wp.length(q - c) <= scale:
                u = a - c
                w = b - c
            else:
                return scalar(1.0)
            cosine = wp.dot(u, w) / wp.max(wp.length(u) * wp.length(w), tiny)
            return wp.acos(wp.clamp(cosine, scalar(-1.0), scalar(1.0)))

    @wp.func(module=module)
    def facet_contact(i: int, p: vec, x: wp.array(dtype=vec), v: wp.array(dtype=vec), mass: wp.array(dtype=scalar),
                      f: facet, stiffness: scalar, ratio: scalar, mu: scalar, force: wp.array(dtype=vec),
                      contacts: wp.array(dtype=int)):
        """Penalty force between node i, inside the body, and its nearest boundary facet f (see `contact_forces`):
        along the facet normal by the depth when the closest point is the normal projection, else (the closest
        point on an edge or corner of a dented surface) along the closest-point direction by the distance."""
        a0 = x[f[0]]
        a1 = x[f[1]]
        a2 = a1
        if wp.static(dim == 3):
            a2 = x[f[2]]
        q = closest_on_facet(p, a0, a1, a2)
        n = facet_normal(a0, a1, a2)
        depth = wp.dot(q - p, n)
        gap = wp.length(q - p)
        if depth > scalar(0.0) and gap > depth * scalar(1.0001) + scalar(1.0e-12):
            n = (q - p) / gap
            depth = gap
        if depth > scalar(0.0):
            w0 = scalar(0.0)
            w1 = scalar(0.0)
            w2 = scalar(0.0)
            if wp.static(dim == 2):
                seg = a1 - a0
                t = wp.dot(q - a0, seg) / wp.max(wp.dot(seg, seg), tiny)
                w0 = scalar(1.0) - t
                w1 = t
            else:
                area = wp.length(wp.cross(a1 - a0, a2 - a0))
                w0 = wp.length(wp.cross(a1 - q, a2 - q)) / wp.max(area, tiny)
                w1 = wp.length(wp.cross(a2 - q, a0 - q)) / wp.max(area, tiny)
                w2 = scalar(1.0) - w0 - w1
            v_facet = w0 * v[f[0]] + w1 * v[f[1]]
            m_facet = w0 * mass[f[0]] + w1 * mass[f[1]]
            if wp.static(dim == 3):
                v_facet = v_facet + w2 * v[f[2]]
                m_facet = m_facet + w2 * mass[f[2]]
            # damping c = 2 ratio sqrt(k m) of the lighter side: c dt / m stays below 4 ratio at the stable dt
            damping = scalar(2.0) * ratio * wp.sqrt(stiffness * wp.min(mass[i], m_facet))
            rel = v[i] - v_facet
            vn = wp.dot(rel, n)
            fn = wp.max(stiffness * depth - damping * vn, scalar(0.0))
            vt = rel - vn * n
            speed = wp.length(vt)
            ft = vec()
            if speed > tiny:
                ft = -wp.min(mu * fn, damping * speed) * (vt / speed)
            total = fn * n + ft
            wp.atomic_add(force, i, total)
            wp.atomic_add(force, f[0], -w0 * total)
            wp.atomic_add(force, f[1], -w1 * total)
            if wp.static(dim == 3):
                wp.atomic_add(force, f[2], -w2 * total)
            wp.atomic_add(contacts, 0, 1)

    @wp.kernel(module=module)
    def contact_forces(x: wp.array(dtype=vec), v: wp.array(dtype=vec), mass: wp.array(dtype=scalar),
                       node_body: wp.array(dtype=int), node_contact: wp.array(dtype=int), facets: wp.array(dtype=facet),
                       facet_start: wp.array(dtype=int), n_bodies: int, body_lo: wp.array(dtype=vec),
                       body_hi: wp.array(dtype=vec), margin: scalar, stiffness: scalar, ratio: scalar, mu: scalar,
                       force: wp.array(dtype=vec), contacts: wp.array(dtype=int)):
        """Penalty contact of node i with every other body (facets of body b are ``facet_start[b] ..
        facet_start[b + 1]``; a body whose bounding box, grown by ``margin``, misses the node is skipped): a node behind
        its closest boundary point's angle-weighted pseudo-normal (inside the body; ties within 1e-9 relative are
        the facets sharing the closest edge or corner) gets f = (k depth - c v_n) n plus Coulomb friction
        (|f_t| <= mu f_n, regularised by c |v_t|); the facet's nodes get -f split by the closest point's
        weights, so contact forces conserve momentum. The damping c = 2 ``ratio`` sqrt(k m) takes the lighter side's
        ``mass`` (the node's, or the facet's weighted by the closest point; rigid nodes carry a huge mass), so
        graded meshes with very light nodes stay stable. ``node_contact`` 0 switches a node off."""
        i = wp.tid()
        if node_contact[i] == 0:
            return
        p = x[i]
        own = node_body[i]
        for b in range(n_bodies):
            lo = body_lo[b]
            hi = body_hi[b]
            outside = scalar(0.0)
            for a in range(dim):
                outside = wp.max(outside, wp.max(lo[a] - p[a], p[a] - hi[a]))
            if b != own and outside <= margin:
                nearest = int(-1)
                nearest_gap = scalar(1.0e30)
                pseudo = vec()  # angle-weighted normal of the facets sharing the closest point
                nearest_q = p
                for k in range(facet_start[b], facet_start[b + 1]):
                    f = facets[k]
                    a0 = x[f[0]]
                    a1 = x[f[1]]
                    a2 = a1
                    if wp.static(dim == 3):
                        a2 = x[f[2]]
                    q = closest_on_facet(p, a0, a1, a2)
                    gap = wp.length(q - p)
                    tie = scalar(1.0e-9) * nearest_gap + tiny
                    if gap < nearest_gap - tie:
                        nearest_gap = gap
                        nearest = k
                        nearest_q = q
                        pseudo = corner_angle(q, a0, a1, a2) * facet_normal(a0, a1, a2)
                    elif gap <= nearest_gap + tie:  # the same closest edge or corner
                        pseudo = pseudo + corner_angle(q, a0, a1, a2) * facet_normal(a0, a1, a2)
                # inside the body when behind the closest point's angle-weighted pseudo-normal
                if nearest >= 0 and wp.dot(nearest_q - p, pseudo) > scalar(0.0):
                    facet_contact(i, p, x, v, mass, facets[nearest], stiffness, ratio, mu, force, contacts)

    @wp.kernel(module=module)
    def kick_drift(x: wp.array(dtype=vec), v: wp.array(dtype=vec), force: wp.array(dtype=vec),
                   inv_mass: wp.array(dtype=scalar), free: wp.array(dtype=vec), dt: scalar, decay: scalar,
                   x_out: wp.array(dtype=vec), v_half: wp.array(dtype=vec)):
        """v_half = (v + dt/2 f / m) decay on the free axes (``free`` is 1 or 0 per axis); x' = x + dt v_half."""
        i = wp.tid()
        vh = wp.cw_mul(v[i] + (scalar(0.5) * dt * inv_mass[i]) * force[i], free[i]) * decay
        v_half[i] = vh
        x_out[i] = x[i] + dt * vh

    @wp.kernel(module=module)
    def kick(v_half: wp.array(dtype=vec), force: wp.array(dtype=vec), inv_mass: wp.array(dtype=scalar),
             free: wp.array(dtype=vec), dt: scalar, v_out: wp.array(dtype=vec)):
        i = wp.tid()
        v_out[i] = wp.cw_mul(v_half[i] + (scalar(0.5) * dt * inv_mass[i]) * force[i], free[i])

    @wp.kernel(module=module)
    def external_forces(mass: wp.array(dtype=scalar), gravity: vec, load: wp.array(dtype=vec),
                        force: wp.array(dtype=vec)):
        """force = m g + load (the element and contact kernels add to it afterwards)."""
        i = wp.tid()
        force[i] = mass[i] * gravity + load[i]

    @wp.kernel(module=module)
    def body_bounds(x: wp.array(dtype=vec), node_body: wp.array(dtype=int), lo: wp.array(dtype=vec),
                    hi: wp.array(dtype=vec)):
        """Each body's bounding box (lo, hi start at +-inf), componentwise atomics."""
        i = wp.tid()
        b = node_body[i]
        wp.atomic_min(lo, b, x[i])
        wp.atomic_max(hi, b, x[i])

    vec3 = wp.types.vector(3, scalar)

    @wp.func(module=module)
    def cross_z(r: vec, f: vec) -> vec3:
        """r x f as a 3-vector (2D: only z)."""
        if wp.static(dim == 2):
            return vec3(scalar(0.0), scalar(0.0), r[0] * f[1] - r[1] * f[0])
        else:
            return vec3(r[1] * f[2] - r[2] * f[1], r[2] * f[0] - r[0] * f[2], r[0] * f[1] - r[1] * f[0])

    @wp.func(module=module)
    def spin(omega: vec3, r: vec) -> vec:
        """omega x r in the plane (2D: omega_z e_z x r) or in space."""
        if wp.static(dim == 2):
            return vec(-omega[2] * r[1], omega[2] * r[0])
        else:
            return vec(omega[1] * r[2] - omega[2] * r[1], omega[2] * r[0] - omega[0] * r[2],
                       omega[0] * r[1] - omega[1] * r[0])

    @wp.kernel(module=module)
    def rigid_sums(x: wp.array(dtype=vec), force: wp.array(dtype=vec), node_rigid: wp.array(dtype=int),
                   com: wp.array(dtype=vec), total: wp.array(dtype=vec), torque: wp.array(dtype=vec3)):
        """Total force and torque about its centre of mass on each rigid body (node_rigid: body slot or -1)."""
        i = wp.tid()
        r = node_rigid[i]
        if r >= 0:
            wp.atomic_add(total, r, force[i])
            wp.atomic_add(torque, r, cross_z(x[i] - com[r], force[i]))

    @wp.kernel(module=module)
    def rigid_place(node_rigid: wp.array(dtype=int), offset: wp.array(dtype=vec), com: wp.array(dtype=vec),
                    rot: wp.array(dtype=mat), vel: wp.array(dtype=vec), omega: wp.array(dtype=vec3), place: int,
                    x_out: wp.array(dtype=vec), v_out: wp.array(dtype=vec)):
        """Rigid nodes follow their body: x = c + R r0 (when ``place``), v = v_c + omega x (x - c)."""
        i = wp.tid()
        r = node_rigid[i]
        if r >= 0:
            arm = rot[r] * offset[i]
            if place != 0:
                x_out[i] = com[r] + arm
            v_out[i] = vel[r] + spin(omega[r], arm)

    return SimpleNamespace(vec=vec, mat=mat, cell=cell, facet=facet, scalar=scalar, vec3=vec3,
                           body_bounds=body_bounds, rigid_sums=rigid_sums, rigid_place=rigid_place,
                           element_forces=element_forces,
                           element_von_mises=element_von_mises, contact_forces=contact_forces, kick_drift=kick_drift,
                           kick=kick, external_forces=external_forces, stress=stress)
