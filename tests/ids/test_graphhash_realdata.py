import numpy as np
import pytest

from recsys_hash.data import load_interactions
from recsys_hash.ids.graphhash import GraphHash

pytestmark = pytest.mark.realdata


def test_gowalla_resolution_200_and_budget(data_root):
    train = load_interactions("gowalla", dataset_path=data_root / "recsys" / "gowalla").train
    assert (train.n_users, train.n_items, len(train)) == (29_858, 40_981, 810_128)
    sides = GraphHash.fit_sides(train, {"user": None, "item": None}, resolution=200)
    # anchor (sknetwork 0.32.1, same graph): 5,652 user / 5,669 item rows at r=200
    assert sides["user"].table_rows == pytest.approx(5652, rel=0.02)
    assert sides["item"].table_rows == pytest.approx(5669, rel=0.02)
    summary = sides["user"].clustering_summary_
    assert summary["modularity"] == pytest.approx(0.1512, abs=0.005)     # Barber at resolution 1
    budget = GraphHash.fit_sides(train, {"user": 0.25, "item": 0.25})
    assert budget["user"].table_rows == 7464 and budget["item"].table_rows == 10245
    assert np.unique(budget["item"].transform(np.arange(train.n_items))).size == 10245
