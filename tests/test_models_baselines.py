"""Training-free baselines: ItemKNN and GF-CF, checked against hand and dense numpy values."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
import torch
from conftest import make_dataset
from hydra import compose, initialize_config_module

from gnnrec.cli.train import build_model
from gnnrec.data.split import temporal_split
from gnnrec.graph.build import build_graph
from gnnrec.models.gfcf import GFCF
from gnnrec.models.itemknn import ItemKNN, item_similarity

SQRT6 = np.sqrt(6.0)

# Users x items; item columns: i0 = (1,1,1), i1 = (1,0,1), i2 = (0,1,1), i3 = (1,1,0).
HAND = sp.csr_matrix(
    np.array(
        [
            [1, 1, 0, 1],
            [1, 0, 1, 1],
            [1, 1, 1, 0],
        ],
        dtype=np.float64,
    )
)


def random_split(num_users: int = 30, num_items: int = 20, per_user: int = 8, seed: int = 0):
    """Random interactions; the last item is never interacted with (zero degree)."""
    rng = np.random.default_rng(seed)
    triples = []
    for u in range(num_users):
        items = rng.permutation(num_items - 1)[:per_user]
        triples += [(u, int(i), float(100 * u + t)) for t, i in enumerate(items)]
    ds = make_dataset(triples, num_users, num_items, [[0]] * num_items, 1, name="random")
    return temporal_split(ds)


def all_scores(model, num_users: int) -> np.ndarray:
    return model.scorer()(torch.arange(num_users)).double().numpy()


def compose_model(name: str, *overrides: str):
    with initialize_config_module(config_module="gnnrec.conf", version_base="1.3"):
        return compose(config_name="train", overrides=[f"model={name}", *overrides])


# ---------------------------------------------------------------- ItemKNN


def test_itemknn_cosine_by_hand():
    # |i0| = sqrt3, |i1| = |i2| = |i3| = sqrt2; i0·ij = 2 (j > 0), every other pair shares 1 user.
    # cos(i0, ij) = 2 / (sqrt3 sqrt2) = 2 / sqrt6 ~ 0.8165, other pairs 1 / 2; no diagonal.
    a, b = 2 / SQRT6, 0.5
    expected = np.array(
        [
            [0, a, a, a],
            [a, 0, b, b],
            [a, b, 0, b],
            [a, b, b, 0],
        ]
    )
    np.testing.assert_allclose(item_similarity(HAND, k=3).toarray(), expected, rtol=1e-12)


def test_itemknn_shrink_by_hand():
    # shrink 1: i0·ij / (sqrt6 + 1) = 2 / 3.449 ~ 0.5798; other pairs 1 / (2 + 1) = 1/3.
    a, b = 2 / (SQRT6 + 1), 1 / 3
    expected = np.array([[0, a, a, a], [a, 0, b, b], [a, b, 0, b], [a, b, b, 0]])
    np.testing.assert_allclose(item_similarity(HAND, k=3, shrink=1).toarray(), expected)


def test_itemknn_top1_by_hand_ties_to_smaller_id():
    # i0's three neighbours tie at 2/sqrt6: the smallest id (i1) is kept; every other item's
    # best neighbour is i0 (2/sqrt6 > 1/2).
    a = 2 / SQRT6
    expected = np.array([[0, a, 0, 0], [a, 0, 0, 0], [a, 0, 0, 0], [a, 0, 0, 0]])
    np.testing.assert_allclose(item_similarity(HAND, k=1).toarray(), expected)


def test_itemknn_topk_keeps_the_k_largest():
    rng = np.random.default_rng(1)
    r = sp.csr_matrix((rng.random((40, 25)) < 0.2).astype(np.float64))
    full = item_similarity(r, k=25).toarray()
    # Dense reference: cosine of columns, diagonal zeroed.
    dense = r.toarray()
    norms = np.linalg.norm(dense, axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        cos = np.nan_to_num(dense.T @ dense / np.outer(norms, norms))
    np.fill_diagonal(cos, 0)
    np.testing.assert_allclose(full, cos, rtol=1e-12)
    top = item_similarity(r, k=3).toarray()
    for j in range(25):
        kept = np.flatnonzero(top[j])
        assert len(kept) == min(3, np.count_nonzero(cos[j]))
        np.testing.assert_allclose(top[j, kept], cos[j, kept])
        dropped = np.setdiff1d(np.arange(25), kept)
        assert cos[j, dropped].max() <= top[j, kept].min()


def test_itemknn_scores_are_r_times_similarity():
    split = random_split()
    model = ItemKNN.from_graph(build_graph(split), k=5, shrink=2.0)
    r = split.user_item_matrix("train").astype(np.float64)
    expected = r @ item_similarity(r, k=5, shrink=2.0).T
    np.testing.assert_allclose(all_scores(model, 30), expected.toarray(), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("options", [{"k": 0}, {"k": 2.5}, {"shrink": -1.0}, {"shrink": "x"}])
def test_itemknn_rejects_bad_options(options, tiny_dataset):
    with pytest.raises(ValueError, match=next(iter(options))):
        ItemKNN.from_graph(build_graph(temporal_split(tiny_dataset)), **options)


# ---------------------------------------------------------------- GF-CF


def normalized_dense(r: np.ndarray) -> np.ndarray:
    """D_U^{-1/2} R D_I^{-1/2} with zero degrees giving zero rows/columns."""
    du, di = r.sum(1), r.sum(0)
    inv_u = np.where(du > 0, 1 / np.sqrt(np.maximum(du, 1e-300)), 0)
    inv_i = np.where(di > 0, 1 / np.sqrt(np.maximum(di, 1e-300)), 0)
    return inv_u[:, None] * r * inv_i[None, :]


def test_gfcf_linear_filter_matches_dense_numpy():
    split = random_split()
    r = split.user_item_matrix("train").toarray().astype(np.float64)
    norm = normalized_dense(r)
    model = GFCF.from_graph(build_graph(split), alpha=0.0)
    assert model.low_pass_in.shape[1] == 0
    np.testing.assert_allclose(all_scores(model, 30), r @ norm.T @ norm, rtol=1e-5, atol=1e-6)


def test_gfcf_low_pass_filter_matches_dense_svd():
    split = random_split()
    r = split.user_item_matrix("train").toarray().astype(np.float64)
    norm = normalized_dense(r)
    _, _, vt = np.linalg.svd(norm)
    v = vt[:5].T  # top-5 right singular vectors
    di = r.sum(0)
    inv_sqrt = np.where(di > 0, 1 / np.sqrt(np.maximum(di, 1e-300)), 0)
    low_pass = (inv_sqrt[:, None] * v) @ (np.sqrt(di)[:, None] * v).T
    expected = r @ norm.T @ norm + 0.3 * r @ low_pass
    model = GFCF.from_graph(build_graph(split), alpha=0.3, svd_rank=5)
    scores = all_scores(model, 30)
    assert np.isfinite(scores).all()  # item 19 has no train interactions
    np.testing.assert_allclose(scores, expected, rtol=1e-4, atol=1e-5)


def test_gfcf_is_deterministic():
    split = random_split()
    graph = build_graph(split)
    first = GFCF.from_graph(graph, svd_rank=8).scorer()(torch.arange(30))
    second = GFCF.from_graph(graph, svd_rank=8).scorer()(torch.arange(30))
    assert torch.equal(first, second)


def test_gfcf_rank_is_clamped(tiny_dataset):
    model = GFCF.from_graph(build_graph(temporal_split(tiny_dataset)), svd_rank=256)
    assert model.low_pass_in.shape == (8, 3)  # min(4 users, 8 items) - 1


@pytest.mark.parametrize("options", [{"svd_rank": -1}, {"svd_rank": 1.5}, {"alpha": "high"}])
def test_gfcf_rejects_bad_options(options, tiny_dataset):
    with pytest.raises(ValueError, match=next(iter(options))):
        GFCF.from_graph(build_graph(temporal_split(tiny_dataset)), **options)


# ---------------------------------------------------------------- both, through the config


@pytest.mark.parametrize("name", ["itemknn", "gfcf"])
def test_baseline_builds_from_config_and_is_training_free(name):
    split = random_split()
    model = build_model(compose_model(name), split, device="cpu")
    assert not model.trainable
    assert list(model.parameters()) == []
    scorer = model.scorer()
    users = torch.tensor([3, 0, 7])
    scores = scorer(users)
    assert scores.shape == (3, 20) and scores.dtype == torch.float32
    out = torch.full((3, 20), float("nan"))
    assert scorer(users, out=out).data_ptr() == out.data_ptr()
    assert torch.equal(out, scores)
    assert model.regularization(users, users, users).item() == 0.0
    with pytest.raises(NotImplementedError):
        model()


def test_config_hyperparameters_reach_the_models():
    split = random_split()
    knn = build_model(compose_model("itemknn", "model.k=2"), split, device="cpu")
    assert knn.similarity.values().numel() <= 2 * 20
    gfcf = build_model(compose_model("gfcf", "model.svd_rank=4"), split, device="cpu")
    assert gfcf.low_pass_in.shape == (20, 4)
