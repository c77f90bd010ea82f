"""Planar granular column collapse against the experimental laws, for both sand rheologies.

A column of sand, L0 wide and H0 = a L0 tall, leans on the left wall of a square box and is released on a
floor with Coulomb friction 0.5 (floor and back wall: the domain walls, ``boundary="separate"``,
``boundary_friction=0.5``), 4 particles per cell. It spreads into a deposit of runout L_f; the laws
(Lube, Huppert, Sparks & Freundt, PRE 2005; Lajeunesse, Monnier & Homsy, Phys. Fluids 2005) are

    runout        dL / L0 = (L_f - L0) / L0 = 1.2 a          (a <~ 2.3),   1.9 a^(2/3)  beyond
    final height  H_f / L0 = a                               (a <~ 1.15),  a^(2/5)      beyond  (Lube et al.)

nearly independent of the material. The materials are ``Sand(rheology="drucker_prager", friction_angle=30)``
and ``Sand(rheology="mu_i")`` with Jop et al.'s glass beads (mu_s = tan 20.9 deg, mu_2 = 0.64, I_0 = 0.279,
d = 0.5 mm, rho_s = 2450 kg/m^3); both E = 3.5e5 Pa, nu = 0.3, bulk density 1500 kg/m^3.

Measured: L_f is the right end of the deposit (particles in columns of width dx, contiguous from the wall;
grains that flew ahead of a gap do not count), H_f the highest particle (both + half a particle spacing,
so the initial column measures exactly L0 and H0). A run stops once the deposit is at rest (every particle
slower than 0.5 % of sqrt(g H0), after at least 4 sqrt(H0 / g)) or at t = 3 s + 10 sqrt(H0 / g).

``--floor rough`` adds a sticky (no-slip) floor plane at the floor line, so the first node row under the grains
is held (the domain walls act on node rows below the grains only, so grains slip over them on coarse grids);
those runs are keyed with a ``/rough`` suffix.

    python benchmarks/granular.py --study law --res 160            # a = 0.5, 1, 2, 4, both rheologies
    python benchmarks/granular.py --study resolution --aspect 2    # 80^2, 160^2, 320^2
    python benchmarks/granular.py --study cost --res 160           # ms per step, mu(I) / Drucker-Prager
    python benchmarks/granular.py --study law --res 80 --floor rough  # the same on a no-slip floor
    python benchmarks/granular.py --table --plot                   # docs/granular_collapse.png from the results
    python benchmarks/granular.py --study probes                   # a = 1, 80^2: prestress, E, floor, ppc, PIC

Results accumulate in ``benchmarks/out/granular.json`` (``--out``; one entry per run, keyed by rheology, aspect,
res and floor, with the deposit profile and the runout history);
a run already there is not repeated unless ``--force``.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "out", "granular.json")
PLOT = os.path.join(HERE, "..", "docs", "granular_collapse.png")
DOMAIN = 0.6  # m, square box
WALL_FRICTION = 0.5
DENSITY = 1500.0
YOUNGS, POISSON = 3.5e5, 0.3
COLUMN_WIDTH = {0.5: 0.2, 1.0: 0.15, 2.0: 0.1, 4.0: 0.05}  # L0 [m] per aspect ratio (deposits fit the box)
RHEOLOGIES = ("drucker_prager", "mu_i")
FLOORS = ("coulomb", "rough", "plane")  # domain walls (Coulomb WALL_FRICTION); + a sticky / a Coulomb floor plane


def runout_law(a):
    """Lube et al. 2005 / Lajeunesse et al. 2005: (L_f - L0) / L0."""
    return 1.2 * a if a <= 2.3 else 1.9 * a ** (2.0 / 3.0)


def height_law(a):
    """Lube et al. 2005: H_f / L0."""
    return a if a <= 1.15 else a**0.4


def material(rheology, **overrides):
    from simengine import materials

    kw = dict(youngs_modulus=YOUNGS, poisson_ratio=POISSON)
    if rheology == "drucker_prager":
        kw.update(friction_angle=30.0)
    else:
        kw.update(rheology="mu_i")  # Jop et al.'s glass beads (the material's defaults)
    kw.update(overrides)  # replaces the defaults above (e.g. youngs_modulus for the probes)
    return materials.Sand(**kw)


def calibrated(rheology, phi):
    """Material overrides of the friction study: the friction angle phi [deg]; mu(I) keeps the glass beads'
    mu_2 - mu_s = 0.64 - tan 20.9 deg, so only the static friction moves."""
    if rheology == "drucker_prager":
        return dict(friction_angle=phi)
    return dict(friction_angle=phi, mu_2=math.tan(math.radians(phi)) + 0.64 - math.tan(math.radians(20.9)))


def make_scene(aspect, rheology, res, width=None, threads=None, ppc=2, floor="coulomb", **overrides):
    """The collapse scene: (scene, L0, H0, floor/wall coordinate, particle spacing); ``ppc`` particles per cell
    along each axis, ``floor`` one of ``FLOORS``, ``overrides`` replace the material's fields."""
    from simengine import Scene

    width = COLUMN_WIDTH.get(float(aspect), 0.1) if width is None else width
    from simengine import shapes

    scene = Scene(dim=2, domain=(DOMAIN, DOMAIN), grid_res=res, boundary="separate",
                  boundary_friction=WALL_FRICTION, threads=threads)
    dx = scene.dx
    wall = 3 * dx
    if floor not in FLOORS:
        raise ValueError(f"floor must be one of {FLOORS}, got {floor!r}")
    if floor == "rough":  # no-slip from the floor line up: the first node row under the grains is held
        scene.add_collider(shapes.Plane(normal=(0.0, 1.0), offset=wall + 0.01 * dx), mode="sticky")
    elif floor == "plane":  # Coulomb friction on that row too (not only on the wall rows below the grains)
        scene.add_collider(shapes.Plane(normal=(0.0, 1.0), offset=wall + 0.01 * dx), mode="separate",
                           friction=WALL_FRICTION)
    spacing = dx / ppc
    nx, ny = int(round(width / spacing)), int(round(aspect * width / spacing))
    gx, gy = np.meshgrid(wall + spacing * (np.arange(nx) + 0.5), wall + spacing * (np.arange(ny) + 0.5), indexing="ij")
    x = np.stack([gx.ravel(), gy.ravel()], -1)
    scene.add_particles(x, material(rheology, **overrides), density=DENSITY, volume=spacing**2, name="column")
    return scene, nx * spacing, ny * spacing, wall, spacing


