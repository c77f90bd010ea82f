"""A supermassive black-hole binary hardening in a stellar cusp, then inspiralling by gravitational waves.

Scaled units G = 1, galaxy (stellar) mass 1, Hernquist scale radius 1, and c = 11, chosen so that the
gravitational-wave timescale becomes short only after stellar slingshots have hardened the binary
(a real galaxy has c ~ 1000 in these units and needs Gyr). Two black holes of 1% of the stellar mass
each start on a bound orbit (a = 0.02, e = 0.3) in a 2000-star Hernquist cusp in equilibrium with
them (Eddington inversion). The stars are softened (cubic spline, eps = 0.004); each black hole owns
a regularized region of radius 5 eps, inside which the binary and nearby stars move without
softening under the TTL-leapfrog/GBS integrator with 1PN (N-body), 2PN, 2.5PN, 3PN and 3.5PN terms;
the pair merges at 6 Schwarzschild radii. Runs take one to three minutes on two CPU cores. The
dynamics is chaotic: each seed gives its own hardening history (some binaries are kicked to high
eccentricity by a star and plunge early).

    simengine run scenes/smbh_binary_cusp.py                # runs/smbh_binary_cusp/trajectory.h5 + previews
    simengine generate scenes/smbh_binary_cusp.py --out data/smbh --train 20 --valid 4 --test 4 --workers 2
    python scenes/smbh_binary_cusp.py                       # also runs/smbh_binary_cusp/binary_elements.png
"""
import numpy as np

from simengine import nbody

N_STARS = 2000
BH_MASS = 0.01
SOFTENING = 0.004
C_LIGHT = 11.0
BINARY_A = 0.02
REGION_RADIUS = 5.0 * SOFTENING
RUN = dict(duration=6.0, frames=301)
PREVIEW = dict(view=(30.0, 20.0), point_size=2.0)


def make_scene(rng: np.random.Generator, device: str = "cpu") -> nbody.SimulationScene:
    ics = nbody.smbh_binary_in_cusp(n_stars=N_STARS, stellar_mass=1.0, scale_radius=1.0,
                                    bh_masses=(BH_MASS, BH_MASS), binary_a=BINARY_A, binary_e=0.3, rng=rng)
    sim = nbody.Simulation(G=1.0, c=C_LIGHT, softening=SOFTENING, region_radius=REGION_RADIUS,
                           pn_orders=("1", "2", "2.5", "3", "3.5"), tolerance=1e-10, merger_radius=6.0,
                           max_timestep=0.02, device=device)
    for kind, (m, x, v) in ics.items():
        sim.add_particles(m, x, v, kind=kind)
    return nbody.SimulationScene(sim, metadata={
        "scene": "smbh_binary_cusp", "n_stars": N_STARS, "bh_mass": BH_MASS,
        "units": "G = 1, stellar mass 1, Hernquist a = 1, c = %g" % C_LIGHT})


def plot_binary(traj, path):
    """a(t), e(t) and the gravitational-wave timescale of the recorded black-hole pair; the Peters (1964)
    orbit-averaged GW-only evolution is overlaid from where that timescale drops below one time unit."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from scipy.integrate import solve_ivp

    cols = traj.metadata["orbital_elements_columns"]
    el, t = traj.orbital_elements, traj.time
    live = el[:, cols.index("a")] > 0
    t, a, e = t[live], el[live, cols.index("a")], el[live, cols.index("e")]
    m = traj.mass[traj.particle_type == 10]
    G, c = traj.metadata["G"], traj.metadata["c"]
    t_gw = np.array([ai / -nbody.peters_mathews_rates(ai, min(ei, 0.99), m[0], m[1], G, c)[0] for ai, ei in zip(a, e)])
    fig, (ax1, ax2, ax3) = plt.subplots(3, 1, figsize=(6.5, 7.5), sharex=True)
    ax1.semilogy(t, a, label="simulation (osculating)")
    k = int(np.argmax(t_gw < 1.0)) if (t_gw < 1.0).any() else None
    if k is not None:
        sol = solve_ivp(lambda _, y: nbody.peters_mathews_rates(y[0], y[1], m[0], m[1], G, c), (t[k], t[-1]),
                        [a[k], e[k]], t_eval=t[k:], rtol=1e-8)
        ax1.semilogy(sol.t, sol.y[0], "--", label="Peters-Mathews (GW only) from t = %.2f" % t[k])
    for ax in (ax1, ax2, ax3):
        for tm, *_ in traj.metadata.get("mergers", []):
            ax.axvline(tm, color="k", lw=0.8, ls=":")
    ax1.set_ylabel("semi-major axis a")
    ax1.legend(fontsize=8)
    ax2.plot(t, e)
    ax2.set_ylabel("eccentricity e")
    ax2.set_ylim(0, 1)
    ax3.semilogy(t, t_gw)
    ax3.axhline(1.0, color="gray", lw=0.8)
    ax3.set_ylabel("a / |da/dt|$_{GW}$")
    ax3.set_xlabel("time (dotted: merger)")
    fig.suptitle("SMBH binary in a stellar cusp: stellar hardening, then GW inspiral")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


if __name__ == "__main__":
    import os

    out = "runs/smbh_binary_cusp"
    os.makedirs(out, exist_ok=True)
    traj = make_scene(np.random.default_rng(0)).run(**RUN, progress=True)
    traj.save(os.path.join(out, "trajectory.h5"))
    print("wrote", os.path.join(out, "trajectory.h5"), "and",
          plot_binary(traj, os.path.join(out, "binary_elements.png")))
    meta = traj.metadata
    drift = meta["energy_end"] - meta["pn_work"] - meta["merger_energy"] - meta["energy_start"]
    print("mergers:", meta["mergers"], " relative energy error (Newtonian minus PN work and merger losses):",
          drift / abs(meta["energy_start"]))
