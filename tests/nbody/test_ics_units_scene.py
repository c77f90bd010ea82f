"""Initial conditions against their analytic profiles, astrophysical units, and the scene protocol."""
import importlib.util
import os

import numpy as np
import pytest

from simengine import Trajectory, nbody

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def virial_ratio(m, x, v, central_mass=0.0):
    """2T / |W| with W the exact (unsoftened) potential energy including a central point mass."""
    T = 0.5 * (m * (v ** 2).sum(1)).sum()
    d = np.sqrt(((x[:, None] - x[None]) ** 2).sum(-1))
    iu = np.triu_indices(len(m), 1)
    W = -(m[iu[0]] * m[iu[1]] / d[iu]).sum() - central_mass * (m / np.linalg.norm(x, axis=1)).sum()
    return 2 * T / abs(W)


def test_plummer_sphere_mass_profile_and_equilibrium():
    m, x, v = nbody.plummer_sphere(3000, rng=0)["star"]
    r = np.linalg.norm(x, axis=1)
    # M(<r) = r^3 / (1 + r^2)^(3/2): the half-mass radius is 1.305 a
    assert np.median(r) == pytest.approx(1.305, rel=0.05)
    assert virial_ratio(m, x, v) == pytest.approx(1.0, abs=0.06)


@pytest.mark.parametrize("central", [0.0, 0.05])
def test_hernquist_sphere_with_central_mass_is_in_equilibrium(central):
    m, x, v = nbody.hernquist_sphere(3000, rng=1, central_mass=central)["star"]
    r = np.linalg.norm(x, axis=1)
    # M(<r) = r^2/(r+a)^2, sampled out to 100 a: the median is where M(<r) = M(<100)/2
    s = np.sqrt(0.5) * 100 / 101
    assert np.median(r) == pytest.approx(s / (1 - s), rel=0.1)  # sampling noise ~3%
    assert virial_ratio(m, x, v, central) == pytest.approx(1.0, abs=0.06)
    inner = r < 0.1
    # near a point mass the isotropic dispersion approaches G M_bh / (4 r) for a r^-1 cusp
    if central:
        s2 = (v[inner] ** 2).sum(1).mean() / 3
        s2_no_bh = (nbody.hernquist_sphere(3000, rng=1)["star"][2][inner] ** 2).sum(1).mean() / 3
        assert s2 > 1.5 * s2_no_bh


def test_smbh_binary_in_cusp_and_merging_galaxies_layout():
    ics = nbody.smbh_binary_in_cusp(n_stars=200, bh_masses=(0.01, 0.02), binary_a=0.05, binary_e=0.4, rng=3)
    mb, xb, vb = ics["smbh"]
    el = nbody.elements(xb[0] - xb[1], vb[0] - vb[1], *mb)
    assert el["a"] == pytest.approx(0.05) and el["e"] == pytest.approx(0.4)
    all_m = np.concatenate([ics["star"][0], mb])
    all_x = np.vstack([ics["star"][1], xb])
    assert np.allclose((all_m[:, None] * all_x).sum(0), 0, atol=1e-12)
    gal = nbody.merging_galaxies(n_per_galaxy=100, separation=8.0, rng=4)
    assert len(gal["smbh"][0]) == 2 and len(gal["star"][0]) == 200
    assert np.linalg.norm(gal["smbh"][1][0] - gal["smbh"][1][1]) == pytest.approx(8.0)


def test_astrophysical_units():
    u = nbody.units.GALACTIC
    assert u.G == pytest.approx(4.4985e-12, rel=1e-4)           # kpc^3 / (Msun Myr^2)
    assert u.c == pytest.approx(306.601, rel=1e-5)               # kpc / Myr
    assert u.convert(1.0, "km/s") == pytest.approx(1.02271e-3, rel=1e-5)  # kpc / Myr
    assert nbody.units.UnitSystem("kpc", "Msun", "Myr").to(u.convert(200.0, "km/s"), "km/s") == pytest.approx(200.0)
    # Schwarzschild radius of 1e8 Msun = 2.95e8 km
    assert nbody.units.UnitSystem("km", "Msun", "s").schwarzschild_radius(1e8) == pytest.approx(2.953e8, rel=1e-3)
    with pytest.raises(Exception, match="length unit = 'lightyear'"):
        nbody.units.UnitSystem("lightyear")


def test_scene_script_protocol_writes_binary_elements():
    spec = importlib.util.spec_from_file_location("smbh_scene", os.path.join(ROOT, "scenes", "smbh_binary_cusp.py"))
    scene_mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(scene_mod)
    assert {"duration", "frames"} <= set(scene_mod.RUN)
    scene_mod.N_STARS = 100  # a small smoke run of the real scene
    traj = scene_mod.make_scene(np.random.default_rng(0)).run(duration=0.02, frames=3, progress=False)
    assert isinstance(traj, Trajectory) and traj.position.shape == (3, 102, 3)
    assert (traj.particle_type[-2:] == 10).all() and (traj.particle_type[:-2] == 9).all()
    cols = traj.metadata["orbital_elements_columns"]
    el = traj.orbital_elements
    assert el.shape == (3, len(cols)) and (el[:, cols.index("a")] > 0).all()
    assert np.allclose(traj.time, [0.0, 0.01, 0.02])
    assert traj.velocity.shape == traj.position.shape and traj.mass.shape == (102,)