def front(x, wall, dx, spacing):
    """Right end of the deposit contiguous with the wall (columns of width dx, no empty one in between)."""
    bins = np.maximum(np.floor((x[:, 0] - wall) / dx).astype(int), 0)  # grains pressed into the wall: column 0
    occupied = np.zeros(bins.max() + 2, bool)
    occupied[bins] = True
    gap = np.flatnonzero(~occupied)
    last = gap[0] - 1 if len(gap) else len(occupied) - 1
    return float(x[bins <= last, 0].max() - wall + spacing / 2)


def profile(x, wall, dx, spacing):
    """Deposit surface: (column centres, top of the highest particle) above the floor, columns of width dx."""
    bins = np.maximum(np.floor((x[:, 0] - wall) / dx).astype(int), 0)
    top = np.full(bins.max() + 1, np.nan)
    np.fmax.at(top, bins, x[:, 1] - wall + spacing / 2)
    return (np.arange(len(top)) + 0.5) * dx, top


def geostatic_F(x, top, mu, lam, K0, g=9.81):
    """Deformation gradients (N, 2, 2) of the at-rest state behind a gate: sigma_yy = -rho g depth, sigma_xx = K0
    sigma_yy, through the 2D Hencky law sigma = 2 mu eps + lam tr(eps) I (small strains)."""
    s_yy = -DENSITY * g * np.maximum(top - x[:, 1], 0.0)
    eps = np.linalg.solve(np.array([[2 * mu + lam, lam], [lam, 2 * mu + lam]]), np.stack([K0 * s_yy, s_yy]))
    F = np.zeros((len(x), 2, 2))
    F[:, 0, 0], F[:, 1, 1] = np.exp(eps[0]), np.exp(eps[1])
    return F


