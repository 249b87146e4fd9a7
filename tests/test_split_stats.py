"""Dataset and split statistics on a hand-made log."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from gnnrec.data.dataset import InteractionDataset
from gnnrec.data.split import Split
from gnnrec.data.stats import category_table, count_quantiles, cross_category, split_stats


def dataset() -> InteractionDataset:
    """u0: i0 i1 | i2 i3 (train | test); u1: i0 | i3. Categories: i0 a, i1 a+b, i2 c, i3 none."""
    cats = np.array([[1, 0, 0], [1, 1, 0], [0, 0, 1], [0, 0, 0]], dtype=np.float32)
    return InteractionDataset(
        name="hand",
        user_ids=np.array(["u0", "u1"]),
        item_ids=np.array(["i0", "i1", "i2", "i3"]),
        category_names=np.array(["a", "b", "c"]),
        users=np.array([0, 0, 0, 0, 1, 1]),
        items=np.array([0, 1, 2, 3, 0, 3]),
        timestamps=np.arange(6, dtype=float),
        weights=np.ones(6, dtype=np.float32),
        item_categories=sp.csr_matrix(cats),
    )


def test_count_quantiles() -> None:
    q = count_quantiles(np.array([1, 2, 3, 4, 10]))
    # linear interpolation: p25 of [1,2,3,4,10] is 2, p50 3, p75 4, p90 4 + 0.6*6 = 7.6
    assert q["min"] == 1 and q["p25"] == 2 and q["p50"] == 3 and q["p75"] == 4
    assert np.isclose(q["p90"], 7.6) and q["max"] == 10 and q["mean"] == 4


def test_category_table_counts_items_and_interactions() -> None:
    rows = category_table(dataset())
    # a: items i0, i1; interactions with them: u0-i0, u0-i1, u1-i0 = 3 of 6.
    # b: i1 -> 1; c: i2 -> 1. Ties broken by name.
    assert rows == [
        {"category": "a", "items": 2, "interactions": 3, "share": 0.5},
        {"category": "b", "items": 1, "interactions": 1, "share": 1 / 6},
        {"category": "c", "items": 1, "interactions": 1, "share": 1 / 6},
    ]


def test_cross_category_share_of_test() -> None:
    ds = dataset()
    split = Split(
        ds,
        train=np.array([0, 1, 4]),
        valid=np.array([], dtype=np.int64),
        test=np.array([2, 3, 5]),
        method="hand",
    )
    # u0 trained on a, b: test i2 (c) is cross-category, i3 (no category) never is.
    # u1 trained on a: test i3 has no category.
    assert cross_category(split, "test").tolist() == [True, False, False]
    stats = split_stats(split)
    assert stats["test_cross_category"] == 1
    assert np.isclose(stats["test_cross_category_share"], 1 / 3)
    # i2 and i3 never occur in train.
    assert stats["test_cold_items"] == 3
    assert (stats["train_users"], stats["test_users"]) == (2, 2)
