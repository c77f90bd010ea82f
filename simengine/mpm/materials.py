"""Materials for the MLS-MPM solver: validated parameter sets that pick a constitutive model.

Each material is a frozen dataclass, checked at construction (a value outside its range raises
`InputError` naming the field, the value and the range). The solver reads every particle's material
through per-particle arrays, so one scene mixes materials and gradients reach the parameters:

    model id (int)  -> `kernels.mpm.constitutive.MODELS` (the kernel's dispatch table)
    E, nu           -> Young's modulus [Pa], Poisson's ratio (fluids: E = 3 K, nu = 0)
    params (4,)     -> model-specific floats (see `kernels.mpm.constitutive`)

Materials are registered by name in `MATERIALS` (a `simengine.registry.Registry`): `available()` lists
the names and `get(name, **params)` builds one. Example::

    from simengine import materials
    sand = materials.Sand(friction_angle=30.0)
    jelly = materials.get("elastic", youngs_modulus=1e5, poisson_ratio=0.3)

Papers: fixed-corotated elasticity (Stomakhin et al. 2012), snow (Stomakhin et al. 2013), sand
(Klar et al. 2016, Drucker-Prager in Hencky strain; or the mu(I) rheology of Jop, Forterre & Pouliquen
2006 with the disconnected state of Dunatunga & Kamrin 2015), plasticine (von Mises on Hencky strain),
Herschel-Bulkley viscoplasticity (Yue et al. 2015).
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import ClassVar

from simengine.errors import InputError, check_range
from simengine.io.types import ParticleType
from simengine.registry import Registry


def _normalize(name: str) -> str:
    return str(name).lower().replace("-", "_")


MATERIALS: Registry[type] = Registry("material", normalize=_normalize)


def _register(name: str):
    """Class decorator: register the material under ``name`` in `MATERIALS` and set its ``name``."""
    def wrap(cls):
        MATERIALS.add(name, cls)
        cls.name = name
        return cls

    return wrap


def available() -> list[str]:
    """Names accepted by `get`."""
    return MATERIALS.names()


def get(name: str, **params) -> "Material":
    """Build a material by name (case-insensitive, '-' or '_'), e.g. ``get("sand", friction_angle=35.0)``."""
    if name not in MATERIALS:
        raise InputError(f"material = {name!r} is not known; allowed: {available()}")
    key = MATERIALS.key(name)
    cls = MATERIALS.get(key)
    try:
        return cls(**params)
    except TypeError as err:
        fields = [f.name for f in dataclasses.fields(cls)]
        raise InputError(f"material {key!r}: {err}; its parameters are {fields}") from None


def _elastic_checks(material) -> None:
    check_range(f"{type(material).__name__}.youngs_modulus", material.youngs_modulus, 0.0, None, low_open=True)
    check_range(f"{type(material).__name__}.poisson_ratio", material.poisson_ratio, -1.0, 0.5,
                low_open=True, high_open=True)


@dataclass(frozen=True)
class Material:
    """Base class. Subclasses set `model` (kernel model name) and `particle_type`."""

    name: ClassVar[str] = ""
    model: ClassVar[str] = ""
    particle_type: ClassVar[int] = int(ParticleType.ELASTIC)
    text_fields: ClassVar[tuple[str, ...]] = ()  # fields that are names, not numbers

    def __post_init__(self):
        for f in dataclasses.fields(self):
            if f.name in self.text_fields:
                continue
            value = getattr(self, f.name)
            if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value):
                raise InputError(f"{type(self).__name__}.{f.name} = {value!r} must be a finite number")
        self.validate()

    def validate(self) -> None:
        _elastic_checks(self)

    @property
    def lame(self) -> tuple[float, float]:
        """(mu, lambda) from E and nu."""
        E, nu = self.pack()[:2]
        return E / (2 * (1 + nu)), E * nu / ((1 + nu) * (1 - 2 * nu))

    def pack(self) -> tuple[float, float, tuple[float, float, float, float]]:
        """(E, nu, params) as the kernels read them."""
        return self.youngs_modulus, self.poisson_ratio, (0.0, 0.0, 0.0, 0.0)

    def wave_speed(self, density: float) -> float:
        """Fastest elastic (P-)wave speed sqrt((lambda + 2 mu) / rho), for the time-step limit."""
        mu, lam = self.lame
        return math.sqrt((lam + 2 * mu) / density)

    def kinematic_viscosity(self, density: float) -> float:
        """nu = eta / rho of an explicit viscous term (explicit diffusion limit), 0 if none."""
        return 0.0

    def to_dict(self) -> dict:
        return {"name": self.name, "model": self.model, **dataclasses.asdict(self)}


@_register("elastic")
@dataclass(frozen=True)
class Elastic(Material):
    """Fixed-corotated hyperelasticity (Stomakhin et al. 2012); robust to large rotations."""

    youngs_modulus: float = 1.0e5
    poisson_ratio: float = 0.3
    model: ClassVar[str] = "fixed_corotated"


@_register("neo_hookean")
@dataclass(frozen=True)
class NeoHookean(Material):
    """Compressible neo-Hookean: psi = mu/2 (tr(F^T F) - d) - mu log J + lambda/2 log^2 J."""

    youngs_modulus: float = 1.0e5
    poisson_ratio: float = 0.3
    model: ClassVar[str] = "neo_hookean"


@_register("fluid")
@dataclass(frozen=True)
class Fluid(Material):
    """Weakly compressible Newtonian fluid: p = K (1 - J), deviatoric stress 2 eta dev(D)."""

    bulk_modulus: float = 1.0e5
    viscosity: float = 0.0
    model: ClassVar[str] = "fluid"
    particle_type: ClassVar[int] = int(ParticleType.FLUID)

    def validate(self):
        check_range("Fluid.bulk_modulus", self.bulk_modulus, 0.0, None, low_open=True)
        check_range("Fluid.viscosity", self.viscosity, 0.0, None)

    def pack(self):
        return 3.0 * self.bulk_modulus, 0.0, (self.viscosity, 0.0, 0.0, 0.0)

    def wave_speed(self, density):
        # Bulk sound speed with a 1.5x margin: measured here, a splashing weakly compressible fluid
        # (no shear stiffness, clustering particles) blows up at dt = dx / (c + v) but not at 0.8 of it.
        return 1.5 * math.sqrt(self.bulk_modulus / density)

    def kinematic_viscosity(self, density):
        return self.viscosity / density


@_register("non_newtonian")
@dataclass(frozen=True)
class NonNewtonian(Material):
    """Herschel-Bulkley elasto-viscoplastic: flows once |dev tau| > sqrt(2/3) yield_stress, at
    plastic strain rate ((s - s_y) / consistency)^(1 / flow_index); flow_index 1 is Bingham."""

    youngs_modulus: float = 2.0e4
    poisson_ratio: float = 0.4
    yield_stress: float = 100.0
    consistency: float = 10.0
    flow_index: float = 1.0
    model: ClassVar[str] = "herschel_bulkley"
    particle_type: ClassVar[int] = int(ParticleType.NON_NEWTONIAN)

    def validate(self):
        _elastic_checks(self)
        check_range("NonNewtonian.yield_stress", self.yield_stress, 0.0, None)
        check_range("NonNewtonian.consistency", self.consistency, 0.0, None, low_open=True)
        check_range("NonNewtonian.flow_index", self.flow_index, 0.05, 5.0)

    def pack(self):
        return self.youngs_modulus, self.poisson_ratio, (self.yield_stress, self.consistency, self.flow_index, 0.0)


@_register("sand")
@dataclass(frozen=True)
class Sand(Material):
    """Cohesionless sand in Hencky strain, one of two rheologies (``rheology``):

    * ``"drucker_prager"`` (default): rate-independent Drucker-Prager return mapping (Klar et al. 2016);
      the cone reproduces the Mohr-Coulomb ``friction_angle`` (3D: through the compression meridian;
      2D: exactly, in plane strain). ``friction_angle`` defaults to 30 deg.
    * ``"mu_i"``: the mu(I) rheology (Jop, Forterre & Pouliquen, Nature 2006),
      ``mu(I) = mu_s + (mu_2 - mu_s) / (I_0 / I + 1)``, ``I = gdot d / sqrt(p / rho_s)``, with
      ``mu_s = tan(friction_angle)`` the static friction (the slope at which a layer stops flowing),
      ``mu_2`` the friction at high I, ``inertial_number_0`` = I_0, ``grain_diameter`` = d [m] and
      ``grain_density`` = rho_s [kg/m^3]; grains that separate (dilated beyond their packed density)
      carry no stress (Dunatunga & Kamrin, JFM 2015). Defaults: Jop et al.'s glass beads,
      friction_angle 20.9 deg (mu_s = 0.38), mu_2 = tan(32.76 deg) = 0.64, I_0 = 0.279, d = 0.5 mm,
      rho_s = 2450 kg/m^3. The bulk density is the body's ``density``.

    The mu(I) fields are ignored (and not written by `to_dict`) for Drucker-Prager.
    """

    youngs_modulus: float = 3.5e5
    poisson_ratio: float = 0.3
    friction_angle: float | None = None  # degrees; None: 30 (drucker_prager) or 20.9 (mu_i)
    rheology: str = "drucker_prager"
    mu_2: float = 0.64
    inertial_number_0: float = 0.279
    grain_diameter: float = 5.0e-4
    grain_density: float = 2450.0
    particle_type: ClassVar[int] = int(ParticleType.SAND)
    text_fields: ClassVar[tuple[str, ...]] = ("rheology",)
    RHEOLOGIES: ClassVar[dict] = {"drucker_prager": ("drucker_prager", 30.0), "mu_i": ("mu_i", 20.9)}
    MU_I_FIELDS: ClassVar[tuple[str, ...]] = ("mu_2", "inertial_number_0", "grain_diameter", "grain_density")

    def __post_init__(self):
        rheology = _normalize(self.rheology) if isinstance(self.rheology, str) else None
        if rheology not in self.RHEOLOGIES:
            raise InputError(f"Sand.rheology = {self.rheology!r} is not one of {list(self.RHEOLOGIES)}")
        object.__setattr__(self, "rheology", rheology)
        if self.friction_angle is None:
            object.__setattr__(self, "friction_angle", self.RHEOLOGIES[rheology][1])
        super().__post_init__()

    @property
    def model(self) -> str:
        return self.RHEOLOGIES[self.rheology][0]

    @property
    def mu_s(self) -> float:
        """Static friction coefficient tan(friction_angle) of the mu(I) rheology."""
        return math.tan(math.radians(self.friction_angle))

    def mu_of_i(self, inertial_number):
        """mu(I) = mu_s + (mu_2 - mu_s) / (I_0 / I + 1) (numbers or numpy arrays)."""
        return self.mu_s + (self.mu_2 - self.mu_s) * inertial_number / (self.inertial_number_0 + inertial_number)

    def validate(self):
        _elastic_checks(self)
        check_range("Sand.friction_angle", self.friction_angle, 0.0, 90.0, low_open=True, high_open=True)
        if self.rheology == "mu_i":
            mu_s = self.mu_s
            if not self.mu_2 >= mu_s:
                raise InputError(f"Sand.mu_2 = {self.mu_2!r} is outside the allowed range [{mu_s:g}, inf): mu_2 must "
                                 f"be at least mu_s = tan(friction_angle = {self.friction_angle:g} deg) = {mu_s:g}")
            check_range("Sand.inertial_number_0", self.inertial_number_0, 0.0, None, low_open=True)
            check_range("Sand.grain_diameter", self.grain_diameter, 0.0, None, low_open=True)
            check_range("Sand.grain_density", self.grain_density, 0.0, None, low_open=True)

    def pack(self):
        if self.rheology == "mu_i":
            return self.youngs_modulus, self.poisson_ratio, (
                self.friction_angle, self.mu_2, self.inertial_number_0,
                self.grain_diameter * math.sqrt(self.grain_density))
        return self.youngs_modulus, self.poisson_ratio, (self.friction_angle, 0.0, 0.0, 0.0)

    def to_dict(self) -> dict:
        out = super().to_dict()
        if self.rheology != "mu_i":
            for key in self.MU_I_FIELDS:
                out.pop(key)
        return out


@_register("plasticine")
@dataclass(frozen=True)
class Plasticine(Material):
    """Elastoplastic clay: von Mises yield on Hencky strain, |dev tau| <= sqrt(2/3) yield_stress."""

    youngs_modulus: float = 5.0e4
    poisson_ratio: float = 0.3
    yield_stress: float = 1.0e3
    model: ClassVar[str] = "von_mises"
    particle_type: ClassVar[int] = int(ParticleType.PLASTICINE)

    def validate(self):
        _elastic_checks(self)
        check_range("Plasticine.yield_stress", self.yield_stress, 0.0, None, low_open=True)

    def pack(self):
        return self.youngs_modulus, self.poisson_ratio, (self.yield_stress, 0.0, 0.0, 0.0)


@_register("snow")
@dataclass(frozen=True)
class Snow(Material):
    """Snow (Stomakhin et al. 2013): singular values clamped to [1 - theta_c, 1 + theta_s],
    elastic moduli hardened by exp(hardening (1 - J_p)), capped at max_hardening."""

    youngs_modulus: float = 1.4e5
    poisson_ratio: float = 0.2
    critical_compression: float = 2.5e-2
    critical_stretch: float = 7.5e-3
    hardening: float = 10.0
    max_hardening: float = 5.0
    model: ClassVar[str] = "snow"
    particle_type: ClassVar[int] = int(ParticleType.SNOW)

    def validate(self):
        _elastic_checks(self)
        check_range("Snow.critical_compression", self.critical_compression, 0.0, 1.0, low_open=True, high_open=True)
        check_range("Snow.critical_stretch", self.critical_stretch, 0.0, None, low_open=True)
        check_range("Snow.hardening", self.hardening, 0.0, None)
        check_range("Snow.max_hardening", self.max_hardening, 1.0, 100.0)

    def pack(self):
        return self.youngs_modulus, self.poisson_ratio, (
            self.critical_compression, self.critical_stretch, self.hardening, self.max_hardening)

    def wave_speed(self, density):
        return math.sqrt(self.max_hardening) * super().wave_speed(density)