def collapse(aspect, rheology, res, t_max=None, threads=None, progress=True, ppc=2, prestress=None, pic=False,
             floor="coulomb", **overrides):
    """Run one collapse to rest; returns a dict of the measured deposit (lengths in units of L0). Probes of the
    numerics: ``ppc`` particles per cell per axis, ``prestress`` K0 (start from the geostatic state instead of
    stress-free), ``pic`` (drop the affine velocity C after every step)."""
    import warp as wp

    scene, L0, H0, wall, spacing = make_scene(aspect, rheology, res, threads=threads, ppc=ppc, floor=floor,
                                              **overrides)
    solver, state = scene.build()
    other = solver.new_state()
    if prestress is not None:
        x = state.x.numpy()
        state = solver.new_state(x, np.zeros_like(x), F=geostatic_F(x, wall + H0, *scene.bodies[0]["material"].lame,
                                                                    prestress))
    dx, dt = scene.dx, solver.dt
    g = 9.81
    t_max = t_max if t_max is not None else 3.0 + 10.0 * math.sqrt(H0 / g)
    rest_speed = 0.005 * math.sqrt(g * H0)
    check_every = max(1, int(round(0.02 / dt)))
    x0 = state.x.numpy().copy()
    assert abs(front(x0, wall, dx, spacing) - L0) < 1e-5 and abs(x0[:, 1].max() + spacing / 2 - wall - H0) < 1e-5
    start, steps, history = time.perf_counter(), 0, []
    n_checks = int(math.ceil(t_max / (dt * check_every)))
    for k in range(n_checks):
        for _ in range(check_every):
            solver.step(state, other)
            state, other = other, state
            steps += 1
            if pic:
                state.C.zero_()
        wp.synchronize()
        solver.check(state, steps)
        x, v = state.x.numpy(), state.v.numpy()
        speed = float(np.sqrt((v**2).sum(1)).max())
        history.append((steps * dt, (front(x, wall, dx, spacing) - L0) / L0, speed))
        if progress and k % 25 == 0:
            print(f"  {rheology} a={aspect} {res}^2: t={steps * dt:.3f} s runout={history[-1][1]:.3f} "
                  f"max|v|={speed:.3g}", file=sys.stderr, flush=True)
        if speed < rest_speed and steps * dt > 4.0 * math.sqrt(H0 / g):
            break
    wall_time = time.perf_counter() - start
    x = state.x.numpy()
    L_f = front(x, wall, dx, spacing)
    centres, top = profile(x, wall, dx, spacing)
    solver.close()
    return dict(rheology=rheology, aspect=aspect, res=res, floor=floor, L0=L0, H0=H0, dx=dx, dt=dt, particles=len(x),
                steps=steps, t_end=steps * dt, at_rest=bool(history[-1][2] < rest_speed), wall_s=wall_time,
                ms_per_step=1e3 * wall_time / steps, threads=solver.threads,
                runout=(L_f - L0) / L0, runout_law=runout_law(aspect),
                height=float(x[:, 1].max() - wall + spacing / 2) / L0, height_law=height_law(aspect),
                runout_q995=float((np.quantile(x[:, 0], 0.995) - wall + spacing / 2 - L0) / L0),
                profile_x=(centres / L0).tolist(), profile_h=(top / L0).tolist(),
                history=[list(map(float, h)) for h in history])


def load():
    if os.path.exists(OUT):
        with open(OUT) as f:
            return json.load(f)
    return {}


def save(results):
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    tmp = OUT + ".tmp"
    with open(tmp, "w") as f:
        json.dump(results, f)
    os.replace(tmp, OUT)


