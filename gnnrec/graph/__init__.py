"""Graph builders: the train-only user–item–category graph and its adjacency."""

from gnnrec.graph.build import RecGraph, build_graph, normalized_adjacency

__all__ = ["RecGraph", "build_graph", "normalized_adjacency"]
