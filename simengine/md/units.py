"""Metal units (LAMMPS ``units metal``): length Å, energy eV, time fs, mass amu, temperature K.

Velocities are in Å/fs.  Constants are CODATA 2018 (ASE defaults to CODATA 2014; the two differ by
~1e-8 relative, far below what an MD comparison can see).
"""
ELEMENTARY_CHARGE = 1.602176634e-19      # J per eV (exact)
ATOMIC_MASS = 1.66053906660e-27          # kg per amu
BOLTZMANN = 8.617333262e-5               # eV / K

#: acceleration in Å/fs² of a force of 1 eV/Å on 1 amu: 1e-10 · e / amu
ACCEL_PER_FORCE = 1.0e-10 * ELEMENTARY_CHARGE / ATOMIC_MASS
#: ASE's time unit Å·√(amu/eV) expressed in fs (ase.units.fs is its inverse)
ASE_TIME_FS = 1.0 / ACCEL_PER_FORCE ** 0.5

# Symbol -> (atomic number, standard atomic mass in amu) for the elements the scenes use; others come
# from ASE when it is installed.
_ELEMENTS = {
    "H": (1, 1.008), "He": (2, 4.0026), "Li": (3, 6.94), "C": (6, 12.011), "N": (7, 14.007),
    "O": (8, 15.999), "F": (9, 18.998), "Ne": (10, 20.180), "Na": (11, 22.990), "Mg": (12, 24.305),
    "Al": (13, 26.982), "Si": (14, 28.085), "P": (15, 30.974), "S": (16, 32.06), "Cl": (17, 35.45),
    "Ar": (18, 39.948), "K": (19, 39.098), "Ca": (20, 40.078), "Fe": (26, 55.845), "Ni": (28, 58.693),
    "Cu": (29, 63.546), "Kr": (36, 83.798), "Ag": (47, 107.87), "Xe": (54, 131.29), "Pt": (78, 195.08),
    "Au": (79, 196.97),
}


def element(symbol: str):
    """(atomic number, mass in amu) of a chemical symbol; `InputError` for an unknown one."""
    from simengine.errors import InputError

    if symbol in _ELEMENTS:
        return _ELEMENTS[symbol]
    try:
        from ase.data import atomic_masses, atomic_numbers
    except ImportError:
        atomic_numbers = {}
    if symbol in atomic_numbers:
        z = atomic_numbers[symbol]
        return z, float(atomic_masses[z])
    raise InputError(f"species = {symbol!r} is not a known chemical symbol (e.g. 'Ar', 'Cu', 'O', 'H')")


def symbol_of(atomic_number: int) -> str:
    """Chemical symbol of an atomic number (the inverse of `element`)."""
    from simengine.errors import InputError

    for symbol, (z, _) in _ELEMENTS.items():
        if z == atomic_number:
            return symbol
    try:
        from ase.data import chemical_symbols
        if 0 < atomic_number < len(chemical_symbols):
            return chemical_symbols[atomic_number]
    except ImportError:
        pass
    raise InputError(f"species = {atomic_number!r} is not a known atomic number")
