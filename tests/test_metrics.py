"""Hand-computed values of every metric function, edge cases included."""

from __future__ import annotations

import math

import pytest
import torch

from gnnrec.evaluation import metrics as M

NAN = math.nan


def close(actual: torch.Tensor, expected: list[float]) -> None:
    """Element-wise equality to 1e-12, NaN matching NaN."""
    torch.testing.assert_close(
        actual, torch.tensor(expected, dtype=torch.float64), rtol=1e-12, atol=1e-12, equal_nan=True
    )


# ---------------------------------------------------------------- accuracy
# Four users, K = 4. u0 hits ranks 1 and 3 of |R|=3; u1 no hit of |R|=2;
# u2 hits rank 2 of |R|=1; u3 has no ground truth (every metric NaN).
HITS = torch.tensor([[1, 0, 1, 0], [0, 0, 0, 0], [0, 1, 0, 0], [0, 0, 0, 0]], dtype=torch.bool)
NUM_REL = torch.tensor([3, 2, 1, 0])
LOG3 = math.log2(3)


def test_recall():
    close(M.recall(HITS, NUM_REL), [2 / 3, 0.0, 1.0, NAN])  # found / |R|
    close(M.recall(HITS[:, :1], NUM_REL), [1 / 3, 0.0, 0.0, NAN])  # @1: u0 found 1 of 3


def test_precision():
    close(M.precision(HITS, NUM_REL), [0.5, 0.0, 0.25, NAN])  # found / K = 2/4, 0/4, 1/4
    close(M.precision(HITS[:, :2], NUM_REL), [0.5, 0.0, 0.5, NAN])  # @2: 1/2, 0/2, 1/2


def test_hit_rate():
    close(M.hit_rate(HITS, NUM_REL), [1.0, 0.0, 1.0, NAN])
    close(M.hit_rate(HITS[:, :1], NUM_REL), [1.0, 0.0, 0.0, NAN])


def test_mrr():
    close(M.mrr(HITS, NUM_REL), [1.0, 0.0, 0.5, NAN])  # first hit at rank 1, none, rank 2


def test_average_precision():
    # u0: P@1 = 1 and P@3 = 2/3 at its hits, normalised by min(K=4, |R|=3) = 3 -> (5/3)/3
    # u2: P@2 = 1/2 at its hit, normalised by min(4, 1) = 1
    close(M.average_precision(HITS, NUM_REL), [5 / 9, 0.0, 0.5, NAN])
    # @1: u0 P@1 = 1 over min(1, 3) = 1 -> 1; a perfect prefix scores 1
    close(M.average_precision(HITS[:, :1], NUM_REL), [1.0, 0.0, 0.0, NAN])


def test_ndcg():
    # u0: DCG = 1/log2(2) + 1/log2(4) = 1.5; IDCG over min(4,3)=3 ranks = 1 + 1/log2(3) + 1/2
    # u2: DCG = 1/log2(3); IDCG = 1
    close(M.ndcg(HITS, NUM_REL), [1.5 / (1.5 + 1 / LOG3), 0.0, 1 / LOG3, NAN])
    # @1: u0 DCG = 1, IDCG = 1 (one slot)
    close(M.ndcg(HITS[:, :1], NUM_REL), [1.0, 0.0, 0.0, NAN])


def test_f1():
    # 2PR/(P+R) = 2*found/(K+|R|): u0 4/7, u2 2/5; u1 found nothing -> 0
    close(M.f1(HITS, NUM_REL), [4 / 7, 0.0, 0.4, NAN])


def test_accuracy_with_padding_and_more_relevant_than_k():
    # A list of 2 real items padded to K=4 (padding never hits), |R| = 6:
    hits = torch.tensor([[1, 1, 0, 0]], dtype=torch.bool)
    n = torch.tensor([6])
    close(M.recall(hits, n), [2 / 6])
    close(M.precision(hits, n), [2 / 4])  # denominator stays K
    # IDCG over min(K, |R|) = 4 ranks: 1 + 1/log2(3) + 1/2 + 1/log2(5)
    idcg = 1 + 1 / LOG3 + 0.5 + 1 / math.log2(5)
    close(M.ndcg(hits, n), [(1 + 1 / LOG3) / idcg])
    close(M.average_precision(hits, n), [(1 + 1) / 4])  # P@1 + P@2 = 2, over min(4, 6)


# ---------------------------------------------------------------- categories
# Items: i0 {c0}, i1 {c1}, i2 {c0, c1} (multi-label), i3 {} (unlabelled), i4 {c2}.
ITEM_CATS = torch.tensor(
    [[1, 0, 0], [0, 1, 0], [1, 1, 0], [0, 0, 0], [0, 0, 1]], dtype=torch.float32
)