def key(rheology, aspect, res, floor="coulomb"):
    return f"{rheology}/a={float(aspect):g}/{res}" + ("" if floor == "coulomb" else f"/{floor}")


def run_many(cases, force=False, threads=None, floor="coulomb", run=None):
    """Run each ``(rheology, aspect, res)`` case not yet in the results (``run(aspect, res)`` instead of this
    solver's collapse when given) and store it under its key."""
    for rheology, aspect, res in cases:
        results = load()  # re-read: several study processes may share the file
        k = key(rheology, aspect, res, floor)
        if k in results and not force:
            print(f"{k}: kept (runout {results[k]['runout']:.3f})")
            continue
        r = run(aspect, res) if run else collapse(aspect, rheology, res, threads=threads, floor=floor)
        results = load()
        results[k] = r
        save(results)
        print(f"{k}: runout {r['runout']:.3f} (law {r['runout_law']:.3f}, x{r['runout'] / r['runout_law']:.3f}), "
              f"height {r['height']:.3f} (law {r['height_law']:.3f}), t_end {r['t_end']:.2f} s, "
              f"{r['particles']} particles, {r['steps']} steps, {r['wall_s']:.0f} s", flush=True)


def cost(aspect, res, steps, repeats=3, threads=None):
    """ms per step of the same collapse for both rheologies, interleaved blocks, best of ``repeats``."""
    import warp as wp

    runs = {}
    for rheology in RHEOLOGIES:
        scene = make_scene(aspect, rheology, res, threads=threads)[0]
        solver, a = scene.build()
        b = solver.new_state()
        for _ in range(200):  # warm up, and let the column start to flow (the return maps active)
            solver.step(a, b)
            a, b = b, a
        runs[rheology] = [solver, a, b, []]
    for _ in range(repeats):
        for rheology, run in runs.items():
            solver, a, b, times = run
            wp.synchronize()
            start = time.perf_counter()
            for _ in range(steps):
                solver.step(a, b)
                a, b = b, a
            wp.synchronize()
            times.append((time.perf_counter() - start) / steps)
            run[1], run[2] = a, b
    best = {r: min(run[3]) * 1e3 for r, run in runs.items()}
    n = runs["mu_i"][0].n
    print(f"collapse a={aspect:g} on {res}^2, {n} particles, {runs['mu_i'][0].threads} thread(s): "
          + ", ".join(f"{r} {ms:.3f} ms/step" for r, ms in best.items())
          + f"; mu_i / drucker_prager = {best['mu_i'] / best['drucker_prager']:.3f}")
    return best


PROBES = [  # (label, floor, collapse() keywords, material overrides): a = 1 on 80^2 unless --aspect/--res
    ("baseline", "coulomb", {}, {}),
    ("geostatic prestress K0 = 0.5", "coulomb", {"prestress": 0.5}, {}),
    ("E = 3e6", "coulomb", {}, {"youngs_modulus": 3e6}),
    ("E = 1e7", "coulomb", {}, {"youngs_modulus": 1e7}),
    ("Coulomb floor plane on the lowest grain row", "plane", {}, {}),
    ("no-slip floor plane", "rough", {}, {}),
    ("1 particle per cell", "coulomb", {"ppc": 1}, {}),
    ("9 particles per cell", "coulomb", {"ppc": 3}, {}),
    ("PIC (C = 0)", "coulomb", {"pic": True}, {}),
]


def probes(aspect, res, rheologies, threads=None):
    """The numerical probes of the collapse (``PROBES``), one table row each: runout and height over the law."""
    rows = []
    for label, floor, kw, material_kw in PROBES:
        for rheology in rheologies:
            r = collapse(aspect, rheology, res, threads=threads, progress=False, floor=floor, **kw, **material_kw)
            rows.append((label, rheology, r["runout"], r["runout"] / r["runout_law"], r["height"], r["wall_s"]))
            print(f"{label:45s} {rheology:15s} runout {r['runout']:.3f} (x{rows[-1][3]:.2f} the law) "
                  f"height {r['height']:.3f} ({r['wall_s']:.0f} s)", flush=True)
    return rows


