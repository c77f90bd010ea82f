"""Post-Newtonian accelerations against closed forms and general relativity (no time integration)."""
import numpy as np
import pytest

from simengine import nbody
from tests.nbody import pn_reference as ref


def _cm_pair(m1, m2, x, v):
    M = m1 + m2
    return np.array([m2 / M * x, -m1 / M * x]), np.array([m2 / M * v, -m1 / M * v])


def _relative_pn(orders, m1, m2, x, v, c):
    X, V = _cm_pair(m1, m2, x, v)
    a = nbody.pn_accelerations([m1, m2], X, V, [1, 1], G=1.0, c=c, orders=orders)
    return a[0] - a[1]


@pytest.mark.parametrize("order", ["1", "2", "2.5"])
def test_each_order_matches_closed_form_relative_acceleration(order):
    """a_1 - a_2 of the implementation (1PN: N-body EIH per body) equals -(GM/r^2)[A n + B v]."""
    rng = np.random.default_rng(3)
    for m1, m2 in ((0.7, 0.3), (0.5, 0.5), (0.9, 0.1)):
        x, v = rng.normal(size=3), 0.5 * rng.normal(size=3)
        got = _relative_pn((order,), m1, m2, x, v, c=7.0)
        want = ref.relative_acceleration((order,), m1, m2, x, v, c=7.0)
        assert np.linalg.norm(got - want) <= 1e-13 * np.linalg.norm(want), (m1, m2)


def test_orders_add_up_and_switch_independently():
    x, v = np.array([1.0, 0.2, -0.1]), np.array([0.1, 0.8, 0.05])
    parts = [_relative_pn((o,), 0.6, 0.4, x, v, c=5.0) for o in nbody.PN_BITS]
    total = _relative_pn(tuple(nbody.PN_BITS), 0.6, 0.4, x, v, c=5.0)
    assert np.allclose(total, np.sum(parts, axis=0), rtol=1e-13, atol=0)
    assert all(np.linalg.norm(p) > 0 for p in parts)
    # Higher orders are successively smaller for v/c ~ 0.15.
    mags = [np.linalg.norm(p) for p in parts]
    assert mags[0] > mags[1] > mags[3] and mags[2] > mags[4]


def test_test_mass_limit_matches_schwarzschild_geodesic_through_3pn():
    """nu -> 0: 1PN + 2PN + 3PN reproduce the harmonic-coordinate geodesic up to O(c^-8)."""
    x = np.array([1.0, 0.3, -0.2])
    r = np.linalg.norm(x)
    residuals = {}
    for u in (2e-3, 1e-3):
        c = 1.0 / np.sqrt(u * r)  # G M / (r c^2) = u
        v = np.sqrt(u * r) * c * np.array([0.3, 0.9, 0.25])  # |v| ~ circular speed, generic direction
        a_geo = ref.geodesic_acceleration(x, v, 1.0, c)
        a_newton = -x / r ** 3
        res = []
        for orders in (("1",), ("1", "2"), ("1", "2", "3")):
            a = _relative_pn(orders, 1e-13, 1.0, x, v, c)
            res.append(np.linalg.norm(a_geo - a_newton - a) / np.linalg.norm(a_newton))
        residuals[u] = res
    for k, power in enumerate((2, 3, 4)):  # truncation after order k+1 leaves O(u^(k+2))
        ratio = residuals[2e-3][k] / residuals[1e-3][k]
        assert abs(np.log2(ratio) - power) < 0.15, (k, ratio)
    assert residuals[1e-3][2] < 0.05 * residuals[1e-3][1] < 0.05 * 0.05 * residuals[1e-3][0]


@pytest.mark.parametrize("nu_pair", [(0.5, 0.5), (0.8, 0.2)])
def test_circular_orbit_frequency_matches_3pn_harmonic(nu_pair):
    """A circular orbit's Omega^2(r) implied by the 1..3PN terms equals Blanchet (2014) eq. 228."""
    m1, m2 = nu_pair
    nu = m1 * m2
    x = np.array([1.0, 0.0, 0.0])
    res = []
    for g in (4e-3, 2e-3):
        c = 1.0 / np.sqrt(g)
        om2 = 1.0
        for _ in range(60):  # fixed point of Omega^2 r = -a_r(v = Omega r)
            v = np.array([0.0, np.sqrt(om2), 0.0])
            a = -x + _relative_pn(("1", "2", "3"), m1, m2, x, v, c)
            om2 = -a[0]
        res.append(abs(om2 - ref.circular_omega2(1.0, 1.0, nu, c)))
    assert res[1] < 0.2 * 2e-3 ** 3  # far below the 3PN term itself (~10 g^3)
    assert abs(np.log2(res[0] / res[1]) - 4) < 0.3  # residual O(g^4): the 3PN coefficients are right


def test_radiation_reaction_balances_1pn_flux_on_circular_orbits():
    """Work of the 2.5PN + 3.5PN forces on the 1PN energy = -(1PN flux) + O(c^-4) for circular orbits."""
    for nu_pair in ((0.5, 0.5), (0.9, 0.1)):
        m1, m2 = nu_pair
        nu = m1 * m2
        res = []
        for g in (4e-3, 2e-3):
            c = 1.0 / np.sqrt(g)
            v2 = 1.0 + (nu - 3) * g  # 1PN circular orbit at r = 1, G M = 1
            x, v = np.array([1.0, 0.0, 0.0]), np.array([0.0, np.sqrt(v2), 0.0])
            a_rr = _relative_pn(("2.5", "3.5"), m1, m2, x, v, c)
            dEdv = nu * v * (1 + (1.5 * (1 - 3 * nu) * v2 + (3 + nu)) / c ** 2)  # d E_1PN / d v
            dE = dEdv @ a_rr
            xpn = v2 ** (1 / 3) / c ** 2  # (G M Omega / c^3)^(2/3) with r = 1
            flux = ref.circular_flux_1pn(xpn, nu, c)
            res.append(abs(dE + flux) / flux)
        assert res[1] < 1e-3 and abs(np.log2(res[0] / res[1]) - 2) < 0.2, res


def test_eih_three_body_cross_terms_are_present():
    """With three black holes the 1PN acceleration of one depends on the other pair (cross terms)."""
    m = [1.0, 0.5, 0.3]
    x = np.array([[0.0, 0, 0], [1.0, 0, 0], [0.0, 2.0, 0]])
    v = np.array([[0.0, 0, 0], [0.0, 0.7, 0], [-0.5, 0, 0]])
    a3 = nbody.pn_accelerations(m, x, v, [1, 1, 1], c=10.0, orders=("1",))
    a2 = nbody.pn_accelerations(m[:2], x[:2], v[:2], [1, 1], c=10.0, orders=("1",))
    a_pair = a3[0] - a2[0]  # body 0's 1PN acceleration minus that of the isolated pair 0-1 ...
    a02 = nbody.pn_accelerations([m[0], m[2]], x[[0, 2]], v[[0, 2]], [1, 1], c=10.0, orders=("1",))[0]
    assert np.linalg.norm(a_pair - a02) > 1e-6  # ... is not just the 0-2 pair term: three-body terms
