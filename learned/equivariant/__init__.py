"""E(3)-equivariant building blocks (e3nn): radial bases, periodic radius graphs, interaction layers."""
from learned.equivariant.graph import periodic_radius_graph
from learned.equivariant.layers import Interaction, gated_irreps
from learned.equivariant.radial import RadialEmbedding, polynomial_cutoff

__all__ = ["Interaction", "RadialEmbedding", "gated_irreps", "periodic_radius_graph", "polynomial_cutoff"]