def cats_of(rows: list[list[int]]) -> torch.Tensor:
    return M.list_categories(torch.tensor(rows), ITEM_CATS)


def test_list_categories_and_counts():
    cats = cats_of([[0, 2, 3, -1]])
    assert cats[0].tolist() == [[1, 0, 0], [1, 1, 0], [0, 0, 0], [0, 0, 0]]  # padding -> 0
    assert M.category_counts(cats).tolist() == [[2, 1, 0]]  # c0 by i0, i2; c1 by i2


def test_category_coverage_entropy_gini():
    # u0 [i0, i2, i3, pad]: counts (2, 1, 0); u1 [i1, i4, i0, i2]: counts (2, 2, 1);
    # u2 all padding: no categorised item.
    counts = M.category_counts(cats_of([[0, 2, 3, -1], [1, 4, 0, 2], [-1, -1, -1, -1]]))
    close(M.category_coverage(counts), [2.0, 3.0, 0.0])
    ent0 = -(2 / 3 * math.log(2 / 3) + 1 / 3 * math.log(1 / 3))  # p = (2/3, 1/3)
    ent1 = -(2 * 0.4 * math.log(0.4) + 0.2 * math.log(0.2))  # p = (.4, .4, .2)
    close(M.category_entropy(counts), [ent0, ent1, NAN])
    # Gini over C=3 sorted counts with weights 2j-C-1 = (-2, 0, 2):
    # u0 sorted (0, 1, 2): (0 + 0 + 4) / (3 * 3) = 4/9; u1 sorted (1, 2, 2): (-2 + 0 + 4) / (3 * 5)
    close(M.category_gini(counts), [4 / 9, 2 / 15, NAN])


def test_category_entropy_single_category_is_zero():
    close(M.category_entropy(M.category_counts(cats_of([[0, 0, 0]]))), [0.0])


def test_novel_items():
    # user likes {c0}: i0 {c0} is familiar, i2 {c0,c1} and i4 {c2} are new, i3 {} never new
    user_cats = torch.tensor([[1.0, 0.0, 0.0]])
    novel = M.novel_items(cats_of([[0, 2, 4, 3, -1]]), user_cats)
    assert novel.tolist() == [[False, True, True, False, False]]


def test_far_items_use_top_level_multi_hots():
    # Hierarchy: c0 and c1 under top-level A (0), c2 under B (1). User likes c0 (top A).
    to_top = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    item_tops = (ITEM_CATS @ to_top > 0).float()
    tops = M.list_categories(torch.tensor([[0, 1, 2, 4, 3]]), item_tops)
    far = M.novel_items(tops, torch.tensor([[1.0, 0.0]]))
    # i1 {c1} is new-category but near (same top A); only i4 {c2, top B} is far
    assert far.tolist() == [[False, False, False, True, False]]


def test_category_precision_recall_f1():
    user_cats = torch.tensor([[1.0, 0.0, 0.0], [0.0, 0.0, 0.0], [1.0, 0.0, 0.0]])
    cats = cats_of([[0, 2, 4, 3], [1, 4, -1, -1], [3, -1, -1, -1]])
    # u0: categorised i0, i2, i4; liked (share c0): i0, i2 -> 2/3
    # u1: no liked category -> 0/2; u2: only an unlabelled item -> undefined
    p = M.category_precision(cats, user_cats)
    close(p, [2 / 3, 0.0, NAN])
    truth = torch.tensor([[1.0, 1.0, 0.0], [0.0, 0.0, 0.0], [0.0, 0.0, 3.0]])
    # u0 list covers {c0,c1,c2}, truth {c0,c1} -> 2/2; u1 no test category -> NaN;
    # u2 list covers nothing of {c2} -> 0
    r = M.category_recall(M.category_counts(cats), truth)
    close(r, [1.0, NAN, 0.0])
    # u0: 2 * (2/3) * 1 / (2/3 + 1) = 4/5; NaN wherever one side is NaN
    close(M.category_f1(p, r), [0.8, NAN, NAN])
    close(M.category_f1(torch.zeros(1, dtype=torch.float64), torch.zeros(1)), [0.0])


