"""Each material runs stably and behaves as its physics says: a slump test (block released at rest on
the floor) and a drop test (block thrown at the floor at 3 m/s), 2D, 32^2 grid."""
import numpy as np
import pytest

from simengine import Scene, materials


def run(lattice_fn, material, velocity=(0.0, 0.0), bottom=None, duration=0.4):
    scene = Scene(dim=2, domain=(1.0, 1.0), grid_res=32, threads=1)
    bottom = 3 * scene.dx if bottom is None else bottom  # resting on the floor's wall layer
    x = lattice_fn([0.4, bottom], [0.6, bottom + 0.2], scene.dx / 2)
    scene.add_particles(x, material, density=1000.0, velocity=velocity, volume=(scene.dx / 2) ** 2)
    traj = scene.run(duration=duration, record_every=5, progress=False)
    assert np.all(np.isfinite(traj.position)) and np.all(np.isfinite(traj.velocity))
    extent = traj.position.max(axis=1) - traj.position.min(axis=1)  # (T, 2): width, height
    return traj, extent[:, 0], extent[:, 1]


def centre_height(traj):
    return traj.position[:, :, 1].mean(axis=1) - 3 * 1 / 32


@pytest.mark.parametrize("material, spreads", [
    (materials.Fluid(bulk_modulus=3e4, viscosity=1.0), True),
    (materials.NonNewtonian(yield_stress=10.0), True),  # below rho g H = 2 kPa: flows
    (materials.NonNewtonian(yield_stress=5e3), False),  # above it: a Bingham plug stands
    (materials.Elastic(youngs_modulus=3e4), False),
    (materials.Sand(youngs_modulus=3e4), True),  # a square column of sand slumps
])
def test_slump(lattice_fn, material, spreads):
    traj, width, height = run(lattice_fn, material)
    z = centre_height(traj)
    if spreads:  # (a sloshing fluid may climb the walls, so look at the centre of mass)
        assert width[-1] > 2 * width[0] and z[-1] < 0.5 * z[0]  # measured: 4.6x wider, z below 0.3 z0
    else:  # settles elastically (a few percent), keeps its shape
        assert width[-1] < 1.1 * width[0] and height[-1] > 0.95 * height[0] and z[-1] > 0.85 * z[0]


def test_drop_elastic_rebounds_plasticine_and_snow_keep_their_deformation(lattice_fn):
    drop = dict(velocity=(0.0, -3.0), bottom=0.3, duration=0.6)
    elastic, w_e, h_e = run(lattice_fn, materials.Elastic(youngs_modulus=3e4), **drop)
    assert elastic.velocity[:, :, 1].mean(axis=1).max() > 1.0  # bounces back up
    assert abs(h_e[-1] / h_e[0] - 1) < 0.1 and abs(w_e[-1] / w_e[0] - 1) < 0.1  # shape recovered
    clay, w_p, h_p = run(lattice_fn, materials.Plasticine(youngs_modulus=3e4, yield_stress=2e3), **drop)
    assert h_p[-1] < 0.7 * h_p[0] and w_p[-1] > 1.5 * w_p[0]  # flattened for good ...
    assert (clay.velocity[-1] ** 2).sum(axis=1).mean() < 0.05  # ... and at rest
    assert clay.velocity[:, :, 1].mean(axis=1).max() < 0.5  # no rebound
    snow, w_s, h_s = run(lattice_fn, materials.Snow(youngs_modulus=3e4), **drop)
    assert h_s[-1] < 0.6 * h_s[0]  # compacted (plastic volume loss), not bounced
    assert snow.velocity[:, :, 1].mean(axis=1)[1:].max() < 0.5
