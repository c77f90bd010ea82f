"""Spring-mass deformables in Warp: XPBD and symplectic-Euler substeps, colliders with Coulomb friction,
particle-particle contact and kinematic grippers.

Springs are `@wp.func`s fed to kernel factories (as `kernels.md` does for pair potentials): a spring between
particles i and j with rest length L and constant k (N/m) has

* XPBD (Macklin et al. 2016, "XPBD: position-based simulation of compliant constrained dynamics"; small
  steps, Macklin et al. 2019: one iteration per substep, lambda starting at zero): the distance constraint
  C = |x_i - x_j| - L with compliance alpha~ = 1 / (k h^2) moves i by
  dx_i = -w_i C / (w_i + w_j + alpha~) * n,  n = (x_i - x_j) / |x_i - x_j|,  w the inverse masses;
* symplectic Euler: the force f_i = -k (|x_i - x_j| - L) n.

Every kernel works per particle and writes only that particle's outputs (springs are gathered through a
CSR adjacency ``adj_start[i] .. adj_start[i + 1]``): Jacobi projection, the summed corrections divided by
max(1, 2 x the sum of the constraints' gains w_i / (w_i + w_j + alpha~)) and scaled by ``omega``: stiff
constraints (gain 1/2 each) are averaged, so that they do not overshoot, while compliant ones (gain << 1)
add up, so a soft body's equilibrium strain is the one its spring constants give (plain averaging would make
a particle with n springs n times softer). A particle's sums go to its own slot of an array
(``wp.atomic_add`` on index i only: no races), because Warp's adjoint drops values carried by a local
variable through a dynamic loop; so CPU threads may take slices of the particles (``start`` offsets a
launch) and a run is bit-identical for any split. A substep reads one set of arrays and writes another,
so a `wp.Tape` over per-substep arrays keeps what its backward pass needs.

Contacts, applied after the springs in the same kernel: particles closer than the sum of their radii, and
not joined by a spring, are pushed apart (inverse-mass weighted, a `HashGrid` query); colliders (planes,
spheres, boxes by signed distance, up to `MAX_COLLIDERS`, unrolled) push a particle out to its radius and
limit its tangential displacement over the substep by mu times the push (Coulomb friction in position form:
a particle sliding on the ground decelerates at mu g). Attached (gripper) particles follow their gripper
rigidly, pinned particles (inverse mass 0) stay where they are.
"""
import functools
from types import SimpleNamespace

import warp as wp

MAX_COLLIDERS = 8
PLANE, SPHERE, BOX = 0, 1, 2


