"""The FEM simulator against closed-form results: cantilever deflection (Timoshenko) and first bending frequency
(Euler-Bernoulli) of a plane-stress beam, Hertz contact of a rigid sphere pressed into an elastic block, and
tape gradients (w.r.t. E and the initial velocity) against central finite differences."""
import math

import numpy as np
import pytest

from simengine import fem

E, NU, RHO = 1e6, 0.3, 1000.0


# ---- a clamped plane-stress beam ----------------------------------------------------------------------------------
def beam(nx, ny, length=0.5, height=0.05, load=0.0, dt=None):
    """A beam clamped at x = 0 (every axis), no gravity, a total tip force ``load`` (-y) spread evenly over the
    tip nodes -> (scene, tip node ids)."""
    scene = fem.Scene(dim=2, gravity=(0.0, 0.0), dt=dt)
    body = scene.add_body(*fem.meshes.rectangle(length, height, nx, ny), fem.LinearElastic(E, NU), density=RHO,
                          plane="stress")
    scene.fix(body.nodes_where(lambda X: X[:, 0] < 1e-9))
    tip = body.nodes_where(lambda X: X[:, 0] > length - 1e-9)
    if load:
        scene.add_load(tip, (0.0, -load / len(tip)))
    return scene, tip


def static_displacement(model, tolerance=1e-10):
    """The linear static solution K u = f of a linear-elastic model by conjugate gradients on the model's own
    force kernel: with the linear law the nodal force at X + u is exactly f_ext - K u (fixed axes masked)."""
    wp = model.wp
    x = wp.zeros(model.n, dtype=model.k.vec, device=model.device)
    v, f = wp.zeros_like(x), wp.zeros_like(x)

    def force(u):
        x.assign((model.X + u).astype(model.np_dtype))
        model.compute_forces(x, v, f)
        return f.numpy().astype(np.float64) * model.free_np

    b = force(np.zeros_like(model.X))
    u, r = np.zeros_like(b), b.copy()
    p, rr = r.copy(), float((r * r).sum())
    for _ in range(20 * model.n):
        Kp = b - force(p)
        alpha = rr / float((p * Kp).sum())
        u += alpha * p
        r -= alpha * Kp
        rr, previous = float((r * r).sum()), rr
        if math.sqrt(rr) <= tolerance * math.sqrt(float((b * b).sum())):
            return u
        p = r + (rr / previous) * p
    raise AssertionError("conjugate gradients did not converge")


def test_cantilever_tip_deflection_converges_to_timoshenko():
    """Tip load P on a clamped plane-stress beam (L/h = 10): delta = P L^3 / (3 E I) + P L / (kappa G A),
    kappa = 5/6 (the shear term is 0.8 % of delta). Linear triangles lock in bending: the error falls about
    fourfold per halving of the element size (second order) and is under 2 % on the finest mesh; the Richardson
    extrapolation of the last two meshes is within 0.5 %."""
    P, L, h = 1.0, 0.5, 0.05
    inertia, shear = h ** 3 / 12, E / (2 * (1 + NU))
    exact = P * L ** 3 / (3 * E * inertia) + P * L / (5 / 6 * shear * h)
    errors = []
    for n in (1, 2, 4):
        scene, tip = beam(40 * n, 4 * n, L, h, load=P)
        model, _ = scene.build()
        u = static_displacement(model)
        errors.append(-u[tip, 1].mean() / exact - 1.0)
    coarse, middle, fine = errors
    assert coarse < middle < fine < 0  # too stiff (locking), less so with every refinement
    assert 2.5 < coarse / middle < 5 and 2.5 < middle / fine < 5  # second order
    assert abs(fine) < 0.02
    assert abs(fine + (fine - middle) / 3) < 0.005


