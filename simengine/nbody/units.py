"""Astrophysical unit systems: G and c in code units for a choice of length, mass and time units.

Example::

    from simengine.nbody import units
    u = units.UnitSystem("kpc", "Msun", "Myr")     # units.GALACTIC
    sim = nbody.Simulation(G=u.G, c=u.c, ...)       # G ~ 4.50e-12 kpc^3 / (Msun Myr^2), c ~ 306.6 kpc/Myr
    v = u.convert(200.0, "km/s")                    # 200 km/s in kpc/Myr

Constants: CODATA 2018 G and c, the IAU 2015 nominal solar mass parameter, the IAU parsec and the
Julian year.
"""
from __future__ import annotations

from dataclasses import dataclass

from simengine.errors import InputError

G_SI = 6.67430e-11                  # m^3 kg^-1 s^-2
C_SI = 299792458.0                  # m / s
MSUN_KG = 1.3271244e20 / G_SI       # GM_sun (IAU 2015) / G
PC_M = 3.0856775814913673e16
YEAR_S = 365.25 * 86400.0

LENGTH = {"m": 1.0, "km": 1e3, "au": 1.495978707e11, "pc": PC_M, "kpc": 1e3 * PC_M, "Mpc": 1e6 * PC_M}
MASS = {"kg": 1.0, "Msun": MSUN_KG, "1e10Msun": 1e10 * MSUN_KG}
TIME = {"s": 1.0, "yr": YEAR_S, "kyr": 1e3 * YEAR_S, "Myr": 1e6 * YEAR_S, "Gyr": 1e9 * YEAR_S}
VELOCITY = {"m/s": 1.0, "km/s": 1e3}


@dataclass(frozen=True)
class UnitSystem:
    """Code units: 1 length unit, 1 mass unit, 1 time unit (names from LENGTH, MASS, TIME)."""

    length: str = "kpc"
    mass: str = "Msun"
    time: str = "Myr"

    def __post_init__(self):
        for table, name, field in ((LENGTH, self.length, "length"), (MASS, self.mass, "mass"),
                                   (TIME, self.time, "time")):
            if name not in table:
                raise InputError(f"{field} unit = {name!r} is not one of {sorted(table)}")

    @property
    def _si(self):
        return LENGTH[self.length], MASS[self.mass], TIME[self.time]

    @property
    def G(self) -> float:
        """Newton's constant in code units: G_SI M T^2 / L^3."""
        L, M, T = self._si
        return G_SI * M * T * T / L ** 3

    @property
    def c(self) -> float:
        """Speed of light in code units (length / time)."""
        L, _, T = self._si
        return C_SI * T / L

    def convert(self, value, unit: str):
        """`value` given in `unit` (a length, mass, time or velocity unit name) -> code units."""
        L, M, T = self._si
        for table, scale in ((LENGTH, L), (MASS, M), (TIME, T), (VELOCITY, L / T)):
            if unit in table:
                return value * table[unit] / scale
        raise InputError(f"unit = {unit!r} is not a known length, mass, time or velocity unit")

    def to(self, value, unit: str):
        """Code-unit `value` -> `unit` (the inverse of `convert`)."""
        return value / self.convert(1.0, unit)

    def schwarzschild_radius(self, mass):
        """2 G m / c^2 in code length units, for a mass in code units."""
        return 2.0 * self.G * mass / self.c ** 2


GALACTIC = UnitSystem("kpc", "Msun", "Myr")
PARSEC = UnitSystem("pc", "Msun", "Myr")
