"""The evaluator end to end: hand-computed results, the reference implementation,
chunking, determinism, outputs and errors."""

from __future__ import annotations

import dataclasses
import math

import eval_reference as R
import numpy as np
import pytest
import torch
from conftest import make_dataset

from gnnrec.data.split import Split, temporal_split
from gnnrec.evaluation import EmbeddingScorer, Evaluator

# ------------------------------------------------------------------ hand-made case
# Items: i0 {c0}, i1 {c0}, i2 {c1}, i3 {c2}, i4 {} (unlabelled), i5 {c0, c2} (multi-label).
# Hierarchy: c0, c1 under top-level A; c2 under B.
# Users (train | valid | test):
#   u0: i0 i1 | i2 | i3 i5        u1: i2 | - | i0
#   u2: i0 i1 i2 i3 i4 | - | i5   (one candidate left: fewer than K)
#   u3: all six | - | i0         (every item seen: empty list; test item repeats train)
#   u4: i1 | - | -               (no ground truth: not evaluated)
LABELS = [[0], [0], [1], [2], [], [0, 2]]
TRAIN = {0: [0, 1], 1: [2], 2: [0, 1, 2, 3, 4], 3: [0, 1, 2, 3, 4, 5], 4: [1]}
VALID = {0: [2]}
TEST = {0: [3, 5], 1: [0], 2: [5], 3: [0]}
SCORES = torch.tensor(
    [
        [0.9, 0.8, 0.1, 0.5, 0.7, 0.6],  # test list after masking {0,1,2}: i4, i5, i3
        [0.1, 0.2, 0.9, 0.3, 0.3, 0.0],  # masking {2}: i3, i4 tie at .3 -> by id; then i1
        [0.0, 0.0, 0.0, 0.0, 0.0, 0.0],  # only i5 is left
        [1.0, 1.0, 1.0, 1.0, 1.0, 1.0],  # nothing left
        [0.0, 0.0, 0.0, 0.0, 0.0, 0.0],
    ]
)


def hand_split() -> Split:
    triples, parts = [], {"train": [], "valid": [], "test": []}
    t = 0.0
    for part in (TRAIN, VALID, TEST):
        for u, items in part.items():
            for i in items:
                triples.append((u, i, t))
                t += 1
    ds = make_dataset(triples, 5, 6, LABELS, 3)
    ds = dataclasses.replace(ds, category_top_level=np.array([0, 0, 2]))
    # make_dataset sorts by (user, time); recover each interaction's part from its time.
    order = np.lexsort((np.arange(len(triples)), [x[2] for x in triples], [x[0] for x in triples]))
    boundaries = np.cumsum([sum(map(len, p.values())) for p in (TRAIN, VALID, TEST)])
    part_of = np.searchsorted(boundaries, np.array([x[2] for x in triples])[order], side="right")
    for idx, p in enumerate(part_of):
        parts[("train", "valid", "test")[p]].append(idx)
    return Split(ds, *(np.array(parts[p], dtype=np.int64) for p in parts), method="hand")


@pytest.fixture(scope="module")
def hand_result():
    ev = Evaluator(
        hand_split(),
        ks=[2, 3],
        user_hist_bins=[1, 3],
        item_pop_quantiles=[0.5],
        tail_ratio=0.2,
        slice_parts=["test"],
    )
    return ev, ev.evaluate(lambda u: SCORES[u].clone(), "test", keep_topk=True)


def test_hand_lists(hand_result):
    _, res = hand_result
    assert res.users.tolist() == [0, 1, 2, 3]  # u4 has no test items
    assert res.topk.tolist() == [[4, 5, 3], [3, 4, 1], [5, -1, -1], [-1, -1, -1]]


def test_hand_accuracy(hand_result):
    m = hand_result[1].metrics
    assert m["test/users"] == 4
    # recall@2 per user: u0 1/2 (i5 of {i3,i5}), u1 0, u2 1, u3 0 -> mean 1.5/4
    assert m["test/recall@2"] == pytest.approx(0.375, abs=1e-15)
    # precision@2 divides by K even for short lists: (1/2 + 0 + 1/2 + 0) / 4
    assert m["test/precision@2"] == pytest.approx(0.25, abs=1e-15)
    # ndcg@2: u0 (1/log2 3) / (1 + 1/log2 3); u2 1; others 0
    u0 = (1 / math.log2(3)) / (1 + 1 / math.log2(3))
    assert m["test/ndcg@2"] == pytest.approx((u0 + 1) / 4, abs=1e-15)
    # mrr@2: u0 1/2, u2 1 -> 1.5/4; recall@3 adds u0's i3 at rank 3: (1 + 0 + 1 + 0)/4
    assert m["test/mrr@2"] == pytest.approx(0.375, abs=1e-15)
    assert m["test/recall@3"] == pytest.approx(0.5, abs=1e-15)


