"""Pair potentials: parameters per species pair, packed for the Warp kernels in `kernels.md.pair`.

Each potential holds its parameters as a scalar (all pairs), a dict per species (``{"Ar": 3.4}``, cross
pairs by the potential's mixing rule) or a dict per pair (``{("Ar", "Kr"): 3.6}``).  `pack(names)` turns
them into a (S·S, 4) array of kernel parameters for the species list ``names`` (row a·S + b), and
`energy(r, a, b)` evaluates φ(r) in NumPy (reference, tables, tests).  ``shift=True`` subtracts φ(r_c) so
the energy is continuous at the cutoff (LAMMPS ``pair_modify shift yes``; ASE's ``smooth=False``).

Potentials are registered by name in `POTENTIALS` (a `simengine.registry.Registry`) so a trajectory's
metadata can rebuild the one that made it: ``potential_from_config(pot.to_config())``.
"""
from __future__ import annotations

import numpy as np

import kernels.md as K
from simengine.errors import InputError, check_range
from simengine.registry import Registry

POTENTIALS: Registry[type] = Registry("potential")


def register_potential(name):
    """Class decorator: register the potential under ``name`` in `POTENTIALS` and set its ``name``."""
    def wrap(cls):
        POTENTIALS.add(name, cls)
        cls.name = name
        return cls
    return wrap


def potential_from_config(config: dict):
    """Rebuild a potential from `to_config()` output."""
    config = dict(config)
    name = config.pop("name", None)
    if name not in POTENTIALS:
        raise InputError(f"potential name = {name!r} is not one of {POTENTIALS.names()}")
    return POTENTIALS.get(name).from_config(config)


def _arithmetic(a, b):
    return 0.5 * (a + b)


def _geometric(a, b):
    return (a * b) ** 0.5


def _per_pair(value, names, field, potential, mix):
    """(S, S) array of one parameter for species ``names``."""
    S = len(names)
    if not isinstance(value, dict):
        return np.full((S, S), float(value))
    out = np.full((S, S), np.nan)
    keys = list(value)
    if all(isinstance(k, str) for k in keys):
        for n in names:
            if n not in value:
                raise InputError(f"species = {n!r} has no {field} in {potential} (given for {sorted(value)})")
        for a, na in enumerate(names):
            for b, nb in enumerate(names):
                out[a, b] = mix(float(value[na]), float(value[nb]))
        return out
    for key, v in value.items():
        if not (isinstance(key, tuple) and len(key) == 2):
            raise InputError(f"{field} key {key!r} in {potential} must be a species symbol or a pair of them")
        if key[0] in names and key[1] in names:
            a, b = names.index(key[0]), names.index(key[1])
            out[a, b] = out[b, a] = float(v)
    missing = [(names[a], names[b]) for a in range(S) for b in range(S) if np.isnan(out[a, b])]
    if missing:
        raise InputError(f"species pair = {missing[0]!r} has no {field} in {potential} (given for {keys})")
    return out


def _jsonable_parameter(value):
    if isinstance(value, dict):
        return {("-".join(k) if isinstance(k, tuple) else k): float(v) for k, v in value.items()}
    return float(value)


def _parameter_from_json(value):
    if isinstance(value, dict):
        return {(tuple(k.split("-")) if "-" in k else k): v for k, v in value.items()}
    return value