def test_category_distribution_with_many_labels_is_exact():
    # one item with 17 categories and one with 1: lcm(1..17) * K exceeds 2**24, so the
    # float64 path runs; q = (1/17 on c0..c16, plus 1 on c17) / 2
    item_cats = torch.zeros(2, 18)
    item_cats[0, :17] = 1.0
    item_cats[1, 17] = 1.0
    q = M.category_distribution(M.list_categories(torch.tensor([[0, 1]]), item_cats))
    close(q[0], [1 / 34] * 17 + [0.5])


def test_category_distribution_and_miscalibration():
    # List [i2, i4]: i2 spreads 1/2 to c0 and c1, i4 gives 1 to c2 -> (.25, .25, .5)
    cats = cats_of([[2, 4]])
    close(M.category_distribution(cats)[0], [0.25, 0.25, 0.5])
    # History i0, i2 -> p = (1 + .5, .5, 0) / 2 = (.75, .25, 0); list [i4, i0] -> q = (.5, 0, .5)
    # q~ = .99 q + .01 p = (.5025, .0025, .495); KL(p || q~) = .75 ln(.75/.5025) + .25 ln(.25/.0025)
    p = torch.tensor([[0.75, 0.25, 0.0]], dtype=torch.float64)
    expected = 0.75 * math.log(0.75 / 0.5025) + 0.25 * math.log(0.25 / 0.0025)
    close(M.miscalibration(cats_of([[4, 0]]), p, alpha=0.01), [expected])
    # A calibrated list scores 0; a user without categorised history is undefined.
    close(M.miscalibration(cats_of([[0, 2]]), p, alpha=0.01), [0.0])
    close(M.miscalibration(cats_of([[0]]), torch.zeros(1, 3, dtype=torch.float64)), [NAN])


def test_kl_divergence_with_empty_list_distribution():
    # q = 0 -> q~ = alpha * p -> KL = sum p ln(1/alpha) = ln(100)
    p = torch.tensor([0.5, 0.5], dtype=torch.float64)
    close(M.kl_divergence(p, torch.zeros(2), alpha=0.01).reshape(1), [math.log(100)])


def test_recall_per_category():
    hits = torch.tensor([[True, False, True, False]])
    # list [i0 {c0}, i2 {c0,c1}, i4 {c2}, i3 {}]; hits at i0 and i4
    # truth per category: c0 2 items, c1 1 item, c2 1 item -> found (1, 0, 1)
    truth = torch.tensor([[2.0, 1.0, 1.0]])
    close(M.recall_per_category(hits, cats_of([[0, 2, 4, 3]]), truth)[0], [0.5, 0.0, 1.0])
    # no ground truth in a category -> NaN there
    truth = torch.tensor([[2.0, 0.0, 1.0]])
    close(M.recall_per_category(hits, cats_of([[0, 2, 4, 3]]), truth)[0], [0.5, NAN, 1.0])


# ---------------------------------------------------------------- diversity
def test_jaccard_ild():
    # [i0 {c0}, i2 {c0,c1}, i3 {}, pad]: d(i0,i2) = 1 - 1/2, d(i0,i3) = 1, d(i2,i3) = 1
    topk = torch.tensor([[0, 2, 3, -1], [3, 3, 0, -1], [1, -1, -1, -1]])
    cats = M.list_categories(topk, ITEM_CATS)
    # u1 [i3 {}, i3 {}, i0]: two unlabelled items are at distance 0; each to i0 at 1
    # u2 has one item: no pair -> NaN
    close(M.intra_list_diversity(cats, topk >= 0), [2.5 / 3, 2 / 3, NAN])
    # @2: only the first pair: u0 0.5, u1 0.0
    close(M.mean_pairwise(M.jaccard_distances(cats)[:, :2, :2], topk[:, :2] >= 0)[:2], [0.5, 0.0])


