"""Graph builders: radius graphs (periodic-aware, optional k cap), mesh edges, particle subsets."""
from learned.graphs.mesh import cells_to_edges, remove_edges  # noqa: F401
from learned.graphs.radius import cap_neighbors, minimum_image, radius_graph  # noqa: F401
from learned.graphs.sampling import farthest_point_sampling, random_subsample  # noqa: F401