class PairPotential:
    """Base class: subclasses set ``pair_func``, ``parameters`` {name: mixing rule} and implement
    `_energy(r, **params)` (NumPy) and `_pack_row(shift, **params)` (the kernel's 4 numbers)."""

    name = "pair"
    pair_func = None
    parameters: dict = {}
    #: parameter -> (low, low_open): the allowed range [low, inf) or (low, inf) of every value
    ranges: dict = {}

    def __init__(self, cutoff: float, shift: bool = True, **values):
        self.cutoff = float(check_range("cutoff", cutoff, 0.0, None, low_open=True))
        self.shift = bool(shift)
        for field, value in values.items():
            low, low_open = self.ranges.get(field, (None, False))
            entries = value.items() if isinstance(value, dict) else [(None, value)]
            for key, v in entries:
                label = f"{type(self).__name__} {field}" + ("" if key is None else f"[{key!r}]")
                try:
                    v = float(v)
                except (TypeError, ValueError):
                    raise InputError(f"{label} = {v!r} is not a number") from None
                if not np.isfinite(v):
                    raise InputError(f"{label} = {v!r} is not finite")
                check_range(label, v, low, None, low_open=low_open)
        self.values = values

    def _tables(self, names):
        return {p: _per_pair(self.values[p], list(names), p, type(self).__name__, mix)
                for p, mix in self.parameters.items()}

    def raw_energy(self, r, a: str, b: str, names=None):
        """φ(r) in eV for species pair (a, b) without cutoff or shift, NumPy."""
        names = list(names or sorted({a, b}))
        tables = self._tables(names)
        ia, ib = names.index(a), names.index(b)
        return self._energy(np.asarray(r, dtype=np.float64), **{p: t[ia, ib] for p, t in tables.items()})

    def energy(self, r, a: str, b: str, names=None):
        """φ(r) in eV for species pair (a, b) as simulated: zero beyond the cutoff, shifted when ``shift``."""
        r = np.asarray(r, dtype=np.float64)
        e_cut = self.raw_energy(self.cutoff, a, b, names) if self.shift else 0.0
        return np.where(r < self.cutoff, self.raw_energy(r, a, b, names) - e_cut, 0.0)

    def pack(self, names):
        """(params (S·S, 4) float64, table (K,) float64) for species list ``names``."""
        tables = self._tables(list(names))
        S = len(names)
        rows = np.zeros((S * S, 4))
        for a in range(S):
            for b in range(S):
                params = {p: t[a, b] for p, t in tables.items()}
                e_cut = float(self._energy(np.float64(self.cutoff), **params)) if self.shift else 0.0
                rows[a * S + b] = self._pack_row(e_cut, **params)
        return rows, np.zeros(1)

    def to_config(self) -> dict:
        return {"name": self.name, "cutoff": self.cutoff, "shift": self.shift,
                **{k: _jsonable_parameter(v) for k, v in self.values.items()}}

    @classmethod
    def from_config(cls, config: dict):
        return cls(**{k: _parameter_from_json(v) for k, v in config.items()})

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.to_config().items() if k != "name")
        return f"{type(self).__name__}({args})"


@register_potential("lennard_jones")
class LennardJones(PairPotential):
    """φ(r) = 4ε[(σ/r)¹² − (σ/r)⁶], cut at ``cutoff`` (Å); σ in Å, ε in eV; Lorentz–Berthelot mixing."""

    pair_func = K.lennard_jones
    parameters = {"sigma": _arithmetic, "epsilon": _geometric}
    ranges = {"sigma": (0.0, True), "epsilon": (0.0, False)}

    def __init__(self, sigma, epsilon, cutoff: float, shift: bool = True):
        super().__init__(cutoff, shift, sigma=sigma, epsilon=epsilon)

    @staticmethod
    def _energy(r, sigma, epsilon):
        s6 = (sigma / r) ** 6
        return 4.0 * epsilon * (s6 * s6 - s6)

    @staticmethod
    def _pack_row(e_cut, sigma, epsilon):
        return 4.0 * epsilon, sigma * sigma, e_cut, 0.0


@register_potential("morse")
class Morse(PairPotential):
    """φ(r) = D[e^{−2α(r−r₀)} − 2e^{−α(r−r₀)}]; D in eV, α in 1/Å, r₀ in Å."""

    pair_func = K.morse
    parameters = {"D": _geometric, "alpha": _arithmetic, "r0": _arithmetic}
    ranges = {"D": (0.0, False), "alpha": (0.0, True), "r0": (0.0, True)}

    def __init__(self, D, alpha, r0, cutoff: float, shift: bool = True):
        super().__init__(cutoff, shift, D=D, alpha=alpha, r0=r0)

    @staticmethod
    def _energy(r, D, alpha, r0):
        x = np.exp(-alpha * (r - r0))
        return D * (x * x - 2.0 * x)

    @staticmethod
    def _pack_row(e_cut, D, alpha, r0):
        return D, alpha, r0, e_cut


@register_potential("buckingham")
class Buckingham(PairPotential):
    """φ(r) = A e^{−r/ρ} − C/r⁶; A in eV, ρ in Å, C in eV·Å⁶."""

    pair_func = K.buckingham
    parameters = {"A": _geometric, "rho": _arithmetic, "C": _geometric}
    ranges = {"A": (0.0, False), "rho": (0.0, True), "C": (0.0, False)}

    def __init__(self, A, rho, C, cutoff: float, shift: bool = True):
        super().__init__(cutoff, shift, A=A, rho=rho, C=C)

    @staticmethod
    def _energy(r, A, rho, C):
        return A * np.exp(-r / rho) - C / r ** 6

    @staticmethod
    def _pack_row(e_cut, A, rho, C):
        return A, 1.0 / rho, C, e_cut