def test_cosine_ild():
    emb = torch.tensor([[[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [0.0, 0.0]]])
    valid = torch.tensor([[True, True, True, False]])
    # d = 1 - cos: (e0,e1) 1, (e0,e2) 1 - 1/sqrt2, (e1,e2) 1 - 1/sqrt2; e3 is padding
    expected = (1 + 2 * (1 - 1 / math.sqrt(2))) / 3
    close(M.intra_list_diversity_cosine(emb, valid), [expected])
    # pre-normalised rows give the same
    close(M.intra_list_diversity_cosine(M.unit_rows(emb), valid, normalized=True), [expected])
    # a zero embedding is at distance 1 from everything
    close(M.intra_list_diversity_cosine(emb[:, [0, 3]], valid[:, :2]), [1.0])


# ---------------------------------------------------------------- catalogue
def scalar(t: torch.Tensor) -> float:
    return float(t)


def test_item_coverage_gini_entropy():
    exposure = M.item_exposure(torch.tensor([[0, 4, 2], [0, 4, -1], [0, -1, -1]]), 5)
    assert exposure.tolist() == [3.0, 0.0, 1.0, 0.0, 2.0]
    assert scalar(M.item_coverage(exposure)) == pytest.approx(3 / 5, abs=1e-15)
    # sorted (0, 0, 1, 2, 3), weights 2j-6 = (-4, -2, 0, 2, 4): (0 + 0 + 0 + 4 + 12) / (5 * 6)
    assert scalar(M.gini_index(exposure)) == pytest.approx(16 / 30, abs=1e-15)
    # p = (1/2, 1/6, 1/3)
    ent = -(0.5 * math.log(0.5) + 1 / 6 * math.log(1 / 6) + 1 / 3 * math.log(1 / 3))
    assert scalar(M.exposure_entropy(exposure)) == pytest.approx(ent, abs=1e-15)


def test_gini_extremes():
    assert scalar(M.gini_index(torch.tensor([2.0, 2.0, 2.0, 2.0]))) == 0.0  # all equal
    assert scalar(M.gini_index(torch.tensor([0.0, 0.0, 0.0, 5.0]))) == 0.75  # (n-1)/n
    assert math.isnan(scalar(M.gini_index(torch.zeros(3))))
    assert math.isnan(scalar(M.exposure_entropy(torch.zeros(3))))


POP = torch.tensor([10.0, 0.0, 4.0, 1.0, 5.0])


def test_average_popularity_tail_novelty():
    topk = torch.tensor([[0, 2, -1], [-1, -1, -1], [1, 0, 3]])
    close(M.average_popularity(topk, POP), [7.0, NAN, 11 / 3])  # (10+4)/2; (0+10+1)/3
    # cut = int(5 * 0.4) = 2 least popular: i1 (0), i3 (1)
    tail = M.tail_items(POP, 0.4)
    assert tail.tolist() == [False, True, False, True, False]
    close(M.tail_percentage(topk, tail), [0.0, NAN, 2 / 3])
    # |U| = 16: -log2(10/16), -log2(4/16) = 2; i1 unseen counts as 1 -> -log2(1/16) = 4
    nov0 = (-math.log2(10 / 16) + 2.0) / 2
    nov2 = (4.0 - math.log2(10 / 16) + 4.0) / 3  # i3 pop 1 -> 4 bits too
    close(M.novelty(topk, POP, num_users=16), [nov0, NAN, nov2])


def test_tail_items_ties_by_smaller_id_and_at_least_one():
    pop = torch.tensor([1.0, 1.0, 1.0, 0.0])
    # order by (pop, id): i3, i0, i1, i2; cut = int(4 * .5) = 2 -> {i3, i0}
    assert M.tail_items(pop, 0.5).tolist() == [True, False, False, True]
    # int(4 * .1) = 0 -> at least one item: i3
    assert M.tail_items(pop, 0.1).tolist() == [False, False, False, True]
    with pytest.raises(ValueError, match="tail_ratio"):
        M.tail_items(pop, 0.0)


def test_popularity_buckets():
    # positions by (pop, id): i1 0, i3 1, i2 2, i4 3, i0 4; edges int(5*.4)=2, int(5*.8)=4
    assert M.popularity_order(POP).tolist() == [4, 0, 2, 1, 3]
    assert M.popularity_buckets(POP, [0.4, 0.8]).tolist() == [2, 0, 1, 0, 1]
    with pytest.raises(ValueError, match="quantiles"):
        M.popularity_buckets(POP, [1.0])


def test_category_share():
    # weights (2, 1, 1, 0, 0): c0 gets 2 (i0) + 1/2 (i2), c1 gets 1 (i1) + 1/2 (i2), c2 none
    spread = M.category_spread(ITEM_CATS)
    close(spread[2], [0.5, 0.5, 0.0])  # i2 {c0, c1} spreads its weight in halves
    share = M.category_share(torch.tensor([2.0, 1.0, 1.0, 0.0, 0.0]), spread.T)
    close(share, [2.5 / 4, 1.5 / 4, 0.0])
    # weight only on an unlabelled item -> no categorised mass
    close(M.category_share(torch.tensor([0.0, 0.0, 0.0, 3.0, 0.0]), spread.T), [0.0] * 3)
    # the sparse CSR form the evaluator keeps gives the same
    close(
        M.category_share(torch.tensor([2.0, 1.0, 1.0, 0.0, 0.0]), spread.T.to_sparse_csr()),
        [2.5 / 4, 1.5 / 4, 0.0],
    )
