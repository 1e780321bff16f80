"""The user-item graph: CSR biadjacency (in memory or streamed from a file), Barber-modularity clustering, exact row
budgets, incremental updates."""
from recsys_hash.graph.biadjacency import build_biadjacency, degrees
from recsys_hash.graph.budget import resolve_budget, search_resolution, side_rows
from recsys_hash.graph.clustering import BACKENDS, GraphClustering, cluster_bipartite
from recsys_hash.graph.incremental import majority_vote, match_rows
from recsys_hash.graph.modularity import barber_modularity, modularity_parts
from recsys_hash.graph.stream import FileGraph, graph_from_file

__all__ = [
    "BACKENDS", "FileGraph", "GraphClustering", "barber_modularity", "build_biadjacency", "cluster_bipartite",
    "degrees", "graph_from_file", "majority_vote", "match_rows", "modularity_parts", "resolve_budget",
    "search_resolution", "side_rows",
]
