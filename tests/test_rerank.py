"""Accuracy–diversity re-ranking: MMR and calibrated re-ranking on hand-worked
lists, their use by the evaluator, and the runner's ``eval.rerank`` keys."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from conftest import make_dataset
from omegaconf import OmegaConf
from test_cli_train import gnnrec_train
from test_evaluator import random_dataset

from gnnrec.cli.train import rerank_settings
from gnnrec.data.split import temporal_split
from gnnrec.errors import ConfigError
from gnnrec.evaluation import EmbeddingScorer, Evaluator
from gnnrec.evaluation.metrics import category as MC
from gnnrec.evaluation.rerank import (
    Rerank,
    calibrated,
    candidate_pool,
    mmr,
    relevance,
)


def multi_hot(labels: list[list[int]], num_categories: int) -> torch.Tensor:
    out = torch.zeros(len(labels), num_categories)
    for item, cats in enumerate(labels):
        out[item, cats] = 1.0
    return out


# ------------------------------------------------------------------ relevance
def test_relevance_is_min_max_normalised_per_user():
    scores = torch.tensor([[3.0, 2.0, 1.0, -math.inf], [5.0, 5.0, -math.inf, -math.inf]])
    # row 0: (s - 1) / (3 - 1) = 1, .5, 0; padding 0. row 1: all equal -> 1.
    expected = torch.tensor([[1.0, 0.5, 0.0, 0.0], [1.0, 1.0, 0.0, 0.0]], dtype=torch.float64)
    torch.testing.assert_close(relevance(scores), expected)


# ------------------------------------------------------------------ MMR
def test_lambda_zero_returns_the_model_order():
    g = torch.Generator().manual_seed(0)
    cats = (torch.rand(30, 4, generator=g) < 0.4).float()
    candidates = torch.stack([torch.randperm(30, generator=g)[:12] for _ in range(5)])
    scores = torch.rand(5, 12, generator=g).sort(1, descending=True).values
    scores[:, 3:6] = scores[:, 3:4]  # ties keep the model's (candidate) order
    candidates[4, 9:] = -1  # a user with 9 candidates
    scores[4, 9:] = -math.inf
    history = torch.full((5, 4), 0.25)
    expected = candidates[:, :10]
    assert torch.equal(mmr(candidates, scores, cats, 0.0, 10), expected)
    assert torch.equal(calibrated(candidates, scores, cats, history, 0.0, 10), expected)


# Items (candidates in score order): i0 {A} 1.0, i1 {A} 0.9, i2 {B} 0.7, i3 {A, C} 0.5.
MMR_LABELS = [[0], [0], [1], [0, 2]]
MMR_SCORES = torch.tensor([[1.0, 0.9, 0.7, 0.5]])


def test_mmr_half_picks_the_other_category_item():
    cats = multi_hot(MMR_LABELS, 3)
    candidates = torch.tensor([[0, 1, 2, 3]])
    # r = (s - .5) / .5 = 1, .8, .4, 0; gain = .5 r - .5 max_sim.
    # pick 1: S = {} -> .5 r: i0 (.5).
    # pick 2: sim to i0: i1 1, i2 0, i3 |{A}| / |{A, C}| = .5
    #   gains: i1 .4 - .5 = -.1, i2 .2 - 0 = .2, i3 0 - .25 = -.25 -> i2 (category B).
    # pick 3: max sim to {i0, i2}: i1 1, i3 max(.5, 0) = .5 -> i1 -.1, i3 -.25 -> i1.
    # pick 4: i3.
    assert mmr(candidates, MMR_SCORES, cats, 0.5, 4).tolist() == [[0, 2, 1, 3]]
    # A small lambda keeps the model's order: pick 2 is i1 (.9 * .8 - .1 * 1 = .62 > .9 * .4).
    assert mmr(candidates, MMR_SCORES, cats, 0.1, 2).tolist() == [[0, 1]]
    # Sparse item-category matrices are accepted.
    assert mmr(candidates, MMR_SCORES, cats.to_sparse_csr(), 0.5, 4).tolist() == [[0, 2, 1, 3]]


def test_mmr_lambda_one_maximises_diversity():
    # i0 {A}, i1 {A}, i2 {A, B}, i3 {B}, scores in that order.
    cats = multi_hot([[0], [0], [0, 1], [1]], 2)
    candidates = torch.tensor([[0, 1, 2, 3]])
    # gain = -max_sim. pick 1: all 0 -> the first candidate, i0.
    # pick 2: sim to i0: i1 1, i2 1/2, i3 0 -> i3.
    # pick 3: max sim to {i0, i3}: i1 max(1, 0) = 1, i2 max(1/2, 1/2) = 1/2 -> i2. Then i1.
    ranked = mmr(candidates, MMR_SCORES, cats, 1.0, 4)
    assert ranked.tolist() == [[0, 3, 2, 1]]
    # The first two items are as far apart as category sets can be: Jaccard distance 1.
    listed = MC.list_categories(ranked[:, :2], cats)
    assert MC.category_coverage(MC.category_counts(listed)).item() == 2.0


def test_mmr_uncategorised_items_have_similarity_zero():
    # i0 {A}, i1 {A}, i2 {}, i3 {}: at lambda = 1 both uncategorised items come before i1,
    # and i3 is not similar to i2 (sim 0, not "identical empty sets").
    cats = multi_hot([[0], [0], [], []], 1)
    candidates = torch.tensor([[0, 1, 2, 3]])
    assert mmr(candidates, MMR_SCORES, cats, 1.0, 4).tolist() == [[0, 2, 3, 1]]


def test_short_candidate_lists_are_padded_and_padding_is_never_picked():
    cats = multi_hot(MMR_LABELS, 3)
    candidates = torch.tensor([[2, 0, -1, -1]])
    scores = torch.tensor([[0.9, 0.1, -math.inf, -math.inf]])
    history = torch.tensor([[0.0, 0.0, 1.0]])
    for lam in (0.0, 0.5, 1.0):
        assert mmr(candidates, scores, cats, lam, 3).tolist() == [[2, 0, -1]]
        assert calibrated(candidates, scores, cats, history, lam, 3).tolist() == [[2, 0, -1]]


def test_argument_errors():
    c, s, cats = torch.tensor([[0, 1]]), torch.tensor([[1.0, 0.0]]), multi_hot([[0], [0]], 1)
    with pytest.raises(ValueError, match=r"lambda must lie in \[0, 1\], got 1.5"):
        mmr(c, s, cats, 1.5, 2)
    with pytest.raises(ValueError, match="k must be a positive"):
        mmr(c, s, cats, 0.5, 0)
    with pytest.raises(ValueError, match="one shape"):
        mmr(c, s[:, :1], cats, 0.5, 2)
    with pytest.raises(ValueError, match="alpha"):
        calibrated(c, s, cats, torch.ones(1, 1), 0.5, 2, alpha=2.0)
    with pytest.raises(ValueError, match="unknown re-ranking method 'xquad'"):
        Rerank("xquad", 0.5)
    assert Rerank("mmr", 0.5).name == "mmr@0.5" and Rerank("calibrated", 0.0).name == "calibrated@0"


# ------------------------------------------------------------------ calibrated
def test_calibrated_hand_example():
    # Categories A, B; p_u = (.5, .5), alpha = .1. Candidates i0 {A} 1.0, i1 {A} .8, i2 {B} 0.
    cats = multi_hot([[0], [0], [1]], 2)
    candidates = torch.tensor([[0, 1, 2]])
    scores = torch.tensor([[1.0, 0.8, 0.0]])
    history = torch.tensor([[0.5, 0.5]])
    # r = 1, .8, 0. A one-category list q = (1, 0) gives q~ = .9 q + .1 p = (.95, .05),
    # KL = .5 ln(.5/.95) + .5 ln(.5/.05) = .5 (-.6419 + 2.3026) = .8304; q = (.5, .5) gives 0.
    # pick 1: each single item has KL .8304 -> the largest r: i0.
    # pick 2 (objective minus the shared (1 - lam) r_i0):
    #   lam .5: i1 .5 * .8 - .5 * .8304 = -.0152;  i2 .5 * 0 - .5 * 0 = 0       -> i2.
    #   lam .2: i1 .8 * .8 - .2 * .8304 = .4739;   i2 0                          -> i1.
    assert calibrated(candidates, scores, cats, history, 0.5, 2, alpha=0.1).tolist() == [[0, 2]]
    assert calibrated(candidates, scores, cats, history, 0.2, 2, alpha=0.1).tolist() == [[0, 1]]
    # The KL in the comment is the repo's miscalibration metric of the list [i0, i1].
    kl = MC.miscalibration(MC.list_categories(torch.tensor([[0, 1]]), cats), history, 0.1)
    assert kl.item() == pytest.approx(0.5 * math.log(0.5 / 0.95) + 0.5 * math.log(10), abs=1e-12)
    # lam = 1 fills the list to match p_u whatever the scores: i0 then i2.
    assert calibrated(candidates, scores, cats, history, 1.0, 2, alpha=0.1).tolist() == [[0, 2]]
    # A user without a categorised history keeps the model's order at any lambda.
    empty = torch.zeros(1, 2)
    assert calibrated(candidates, scores, cats, empty, 1.0, 3).tolist() == [[0, 1, 2]]


def test_items_with_equal_category_sets_keep_the_model_order():
    # Candidates with one category set have the same objective but for relevance, so at
    # lambda = 1 (relevance ignored) they tie exactly and must come in the model's order.
    g = torch.Generator().manual_seed(3)
    cats = (torch.rand(300, 19, generator=g) < 0.1).float()
    candidates = torch.stack([torch.randperm(300, generator=g)[:100] for _ in range(40)])
    scores = torch.rand(40, 100, generator=g).sort(1, descending=True).values
    history = torch.rand(40, 19, generator=g) * (torch.rand(40, 19, generator=g) < 0.6)
    history = history / history.sum(1, keepdim=True).clamp(min=1e-9)
    for ranked in (
        mmr(candidates, scores, cats, 1.0, 20),
        calibrated(candidates, scores, cats, history, 1.0, 20),
    ):
        for cand, row in zip(candidates.tolist(), ranked.tolist(), strict=True):
            # among items of one category set, list order = candidate order
            by_set: dict[tuple, list[int]] = {}
            for item in row:
                by_set.setdefault(tuple(cats[item].tolist()), []).append(cand.index(item))
            for positions in by_set.values():
                assert positions == sorted(positions)
                # and no unpicked candidate of that set ranks above a picked one
                key = tuple(cats[cand[positions[-1]]].tolist())
                skipped = [
                    j
                    for j in range(positions[-1])
                    if tuple(cats[cand[j]].tolist()) == key and j not in positions
                ]
                assert skipped == []


# ------------------------------------------------------------------ in the evaluator
@pytest.fixture(scope="module")
def reranked_case():
    ds = random_dataset(5, num_categories=4, hierarchy=False)
    split = temporal_split(ds, (0.6, 0.2, 0.2))
    g = torch.Generator().manual_seed(5)
    scorer = EmbeddingScorer(torch.randn(30, 8, generator=g), torch.randn(40, 8, generator=g))
    return split, scorer


def train_category_distribution(split) -> torch.Tensor:
    """``[num_users, C]`` p_u: each training item spreads 1 evenly over its categories."""
    cats = split.dataset.item_categories.toarray().astype(np.float64)
    spread = cats / np.maximum(cats.sum(1, keepdims=True), 1)
    mass = split.user_item_matrix("train").toarray().astype(bool) @ spread
    return torch.from_numpy(mass / np.maximum(mass.sum(1, keepdims=True), 1e-300))


def test_evaluator_reranks_the_pool_of_unseen_items(reranked_case):
    split, scorer = reranked_case
    ev = Evaluator(split, ks=[5, 10], memory_budget_mb=0.05)  # several chunks
    settings = [Rerank(m, lam, pool=15) for m in ("mmr", "calibrated") for lam in (0.0, 0.7)]
    for part, seen in (("valid", ("train",)), ("test", ("train", "valid"))):
        plain = ev.evaluate(scorer, part, keep_topk=True, slices=False)
        results = ev.evaluate_reranked(scorer, part, settings, keep_topk=True)
        users = torch.from_numpy(plain.users)
        scores = scorer(users)
        seen_items = [set() for _ in range(split.dataset.num_users)]
        for p in seen:
            m = split.user_item_matrix(p).tocsr()
            for u in range(m.shape[0]):
                seen_items[u] |= set(m.indices[m.indptr[u] : m.indptr[u + 1]].tolist())
        for u_pos, u in enumerate(users.tolist()):
            scores[u_pos, sorted(seen_items[u])] = -math.inf
        candidates, values = candidate_pool(scores, 15)
        history = train_category_distribution(split)[users]
        for setting, res in zip(settings, results, strict=True):
            # lists never contain seen items
            for u, row in zip(plain.users, res.topk, strict=True):
                assert not seen_items[u] & set(row[row >= 0].tolist())
            # lists are the re-ranker's on the pool, whatever the chunking
            if setting.method == "mmr":
                expected = mmr(candidates, values, ev.item_categories, setting.lam, 10)
            else:
                expected = calibrated(
                    candidates, values, ev.item_categories, history, setting.lam, 10
                )
            np.testing.assert_array_equal(res.topk, expected.numpy())
            assert res.metrics.keys() == plain.metrics.keys()
            if setting.lam == 0.0:  # the model's order: every metric unchanged
                np.testing.assert_array_equal(res.topk, plain.topk)
                assert res.metrics == pytest.approx(plain.metrics, nan_ok=True)


def test_reranked_metrics_are_the_metrics_of_the_reranked_lists(reranked_case):
    split, scorer = reranked_case
    ev = Evaluator(split, ks=[5, 10])
    (res,) = ev.evaluate_reranked(scorer, "test", [Rerank("mmr", 0.6, pool=20)], keep_topk=True)
    # A scorer that ranks exactly these lists (10, 9, ... for the listed items).
    fixed = torch.full((split.dataset.num_users, split.dataset.num_items), -1e9)
    for u, row in zip(res.users, res.topk, strict=True):
        fixed[u, row] = torch.arange(10, 0, -1, dtype=torch.float32)
    again = ev.evaluate(
        lambda users: fixed[users].clone(),
        "test",
        keep_topk=True,
        item_embeddings=scorer.item_embeddings,
        slices=False,
    )
    np.testing.assert_array_equal(again.topk, res.topk)
    assert again.metrics == pytest.approx(res.metrics, nan_ok=True)


def test_evaluator_rerank_errors(reranked_case):
    split, scorer = reranked_case
    ev = Evaluator(split, ks=[5, 10])
    with pytest.raises(ValueError, match=r"largest K \(10\) items; mmr@0.5 has a smaller one"):
        ev.evaluate_reranked(scorer, "test", [Rerank("mmr", 0.5, pool=8)])
    no_cats = random_dataset(5, num_categories=0, hierarchy=False)
    ev = Evaluator(temporal_split(no_cats, (0.6, 0.2, 0.2)), ks=[5])
    with pytest.raises(ValueError, match="needs item categories"):
        ev.evaluate_reranked(scorer, "test", [Rerank("mmr", 0.5)])


@pytest.mark.gpu
def test_gpu_reranking_matches_cpu(reranked_case):
    split, scorer = reranked_case
    settings = [Rerank(m, lam, pool=15) for m in ("mmr", "calibrated") for lam in (0.3, 1.0)]
    cpu = Evaluator(split, ks=[5, 10]).evaluate_reranked(scorer, "test", settings, True)
    cuda_scorer = EmbeddingScorer(scorer._users.cuda(), scorer.item_embeddings.cuda())
    gpu = Evaluator(split, ks=[5, 10], device="cuda").evaluate_reranked(
        cuda_scorer, "test", settings, True
    )
    for a, b in zip(cpu, gpu, strict=True):
        np.testing.assert_array_equal(b.topk, a.topk)
        assert b.metrics == pytest.approx(a.metrics, nan_ok=True)


# ------------------------------------------------------------------ runner settings
def eval_cfg(**kw):
    return OmegaConf.create({"ks": [10, 20], "rerank_lambda": [0.0, 0.5], "rerank_pool": 100, **kw})


def test_rerank_settings_from_config():
    ds = random_dataset(5, 4, hierarchy=False)
    assert rerank_settings(eval_cfg(rerank=None), ds) == []
    got = rerank_settings(eval_cfg(rerank="mmr"), ds)
    assert [s.name for s in got] == ["mmr@0", "mmr@0.5"] and got[0].pool == 100
    got = rerank_settings(eval_cfg(rerank=["mmr", "calibrated"], rerank_lambda=0.3), ds)
    assert [s.name for s in got] == ["mmr@0.3", "calibrated@0.3"]


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"rerank": "mmmr"}, "eval.rerank: unknown re-ranking method 'mmmr'"),
        ({"rerank": "mmr", "rerank_lambda": [0.2, 1.5]}, r"eval.rerank_lambda: 1.5 is not"),
        ({"rerank": "mmr", "rerank_lambda": -0.1}, r"eval.rerank_lambda: -0.1 is not"),
        ({"rerank": "mmr", "rerank_pool": 15}, r"rerank_pool: 15 .* an integer >= 20"),
    ],
)
def test_rerank_config_errors(overrides, message):
    with pytest.raises(ConfigError, match=message):
        rerank_settings(eval_cfg(**overrides), random_dataset(5, 4, hierarchy=False))


def test_rerank_config_error_without_categories():
    ds = make_dataset([(0, 0, 0.0), (0, 1, 1.0)], 1, 2, [[], []], 0, name="plain")
    with pytest.raises(ConfigError, match="dataset plain has none"):
        rerank_settings(eval_cfg(rerank="calibrated"), ds)


# ------------------------------------------------------------------ through gnnrec-train
def test_gnnrec_train_writes_per_lambda_keys(tmp_path):
    proc = gnnrec_train(
        "model=mostpop",
        "train.epochs=1",
        "logger=none",
        "eval.rerank=[mmr,calibrated]",
        "eval.rerank_lambda=[0,0.5,1]",
        "eval.rerank_pool=25",
        "eval.slice_parts=[]",
        "hydra.run.dir=out",
        cwd=tmp_path,
    )
    results = json.loads((tmp_path / "out" / "results.json").read_text())
    for method in ("mmr", "calibrated"):
        for lam in ("0", "0.5", "1"):
            assert f"rerank {method}@{lam} test: recall@20 " in proc.stdout
            for part in ("valid", "test"):
                for metric in ("recall@20", "ndcg@10", "cat_coverage@20", "ild@20", "users"):
                    assert f"rerank/{method}@{lam}/{part}/{metric}" in results
    for key in [k for k in results if k.startswith(("valid/", "test/"))]:  # lambda 0 = model
        assert results[f"rerank/mmr@0/{key}"] == pytest.approx(results[key], nan_ok=True)
    coverage = [results[f"rerank/mmr@{lam}/test/cat_coverage@20"] for lam in ("0", "0.5", "1")]
    assert coverage[0] < coverage[1] < coverage[2]
    miscal = [results[f"rerank/calibrated@{lam}/test/miscalibration@20"] for lam in ("0", "0.5")]
    assert miscal[1] < miscal[0]