def test_first_bending_frequency_from_free_vibration():
    """Released from its static tip-load deflection, the tip oscillates at the first bending frequency
    omega_1 = 1.8751^2 sqrt(E I / (rho A L^4)) (Euler-Bernoulli; shear and rotary inertia lower it by about
    0.6 % at L/h = 10): the half period between the first two zero crossings of the tip deflection within 3 %."""
    L, h, nx, ny = 0.5, 0.05, 80, 8
    scene, tip = beam(nx, ny, L, h, load=1.0)
    model, _ = scene.build()
    u = static_displacement(model)
    free, tip = beam(nx, ny, L, h, dt=0.9 * model.dt_limit)
    model, _ = free.build()
    omega = 1.8751 ** 2 * math.sqrt(E * h ** 3 / 12 / (RHO * h * L ** 4))
    period = 2 * math.pi / omega
    state, other = model.new_state(x=model.X + u), model.new_state()
    y0 = model.X[tip, 1].mean()
    deflection = [u[tip, 1].mean()]
    while state.time < 0.8 * period:
        model.step(state, other)
        state, other = other, state
        deflection.append(state.x.numpy()[tip, 1].mean() - y0)
    y = np.array(deflection)
    t = model.dt * np.arange(len(y))
    k = np.flatnonzero(np.sign(y[:-1]) != np.sign(y[1:]))
    crossings = t[k] - y[k] * model.dt / (y[k + 1] - y[k])
    assert len(crossings) == 2
    measured = math.pi / (crossings[1] - crossings[0])
    assert measured / omega == pytest.approx(1.0, abs=0.03)


# ---- Hertz contact ------------------------------------------------------------------------------------------------
def graded(n, length, first):
    """n + 1 coordinates from 0 to ``length``, the first spacing ``first``, growing geometrically."""
    lo, hi = 1.0 + 1e-9, 3.0
    for _ in range(200):
        ratio = 0.5 * (lo + hi)
        lo, hi = (lo, ratio) if first * (ratio ** n - 1) / (ratio - 1) > length else (ratio, hi)
    s = (ratio ** np.arange(n + 1) - 1) / (ratio - 1)
    return length * s / s[-1]


def spherical_cap(radius, grid, centre, lift):
    """Tetrahedra filling the lower cap of a sphere over the (x, y) grid ``grid`` x ``grid`` (a flat top ``lift``
    above its highest point)."""
    from scipy.spatial import Delaunay

    gx, gy = (a.ravel() for a in np.meshgrid(grid, grid, indexing="ij"))
    z = centre[2] - np.sqrt(radius ** 2 - gx ** 2 - gy ** 2)
    corners = [[x, y, z.max() + lift] for x in (grid[0], grid[-1]) for y in (grid[0], grid[-1])]
    vertices = np.vstack([np.column_stack([gx + centre[0], gy + centre[1], z]), np.array(corners) + [*centre[:2], 0]])
    cells = Delaunay(vertices).simplices
    edges = np.stack([vertices[cells[:, k + 1]] - vertices[cells[:, 0]] for k in range(3)], axis=-1)
    volume = np.abs(np.linalg.det(edges))
    return vertices, fem.meshes.orient(vertices, cells[volume > 1e-12 * volume.max()])


@pytest.mark.slow
def test_rigid_sphere_pressed_on_a_block_follows_hertz():
    """A rigid sphere (R = 1) pressed d = 0.01 R into an elastic block, quarter model (symmetry planes x = 0,
    y = 0; bottom clamped 4 R deep, 40 contact radii): F = 4/3 E* sqrt(R) d^1.5, E* = E / (1 - nu^2), within 10 %.
    The block is graded from 0.02 R (a / 5) at the contact to 0.5 R far away; the quasi-static state comes from
    `relax` (kinetic damping) with the cells' densities scaled to one CFL time (static answers do not depend on
    mass). The cap's nodes sit between the block's (a block node on a cap corner sees the faceted normal jump)."""
    R, depth, size, n, first = 1.0, 0.01, 4.0, 20, 0.02
    X, cells = fem.meshes.box((1.0, 1.0, 1.0), n)
    grid = graded(n, size, first)
    index = np.rint(X * n).astype(int)
    X = np.column_stack([grid[index[:, 0]], grid[index[:, 1]], size - grid[::-1][index[:, 2]]])
    mid = 0.5 * (grid[1:] + grid[:-1])
    gap = 0.2 * first
    centre = np.array([0.0, 0.0, size + R + gap])
    cap = spherical_cap(R, np.concatenate([[-mid[0]], mid[mid < 2 * math.sqrt(R * depth)]]), centre, 2 * first)
    edges = np.stack([X[cells[:, k + 1]] - X[cells[:, 0]] for k in range(3)], axis=-1)
    faces = [(1, 2, 3), (0, 3, 2), (0, 1, 3), (0, 2, 1)]
    area = np.max([np.linalg.norm(np.cross(X[cells[:, b]] - X[cells[:, a]], X[cells[:, c]] - X[cells[:, a]]), axis=1)
                   for a, b, c in faces], axis=0) / 2
    height = np.abs(np.linalg.det(edges)) / 2 / area  # 3 V / largest face
    scene = fem.Scene(dim=3, gravity=(0.0, 0.0, 0.0), contact_stiffness=5 * E * first)
    block = scene.add_body(X, cells, fem.LinearElastic(E, NU), density=RHO * (height.max() / height) ** 2)
    scene.fix(block.nodes_where(lambda X: X[:, 0] < 1e-9), axes=(0,))
    scene.fix(block.nodes_where(lambda X: X[:, 1] < 1e-9), axes=(1,))
    scene.fix(block.nodes_where(lambda X: X[:, 2] < 1e-9))
    dt = scene.build()[0].dt
    sphere = scene.add_actuator(*cap, keyframes=[(0.0, centre), (200 * dt, centre - [0.0, 0.0, gap + depth])])
    model, state = scene.build()
    rest = model.relax(state, tolerance=1e-3)
    force = 4 * rest.f.numpy()[sphere.nodes, 2].sum()  # the contact force on the sphere, four quarters
    hertz = 4 / 3 * E / (1 - NU ** 2) * math.sqrt(R) * depth ** 1.5
    assert force / hertz == pytest.approx(1.0, abs=0.10)