@register_potential("tabulated")
class TabulatedPair(PairPotential):
    """A pair potential given on a uniform grid, linearly interpolated (LAMMPS ``pair_style table linear``).

    Args:
        r: (K,) uniform grid of distances (Å), K ≥ 2.
        energy: (K,) φ(r_k) in eV — or a dict {(a, b): (K,) array} per species pair on the same grid.
        force: optional (K,) −φ'(r_k) in eV/Å (same form as ``energy``); central differences otherwise.
        cutoff: defaults to the last grid point.
    """

    pair_func = K.tabulated_pair

    def __init__(self, r, energy, force=None, cutoff: float | None = None, shift: bool = False):
        r = np.asarray(r, dtype=np.float64)
        if r.ndim != 1 or r.size < 2 or not np.all(np.diff(r) > 0):
            raise InputError(f"r must be an increasing 1-D grid of at least 2 distances, got shape {r.shape}")
        spacing = np.diff(r)
        if np.ptp(spacing) > 1e-6 * spacing.mean():
            raise InputError(f"r must be uniformly spaced; spacings range {spacing.min():g}..{spacing.max():g} Å")
        super().__init__(float(r[-1] if cutoff is None else cutoff), shift)
        self.r = r
        as_pairs = energy if isinstance(energy, dict) else {None: energy}
        forces = force if isinstance(force, dict) or force is None else {None: force}
        self.tables = {}
        for key, e in as_pairs.items():
            e = np.asarray(e, dtype=np.float64)
            if e.shape != r.shape:
                raise InputError(f"energy{'' if key is None else f'[{key}]'} must have shape {r.shape}, got {e.shape}")
            f = None if forces is None else forces.get(key)
            f = -np.gradient(e, r) if f is None else np.asarray(f, dtype=np.float64)
            self.tables[key] = (e, f)

    def _table_for(self, a, b):
        for key in ((a, b), (b, a), None):
            if key in self.tables:
                return self.tables[key]
        raise InputError(f"species pair = {(a, b)!r} has no table in TabulatedPair (given for {list(self.tables)})")

    def energy(self, r, a, b, names=None):
        e, _ = self._table_for(a, b)
        r = np.asarray(r, dtype=np.float64)
        shift = np.interp(self.cutoff, self.r, e) if self.shift else 0.0
        return np.where(r < self.cutoff, np.interp(r, self.r, e) - shift, 0.0)

    def pack(self, names):
        S = len(names)
        rows, chunks, offset = np.zeros((S * S, 4)), [], 0
        dr = self.r[1] - self.r[0]
        for a in range(S):
            for b in range(S):
                e, f = self._table_for(names[a], names[b])
                shift = np.interp(self.cutoff, self.r, e) if self.shift else 0.0
                chunks.append(np.stack([e - shift, f], axis=1).ravel())
                rows[a * S + b] = (self.r[0], 1.0 / dr, offset, self.r.size)
                offset += self.r.size
        return rows, np.concatenate(chunks)

    def to_config(self) -> dict:
        energy = {("-".join(k) if k else "all"): v[0].tolist() for k, v in self.tables.items()}
        force = {("-".join(k) if k else "all"): v[1].tolist() for k, v in self.tables.items()}
        return {"name": self.name, "r": self.r.tolist(), "energy": energy, "force": force,
                "cutoff": self.cutoff, "shift": self.shift}

    @classmethod
    def from_config(cls, config: dict):
        def unpack(d):
            return d["all"] if list(d) == ["all"] else {tuple(k.split("-")): v for k, v in d.items()}
        return cls(config["r"], unpack(config["energy"]), unpack(config["force"]), config["cutoff"], config["shift"])

    @classmethod
    def from_potential(cls, potential: PairPotential, names, r_first: float = 0.5, points: int = 4000):
        """Tabulate another potential for the species ``names`` (forces by central differences)."""
        r = np.linspace(r_first, potential.cutoff, points)
        h = 1e-6
        energy, force = {}, {}
        for i, a in enumerate(names):
            for b in names[i:]:
                energy[(a, b)] = potential.energy(r, a, b, names)
                force[(a, b)] = -(potential.raw_energy(r + h, a, b, names)
                                  - potential.raw_energy(r - h, a, b, names)) / (2 * h)
        return cls(r, energy, force, cutoff=potential.cutoff, shift=False)
