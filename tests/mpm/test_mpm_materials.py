"""Material parameter validation and the name registry (no simulation)."""
import math

import pytest

from simengine import InputError, materials
from simengine.io.types import ParticleType


def test_registry_builds_every_material_by_name():
    assert set(materials.available()) == {"elastic", "neo_hookean", "fluid", "non_newtonian", "sand", "plasticine",
                                          "snow"}
    for name in materials.available():
        m = materials.get(name)
        E, nu, params = m.pack()
        assert E > 0 and -1 < nu < 0.5 and len(params) == 4
        assert m.to_dict()["name"] == name


def test_unknown_material_names_the_allowed_ones():
    with pytest.raises(InputError, match=r"material = 'jelly' is not known; allowed: \['elastic'"):
        materials.get("jelly")
    with pytest.raises(InputError, match="friction_angle"):
        materials.get("sand", friction=30.0)


@pytest.mark.parametrize("make, field", [
    (lambda: materials.Elastic(poisson_ratio=0.5),
     r"Elastic.poisson_ratio = 0.5 is outside the allowed range \(-1, 0.5\)"),
    (lambda: materials.NeoHookean(poisson_ratio=-1.0), r"poisson_ratio = -1.0 is outside"),
    (lambda: materials.Elastic(youngs_modulus=-5.0), r"youngs_modulus = -5.0 is outside the allowed range \(0, inf\)"),
    (lambda: materials.Sand(friction_angle=90.0), r"Sand.friction_angle = 90.0 is outside the allowed range \(0, 90\)"),
    (lambda: materials.Sand(friction_angle=0.0), r"friction_angle = 0.0"),
    (lambda: materials.Fluid(bulk_modulus=0.0), r"Fluid.bulk_modulus = 0.0"),
    (lambda: materials.Fluid(viscosity=-1.0), r"Fluid.viscosity = -1.0"),
    (lambda: materials.Snow(critical_compression=1.0), r"Snow.critical_compression = 1.0"),
    (lambda: materials.Plasticine(yield_stress=0.0), r"Plasticine.yield_stress = 0.0"),
    (lambda: materials.NonNewtonian(flow_index=0.0), r"NonNewtonian.flow_index = 0.0"),
    (lambda: materials.Elastic(youngs_modulus=float("nan")), r"youngs_modulus = nan must be a finite number"),
    (lambda: materials.Elastic(youngs_modulus="soft"), r"youngs_modulus = 'soft' must be a finite number"),
])
def test_out_of_range_parameters_raise_naming_field_value_and_range(make, field):
    with pytest.raises(InputError, match=field):
        make()


def test_wave_speeds_and_particle_types_follow_the_physics():
    rho = 1000.0
    E, nu = 1e5, 0.25
    mu, lam = E / (2 * (1 + nu)), E * nu / ((1 + nu) * (1 - 2 * nu))
    assert materials.Elastic(E, nu).wave_speed(rho) == pytest.approx(math.sqrt((lam + 2 * mu) / rho))
    # fluids: bulk sound speed sqrt(K / rho) (with the documented 1.5x safety margin); K recovered from (E, nu)
    fluid = materials.Fluid(bulk_modulus=2e5, viscosity=1e-3)
    E_f, nu_f, params = fluid.pack()
    assert E_f / (3 * (1 - 2 * nu_f)) == pytest.approx(2e5) and params[0] == 1e-3
    assert fluid.wave_speed(rho) == pytest.approx(1.5 * math.sqrt(2e5 / rho))
    assert materials.Fluid().particle_type == ParticleType.FLUID
    assert materials.Sand().particle_type == ParticleType.SAND
    assert materials.Snow().particle_type == ParticleType.SNOW
    assert materials.Plasticine().particle_type == ParticleType.PLASTICINE
    assert materials.NonNewtonian().particle_type == ParticleType.NON_NEWTONIAN
    assert materials.NeoHookean().particle_type == ParticleType.ELASTIC
