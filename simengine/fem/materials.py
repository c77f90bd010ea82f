"""Hyperelastic materials of `simengine.fem` (laws in `kernels.fem.elements`): Young's modulus E (Pa) and
Poisson's ratio nu, checked at construction (an `InputError` names the field and the allowed range)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from simengine.errors import check_range
from simengine.registry import Registry

LAWS = ("linear", "corotated", "neo_hookean")  # kernels.fem.elements.LAWS order
MATERIALS: Registry[type] = Registry("fem material")


@dataclass(frozen=True)
class Material:
    youngs_modulus: float
    poisson_ratio: float = 0.3
    law: ClassVar[str] = "linear"

    def __post_init__(self):
        check_range("youngs_modulus", float(self.youngs_modulus), 0.0, None, low_open=True)
        check_range("poisson_ratio", float(self.poisson_ratio), -1.0, 0.5, low_open=True, high_open=True)

    def lame(self) -> tuple[float, float]:
        """(mu, lambda) of the 3D law."""
        E, nu = float(self.youngs_modulus), float(self.poisson_ratio)
        return E / (2 * (1 + nu)), E * nu / ((1 + nu) * (1 - 2 * nu))

    def wave_speed(self, density: float, plane: str = "strain", dim: int = 3) -> float:
        """The P-wave speed sqrt((lambda + 2 mu) / rho) (plane stress: lambda* = 2 lambda mu / (lambda + 2 mu))."""
        mu, lam = self.lame()
        if dim == 2 and plane == "stress":
            lam = 2 * lam * mu / (lam + 2 * mu)
        return ((lam + 2 * mu) / density) ** 0.5

    def to_dict(self) -> dict:
        return {"law": self.law, "youngs_modulus": float(self.youngs_modulus),
                "poisson_ratio": float(self.poisson_ratio)}


@MATERIALS.register("linear")
@dataclass(frozen=True)
class LinearElastic(Material):
    """Small-strain linear elasticity (geometrically linear: not for large rotations)."""

    law: ClassVar[str] = "linear"


@MATERIALS.register("corotated")
@dataclass(frozen=True)
class Corotated(Material):
    """Fixed corotated elasticity (Stomakhin et al. 2012): linear in the rotated frame, large rotations."""

    law: ClassVar[str] = "corotated"


@MATERIALS.register("neo_hookean")
@dataclass(frozen=True)
class NeoHookean(Material):
    """Stable neo-Hookean (Smith, de Goes & Kim 2018, without the log barrier): robust to inversion."""

    law: ClassVar[str] = "neo_hookean"