@functools.lru_cache(maxsize=None)
def get_kernels(scalar=wp.float32):
    """Kernels and types for ``scalar`` precision (built once per precision)."""
    module = f"simengine_deformables_{scalar.__name__}"
    vec3 = wp.types.vector(3, scalar)
    vec4 = wp.types.vector(4, scalar)
    quat = wp.types.quaternion(scalar)
    tiny = scalar(1.0e-12)

    @wp.func(module=module)
    def spring_correction(xi: vec3, xj: vec3, wi: scalar, wj: scalar, rest: scalar, compliance: scalar) -> vec3:
        """XPBD: the move of particle i that projects C = |x_i - x_j| - rest with compliance alpha~."""
        d = xi - xj
        length = wp.length(d)
        w = wi + wj + compliance
        if length <= tiny or w <= tiny:
            return vec3()
        return (-wi * (length - rest) / (w * length)) * d

    @wp.func(module=module)
    def spring_force(xi: vec3, xj: vec3, k: scalar, rest: scalar) -> vec3:
        """The force on particle i of a linear spring k (|x_i - x_j| - rest)."""
        d = xj - xi
        length = wp.length(d)
        if length <= tiny:
            return vec3()
        return (k * (length - rest) / length) * d

    @wp.func(module=module)
    def joined(i: int, j: int, adj_start: wp.array(dtype=int), adj_other: wp.array(dtype=int)) -> int:
        """1 when a spring joins particles i and j (such pairs never collide)."""
        for a in range(adj_start[i], adj_start[i + 1]):
            if adj_other[a] == j:
                return 1
        return 0

    @wp.func(module=module)
    def signed_distance(kind: int, a: vec3, b: vec3, r: scalar, p: vec3) -> vec4:
        """(normal, phi) of a plane (normal a, offset r), sphere (centre a, radius r) or box (corners a, b)."""
        if kind == 0:
            return vec4(a[0], a[1], a[2], wp.dot(a, p) - r)
        if kind == 1:
            d = p - a
            length = wp.length(d)
            n = vec3(scalar(0.0), scalar(1.0), scalar(0.0))
            if length > tiny:
                n = d / length
            return vec4(n[0], n[1], n[2], length - r)
        centre = scalar(0.5) * (a + b)
        half = scalar(0.5) * (b - a)
        rel = p - centre
        q = vec3(wp.abs(rel[0]) - half[0], wp.abs(rel[1]) - half[1], wp.abs(rel[2]) - half[2])
        outside = vec3(wp.max(q[0], scalar(0.0)), wp.max(q[1], scalar(0.0)), wp.max(q[2], scalar(0.0)))
        out_len = wp.length(outside)
        if out_len > tiny:
            n = vec3(wp.sign(rel[0]) * outside[0], wp.sign(rel[1]) * outside[1], wp.sign(rel[2]) * outside[2])
            n = n / out_len
            return vec4(n[0], n[1], n[2], out_len)
        axis = int(0)
        if q[1] > q[axis]:
            axis = 1
        if q[2] > q[axis]:
            axis = 2
        n = vec3()
        n[axis] = wp.sign(rel[axis])
        return vec4(n[0], n[1], n[2], q[axis])

    @wp.func(module=module)
    def collide(x: vec3, x_start: vec3, radius: scalar, kind: int, a: vec3, b: vec3, r: scalar, mu: scalar) -> vec3:
        """Push x out of a collider to its radius; friction limits the tangential move since ``x_start``."""
        s = signed_distance(kind, a, b, r, x)
        n = vec3(s[0], s[1], s[2])
        depth = radius - s[3]
        if depth <= scalar(0.0):
            return x
        pushed = x + depth * n
        move = pushed - x_start
        tangential = move - wp.dot(move, n) * n
        slide = wp.length(tangential)
        if slide <= mu * depth:
            return pushed - tangential
        return pushed - (mu * depth / slide) * tangential

    @wp.func(module=module)
    def collide_all(x: vec3, x_start: vec3, radius: scalar, n_col: int, col_kind: wp.array(dtype=int),
                    col_a: wp.array(dtype=vec3), col_b: wp.array(dtype=vec3), col_r: wp.array(dtype=scalar),
                    col_mu: wp.array(dtype=scalar)) -> vec3:
        out = x
        for k in range(wp.static(MAX_COLLIDERS)):
            if k < n_col:
                out = collide(out, x_start, radius, col_kind[k], col_a[k], col_b[k], col_r[k], col_mu[k])
        return out

    @wp.func(module=module)
    def gripper_position(g: int, offset: vec3, grip_pos: wp.array(dtype=vec3), grip_rot: wp.array(dtype=quat)):
        return grip_pos[g] + wp.quat_rotate(grip_rot[g], offset)

    @wp.kernel(module=module)
    def predict(start: int, x: wp.array(dtype=vec3), v: wp.array(dtype=vec3), inv_mass: wp.array(dtype=scalar),
                attached: wp.array(dtype=int), offset: wp.array(dtype=vec3), grip_pos: wp.array(dtype=vec3),
                grip_rot: wp.array(dtype=quat), grip_base: int, gravity: vec3, h: scalar,
                decay: wp.array(dtype=scalar), x_pred: wp.array(dtype=vec3)):
        """XPBD prediction x* = x + h v', v' = (v + h g) decay; grippers (poses ``grip_base + g`` of a
        per-substep schedule) and pins set their particles."""
        i = start + wp.tid()
        g = attached[i]
        if g >= 0:
            x_pred[i] = gripper_position(grip_base + g, offset[i], grip_pos, grip_rot)
        elif inv_mass[i] == scalar(0.0):
            x_pred[i] = x[i]
        else:
            x_pred[i] = x[i] + h * ((v[i] + h * gravity) * decay[0])

    @wp.kernel(module=module)
    def gather(start: int, x_pred: wp.array(dtype=vec3), inv_mass: wp.array(dtype=scalar),
               attached: wp.array(dtype=int), radius: wp.array(dtype=scalar), adj_start: wp.array(dtype=int),
               adj_other: wp.array(dtype=int), adj_spring: wp.array(dtype=int), rest: wp.array(dtype=scalar),
               stiffness: wp.array(dtype=scalar), h: scalar, self_contact: int, grid: wp.uint64,
               query_radius: wp.array(dtype=scalar), delta: wp.array(dtype=vec3), count: wp.array(dtype=scalar)):
        """Jacobi: the sum of particle i's spring and contact corrections on x* into ``delta[i]`` and the sum of
        their gains w_i / (w_i + w_j + alpha~) into ``count[i]`` (both start at zero). Accumulated in arrays, not
        loop variables, so the adjoint of these dynamic loops is exact."""
        i = start + wp.tid()
        xi = x_pred[i]
        wi = inv_mass[i]
        if attached[i] >= 0:
            wi = scalar(0.0)
        if wi > scalar(0.0):
            for a in range(adj_start[i], adj_start[i + 1]):
                j = adj_other[a]
                s = adj_spring[a]
                wj = inv_mass[j]
                if attached[j] >= 0:
                    wj = scalar(0.0)
                compliance = scalar(1.0) / (stiffness[s] * h * h)
                wp.atomic_add(delta, i, spring_correction(xi, x_pred[j], wi, wj, rest[s], compliance))
                wp.atomic_add(count, i, wi / (wi + wj + compliance))
            if self_contact != 0:
                query = wp.hash_grid_query(grid, xi, query_radius[0])
                j = int(0)
                while wp.hash_grid_query_next(query, j):
                    if j != i:
                        d = xi - x_pred[j]
                        dist = wp.length(d)
                        reach = radius[i] + radius[j]
                        if dist < reach and dist > tiny:
                            if joined(i, j, adj_start, adj_other) == 0:
                                wj = inv_mass[j]
                                if attached[j] >= 0:
                                    wj = scalar(0.0)
                                wp.atomic_add(delta, i, (wi / (wi + wj) * (reach - dist) / dist) * d)
                                wp.atomic_add(count, i, wi / (wi + wj))

    @wp.kernel(module=module)
    def apply(start: int, x_start: wp.array(dtype=vec3), x_pred: wp.array(dtype=vec3),
              inv_mass: wp.array(dtype=scalar), attached: wp.array(dtype=int), radius: wp.array(dtype=scalar),
              delta: wp.array(dtype=vec3), count: wp.array(dtype=scalar), h: scalar, omega: scalar, n_col: int,
              col_kind: wp.array(dtype=int), col_a: wp.array(dtype=vec3), col_b: wp.array(dtype=vec3),
              col_r: wp.array(dtype=scalar), col_mu: wp.array(dtype=scalar),
              x_out: wp.array(dtype=vec3), v_out: wp.array(dtype=vec3)):
        """x = x* + omega delta / max(1, 2 gain), then colliders; v = (x - x_start) / h."""
        i = start + wp.tid()
        x_new = x_pred[i]
        if inv_mass[i] > scalar(0.0) and attached[i] < 0:
            x_new = x_new + (omega / wp.max(scalar(2.0) * count[i], scalar(1.0))) * delta[i]
            x_new = collide_all(x_new, x_start[i], radius[i], n_col, col_kind, col_a, col_b, col_r, col_mu)
        x_out[i] = x_new
        v_out[i] = (x_new - x_start[i]) / h

    @wp.kernel(module=module)
    def spring_forces(start: int, x: wp.array(dtype=vec3), adj_start: wp.array(dtype=int),
                      adj_other: wp.array(dtype=int), adj_spring: wp.array(dtype=int), rest: wp.array(dtype=scalar),
                      stiffness: wp.array(dtype=scalar), force: wp.array(dtype=vec3)):
        """Symplectic Euler: particle i's spring forces into ``force[i]`` (starts at zero)."""
        i = start + wp.tid()
        for a in range(adj_start[i], adj_start[i + 1]):
            s = adj_spring[a]
            wp.atomic_add(force, i, spring_force(x[i], x[adj_other[a]], stiffness[s], rest[s]))

    @wp.kernel(module=module)
    def symplectic(start: int, x: wp.array(dtype=vec3), v: wp.array(dtype=vec3), inv_mass: wp.array(dtype=scalar),
                   attached: wp.array(dtype=int), offset: wp.array(dtype=vec3), grip_pos: wp.array(dtype=vec3),
                   grip_rot: wp.array(dtype=quat), grip_base: int, radius: wp.array(dtype=scalar),
                   force: wp.array(dtype=vec3), gravity: vec3, h: scalar, decay: wp.array(dtype=scalar),
                   n_col: int, col_kind: wp.array(dtype=int), col_a: wp.array(dtype=vec3),
                   col_b: wp.array(dtype=vec3), col_r: wp.array(dtype=scalar), col_mu: wp.array(dtype=scalar),
                   x_out: wp.array(dtype=vec3), v_out: wp.array(dtype=vec3)):
        """Symplectic Euler: v' = (v + h (g + f / m)) decay, x' = x + h v'; colliders as in XPBD."""
        i = start + wp.tid()
        xi = x[i]
        g = attached[i]
        if g >= 0:
            target = gripper_position(grip_base + g, offset[i], grip_pos, grip_rot)
            x_out[i] = target
            v_out[i] = (target - xi) / h
        elif inv_mass[i] == scalar(0.0):
            x_out[i] = xi
            v_out[i] = vec3()
        else:
            vi = (v[i] + h * (gravity + inv_mass[i] * force[i])) * decay[0]
            x_new = xi + h * vi
            x_hit = collide_all(x_new, xi, radius[i], n_col, col_kind, col_a, col_b, col_r, col_mu)
            x_out[i] = x_hit
            v_out[i] = vi + (x_hit - x_new) / h

    @wp.kernel(module=module)
    def check_particles(x: wp.array(dtype=vec3), v: wp.array(dtype=vec3), max_speed: scalar,
                        first_bad: wp.array(dtype=int)):
        """The first particle with a non-finite state or a speed above ``max_speed``."""
        i = wp.tid()
        xi = x[i]
        vi = v[i]
        if not (wp.isfinite(xi) and wp.isfinite(vi)) or wp.length(vi) > max_speed:
            wp.atomic_min(first_bad, 0, i)

    return SimpleNamespace(vec3=vec3, quat=quat, scalar=scalar, predict=predict, gather=gather, apply=apply,
                           spring_forces=spring_forces, symplectic=symplectic, check_particles=check_particles,
                           spring_force=spring_force, spring_correction=spring_correction)
