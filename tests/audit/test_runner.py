"""run_audit's accounting: serving bytes (parameters + mapping) against the full reference's, on hand-counted tables."""
import numpy as np
import pytest

from recsys_hash.audit import AuditConfig, run_audit
from recsys_hash.ids import create

RULE = 32   # one hash rule: 4 int64


class CountingEvaluator:
    """The evaluator interface on a 60-user x 40-item vocabulary; quality is a fixed number per strategy."""

    name, task, metrics, primary = "toy", "retrieval", ("recall@20",), "recall@20"
    quality = {"full": 0.3, "modulo": 0.1, "frequency": 0.2}

    def vocab(self):
        return {"user": 60, "item": 40}

    def fit_tables(self, strategy, budget, seed):
        if strategy == "full":
            return {s: create("full").fit(np.arange(n)) for s, n in self.vocab().items()}
        return {s: create(strategy, num_rows=int(budget * n), seed=seed).fit(np.arange(n))
                for s, n in self.vocab().items()}

    def side_counts(self, side):
        n = self.vocab()[side]
        return np.arange(n), np.ones(n, dtype=np.int64)

    def evaluate(self, tables, dim, seed):
        return {"recall@20": self.quality[next(iter(tables.values())).name], "train_s": 0.0}

    def floor(self):
        return None


FULL_PARAMS = (60 + 40) * 8 * 4                     # dim 8, float32
FULL_MAPPING = (60 + 40) * 16 + 2 * RULE           # keys + rows (int64) of every ID, one rule per side
FULL_SERVING = FULL_PARAMS + FULL_MAPPING


def test_compression_counts_parameters_and_mapping():
    result = run_audit(CountingEvaluator(), AuditConfig(strategies=["modulo", "frequency"], budgets=[0.5], dim=8))
    full, modulo, frequency = result.rows
    assert (full["param_bytes"], full["mapping_bytes"], full["serving_bytes"]) == (3200, 1664, 4864)
    assert full["compression_ratio"] == 1.0 and full["reduction"] == 0.0
    assert (modulo["param_bytes"], modulo["mapping_bytes"], modulo["serving_bytes"]) == (1600, 2 * RULE, 1664)
    # frequency keeps its floor(rows / 2) frequent keys: 15 users + 10 items, keys + rows int64
    assert (frequency["mapping_bytes"], frequency["serving_bytes"]) == (25 * 16 + 2 * RULE, 1600 + 464)
    for row in (modulo, frequency):
        assert row["full_serving_bytes"] == FULL_SERVING and row["full_param_bytes"] == FULL_PARAMS
        assert row["compression_ratio"] == pytest.approx(FULL_SERVING / row["serving_bytes"])
        assert row["reduction"] == pytest.approx(1 - row["serving_bytes"] / FULL_SERVING)
        assert row["param_compression_ratio"] == pytest.approx(2.0)


def test_reference_is_the_full_mapping_even_without_its_row():
    result = run_audit(CountingEvaluator(), AuditConfig(strategies=["modulo"], budgets=[0.25], dim=8,
                                                        include_full=False))
    (modulo,) = result.rows
    assert modulo["serving_bytes"] == (15 + 10) * 32 + 2 * RULE
    assert modulo["compression_ratio"] == pytest.approx(FULL_SERVING / modulo["serving_bytes"])


def test_default_strategies_all_fit_at_the_demo_budgets():
    """The demo audits every default strategy at 25% and 10%: each must fit there (`dedup` without duplicate pairs
    is `full`, which takes no budget, so it is left out of the default list)."""
    from recsys_hash.audit.evaluators import make_evaluator
    from recsys_hash.audit.runner import default_strategies
    from recsys_hash.ids import strategy_names

    names = default_strategies()
    assert "dedup" in strategy_names() and "dedup" not in names and "full" not in names
    assert set(names) == {n for n in strategy_names() if n not in ("full", "dedup")}
    ev = make_evaluator(None, None)
    for name in names:
        for budget in (0.25, 0.1):
            tables = ev.fit_tables(name, budget, seed=0)
            assert {s: t.table_rows <= round(budget * ev.vocab()[s]) for s, t in tables.items()} == \
                {"user": True, "item": True}, name
