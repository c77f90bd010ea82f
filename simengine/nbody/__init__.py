"""N-body dynamics of stars and supermassive black holes (KETJU-style regularized regions).

Public API::

    from simengine import nbody
    sim = nbody.Simulation(G=1.0, c=1.0, softening=1e-3, region_radius=3e-3,
                           pn_orders=("1", "2", "2.5", "3", "3.5", "1.5so"), tolerance=1e-10, device="cpu")
    sim.add_particles(mass, position, velocity, kind="star")
    sim.add_particles(mass_bh, pos_bh, vel_bh, kind="smbh", spin=chi_bh)   # chi: (N, 3), |chi| <= 1
    sim.integrate(t_end)
    sim.energy(); sim.binary_elements(i, j)
"""
from simengine.nbody import units  # noqa: F401
from simengine.nbody._ics import hernquist_sphere, merging_galaxies, plummer_sphere, smbh_binary_in_cusp  # noqa: F401
from simengine.nbody._orbits import (  # noqa: F401
    ELEMENT_COLUMNS,
    circular_merger_time,
    elements,
    kepler_state,
    periastron_advance,
    peters_mathews_rates,
)
from simengine.nbody._pn import PN_BITS, SPIN_BITS, pn_accelerations  # noqa: F401
from simengine.nbody._scene import SimulationScene  # noqa: F401
from simengine.nbody._simulation import Simulation  # noqa: F401
from simengine.nbody._spin import pn_spin_rates  # noqa: F401
