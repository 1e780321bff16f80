"""Entity blocking: record serialisation, blocking metrics, baselines (TF-IDF, MinHashLSH, sorted neighbourhood,
MiniLM), NLSH encoders trained with the NLSH loss, SimHash / exact kNN indexes, and the consolidation map."""
from recsys_hash.blocking.metrics import BlockingMetrics, blocking_metrics, smallest_k
from recsys_hash.blocking.serialize import serialize_records

__all__ = ["BlockingMetrics", "blocking_metrics", "serialize_records", "smallest_k"]