def test_hand_cross_category(hand_result):
    m = hand_result[1].metrics
    # New-category test items: u0 likes {c0}: i3 {c2} and i5 {c0,c2} are new -> cc_recall 1/2;
    # u1 likes {c1}: i0 {c0} is new, not found -> 0; u2, u3 like everything -> undefined.
    assert m["test/cc_recall@2"] == pytest.approx(0.25, abs=1e-15)
    assert m["test/cc_users"] == pytest.approx(0.5, abs=1e-15)  # u0, u1 of 4
    # Far: u0's top-levels {A}; i3 (B) and i5 (A, B) are far -> 1/2. u1's i0 (c0 -> A) is
    # near its c1 (A): not far. Only u0 has far items.
    assert m["test/far_recall@2"] == pytest.approx(0.5, abs=1e-15)
    assert m["test/far_users"] == pytest.approx(0.25, abs=1e-15)
    # cc_ndcg@2 u0: hit i5 at rank 2 of 2 new items -> (1/log2 3)/(1 + 1/log2 3); u1 0
    u0 = (1 / math.log2(3)) / (1 + 1 / math.log2(3))
    assert m["test/cc_ndcg@2"] == pytest.approx(u0 / 2, abs=1e-15)


def test_hand_category_and_diversity(hand_result):
    m = hand_result[1].metrics
    # coverage@2: u0 [i4 {}, i5 {c0,c2}] 2, u1 [i3 {c2}, i4 {}] 1, u2 [i5] 2, u3 [] 0
    assert m["test/cat_coverage@2"] == pytest.approx(5 / 4, abs=1e-15)
    assert m["test/cat_coverage_frac@2"] == pytest.approx(5 / 12, abs=1e-15)
    # ILD@2: u0 and u1 pair an unlabelled with a labelled item (distance 1); u2, u3 undefined
    assert m["test/ild@2"] == 1.0
    # cat_precision@2: u0 i5 carries liked c0 (1/1); u1 i3 {c2} not liked (0/1); u2 1/1
    assert m["test/cat_precision@2"] == pytest.approx(2 / 3, abs=1e-15)
    # cat_recall@2: u0 test cats {c0,c2} all covered (1); u1 {c0} not (0); u2 {c0,c2} (1);
    # u3 {c0}, empty list (0)
    assert m["test/cat_recall@2"] == pytest.approx(0.5, abs=1e-15)


def test_hand_catalogue_and_popularity(hand_result):
    m = hand_result[1].metrics
    # exposure@2: i3 1, i4 2, i5 2 -> coverage 3/6; Gini of sorted (0,0,0,1,2,2) with
    # weights 2j-7 = (-5,-3,-1,1,3,5): (1 + 6 + 10) / (6 * 5)
    assert m["test/item_coverage@2"] == 0.5
    assert m["test/item_gini@2"] == pytest.approx(17 / 30, abs=1e-15)
    # popularity (training users per item): i0 3, i1 4, i2 3, i3 2, i4 2, i5 1
    # avg_pop@2: u0 (2+1)/2, u1 (2+2)/2, u2 1/1 -> (1.5 + 2 + 1) / 3
    assert m["test/avg_pop@2"] == pytest.approx(1.5, abs=1e-15)
    # tail (ratio .2 -> int(1.2) = 1 item): i5. tail_pct@2: u0 1/2, u1 0, u2 1
    assert m["test/tail_pct@2"] == pytest.approx(0.5, abs=1e-15)
    # novelty@2 (|U| = 5): u0 (-log2(2/5) - log2(1/5))/2, u1 -log2(2/5), u2 -log2(1/5)
    u0 = (-math.log2(2 / 5) - math.log2(1 / 5)) / 2
    expected = (u0 - math.log2(2 / 5) - math.log2(1 / 5)) / 3
    assert m["test/novelty@2"] == pytest.approx(expected, abs=1e-14)


