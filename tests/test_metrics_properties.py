"""Property tests: bounds, monotonicity in K, invariance to item and category re-indexing."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
import scipy.sparse as sp
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from test_evaluator import random_dataset

from gnnrec.data.split import temporal_split
from gnnrec.evaluation import Evaluator
from gnnrec.evaluation import metrics as M

K = 6


@st.composite
def hits_and_truth(draw):
    """``[U, K]`` hits and a consistent ``|R_u|`` (at least the number of hits)."""
    rows = draw(st.integers(1, 8))
    hits = draw(
        st.lists(st.lists(st.booleans(), min_size=K, max_size=K), min_size=rows, max_size=rows)
    )
    extra = draw(st.lists(st.integers(0, 5), min_size=rows, max_size=rows))
    hits_t = torch.tensor(hits, dtype=torch.bool)
    return hits_t, hits_t.sum(1) + torch.tensor(extra)


ACCURACY = [M.recall, M.ndcg, M.precision, M.hit_rate, M.mrr, M.average_precision, M.f1]


@settings(max_examples=150, deadline=None)
@given(hits_and_truth())
def test_accuracy_bounds_and_monotonicity(case):
    hits, n = case
    undefined = n == 0
    for fn in ACCURACY:
        values = [fn(hits[:, :k], n) for k in range(1, K + 1)]
        for v in values:
            assert torch.equal(torch.isnan(v), undefined), fn.__name__
            assert ((v[~undefined] >= 0) & (v[~undefined] <= 1 + 1e-12)).all(), fn.__name__
    # Recall and Hit never decrease with K (the list at K is a prefix of the list at K+1).
    for fn in (M.recall, M.hit_rate, M.mrr):
        values = torch.stack([fn(hits[:, :k], n) for k in range(1, K + 1)])[:, ~undefined]
        assert (values.diff(dim=0) >= 0).all(), fn.__name__
    # A list whose first min(K, |R|) items are all relevant scores 1 in NDCG and AP.
    perfect = torch.arange(K).unsqueeze(0) < n.clamp(max=K).unsqueeze(1)
    for fn in (M.ndcg, M.average_precision):
        v = fn(perfect, n)[~undefined]
        torch.testing.assert_close(v, torch.ones_like(v))


@st.composite
def lists_and_categories(draw):
    """Random lists (distinct items, padding at the end) over labelled items."""
    num_items = draw(st.integers(K, 15))
    num_cats = draw(st.integers(1, 5))
    labels = draw(
        st.lists(
            st.lists(st.booleans(), min_size=num_cats, max_size=num_cats),
            min_size=num_items,
            max_size=num_items,
        )
    )
    rows = draw(st.integers(1, 6))
    lists = []
    for _ in range(rows):
        perm = draw(st.permutations(range(num_items)))
        length = draw(st.integers(0, K))
        lists.append(list(perm[:length]) + [-1] * (K - length))
    return torch.tensor(lists), torch.tensor(labels, dtype=torch.float32)


@settings(max_examples=150, deadline=None)
@given(lists_and_categories())
def test_list_metric_bounds_and_coverage_monotonicity(case):
    topk, item_cats = case
    num_items, num_cats = item_cats.shape
    cats = M.list_categories(topk, item_cats)
    valid = topk >= 0
    coverage = torch.stack(
        [M.category_coverage(M.category_counts(cats[:, :k])) for k in range(1, K + 1)]
    )
    assert (coverage.diff(dim=0) >= 0).all()
    exposure = [M.item_exposure(topk[:, :k], num_items) for k in range(1, K + 1)]
    item_cov = torch.stack([M.item_coverage(x) for x in exposure])
    assert (item_cov.diff() >= 0).all()
    for k in range(1, K + 1):
        counts = M.category_counts(cats[:, :k])
        ent = M.category_entropy(counts)
        assert (ent[~ent.isnan()] <= math.log(num_cats) + 1e-12).all()
        assert (ent[~ent.isnan()] >= -1e-12).all()
        gini = M.category_gini(counts)
        assert (gini[~gini.isnan()] >= -1e-12).all()
        assert (gini[~gini.isnan()] <= (num_cats - 1) / num_cats + 1e-12).all()
        ild = M.intra_list_diversity(cats[:, :k], valid[:, :k])
        assert ((ild[~ild.isnan()] >= 0) & (ild[~ild.isnan()] <= 1)).all()
        assert torch.equal(ild.isnan(), valid[:, :k].sum(1) < 2)
        cp = M.category_precision(cats[:, :k], torch.ones(len(topk), num_cats))
        assert ((cp[~cp.isnan()] >= 0) & (cp[~cp.isnan()] <= 1)).all()
        g = M.gini_index(exposure[k - 1])
        assert math.isnan(float(g)) or -1e-12 <= float(g) <= (num_items - 1) / num_items + 1e-12


# ------------------------------------------------------------------ re-indexing invariance
def permute_items(ds, perm: np.ndarray):
    """The same dataset with item ``i`` renamed ``perm[i]``."""
    inverse = np.argsort(perm)
    cats = sp.csr_matrix(ds.item_categories)[inverse]
    return dataclasses.replace(
        ds, items=perm[ds.items], item_ids=ds.item_ids[inverse], item_categories=cats
    )


def permute_categories(ds, perm: np.ndarray):
    """The same dataset with category ``c`` renamed ``perm[c]``."""
    inverse = np.argsort(perm)
    top = None if ds.category_top_level is None else perm[ds.category_top_level][inverse]
    return dataclasses.replace(
        ds,
        item_categories=sp.csr_matrix(ds.item_categories)[:, inverse],
        category_names=ds.category_names[inverse],
        category_top_level=top,
    )


# Tail membership and popularity buckets break popularity ties by item id (RecBole's
# rule), so they may legitimately change when items are renamed.
ID_DEPENDENT = ("tail_pct", "pop_q")


def comparable(metrics: dict[str, float]) -> dict[str, float]:
    return {k: v for k, v in metrics.items() if not any(s in k for s in ID_DEPENDENT)}


def assert_metrics_equal(a: dict[str, float], b: dict[str, float]) -> None:
    assert a.keys() == b.keys()
    for key in a:
        if math.isnan(a[key]):
            assert math.isnan(b[key]), key
        else:
            assert b[key] == pytest.approx(a[key], rel=1e-12, abs=1e-12), key


@settings(max_examples=12, deadline=None)
@given(st.integers(0, 10_000))
def test_invariance_to_item_and_category_reindexing(seed):
    rng = np.random.default_rng(seed)
    ds = random_dataset(seed % 50)
    # Distinct scores per user (a random permutation of 0..I-1), so no tie depends on ids.
    scores = np.stack([rng.permutation(ds.num_items) for _ in range(ds.num_users)]).astype(
        np.float32
    )
    item_perm = rng.permutation(ds.num_items)
    cat_perm = rng.permutation(ds.num_categories)
    renamed = permute_categories(permute_items(ds, item_perm), cat_perm)
    renamed_scores = np.empty_like(scores)
    renamed_scores[:, item_perm] = scores
    results = []
    for data, s in ((ds, scores), (renamed, renamed_scores)):
        split = temporal_split(data, (0.6, 0.2, 0.2))
        ev = Evaluator(split, ks=[3, 5], slice_parts=["test"])
        s_t = torch.from_numpy(s)
        results.append(ev.evaluate(lambda u, s_t=s_t: s_t[u].clone(), "test", keep_topk=True))
    before, after = results
    assert_metrics_equal(comparable(before.metrics), comparable(after.metrics))
    # The lists are the same items under their new names.
    mapped = np.where(before.topk >= 0, item_perm[before.topk.clip(0)], -1)
    np.testing.assert_array_equal(mapped, after.topk)
    # Per-category arrays follow the categories to their new positions.
    for key, values in before.per_category.items():
        np.testing.assert_allclose(after.per_category[key][cat_perm], values, rtol=1e-12)
