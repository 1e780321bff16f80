"""Compression audit: for strategies x budgets, memory, collisions and quality side by side (`recsys-hash audit`)."""
from recsys_hash.audit.memory import DTYPE_BYTES, mapping_bytes, table_bytes
from recsys_hash.audit.runner import AuditConfig, AuditResult, run_audit

__all__ = ["AuditConfig", "AuditResult", "run_audit", "table_bytes", "mapping_bytes", "DTYPE_BYTES"]