def newton_collapse(aspect, res, friction=0.5, t_max=None, dt=None, progress=True):
    """The same collapse in an independent code: Newton 1.8's implicit MPM (Daviet & Bertails-Descoubes 2016: a
    rigid-plastic Drucker-Prager continuum with unilateral incompressibility, solved implicitly; Coulomb
    colliders). The plane is the x-z plane of a slab 4 cells deep in y between frictionless side walls (plane
    strain); back wall and floor have Coulomb friction ``WALL_FRICTION``; 2 particles per cell per axis.

    Newton's yield is |dev sigma| <= mu p with the half-Frobenius norm (tau : tau / 2)^(1/2) and p the 3D mean
    pressure. Under plane strain the out-of-plane stress is the in-plane mean c (no out-of-plane plastic flow), so
    the in-plane Mohr circle of radius R = |dev sigma| must satisfy R <= mu c: Mohr-Coulomb with sin(phi) = mu.
    ``friction`` = sin 30 deg = 0.5 is therefore the Drucker-Prager 30 deg sand of this study. The time step is
    4 ms up to 80^2 and 4 ms * 80 / res beyond (a grain moves under a cell per step)."""
    import newton
    import warp as wp
    from newton.solvers import SolverImplicitMPM

    L0 = COLUMN_WIDTH.get(float(aspect), 0.1)
    H0, dx, g = aspect * L0, DOMAIN / res, 9.81
    dt = dt if dt is not None else 4e-3 * min(1.0, 80 / res)
    spacing, depth, thick = dx / 2, 4 * dx, 0.1
    builder = newton.ModelBuilder()
    SolverImplicitMPM.register_custom_attributes(builder)
    n = [int(round(L0 / spacing)), int(round(depth / spacing)), int(round(H0 / spacing))]
    builder.add_particle_grid(pos=wp.vec3(0.5 * spacing, 0.5 * spacing, 0.5 * spacing), rot=wp.quat_identity(),
                              vel=wp.vec3(0.0), dim_x=n[0], dim_y=n[1], dim_z=n[2], cell_x=spacing, cell_y=spacing,
                              cell_z=spacing, mass=DENSITY * spacing**3, jitter=0.0, radius_mean=0.5 * spacing)
    rough = newton.ModelBuilder.ShapeConfig(mu=WALL_FRICTION, density=0.0)
    smooth = newton.ModelBuilder.ShapeConfig(mu=0.0, density=0.0)
    for cfg, centre, half in ((rough, (-thick, 0.5 * depth, 0.5 * DOMAIN), (thick, depth + thick, DOMAIN)),
                              (smooth, (0.5 * DOMAIN, -thick, 0.5 * DOMAIN), (DOMAIN, thick, DOMAIN)),
                              (smooth, (0.5 * DOMAIN, depth + thick, 0.5 * DOMAIN), (DOMAIN, thick, DOMAIN))):
        builder.add_shape_box(body=-1, cfg=cfg, xform=wp.transform(wp.vec3(*centre), wp.quat_identity()), hx=half[0],
                              hy=half[1], hz=half[2])
    builder.add_ground_plane(cfg=newton.ModelBuilder.ShapeConfig(mu=WALL_FRICTION))
    model = builder.finalize(device="cpu")
    model.set_gravity((0.0, 0.0, -g))
    model.mpm.friction.fill_(friction)
    config = SolverImplicitMPM.Config()
    config.voxel_size = dx
    solver = SolverImplicitMPM(model, config=config)
    state, other = model.state(), model.state()
    t_max = t_max if t_max is not None else 3.0 + 10.0 * math.sqrt(H0 / g)
    rest_speed = 0.005 * math.sqrt(g * H0)
    start, t, steps, history = time.perf_counter(), 0.0, 0, []
    while t < t_max:
        solver.step(state, other, None, None, dt)
        solver.project_outside(other, other, dt)
        state, other = other, state
        t, steps = t + dt, steps + 1
        if steps % max(1, int(round(0.02 / dt))):
            continue
        q, v = state.particle_q.numpy(), state.particle_qd.numpy()
        xz = q[:, [0, 2]].astype(float)
        speed = float(np.sqrt((v.astype(float) ** 2).sum(1)).max())
        history.append((t, (front(xz, 0.0, dx, spacing) - L0) / L0, speed))
        if progress and len(history) % 10 == 0:
            print(f"  newton a={aspect} {res}^2: t={t:.3f} s runout={history[-1][1]:.3f} max|v|={speed:.3g}",
                  file=sys.stderr, flush=True)
        if speed < rest_speed and t > 4.0 * math.sqrt(H0 / g):
            break
    wall_time = time.perf_counter() - start
    xz = state.particle_q.numpy()[:, [0, 2]].astype(float)
    centres, top = profile(xz, 0.0, dx, spacing)
    return dict(rheology="newton", friction=friction, aspect=aspect, res=res, floor="coulomb", L0=L0, H0=H0, dx=dx,
                dt=dt, particles=len(xz), steps=steps, t_end=t, at_rest=bool(history[-1][2] < rest_speed),
                wall_s=wall_time, ms_per_step=1e3 * wall_time / steps, runout=(front(xz, 0.0, dx, spacing) - L0) / L0,
                runout_law=runout_law(aspect), height=float(xz[:, 1].max() + spacing / 2) / L0,
                height_law=height_law(aspect), profile_x=(centres / L0).tolist(), profile_h=(top / L0).tolist(),
                history=[list(map(float, h)) for h in history])


