"""recsys_hash: how IDs and behaviour sequences become embedding rows, as TorchRec plug-ins.

Layers (lower never import upper): data -> graph -> ids -> integrations (TorchRec) -> eval (metrics, ranking)
-> models (retrieval models and their trainer) -> audit -> commands -> cli.
"""
__version__ = "0.1.0"
