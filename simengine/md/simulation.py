"""Molecular dynamics in Warp: pair potentials on a Verlet list, bonded terms, NVE and NVT ensembles.

    from simengine import md
    sim = md.Simulation.from_ase(atoms, potential=md.LennardJones(sigma=3.40, epsilon=0.0104, cutoff=8.5),
                                 timestep_fs=2.0, ensemble="nve", dtype="float64", device="cpu")
    traj = sim.run(steps=1000, record_every=10)

Metal units throughout (`simengine.md.units`).  The simulation follows the simulator contract
(`simengine.simulator`): ``sim.step(state_in, state_out)`` reads one `State` (x, v, f, per-atom energy) and
writes another, so two alternating states serve a normal run and fresh ones make a run recordable on a
`wp.Tape`.  The simulation also holds a current state (``sim.state``) that `run` and `advance` move on and
the observables (`temperature`, `positions`, ...) read.  Positions are kept unwrapped; `positions` wraps
them on read.  Thermostat noise comes from the simulation's seeded generator (``seed``).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from kernels.md import bonded_kernels, integrator_kernels, pair_force_kernel
from simengine.errors import InputError, SimulationError, check_range
from simengine.md.box import Box
from simengine.md.neighbors import MIN_ATOMS_PER_THREAD, NeighborList
from simengine.md.thermostats import THERMOSTATS
from simengine.md.topology import Topology
from simengine.md.units import ACCEL_PER_FORCE, ASE_TIME_FS, BOLTZMANN, element
from simengine.parallel import launch_each, split
from simengine.runtime import default_threads, init_warp, resolve_device
from simengine.simulator import Simulator

DTYPES = ("float32", "float64")
ENSEMBLES = ("nve", "nvt")


@dataclass
class State:
    """Per-step buffers: positions x (N,) vec3 Å, half-kicked v_half and full v (Å/fs), forces f
    (eV/Å), per-atom potential energy e (eV), the step's velocity-rescale factor alpha (1,), and the
    number of steps taken (time = step · Δt)."""

    x: object
    v_half: object
    v: object
    f: object
    e: object
    alpha: object
    step: int = 0


class Simulation(Simulator):
    """An MD system: N atoms in a `Box`, one pair potential, optional bonded `Topology`.

    Args:
        positions: (N, 3) Å.  symbols: N chemical symbols (species).  cell: (3, 3) rows = lattice vectors
            or (3,) edge lengths; required when ``pbc``.
        potential: a `simengine.md.potentials` pair potential (its cutoff ≤ half the smallest box width).
        timestep_fs: MD time step Δt (fs).  ensemble: "nve" or "nvt" (then ``thermostat`` "csvr" or
            "langevin" at ``temperature`` K with time constant ``damping_fs``).
        velocities: (N, 3) Å/fs, default zero.  masses: (N,) amu, default standard atomic masses.
        topology: bonds/angles/molecule ids for molecules.  skin: Verlet skin (Å).
        dtype: "float32" or "float64".  device: "cpu" / "cuda" (default $SIMENGINE_DEVICE, else the best
            available).  threads: CPU threads (default `simengine.runtime.default_threads`).  seed: thermostat stream.
        min_distance: atoms closer than this (Å) at the start are an `InputError` (overlap).
        max_temperature: a run whose temperature exceeds this (K) stops with a `SimulationError`.
        check_every: steps between blow-up checks (non-finite atoms, temperature); default 1, so a blow-up is
            reported at the step it happens (one pass over the atoms, ~1 % of a step of 4,000 LJ atoms).
    """

    name = "md"

    def __init__(self, positions, symbols, cell=None, *, potential, timestep_fs: float, pbc: bool = True,
                 ensemble: str = "nve", thermostat: str = "csvr", temperature: float | None = None,
                 damping_fs: float = 100.0, velocities=None, masses=None, topology: Topology | None = None,
                 skin: float = 1.0, dtype: str = "float64", device: str | None = None, seed: int = 0,
                 threads: int | None = None, min_distance: float = 0.5, max_temperature: float = 1.0e5,
                 check_every: int = 1):
        self.wp = wp = init_warp()
        self.device = resolve_device(device)
        if dtype not in DTYPES:
            raise InputError(f"dtype = {dtype!r} is not one of {DTYPES}")
        self.dtype, self.scalar = dtype, (wp.float32 if dtype == "float32" else wp.float64)
        self.vec3 = wp.types.vector(3, self.scalar)
        self.dt = float(check_range("timestep_fs", timestep_fs, 0.0, 20.0, low_open=True))
        x = np.asarray(positions, dtype=np.float64)
        if x.ndim != 2 or x.shape[1] != 3 or not np.isfinite(x).all():
            raise InputError(f"positions must be a finite (N, 3) array in Å, got shape {x.shape}")
        self.num_atoms = n = x.shape[0]
        self.symbols = [str(s) for s in symbols]
        if len(self.symbols) != n:
            raise InputError(f"symbols has {len(self.symbols)} entries for {n} positions")
        numbers = {s: element(s) for s in set(self.symbols)}          # InputError for unknown species
        self.species_names = sorted(numbers, key=lambda s: numbers[s][0])
        self.atomic_numbers = np.array([numbers[s][0] for s in self.symbols], dtype=np.int32)
        self.masses = (np.array([numbers[s][1] for s in self.symbols]) if masses is None
                       else np.asarray(masses, dtype=np.float64))
        if self.masses.shape != (n,) or not (self.masses > 0).all():
            raise InputError(f"masses must be (N,) = ({n},) positive amu, got shape {self.masses.shape}")
        self.box = Box(cell, pbc)
        self.potential = potential
        self.topology = topology or Topology()
        self.topology.validate(n)
        self.threads = default_threads(self.device, threads)
        self.max_temperature = float(max_temperature)
        self.check_every = int(check_range("check_every", check_every, 0, None))
        self.rng = np.random.default_rng(seed)
        self.kernels = integrator_kernels(self.scalar)
        self._setup_forces()
        self.neighbors = NeighborList(self.box, potential.cutoff, skin, n, self.scalar, self.device,
                                      self.topology.molecule_id, self.threads)
        self.set_ensemble(ensemble, thermostat, temperature, damping_fs)
        v = np.zeros((n, 3)) if velocities is None else np.asarray(velocities, dtype=np.float64)
        if v.shape != (n, 3):
            raise InputError(f"velocities must have shape ({n}, 3) in Å/fs, got {v.shape}")
        self.state = self.new_state(x, v)
        self._spare = self.new_state()
        self.neighbors.build(self.state.x)
        self._check_overlaps(min_distance)
        self._compute_forces(self.state)

    # ------------------------------------------------------------------ set-up
    def _setup_forces(self):
        wp, dev = self.wp, self.device
        params, table = self.potential.pack(self.species_names)
        index = {s: i for i, s in enumerate(self.species_names)}
        self.species_index = wp.array(np.array([index[s] for s in self.symbols], np.int32), dtype=wp.int32, device=dev)
        self._params = wp.array(params, dtype=wp.types.vector(4, self.scalar), device=dev)
        self._table = wp.array(table, dtype=self.scalar, device=dev)
        self._pair_kernel = pair_force_kernel(self.scalar, type(self.potential).pair_func)
        self.accel_per_force = wp.array(ACCEL_PER_FORCE / self.masses, dtype=self.scalar, device=dev)
        bonds, kb, r0, angles, ka, theta0 = self.topology.arrays()
        self._bonds = (wp.array(bonds, dtype=wp.vec2i, device=dev), wp.array(kb, dtype=self.scalar, device=dev),
                       wp.array(r0, dtype=self.scalar, device=dev))
        self._angles = (wp.array(angles, dtype=wp.vec3i, device=dev), wp.array(ka, dtype=self.scalar, device=dev),
                        wp.array(theta0, dtype=self.scalar, device=dev))
        self._bond_kernel, self._angle_kernel, self._accumulate = bonded_kernels(self.scalar)

    def new_state(self, x=None, v=None, requires_grad: bool = False) -> State:
        """Fresh per-step buffers (zeros unless x, v given); pass to `step(out=...)` under a `wp.Tape`."""
        wp, n, dev = self.wp, self.num_atoms, self.device

        def make(a):
            if a is None:
                return wp.zeros(n, dtype=self.vec3, device=dev, requires_grad=requires_grad)
            return wp.array(a, dtype=self.vec3, device=dev, requires_grad=requires_grad)

        return State(make(x), make(None), make(v), make(None),
                     wp.zeros(n, dtype=self.scalar, device=dev, requires_grad=requires_grad),
                     wp.ones(1, dtype=self.scalar, device=dev, requires_grad=requires_grad))

    def _check_overlaps(self, min_distance: float):
        i, j, shift = self.neighbors.pairs()
        if i.size == 0:
            return
        x = self.state.x.numpy().astype(np.float64)
        r = np.linalg.norm(x[j] + shift - x[i], axis=1)
        k = int(np.argmin(r))
        if r[k] < min_distance:
            raise InputError(f"atoms {i[k]} and {j[k]} overlap: distance = {r[k]:.4g} Å is outside the allowed "
                             f"range [{min_distance:g}, inf) (min_distance)")

    def set_ensemble(self, ensemble: str, thermostat: str = "csvr", temperature: float | None = None,
                     damping_fs: float = 100.0) -> None:
        """Switch between "nve" and "nvt" (with ``thermostat`` at ``temperature`` K), e.g. after equilibration."""
        if ensemble not in ENSEMBLES:
            raise InputError(f"ensemble = {ensemble!r} is not one of {ENSEMBLES}")
        if ensemble == "nvt":
            if thermostat not in THERMOSTATS or thermostat == "nve":
                choices = [name for name in THERMOSTATS.names() if name != "nve"]
                raise InputError(f"thermostat = {thermostat!r} is not one of {choices}")
            check_range("temperature", temperature, 0.0, None, low_open=True)
            check_range("damping_fs", damping_fs, self.dt, None)
        self.ensemble = ensemble
        self.thermostat = THERMOSTATS.get("nve" if ensemble == "nve" else thermostat)(self, temperature, damping_fs)

    # ------------------------------------------------------------------ dynamics
    def _compute_forces(self, s: State) -> None:
        wp, nl, n = self.wp, self.neighbors, self.num_atoms
        s.f.zero_()
        s.e.zero_()
        # Threads scatter into private buffers; a differentiable (tape) step uses one thread and no scratch.
        slices = split(n, 1 if s.f.requires_grad else self.threads, MIN_ATOMS_PER_THREAD)
        outputs = [(s.f, s.e)] + self._scratch(len(slices) - 1)
        shared = [s.x, self.species_index, len(self.species_names), self._params, self._table,
                  self.scalar(self.potential.cutoff ** 2), nl.neighbors, nl.shifts, nl.counts, nl.max_neighbors]
        launch_each([(self._pair_kernel, hi - lo, [lo, *shared, f, e]) for (lo, hi), (f, e) in zip(slices, outputs)],
                    self.device)
        for f, e in outputs[1:]:
            wp.launch(self._accumulate, dim=n, inputs=[f, e, s.f, s.e], device=self.device)
        H, H_inv = nl.mat33(*self.box.H.ravel()), nl.mat33(*self.box.H_inv.ravel())
        if self._bonds[0].shape[0]:
            wp.launch(self._bond_kernel, dim=self._bonds[0].shape[0], inputs=[s.x, *self._bonds, H, H_inv, s.f, s.e],
                      device=self.device)
        if self._angles[0].shape[0]:
            wp.launch(self._angle_kernel, dim=self._angles[0].shape[0],
                      inputs=[s.x, *self._angles, H, H_inv, s.f, s.e], device=self.device)

    def _scratch(self, count: int) -> list:
        """``count`` zeroed (forces, energies) buffers for extra CPU threads, allocated once."""
        buffers = self.__dict__.setdefault("_scratch_buffers", [])
        while len(buffers) < count:
            buffers.append((self.wp.zeros(self.num_atoms, dtype=self.vec3, device=self.device),
                            self.wp.zeros(self.num_atoms, dtype=self.scalar, device=self.device)))
        for f, e in buffers[:count]:
            f.zero_()
            e.zero_()
        return buffers[:count]

    def step(self, state_in: State, state_out: State, control=None, dt=None) -> State:
        """One velocity-Verlet step (with the ensemble's thermostat) from ``state_in`` into ``state_out``; MD
        takes no control and steps with its own Δt."""
        self._no_control(control)
        self._own_step(dt)
        self.thermostat.kick_drift(state_in, state_out, state_in.step)
        self.neighbors.update(state_out.x)
        self._compute_forces(state_out)
        self.wp.launch(self.kernels.kick, dim=self.num_atoms,
                       inputs=[state_out.v_half, state_out.f, self.accel_per_force, self.scalar(self.dt), state_out.v],
                       device=self.device)
        state_out.step = state_in.step + 1
        return state_out

    def advance(self, out: State | None = None) -> State:
        """Step the current state ``sim.state`` into ``out`` (default: the spare buffers); returns the new state."""
        s_in = self.state
        s_out = self.step(s_in, out if out is not None else self._spare)
        if out is None:
            self._spare = s_in
        self.state = s_out
        if self.check_every and self.step_count % self.check_every == 0:
            self.check(s_out, self.step_count)
        return s_out

    @property
    def step_count(self) -> int:
        return self.state.step

    def run(self, steps: int, record_every: int | None = None, targets: bool = False, progress: bool = False):
        """Run ``steps`` steps from the current state; with ``record_every`` return a `Trajectory` recorded by
        the one recording loop (see `simengine.md.recording` for what it holds)."""
        from tqdm.auto import tqdm

        from simengine.md.recording import recording_metadata
        from simengine.simulator import record

        steps = int(check_range("steps", steps, 0, None))
        if record_every is None:
            if targets:
                raise InputError("targets = True needs record_every (the forecast stride in MD steps)")
            for _ in tqdm(range(steps), disable=not progress, desc="md", unit="step", leave=False):
                self.advance()
            return None
        record_every = int(check_range("record_every", record_every, 1, max(steps, 1)))
        traj, state = record(self, self.state, steps, record_every, spare=self._spare, progress=progress, desc="md",
                             check_every=self.check_every, metadata=recording_metadata(self, record_every, targets))
        if state is not self.state:
            self.state, self._spare = state, self.state
        self.check_health()
        return traj

    # ------------------------------------------------------------------ the simulator contract: recording
    def check(self, state: State, step: int) -> None:
        """Cheap enough for every step (one pass over the atoms): the detailed `check_health` runs only when
        an atom is non-finite or the temperature is above ``max_temperature``."""
        wp = self.wp
        if not hasattr(self, "_health"):
            self._health = (wp.zeros(1, dtype=wp.float64, device=self.device),
                            wp.zeros(1, dtype=int, device=self.device))
        kinetic, first_bad = self._health
        kinetic.zero_()
        first_bad.fill_(self.num_atoms)
        chunk = 256 if self.device == "cpu" else 1  # a loop per CPU thread; one atom per CUDA thread
        wp.launch(self.kernels.health, dim=(self.num_atoms + chunk - 1) // chunk, device=self.device,
                  inputs=[state.x, state.v, self.accel_per_force, self.num_atoms, chunk, kinetic, first_bad],
                  record_tape=False)
        temperature = 2.0 * float(kinetic.numpy()[0]) / (self.degrees_of_freedom * BOLTZMANN)
        if int(first_bad.numpy()[0]) < self.num_atoms or not temperature <= self.max_temperature:
            self.check_health(state)

    def frame(self, state: State) -> dict:
        """Unwrapped positions and velocities (float64) and the time (fs); `trajectory` wraps positions."""
        return {"position": state.x.numpy().astype(np.float64), "velocity": state.v.numpy().astype(np.float64),
                "time": np.float64(state.step * self.dt)}

    def static(self) -> dict:
        from simengine.io import ParticleType

        return {"particle_type": np.full(self.num_atoms, int(ParticleType.ATOM), np.int32),
                "species": self.atomic_numbers, "mass": self.masses, "cell": self.box.cell}

    def metadata(self) -> dict:
        from simengine.md.recording import md_metadata

        return md_metadata(self)

    def trajectory(self, frames: dict, static: dict, frame_dt: float, metadata: dict):
        from simengine.md.recording import md_trajectory

        return md_trajectory(self, frames, static, frame_dt, metadata)

    def check_health(self, state: State | None = None) -> None:
        """`SimulationError` naming step, time and atom if ``state`` (default: the current one) is non-finite or
        too hot."""
        state = state or self.state
        ke = self.kinetic_energies(state)
        x = state.x.numpy()
        bad = ~np.isfinite(ke) | ~np.isfinite(x).all(axis=1)
        where = f"at step {state.step} (t = {state.step * self.dt:g} fs)"
        if bad.any():
            atom = int(np.flatnonzero(bad)[0])
            raise SimulationError(f"MD blew up {where}: atom {atom} has a non-finite position or velocity")
        temperature = 2.0 * ke.sum() / (self.degrees_of_freedom * BOLTZMANN)
        if temperature > self.max_temperature:
            atom = int(np.argmax(ke))
            raise SimulationError(f"MD blew up {where}: temperature {temperature:.4g} K exceeds max_temperature "
                                  f"{self.max_temperature:g} K; fastest atom {atom} ({ke[atom]:.3g} eV)")

    # ------------------------------------------------------------------ observables
    @property
    def time_fs(self) -> float:
        return self.step_count * self.dt

    @property
    def unwrapped_positions(self) -> np.ndarray:
        return self.state.x.numpy().astype(np.float64)

    @property
    def positions(self) -> np.ndarray:
        """(N, 3) positions wrapped into the cell (Å)."""
        return self.box.wrap(self.unwrapped_positions)

    @property
    def velocities(self) -> np.ndarray:
        return self.state.v.numpy().astype(np.float64)

    @property
    def forces(self) -> np.ndarray:
        return self.state.f.numpy().astype(np.float64)

    @property
    def degrees_of_freedom(self) -> int:
        return self.thermostat.degrees_of_freedom(self.num_atoms)

    def kinetic_energies(self, state: State | None = None) -> np.ndarray:
        state = state or self.state
        out = self.wp.empty(self.num_atoms, dtype=self.scalar, device=self.device)
        self.wp.launch(self.kernels.kinetic_energies, dim=self.num_atoms, inputs=[state.v, self.accel_per_force, out],
                       device=self.device, record_tape=False)
        return out.numpy().astype(np.float64)

    def kinetic_energy(self, state: State | None = None) -> float:
        return float(self.kinetic_energies(state).sum())

    def potential_energy(self) -> float:
        return float(self.state.e.numpy().astype(np.float64).sum())

    def total_energy(self) -> float:
        return self.potential_energy() + self.kinetic_energy()

    def temperature(self) -> float:
        return 2.0 * self.kinetic_energy() / (self.degrees_of_freedom * BOLTZMANN)

    def set_velocities(self, velocities) -> None:
        v = np.asarray(velocities, dtype=np.float64)
        if v.shape != (self.num_atoms, 3):
            raise InputError(f"velocities must have shape ({self.num_atoms}, 3) in Å/fs, got {v.shape}")
        self.state.v.assign(v.astype(self.dtype))

    def maxwell_boltzmann(self, temperature: float, rng: np.random.Generator | None = None) -> None:
        """Draw velocities at ``temperature`` K with zero total momentum, rescaled to exactly that T."""
        check_range("temperature", temperature, 0.0, None)
        rng = rng or self.rng
        v = rng.standard_normal((self.num_atoms, 3)) * np.sqrt(BOLTZMANN * temperature * ACCEL_PER_FORCE
                                                                / self.masses)[:, None]
        v -= (self.masses[:, None] * v).sum(0) / self.masses.sum()
        self.set_velocities(v)
        if temperature > 0:
            self.set_velocities(v * np.sqrt(temperature / self.temperature()))

    def evaluate(self, positions) -> tuple[float, np.ndarray]:
        """(potential energy eV, forces (N, 3) eV/Å) at other ``positions``, state untouched."""
        s = self.new_state(np.asarray(positions, dtype=np.float64))
        self.neighbors.build(s.x)
        self._compute_forces(s)
        self.neighbors.build(self.state.x)
        return float(s.e.numpy().astype(np.float64).sum()), s.f.numpy().astype(np.float64)

    # ------------------------------------------------------------------ interop
    @classmethod
    def from_ase(cls, atoms, potential, timestep_fs: float, **kwargs) -> Simulation:
        """Build from an `ase.Atoms` (positions, symbols, cell, pbc, masses and velocities)."""
        kwargs.setdefault("velocities", atoms.get_velocities() / ASE_TIME_FS)
        kwargs.setdefault("masses", atoms.get_masses())
        pbc = bool(np.all(atoms.pbc)) if np.any(atoms.pbc) == np.all(atoms.pbc) else atoms.pbc
        cell = atoms.cell.array if atoms.cell.rank == 3 else None
        return cls(atoms.positions, atoms.get_chemical_symbols(), cell, potential=potential,
                   timestep_fs=timestep_fs, pbc=pbc, **kwargs)

    def to_ase(self):
        """An `ase.Atoms` with the current (wrapped) positions, velocities, cell and masses."""
        import ase

        atoms = ase.Atoms(self.symbols, positions=self.positions, cell=self.box.cell if self.box.periodic else None,
                          pbc=self.box.periodic, masses=self.masses)
        atoms.set_velocities(self.velocities * ASE_TIME_FS)
        return atoms

    def to_config(self) -> dict:
        return {"potential": self.potential.to_config(), "timestep_fs": self.dt, "ensemble": self.ensemble,
                **self.thermostat.to_config(), **self.box.to_config(), "dtype": self.dtype,
                "species_names": self.species_names, "topology": self.topology.to_config()}
