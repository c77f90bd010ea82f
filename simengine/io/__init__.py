"""Trajectory format: HDF5 in the LagrangeBench layout (see `simengine.io.trajectory`), and datasets
(folders of train/valid/test.h5 + metadata.json, see `simengine.io.dataset`)."""
from simengine.io.dataset import Dataset, compute_statistics, load_dataset, load_split, split_path, write_dataset  # noqa: F401
from simengine.io.metadata import SPLITS, read_metadata, write_metadata  # noqa: F401
from simengine.io.trajectory import OPTIONAL_KEYS, Trajectory, atomic_path, read_group, write_group  # noqa: F401
from simengine.io.types import KINEMATIC_TYPES, ParticleType  # noqa: F401
from simengine.io.validate import DatasetReport, validate_dataset  # noqa: F401
