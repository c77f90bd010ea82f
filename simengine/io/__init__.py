"""Trajectory format: HDF5 in the LagrangeBench layout (see `simengine.io.trajectory`)."""
from simengine.io.trajectory import OPTIONAL_KEYS, Trajectory, atomic_path, read_group, write_group  # noqa: F401
from simengine.io.types import KINEMATIC_TYPES, ParticleType  # noqa: F401