def test_hand_slices(hand_result):
    m = hand_result[1].metrics
    # history lengths u0 2, u1 1, u2 5, u3 6 with bins (1, 3): hist_0-1 {u1}, hist_2-3 {u0},
    # hist_4+ {u2, u3}
    assert [m[f"test/{g}/users"] for g in ("hist_0-1", "hist_2-3", "hist_4+")] == [1, 1, 2]
    assert m["test/hist_0-1/recall@2"] == 0.0
    assert m["test/hist_2-3/recall@2"] == 0.5
    assert m["test/hist_4+/recall@2"] == 0.5  # (1 + 0) / 2
    assert m["test/hist_4+/item_coverage@2"] == pytest.approx(1 / 6, abs=1e-15)  # only i5
    # buckets by popularity order i5, i3, i4 | i0, i2, i1 (ties by id), edge int(6 * .5) = 3:
    # pop_q0-50 holds test items of u0 (i3, i5) and u2 (i5): recall 1/2 and 1
    assert m["test/pop_q0-50/users"] == 2
    assert m["test/pop_q0-50/recall@2"] == pytest.approx(0.75, abs=1e-15)
    assert m["test/pop_q50-100/recall@2"] == 0.0  # u1, u3 miss i0


def test_hand_per_category(hand_result):
    res = hand_result[1]
    pc = res.per_category
    assert pc["users"].tolist() == [4, 0, 2]  # c0: all four users; c1: none; c2: u0, u2
    # recall@2 in c0: u0 {i5} found 1, u1 {i0} 0, u2 {i5} 1, u3 {i0} 0; c2: u0 1/2, u2 1
    np.testing.assert_allclose(pc["recall@2"], [0.5, np.nan, 0.75], rtol=0, atol=1e-15)
    assert res.metrics["test/macro_recall_by_cat@2"] == pytest.approx(0.625, abs=1e-15)
    # exposure@2 i3 1, i4 2 (unlabelled, no mass), i5 2 -> c0 1, c2 1 + 1 -> (1/3, 0, 2/3)
    np.testing.assert_allclose(pc["exposure_share@2"], [1 / 3, 0, 2 / 3], rtol=0, atol=1e-15)
    assert res.category_names.tolist() == ["c0", "c1", "c2"]


# ------------------------------------------------------------------ against the reference
def random_dataset(seed: int, num_categories: int = 6, hierarchy: bool = True):
    rng = np.random.default_rng(seed)
    num_users, num_items = 30, 40
    triples = []
    for u in range(num_users):
        items = rng.choice(num_items, size=int(rng.integers(3, 30)), replace=False)
        triples += [(u, int(i), float(t)) for t, i in enumerate(items)]
    labels = [
        sorted(rng.choice(num_categories, size=int(rng.integers(0, 3)), replace=False).tolist())
        if num_categories
        else []
        for _ in range(num_items)
    ]
    ds = make_dataset(triples, num_users, num_items, labels, num_categories)
    if hierarchy:
        ds = dataclasses.replace(ds, category_top_level=np.array([0, 0, 2, 2, 4, 5]))
    return ds


def assert_same(expected: dict[str, float], actual: dict[str, float]) -> None:
    assert set(expected) == set(actual), sorted(set(expected) ^ set(actual))
    for key, value in expected.items():
        if math.isnan(value):
            assert math.isnan(actual[key]), key
        else:
            assert actual[key] == pytest.approx(value, rel=1e-9, abs=1e-12), key


@pytest.mark.parametrize(
    ("seed", "num_categories", "hierarchy"),
    [(0, 6, True), (1, 6, True), (2, 6, False), (3, 0, False)],
)
def test_evaluator_matches_reference(seed, num_categories, hierarchy):
    ds = random_dataset(seed, num_categories, hierarchy)
    split = temporal_split(ds, (0.6, 0.2, 0.2))
    g = torch.Generator().manual_seed(seed)
    user_emb = torch.randn(ds.num_users, 4, generator=g)
    item_emb = torch.randn(ds.num_items, 4, generator=g)
    item_emb[5] = item_emb[3]  # equal scores: the tie rule is exercised
    scorer = EmbeddingScorer(user_emb, item_emb)
    scores = (user_emb @ item_emb.T).numpy().astype(np.float64)
    # A budget of a few users per chunk: many chunks.
    ev = Evaluator(split, ks=[1, 3, 5], memory_budget_mb=0.02)
    assert ev.chunk_size < 10
    for part in ("valid", "test"):
        res = ev.evaluate(scorer, part, keep_topk=True, slices=True)
        metrics, per_user, per_category, topk = R.evaluate(
            split,
            lambda u: scores[u],
            part,
            [1, 3, 5],
            item_embeddings=item_emb.numpy().astype(np.float64),
        )
        np.testing.assert_array_equal(res.topk, topk)
        assert_same(metrics, res.metrics)
        assert set(per_user) == set(res.per_user)
        for key, values in per_user.items():
            np.testing.assert_allclose(res.per_user[key], values, rtol=1e-9, atol=1e-12)
        assert set(per_category) == set(res.per_category)
        for key, values in per_category.items():
            np.testing.assert_allclose(res.per_category[key], values, rtol=1e-9, atol=1e-12)


