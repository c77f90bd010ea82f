"""E(3)-equivariant building blocks (e3nn): radial bases, periodic radius graphs, interaction layers."""
from learned.equivariant.graph import periodic_radius_graph  # noqa: F401
from learned.equivariant.layers import Interaction, gated_irreps  # noqa: F401
from learned.equivariant.radial import RadialEmbedding, polynomial_cutoff  # noqa: F401
