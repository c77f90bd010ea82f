"""Graph builders: radius graphs (periodic-aware, optional k cap), mesh edges, particle subsets; PyTorch
Geometric interop (`to_pyg`, `from_pyg`, `PygWindowDataset`; torch_geometric is imported on first use only)."""
from learned.graphs.mesh import cells_to_edges, remove_edges  # noqa: F401
from learned.graphs.radius import cap_neighbors, minimum_image, radius_graph  # noqa: F401
from learned.graphs.sampling import farthest_point_sampling, random_subsample  # noqa: F401

_PYG_NAMES = ("PygWindowDataset", "WindowData", "window_data")


def to_pyg(batch: dict, **options):
    """A simengine window or batch as a `torch_geometric.data.Batch` (`learned.graphs.pyg.to_pyg`)."""
    from learned.graphs.pyg import to_pyg as convert

    return convert(batch, **options)


def from_pyg(data) -> dict:
    """A torch_geometric `Batch`/`Data` in simengine's batch layout (`learned.graphs.pyg.from_pyg`)."""
    from learned.graphs.pyg import from_pyg as convert

    return convert(data)


def __getattr__(name: str):
    if name in _PYG_NAMES:  # imports torch_geometric (seconds): only when asked for
        from learned.graphs import pyg

        return getattr(pyg, name)
    raise AttributeError(f"module 'learned.graphs' has no attribute {name!r}")