# ------------------------------------------------------------------ engine properties
@pytest.fixture(scope="module")
def random_case():
    ds = random_dataset(7)
    split = temporal_split(ds, (0.6, 0.2, 0.2))
    g = torch.Generator().manual_seed(7)
    scorer = EmbeddingScorer(torch.randn(30, 8, generator=g), torch.randn(40, 8, generator=g))
    return split, scorer


def nan_equal(a: dict[str, float], b: dict[str, float]) -> bool:
    return a.keys() == b.keys() and all(
        a[k] == b[k] or (math.isnan(a[k]) and math.isnan(b[k])) for k in a
    )


def test_chunk_size_does_not_change_results(random_case):
    split, scorer = random_case
    one = Evaluator(split, ks=[5, 10], memory_budget_mb=1000).evaluate(scorer, "test", slices=True)
    many = Evaluator(split, ks=[5, 10], memory_budget_mb=0.02)
    assert many.chunk_size <= 3
    res = many.evaluate(scorer, "test", slices=True)
    for key, values in one.per_user.items():
        np.testing.assert_array_equal(res.per_user[key], values)  # per user: bit for bit
    assert_same(one.metrics, res.metrics)  # catalogue sums may differ in the last bit


def test_evaluation_is_deterministic(random_case):
    split, scorer = random_case
    ev = Evaluator(split, ks=[5], memory_budget_mb=0.05, slice_parts=["test"])
    first, second = ev.evaluate(scorer, "test"), ev.evaluate(scorer, "test")
    assert nan_equal(first.metrics, second.metrics)
    for key in first.per_user:
        np.testing.assert_array_equal(first.per_user[key], second.per_user[key])


def test_scorer_sees_chunks_within_the_budget(random_case):
    split, scorer = random_case
    ev = Evaluator(split, ks=[5], memory_budget_mb=0.03)
    seen: list[int] = []

    def recording(users: torch.Tensor) -> torch.Tensor:
        seen.append(len(users))
        return scorer(users)

    res = ev.evaluate(recording, "valid")
    assert max(seen) <= ev.chunk_size
    assert sum(seen) == len(res.users)


def test_shared_score_rows_are_not_overwritten():
    # A MostPop-style scorer returns an expanded view of one popularity row; masking
    # must not write into it (and ties are broken by id: i3 and i4 tie).
    split = hand_split()
    pop = torch.tensor([3.0, 4.0, 3.0, 2.0, 2.0, 1.0])
    res = Evaluator(split, ks=[3]).evaluate(lambda u: pop.expand(len(u), -1), "test", True)
    assert pop.tolist() == [3.0, 4.0, 3.0, 2.0, 2.0, 1.0]
    assert res.topk.tolist() == [[3, 4, 5], [1, 0, 3], [5, -1, -1], [-1, -1, -1]]


def test_cosine_scorer_and_embedding_ild(random_case):
    split, _ = random_case
    g = torch.Generator().manual_seed(3)
    users, items = torch.randn(30, 5, generator=g), torch.randn(40, 5, generator=g)
    cos = EmbeddingScorer(users, items, similarity="cosine")
    expected = torch.nn.functional.cosine_similarity(users[:4, None], items[None], dim=-1)
    torch.testing.assert_close(cos(torch.arange(4)), expected)
    ev = Evaluator(split, ks=[5])
    assert "valid/ild_cos@5" in ev.evaluate(cos, "valid").metrics
    assert "valid/ild_cos@5" not in ev.evaluate(lambda u: cos(u), "valid").metrics


def test_valid_excludes_train_only_and_test_excludes_valid_too():
    split = hand_split()
    ev = Evaluator(split, ks=[3])
    valid = ev.evaluate(lambda u: SCORES[u].clone(), "valid", keep_topk=True)
    # only u0 has a validation item; train {0, 1} masked, valid i2 stays rankable but with
    # score .1 it ranks 4th of the candidates i4 .7, i5 .6, i3 .5, i2 .1
    assert valid.users.tolist() == [0]
    assert valid.topk.tolist() == [[4, 5, 3]]
    assert valid.metrics["valid/recall@3"] == 0.0
    test = ev.evaluate(lambda u: SCORES[u].clone(), "test", keep_topk=True)
    assert 2 not in test.topk[0].tolist()  # u0's validation item is masked for test


