"""Cross-check against PyTorch Geometric's link-prediction metrics on identical top-K lists.

PyG (``torch_geometric.metrics``) computes Recall, Precision, NDCG, MAP, MRR,
HitRatio, F1, Coverage, Diversity and AveragePopularity from a
``[num_users, K]`` prediction matrix and ground-truth pairs. Conventions
compared:

- PyG averages accuracy metrics over users with ground truth, as we do;
- PyG's lists have no padding, so lists here are full (K real items);
- ``LinkPredDiversity`` takes one category per item; with single-label items
  the category Jaccard distance is 1 - [same category], so our ILD equals it.
- PyG computes in float32: tolerance 1e-6.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch_geometric import metrics as pyg

from gnnrec.evaluation import metrics as M

NUM_USERS, NUM_ITEMS, NUM_CATS = 50, 30, 4


@pytest.fixture(scope="module")
def case():
    g = torch.Generator().manual_seed(11)
    topk = torch.stack([torch.randperm(NUM_ITEMS, generator=g)[:10] for _ in range(NUM_USERS)])
    truth = torch.rand(NUM_USERS, NUM_ITEMS, generator=g) < 0.15
    truth[:3] = False  # users without ground truth are left out of the means
    truth[3, topk[3, :4]] = True  # some users with many hits
    edge_label_index = truth.nonzero().T
    hits = truth.gather(1, topk)
    return topk, truth, edge_label_index, hits, truth.sum(1)


def ours_mean(values: torch.Tensor) -> float:
    return float(values[~values.isnan()].mean())


@pytest.mark.parametrize("k", [1, 5, 10])
@pytest.mark.parametrize(
    ("pyg_cls", "ours"),
    [
        (pyg.LinkPredRecall, M.recall),
        (pyg.LinkPredPrecision, M.precision),
        (pyg.LinkPredNDCG, M.ndcg),
        (pyg.LinkPredMAP, M.average_precision),
        (pyg.LinkPredMRR, M.mrr),
        (pyg.LinkPredHitRatio, M.hit_rate),
        (pyg.LinkPredF1, M.f1),
    ],
)
def test_accuracy_matches_pyg(case, k, pyg_cls, ours):
    topk, _, edge_label_index, hits, num_rel = case
    metric = pyg_cls(k)
    metric.update(topk[:, :k], edge_label_index)
    expected = float(metric.compute())
    assert ours_mean(ours(hits[:, :k], num_rel)) == pytest.approx(expected, rel=1e-6, abs=1e-7)


@pytest.mark.parametrize("k", [1, 5, 10])
def test_catalogue_metrics_match_pyg(case, k):
    topk = case[0][:, :k]
    coverage = pyg.LinkPredCoverage(k, NUM_ITEMS)
    coverage.update(topk, case[2])
    exposure = M.item_exposure(topk, NUM_ITEMS)
    assert float(M.item_coverage(exposure)) == pytest.approx(float(coverage.compute()), rel=1e-6)
    popularity = torch.arange(NUM_ITEMS) % 7  # any integer popularity
    arp = pyg.LinkPredAveragePopularity(k, popularity)
    arp.update(topk, case[2])
    ours = ours_mean(M.average_popularity(topk, popularity))
    assert ours == pytest.approx(float(arp.compute()), rel=1e-6)


@pytest.mark.parametrize("k", [2, 5, 10])
def test_ild_matches_pyg_diversity_for_single_label_items(case, k):
    topk = case[0][:, :k]
    category = torch.arange(NUM_ITEMS) % NUM_CATS
    diversity = pyg.LinkPredDiversity(k, category)
    diversity.update(topk, case[2])
    item_cats = torch.nn.functional.one_hot(category, NUM_CATS).float()
    ild = M.intra_list_diversity(M.list_categories(topk, item_cats), topk >= 0)
    assert ours_mean(ild) == pytest.approx(float(diversity.compute()), rel=1e-6)


def test_pyg_agrees_on_a_hand_example():
    # One sanity anchor that the harness itself compares the right things: list [0, 1, 2],
    # truth {1}: recall 1, precision 1/3, NDCG 1/log2(3), MRR 1/2 in both.
    topk = torch.tensor([[0, 1, 2]])
    eli = torch.tensor([[0], [1]])
    hits, n = torch.tensor([[False, True, False]]), torch.tensor([1])
    for cls, ours, value in [
        (pyg.LinkPredRecall, M.recall, 1.0),
        (pyg.LinkPredPrecision, M.precision, 1 / 3),
        (pyg.LinkPredNDCG, M.ndcg, 1 / np.log2(3)),
        (pyg.LinkPredMRR, M.mrr, 0.5),
    ]:
        metric = cls(3)
        metric.update(topk, eli)
        assert float(metric.compute()) == pytest.approx(value, rel=1e-6)
        assert float(ours(hits, n)) == pytest.approx(value, rel=1e-12)