def floor_of(r):
    return r.get("floor", "coulomb")


def table(results):
    rows = sorted(results.values(), key=lambda r: (floor_of(r), r["rheology"], r["aspect"], r["res"]))
    print(f"{'rheology':15s} {'floor':8s} {'a':>4s} {'grid':>5s} {'runout':>7s} {'law':>6s} {'ratio':>6s} "
          f"{'height':>7s} {'law':>6s} {'ratio':>6s} {'t_end':>6s} {'rest':>5s} {'N':>6s} {'ms/step':>8s}")
    for r in rows:
        print(f"{r['rheology']:15s} {floor_of(r):8s} {r['aspect']:4g} {r['res']:5d} {r['runout']:7.3f} "
              f"{r['runout_law']:6.3f} {r['runout'] / r['runout_law']:6.3f} {r['height']:7.3f} {r['height_law']:6.3f} "
              f"{r['height'] / r['height_law']:6.3f} {r['t_end']:6.2f} {str(r['at_rest']):>5s} {r['particles']:6d} "
              f"{r['ms_per_step']:8.2f}")


def plot(results, path=PLOT, res=None):
    """Deposit profiles (one panel per aspect ratio; Coulomb floor, every resolution run) and runout vs a."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    coulomb = {k: r for k, r in results.items() if floor_of(r) == "coulomb"}
    aspects = sorted({r["aspect"] for r in coulomb.values()})
    resolutions = sorted({r["res"] for r in coulomb.values()})
    # the profiles: the finest grid that ran every aspect ratio, plus the resolution study where there is one
    main_res = res or max(n for n in resolutions
                          if all(key(h, a, n, "coulomb") in results for a in aspects for h in RHEOLOGIES))
    fig, axes = plt.subplots(2, 3, figsize=(13.5, 7.0))
    axes = axes.ravel()
    colors = {"drucker_prager": "tab:orange", "mu_i": "tab:blue", "newton": "tab:green"}
    labels = {"drucker_prager": "Drucker-Prager 30°", "mu_i": "μ(I) glass beads",
              "newton": "Newton implicit MPM, μ = sin 30°"}
    dashes = {80: ":", 160: "-", 320: "--"}
    for ax, a in zip(axes, aspects):
        for rheology in RHEOLOGIES:
            for n in resolutions:
                r = results.get(key(rheology, a, n, "coulomb"))
                if r is None or (n != main_res and sum(key(rheology, a, m, "coulomb") in results
                                                       for m in resolutions) < 3):
                    continue
                # the front column is left out: in results written before the wall-column fix of `profile`
                # it also held grains pressed into the back wall
                ax.plot(r["profile_x"][:-1], r["profile_h"][:-1], ls=dashes.get(n, "-."), lw=1.2,
                        color=colors[rheology], label=f"{labels[rheology]}, {n}²")
        ax.axvline(1 + runout_law(a), color="k", lw=1, ls="-.", label="runout law")
        ax.axhline(height_law(a), color="k", lw=0.6, ls=":", label="final-height law")
        ax.plot([0, 1, 1], [a, a, 0], color="0.6", lw=1, label="initial column")
        ax.set_title(f"a = {a:g}")
        ax.set_xlabel("x / L0")
        ax.set_ylabel("h / L0")
        right = max([1 + runout_law(a)] + [1 + r["runout"] for r in coulomb.values() if r["aspect"] == a])
        ax.set_xlim(0, 1.05 * right)
        ax.set_ylim(0, 1.1 * a)
    axes[0].legend(fontsize=6)
    ax = axes[len(aspects)]
    for lo, hi in ((0.3, 2.3), (2.3, 4.5)):  # the law as published is two branches (not continuous at 2.3)
        grid_a = np.linspace(lo, hi, 50)
        ax.plot(grid_a, [runout_law(a) for a in grid_a], "k-.", lw=1,
                label="law (Lube / Lajeunesse)" if lo < 1 else None)
    for rheology in RHEOLOGIES:
        for floor, marker in (("coulomb", "o-"), ("rough", "s--")):
            pts = sorted((r["aspect"], r["runout"]) for r in results.values()
                         if r["rheology"] == rheology and r["res"] == main_res and floor_of(r) == floor)
            if pts:
                ax.plot(*zip(*pts), marker, color=colors[rheology], mfc="none" if floor == "rough" else None,
                        label=f"{labels[rheology]}, {floor} floor, {main_res}²")
    swept = sorted({r["rheology"] for r in results.values() if "_phi=" in r["rheology"]})  # --study friction
    for rheology in swept:
        pts = sorted((r["aspect"], r["runout"]) for r in coulomb.values()
                     if r["rheology"] == rheology and r["res"] == main_res)
        base, phi = rheology.split("_phi=")
        if pts:
            ax.plot(*zip(*pts), "^:" if base == "drucker_prager" else "v:", color=colors[base], alpha=0.6,
                    label=f"{labels[base].split(' ')[0]} {phi}°, coulomb floor, {main_res}²")
    ax.set_xlabel("aspect ratio a")
    ax.set_ylabel("runout (L_f - L0) / L0")
    ax.set_title("runout")
    ax.legend(fontsize=6)
    ax = axes[len(aspects) + 1]  # the resolution study, with the independent code where it ran
    for rheology in sorted({r["rheology"] for r in coulomb.values()}):
        base, _, phi = rheology.replace("_mu=", "_phi=").partition("_phi=")
        label = labels[base] if not phi else f"{labels[base].split(',')[0].split(' ')[0]} {phi}" + (
            "" if base == "newton" else "°")
        for a in aspects:
            pts = sorted((r["res"], r["runout"] / r["runout_law"]) for r in coulomb.values()
                         if r["rheology"] == rheology and r["aspect"] == a)
            if len(pts) >= 3 or (base == "newton" and len(pts) >= 2):
                ax.plot(*zip(*pts), "o-" if not phi else "^:", color=colors[base], label=f"{label}, a = {a:g}")
    ax.axhline(1.0, color="k", lw=1, ls="-.")
    ax.set_xscale("log", base=2)
    ax.set_xticks(resolutions, [f"{n}²" for n in resolutions])
    ax.minorticks_off()
    ax.set_xlabel("grid (cells per side)")
    ax.set_ylabel("runout / law")
    ax.set_title("resolution")
    ax.legend(fontsize=6)
    for extra in axes[len(aspects) + 2:]:
        extra.axis("off")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    print(f"wrote {path}")


def main(argv=None):
    global OUT
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--study", default=None,
                        choices=["law", "resolution", "cost", "one", "probes", "newton", "friction"])
    parser.add_argument("--rheology", choices=RHEOLOGIES, nargs="+", default=list(RHEOLOGIES))
    parser.add_argument("--aspect", type=float, nargs="+", default=None)
    parser.add_argument("--res", type=int, nargs="+", default=None)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--steps", type=int, default=100, help="timed steps per block (--study cost)")
    parser.add_argument("--force", action="store_true", help="re-run cases already in the results")
    parser.add_argument("--floor", choices=["coulomb", "rough"], default="coulomb",
                        help="coulomb: walls with friction 0.5 (the issue's setup); rough: a no-slip floor plane")
    parser.add_argument("--friction-angle", type=float, nargs="+", default=[40.0, 45.0],
                        help="--study friction: Drucker-Prager friction angles [deg] (the law's calibration)")
    parser.add_argument("--newton-friction", type=float, default=0.5,
                        help="--study newton: Newton's friction coefficient (sin(phi) of the plane-strain cone)")
    parser.add_argument("--out", default=OUT, help="results JSON (accumulates)")
    parser.add_argument("--plot", action="store_true")
    parser.add_argument("--table", action="store_true")
    args = parser.parse_args(argv)
    OUT = args.out
    from simengine.runtime import init_warp

    init_warp()
    if args.study == "law":
        aspects = args.aspect or [0.5, 1.0, 2.0, 4.0]
        res = args.res or [160]
        run_many([(r, a, n) for n in res for a in aspects for r in args.rheology], args.force, args.threads, args.floor)
    elif args.study == "resolution":
        aspects = args.aspect or [2.0]
        res = args.res or [80, 160, 320]
        run_many([(r, a, n) for a in aspects for n in res for r in args.rheology], args.force, args.threads, args.floor)
    elif args.study == "cost":
        for n in args.res or [160]:
            cost((args.aspect or [2.0])[0], n, args.steps, threads=args.threads)
    elif args.study == "probes":
        probes((args.aspect or [1.0])[0], (args.res or [80])[0], args.rheology, threads=args.threads)
    elif args.study == "newton":  # the independent code: Drucker-Prager 30 deg as Newton's friction sin 30 deg
        label = "newton" if args.newton_friction == 0.5 else f"newton_mu={args.newton_friction:g}"
        run_many([(label, a, n) for a in args.aspect or [1.0] for n in args.res or [40, 80]], args.force,
                 run=lambda a, n: dict(newton_collapse(a, n, friction=args.newton_friction), rheology=label))
    elif args.study == "friction":  # which friction the law asks of the continuum (mu_i keeps mu_2 - mu_s)
        for rheology in args.rheology:
            for phi in args.friction_angle:
                label = f"{rheology}_phi={phi:g}"
                run_many([(label, a, n) for n in args.res or [160] for a in args.aspect or [0.5, 1.0, 2.0, 4.0]],
                         args.force, args.threads, args.floor,
                         run=lambda a, n, rheology=rheology, label=label, phi=phi: dict(
                             collapse(a, rheology, n, threads=args.threads, floor=args.floor,
                                      **calibrated(rheology, phi)), rheology=label, friction_angle=phi))
    elif args.study == "one":
        r = collapse(args.aspect[0], args.rheology[0], args.res[0], threads=args.threads, floor=args.floor)
        print({k: v for k, v in r.items() if k not in ("profile_x", "profile_h", "history")})
    if args.table or args.study in ("law", "resolution"):
        table(load())
    if args.plot:
        plot(load())


if __name__ == "__main__":
    main()