def test_dataset_without_categories_has_no_category_keys(random_case):
    ds = random_dataset(4, num_categories=0, hierarchy=False)
    split = temporal_split(ds, (0.6, 0.2, 0.2))
    res = Evaluator(split, ks=[5]).evaluate(lambda u: torch.zeros(len(u), 40), "test")
    assert "test/recall@5" in res.metrics
    assert not [k for k in res.metrics if "cat" in k or "cc_" in k or "ild" in k]
    assert res.per_category == {}


def test_per_user_files_round_trip(tmp_path, hand_result):
    ev, res = hand_result
    user_ids = ev.split.dataset.user_ids
    npz = res.save_per_user(tmp_path / "per_user.npz", user_ids=user_ids)
    with np.load(npz) as data:
        assert data["user"].tolist() == [0, 1, 2, 3]
        assert data["user_id"].tolist() == ["u0", "u1", "u2", "u3"]
        np.testing.assert_array_equal(data["recall@2"], res.per_user["recall@2"])
        np.testing.assert_array_equal(
            data["pop_q0-50/recall@2"], res.per_user["pop_q0-50/recall@2"]
        )
    import pyarrow.parquet as pq

    table = pq.read_table(res.save_per_user(tmp_path / "per_user.parquet"))
    np.testing.assert_array_equal(table["cc_recall@2"].to_numpy(), res.per_user["cc_recall@2"])
    assert not list(tmp_path.glob(".*"))  # no temporary file left behind
    with pytest.raises(ValueError, match=r"\.npz or \.parquet"):
        res.save_per_user(tmp_path / "per_user.csv")
    lines = res.save_per_category(tmp_path / "per_category.tsv").read_text().splitlines()
    assert lines[0].split("\t")[:3] == ["category", "users", "interaction_share"]
    assert lines[2].split("\t")[1] == "0"  # c1 has no test user
    assert len(lines) == 4


def test_errors():
    split = hand_split()
    with pytest.raises(ValueError, match="ks"):
        Evaluator(split, ks=[0])
    with pytest.raises(ValueError, match="slice_parts"):
        Evaluator(split, slice_parts=["train"])
    ev = Evaluator(split, ks=[2])
    with pytest.raises(ValueError, match="part"):
        ev.evaluate(lambda u: SCORES[u], "train")
    with pytest.raises(ValueError, match="shape"):
        ev.evaluate(lambda u: SCORES[u, :5], "test")
    with pytest.raises(FloatingPointError, match="NaN"):
        ev.evaluate(lambda u: torch.full((len(u), 6), float("nan")), "test")
    with pytest.raises(ValueError, match="item_embeddings"):
        ev.evaluate(lambda u: SCORES[u], "test", item_embeddings=torch.zeros(5, 2))


@pytest.mark.gpu
def test_gpu_matches_cpu(random_case):
    split, scorer = random_case
    cpu = Evaluator(split, ks=[5, 10]).evaluate(scorer, "test", keep_topk=True, slices=True)
    cuda_scorer = EmbeddingScorer(scorer._users.cuda(), scorer.item_embeddings.cuda())
    gpu = Evaluator(split, ks=[5, 10], device="cuda").evaluate(
        cuda_scorer, "test", keep_topk=True, slices=True
    )
    np.testing.assert_array_equal(gpu.topk, cpu.topk)
    assert_same(cpu.metrics, gpu.metrics)


def test_part_without_users_reports_every_key_as_nan():
    split = hand_split()
    no_valid = dataclasses.replace(
        split, train=np.sort(np.concatenate([split.train, split.valid])), valid=split.valid[:0]
    )
    ev = Evaluator(no_valid, ks=[2])
    valid = ev.evaluate(lambda u: SCORES[u].clone(), "valid", keep_topk=True)
    test = ev.evaluate(lambda u: SCORES[u].clone(), "test")
    assert {k.replace("valid/", "test/") for k in valid.metrics} == set(test.metrics)
    assert valid.metrics["valid/users"] == 0
    assert math.isnan(valid.metrics["valid/recall@2"])
    assert valid.topk.shape == (0, 2)
