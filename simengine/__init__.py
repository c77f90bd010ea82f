"""simengine: physics simulators written as Warp kernels, and learned simulators in torch.

Public API (re-exported from private modules)::

    from simengine import Scene, materials, shapes, Trajectory
"""
__version__ = "0.1.0"

from simengine.errors import DatasetError, InputError, SimulationError  # noqa: F401
from simengine.io import Trajectory  # noqa: F401


def __getattr__(name):
    # Lazy imports keep `import simengine` cheap (no Warp/torch start-up for the CLI's --help).
    import importlib

    if name == "Scene":
        return importlib.import_module("simengine.mpm.scene").Scene
    if name in ("materials", "shapes", "nbody", "md", "io", "deformables", "fem"):
        return importlib.import_module(f"simengine.{name}")
    raise AttributeError(f"module 'simengine' has no attribute {name!r}")
