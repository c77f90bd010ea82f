"""Bad input and blow-ups give clear errors naming the field, the value and the allowed range."""
import numpy as np
import pytest

from simengine import InputError, SimulationError, md

LJ = md.LennardJones(sigma=3.4, epsilon=0.0104, cutoff=8.5)


def _crystal(a=5.26, n=4):
    x, cell = md.fcc_lattice(a, (n, n, n))
    return x, ["Ar"] * len(x), cell


def test_cutoff_larger_than_half_the_box():
    x, symbols, cell = _crystal(n=3)                     # 15.8 Å box, half 7.9 Å
    with pytest.raises(InputError, match=r"cutoff = 8.5 Å is outside the allowed range \(0, 7.89\]"):
        md.Simulation(x, symbols, cell, potential=LJ, timestep_fs=2.0)


def test_triclinic_cutoff_uses_perpendicular_width():
    x, symbols, cell = _crystal()
    cell = cell.copy()
    cell[1, 0] = 18.0             # sheared: edges stay 21 Å but the width across a drops to 16 Å
    with pytest.raises(InputError, match="half the smallest box width"):
        md.Simulation(x, symbols, cell, potential=LJ, timestep_fs=2.0)


def test_overlapping_atoms():
    x, symbols, cell = _crystal()
    x[5] = x[9] + [0.1, 0.0, 0.0]
    with pytest.raises(InputError, match=r"atoms (5 and 9|9 and 5) overlap: distance = 0.1 Å"):
        md.Simulation(x, symbols, cell, potential=LJ, timestep_fs=2.0)


def test_unknown_species():
    x, symbols, cell = _crystal()
    with pytest.raises(InputError, match="species = 'Qx' is not a known chemical symbol"):
        md.Simulation(x, ["Qx"] * len(x), cell, potential=LJ, timestep_fs=2.0)
    symbols[3] = "Kr"
    pot = md.LennardJones(sigma={"Ar": 3.4}, epsilon=0.0104, cutoff=8.5)
    with pytest.raises(InputError, match=r"species = 'Kr' has no sigma in LennardJones \(given for \['Ar'\]\)"):
        md.Simulation(x, symbols, cell, potential=pot, timestep_fs=2.0)


def test_missing_cell_for_periodic_system():
    x, symbols, _ = _crystal()
    with pytest.raises(InputError, match="cell = None but pbc = True"):
        md.Simulation(x, symbols, None, potential=LJ, timestep_fs=2.0)


def test_forecast_interval_not_a_multiple_of_the_timestep():
    assert md.forecast_stride(20.0, 2.0) == 10
    with pytest.raises(InputError, match="forecast_fs = 21 fs is not a multiple of the MD timestep 2 fs"):
        md.forecast_stride(21.0, 2.0)


def test_bad_names_and_ranges():
    x, symbols, cell = _crystal()
    with pytest.raises(InputError, match="ensemble = 'npt' is not one of"):
        md.Simulation(x, symbols, cell, potential=LJ, timestep_fs=2.0, ensemble="npt")
    with pytest.raises(InputError, match=r"temperature = None is outside the allowed range"):
        md.Simulation(x, symbols, cell, potential=LJ, timestep_fs=2.0, ensemble="nvt")
    with pytest.raises(InputError, match=r"timestep_fs = -1 is outside the allowed range \(0, 20\]"):
        md.Simulation(x, symbols, cell, potential=LJ, timestep_fs=-1)
    with pytest.raises(InputError, match="dtype = 'float16'"):
        md.Simulation(x, symbols, cell, potential=LJ, timestep_fs=2.0, dtype="float16")


def test_blow_up_stops_with_step_time_and_atom():
    x, symbols, cell = _crystal()
    v = np.zeros_like(x)
    v[17] = [3.0, 0.0, 0.0]                              # 3 Å/fs: ~10⁷ K for one argon atom
    sim = md.Simulation(x, symbols, cell, potential=LJ, timestep_fs=2.0, velocities=v, check_every=10)
    with pytest.raises(SimulationError, match=r"MD blew up at step 10 \(t = 20 fs\).*fastest atom \d+"):
        sim.run(100)


def test_negative_or_non_numeric_potential_parameters_are_refused():
    with pytest.raises(InputError, match=r"LennardJones sigma = -3.4 is outside the allowed range \(0, inf\)"):
        md.LennardJones(sigma=-3.4, epsilon=0.0104, cutoff=8.5)
    with pytest.raises(InputError, match=r"Morse alpha\['Cu'\] = 0.0 is outside the allowed range \(0, inf\)"):
        md.Morse(D=0.34, alpha={"Cu": 0.0}, r0=2.87, cutoff=6.0)
    with pytest.raises(InputError, match=r"Buckingham A = 'big' is not a number"):
        md.Buckingham(A="big", rho=0.3, C=1.0, cutoff=6.0)


def test_a_blow_up_is_reported_at_the_step_it_happens():
    """Two atoms too close fly apart, heating up over a few steps: the error names the first step whose state is
    too hot, found by checking after every step (not every check interval)."""
    x = np.array([[0.0, 0.0, 0.0], [2.5, 0.0, 0.0], [8.0, 0.0, 0.0]])

    def system(max_temperature, check_every=1):
        return md.Simulation(x, ["Ar"] * 3, cell=None, pbc=False, potential=md.LennardJones(3.4, 0.0104, 8.0),
                             timestep_fs=1.0, min_distance=0.5, max_temperature=max_temperature,
                             check_every=check_every)

    probe, temperatures = system(1e30, check_every=0), []
    for _ in range(30):  # the reference: temperature after each step, checks off
        probe.run(1)
        temperatures.append(probe.temperature())
    first_hot = 1 + next(i for i, t in enumerate(temperatures) if t > 2000.0)
    assert 5 < first_hot < 20
    sim = system(2000.0)
    with pytest.raises(SimulationError,
                       match=rf"at step {first_hot} \(t = {first_hot:g} fs\).*exceeds max_temperature"):
        sim.run(100, record_every=50)