# ---- gradients --------------------------------------------------------------------------------------------------
def test_tape_gradients_match_central_differences():
    """A neo-Hookean cantilever under gravity kicked into a large swing, 150 steps on a wp.Tape: the loss (tip
    height + final kinetic energy) differentiated w.r.t. Young's modulus and an initial-velocity amplitude, against
    central finite differences of rebuilt runs (the scene's dt is fixed: the default one would change with E)."""
    import warp as wp

    E0, steps, length = 2e5, 150, 0.3

    def build(modulus, requires_grad=False):
        scene = fem.Scene(dim=2, gravity=(0.0, -9.81), dt=1.5e-4)
        body = scene.add_body(*fem.meshes.rectangle(length, 0.03, 20, 2), fem.NeoHookean(modulus, NU), density=RHO)
        scene.fix(body.nodes_where(lambda X: X[:, 0] < 1e-9))
        model, _ = scene.build(requires_grad=requires_grad)
        kick = np.stack([np.zeros(model.n), -2.0 * (model.X[:, 0] / length) ** 2], 1) * model.free_np
        return model, kick, model.X[:, 0] > length - 1e-9

    def loss(model, state, tip):
        x, v = state.x.numpy(), state.v.numpy()
        return x[tip, 1].sum() + 0.5 * float((model.mass_np[:, None] * v * v).sum())

    def run(modulus, amplitude):
        model, kick, tip = build(modulus)
        state, other = model.new_state(v=amplitude * kick), model.new_state()
        for _ in range(steps):
            model.step(state, other)
            state, other = other, state
        return loss(model, state, tip)

    model, kick, tip = build(E0, requires_grad=True)
    states = [model.new_state(v=kick, requires_grad=True) for _ in range(steps + 1)]
    with wp.Tape() as tape:
        model.compute_forces(states[0].x, states[0].v, states[0].f)
        for k in range(steps):
            model.step(states[k], states[k + 1])
    final = states[-1]
    seed_x = np.zeros((model.n, 2))
    seed_x[tip, 1] = 1.0
    seed_v = model.mass_np[:, None] * final.v.numpy()
    tape.backward(grads={final.x: wp.array(seed_x, dtype=model.k.vec, device=model.device),
                         final.v: wp.array(seed_v, dtype=model.k.vec, device=model.device)})
    d_E = model.youngs_modulus_gradient()[0]
    d_amplitude = float((states[0].v.grad.numpy() * kick).sum())
    h = 1e-5
    fd_E = (run(E0 * (1 + h), 1.0) - run(E0 * (1 - h), 1.0)) / (2 * h * E0)
    fd_amplitude = (run(E0, 1.0 + h) - run(E0, 1.0 - h)) / (2 * h)
    assert abs(fd_E) * E0 > 1e-2 and abs(fd_amplitude) > 1.0  # both matter
    assert d_E == pytest.approx(fd_E, rel=1e-6)
    assert d_amplitude == pytest.approx(fd_amplitude, rel=1e-6)
