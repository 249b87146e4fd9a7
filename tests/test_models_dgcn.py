"""DGCN's three components on hand-built inputs: rebalanced neighbour sampling,
category-boosted negatives, adversarial category learning (gradient reversal)."""

from __future__ import annotations

import json
import math

import pytest
import torch
import torch.nn.functional as F

from gnnrec.data.split import temporal_split
from gnnrec.errors import ConfigError
from gnnrec.graph.build import build_graph
from gnnrec.models.dgcn import DGCN, rebalancing_weights
from gnnrec.models.layers.grl import GradientReversal, gradient_reversal
from gnnrec.sampling import CategoryBoostedSampler, InCategorySampler, TrainingPairs
from tests.conftest import write_small_ml100k
from tests.test_cli_train import gnnrec_train

# --- rebalancing weights and neighbour sampling ---------------------------------------


def test_rebalancing_weights_by_hand():
    # user 0: items 0, 1, 2 (category A) and 3 (B); user 1: items 3 (B), 4 (A and B), 5 (none)
    users = torch.tensor([0, 0, 0, 0, 1, 1, 1])
    items = torch.tensor([0, 1, 2, 3, 3, 4, 5])
    cats = torch.tensor([[0, 1, 2, 3, 4, 4], [0, 0, 0, 1, 0, 1]])
    w = rebalancing_weights(users, items, cats, num_items=6, num_categories=2, alpha=1.0)
    # n_0(A) = 3, n_0(B) = 1; n_1(A) = 1 (item 4), n_1(B) = 2 (items 3, 4), n_1(none) = 1
    # item 4 averages its categories: (1/1 + 1/2) / 2 = 0.75
    expected = torch.tensor([1 / 3, 1 / 3, 1 / 3, 1.0, 1 / 2, 0.75, 1.0])
    assert torch.allclose(w, expected)
    w2 = rebalancing_weights(users, items, cats, num_items=6, num_categories=2, alpha=2.0)
    assert torch.allclose(w2[:4], torch.tensor([1 / 9, 1 / 9, 1 / 9, 1.0]))
    w0 = rebalancing_weights(users, items, cats, num_items=6, num_categories=2, alpha=0.0)
    assert torch.equal(w0, torch.ones(7))


def _repeated_history(num_users: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Every user has items 0, 1, 2 (category 0, the majority) and 3 (category 1)."""
    users = torch.arange(num_users).repeat_interleave(4)
    items = torch.arange(4).repeat(num_users)
    cats = torch.tensor([[0, 1, 2, 3], [0, 0, 0, 1]])
    return users, items, cats


def _share_of_minority(num_neighbors: int, rebalance: bool, num_users: int = 4000) -> float:
    users, items, cats = _repeated_history(num_users)
    model = DGCN(
        torch.stack([users, items]),
        cats,
        num_users,
        4,
        2,
        embedding_dim=4,
        num_layers=1,
        num_neighbors=num_neighbors,
        rebalance=rebalance,
        adversarial=False,
    )
    model.start_epoch(torch.Generator().manual_seed(1))
    a = model.adjacency
    # every user keeps exactly num_neighbors items, each weighted 1 / num_neighbors
    user_nnz = num_users * num_neighbors
    assert torch.equal(
        a.crow_indices()[: num_users + 1], torch.arange(num_users + 1) * num_neighbors
    )
    assert torch.allclose(a.values()[:user_nnz], torch.full((user_nnz,), 1 / num_neighbors))
    picked = a.col_indices()[:user_nnz].view(num_users, num_neighbors) - num_users
    assert ((picked >= 0) & (picked < 4)).all()
    return float((picked == 3).any(1).float().mean())


@pytest.mark.parametrize(
    ("num_neighbors", "rebalanced", "uniform"),
    [
        # k = 1, weights 1/3, 1/3, 1/3, 1: P(item 3) = 1 / (3 * 1/3 + 1) = 1/2 (uniform: 1/4)
        (1, 0.5, 0.25),
        # k = 2 without replacement: 1/2 + 1/2 * (1 / (2/3 + 1)) = 0.8 (uniform: 2/4)
        (2, 0.8, 0.5),
    ],
)
def test_rebalanced_sampling_boosts_the_minority_category(num_neighbors, rebalanced, uniform):
    # 4000 independent users: a share's standard deviation is at most
    # sqrt(0.25 / 4000) = 0.0079, so 0.035 is more than 4 standard deviations
    tol = 0.035
    assert abs(_share_of_minority(num_neighbors, True) - rebalanced) < tol
    assert abs(_share_of_minority(num_neighbors, False) - uniform) < tol


@pytest.fixture
def graph(tiny_dataset):
    return build_graph(temporal_split(tiny_dataset))


def test_sample_is_a_subgraph_and_propagation_averages_it(graph):
    torch.manual_seed(0)
    model = DGCN.from_graph(graph, embedding_dim=3, num_layers=2, num_neighbors=2)
    model.start_epoch(torch.Generator().manual_seed(4))
    a = model.adjacency.to_dense()
    n_u = graph.num_users
    full = torch.zeros_like(a)
    full[graph.edge_index[0], graph.edge_index[1]] = 1.0
    assert ((a > 0) <= (full > 0)).all()  # only true neighbours
    degree = full.sum(1)
    kept = (a > 0).sum(1)
    assert torch.equal(kept, degree.clamp(max=2).long())
    # each row averages its sampled neighbours; no self-loops
    assert torch.allclose(a.sum(1)[degree > 0], torch.ones(int((degree > 0).sum())))
    assert (a.diagonal() == 0).all()
    e = model.embedding.weight.detach()
    layers = model.layers()
    assert torch.allclose(layers[1], a @ e, atol=1e-6)
    assert torch.allclose(layers[2], a @ a @ e, atol=1e-6)
    users, items = model()
    mean = (e + a @ e + a @ a @ e) / 3
    assert torch.allclose(torch.cat([users, items]).detach(), mean, atol=1e-6)
    assert users.shape == (n_u, 3) and items.shape == (graph.num_items, 3)


def test_sample_is_reproducible_per_epoch_and_restored_with_the_weights(graph):
    model = DGCN.from_graph(graph, num_neighbors=1)
    model.start_epoch(torch.Generator().manual_seed(7))
    first = model.adjacency.to_dense()
    saved = {k: v.clone() for k, v in model.state_dict().items()}
    gen = torch.Generator().manual_seed(7)
    model.start_epoch(gen)
    assert torch.equal(model.adjacency.to_dense(), first)
    samples = set()
    for _ in range(10):
        model.start_epoch(gen)
        samples.add(tuple(model.sampled_columns.tolist()))
    assert len(samples) > 1  # a fresh sample per epoch
    model.load_state_dict(saved)
    assert torch.equal(model.adjacency.to_dense(), first)


def test_full_graph_is_lightgcn(graph):
    model = DGCN.from_graph(graph, num_neighbors=None, rebalance=False, adversarial=False)
    assert torch.allclose(model.adjacency.to_dense(), graph.adjacency.to_dense())
    with pytest.raises(ValueError, match="rebalance=true samples neighbours"):
        DGCN.from_graph(graph, num_neighbors=None)


def test_bad_options_fail_clearly(graph, tiny_dataset):
    with pytest.raises(ValueError, match="num_neighbors must be an integer >= 1"):
        DGCN.from_graph(graph, num_neighbors=0)
    with pytest.raises(ValueError, match="adv_weight must be a number >= 0"):
        DGCN.from_graph(graph, adv_weight=-1.0)
    with pytest.raises(ValueError, match="rebalance must be true or false"):
        DGCN.from_graph(graph, rebalance="yes")
    with_hubs = build_graph(temporal_split(tiny_dataset), include_categories=True)
    with pytest.raises(ConfigError, match="include_categories=false"):
        DGCN.from_graph(with_hubs)
    no_cats = torch.zeros(2, 0, dtype=torch.long)
    edges = graph.hetero["user", "interacts", "item"].edge_index
    with pytest.raises(ConfigError, match=r"model\.rebalance=false model\.adversarial=false"):
        DGCN(edges, no_cats, graph.num_users, graph.num_items, 0)
    DGCN(edges, no_cats, graph.num_users, graph.num_items, 0, rebalance=False, adversarial=False)


# --- gradient reversal and the adversarial term ---------------------------------------


def test_gradient_reversal_is_identity_forward_and_scales_gradient():
    x = torch.tensor([[1.0, -2.0], [0.5, 3.0]], requires_grad=True)
    w = torch.tensor([[2.0, 1.0], [-1.0, 4.0]])
    y = gradient_reversal(x, 0.25)
    assert torch.equal(y, x)
    (y * w).sum().backward()
    assert torch.equal(x.grad, -0.25 * w)  # d/dx of sum(x * w) is w, reversed and scaled
    layer = GradientReversal(2.0)
    x.grad = None
    (layer(x) * w).sum().backward()
    assert torch.equal(x.grad, -2.0 * w)
    with pytest.raises(ValueError, match="gamma must be a number >= 0"):
        GradientReversal(-1.0)


def _single_label_model() -> DGCN:
    # 3 users, 4 items; items 0, 1 in category 0, items 2, 3 in category 1
    edges = torch.tensor([[0, 0, 1, 1, 2, 2], [0, 2, 1, 3, 0, 3]])
    cats = torch.tensor([[0, 1, 2, 3], [0, 0, 1, 1]])
    torch.manual_seed(0)
    return DGCN(edges, cats, 3, 4, 2, embedding_dim=4, num_layers=1, adv_weight=0.5, adv_gamma=2.0)


def test_no_adversarial_term_when_switched_off(graph):
    model = DGCN.from_graph(graph, adversarial=False)
    model.train()
    model()
    assert (
        model.auxiliary_losses(torch.tensor([0]), torch.tensor([1]), torch.tensor([[2]]), None)
        == {}
    )
    assert not hasattr(model, "classifier")


def test_adversarial_term_and_its_reversed_gradient():
    model = _single_label_model()
    model.train()
    users, pos, neg = torch.tensor([0, 1]), torch.tensor([0, 3]), torch.tensor([[1], [2]])
    _, item_emb = model()
    terms = model.auxiliary_losses(users, pos, neg, None)
    batch = torch.tensor([0, 3, 1, 2])  # positives, then negatives
    logits = model.classifier(item_emb[batch])
    expected = 0.5 * F.cross_entropy(logits, torch.tensor([0, 1, 0, 1]))
    assert set(terms) == {"adv"}
    assert torch.allclose(terms["adv"], expected)
    # the classifier descends the loss; the embeddings get -gamma times its gradient
    params = [model.embedding.weight, model.classifier.weight]
    g_emb, g_cls = torch.autograd.grad(terms["adv"], params, retain_graph=True)
    plain_emb, plain_cls = torch.autograd.grad(expected, params)
    assert torch.allclose(g_cls, plain_cls)
    assert torch.allclose(g_emb, -2.0 * plain_emb)
    assert g_emb.abs().sum() > 0


def test_multi_label_items_use_binary_cross_entropy(graph):
    # the tiny dataset's item 7 carries categories 0 and 2
    model = DGCN.from_graph(graph, adv_weight=1.0)
    assert model.multi_label
    model.train()
    _, item_emb = model()
    pos, neg = torch.tensor([7]), torch.tensor([[3]])
    terms = model.auxiliary_losses(torch.tensor([0]), pos, neg, None)
    logits = model.classifier(item_emb[torch.tensor([7, 3])])
    target = torch.tensor([[1.0, 0.0, 1.0], [0.0, 1.0, 0.0]])
    expected = F.binary_cross_entropy_with_logits(logits, target, reduction="sum") / 2
    assert torch.allclose(terms["adv"], expected)


# --- category-boosted negatives -------------------------------------------------------


def _pairs() -> TrainingPairs:
    """20 items: 0-9 in category 0, 10-19 in category 1. User 0 has item 0; user 1
    has items 0-8 (all of category 0 but item 9) and item 10."""
    users = torch.tensor([0] + [1] * 10)
    items = torch.tensor([0, *range(9), 10])
    item_of = torch.arange(20)
    indptr = torch.arange(21)
    return TrainingPairs(users, items, 2, 20, indptr, (item_of >= 10).long(), 2)


@pytest.mark.parametrize("beta", [0.0, 0.3, 1.0])
def test_boosted_negatives_share_the_category_at_rate_beta_plus_uniform_share(beta):
    sampler = CategoryBoostedSampler(_pairs(), num_negatives=4, beta=beta)
    n = 5000
    neg = sampler.sample(
        torch.zeros(n, dtype=torch.long),
        torch.zeros(n, dtype=torch.long),
        torch.Generator().manual_seed(0),
    )
    assert neg.shape == (n, 4)
    assert not (neg == 0).any()  # never the user's training item
    # same category: beta (the in-category draw: items 1-9) + (1 - beta) * 9/19 (uniform
    # among the 19 non-interacted items); 20,000 draws: sd <= sqrt(0.25 / 20000) = 0.0035
    share = float((neg < 10).float().mean())
    assert abs(share - (beta + (1 - beta) * 9 / 19)) < 0.015


def test_boosted_negatives_avoid_training_positives_and_fall_back():
    sampler = CategoryBoostedSampler(_pairs(), num_negatives=1, beta=1.0)
    n = 2000
    users = torch.ones(n, dtype=torch.long)
    neg = sampler.sample(users, torch.zeros(n, dtype=torch.long), torch.Generator().manual_seed(0))
    assert not sampler.is_positive(users, neg.view(-1)).any()
    # the only non-interacted item of category 0 is 9: the in-category draw finds it
    # (p = 0.1 a round, 100 rounds) but for the rare rows counted as uniform fallbacks
    assert int((neg != 9).sum()) == sampler.fallbacks
    assert float((neg == 9).float().mean()) > 0.99
    # a user with every item of the category falls back to uniform negatives
    full = TrainingPairs(
        torch.tensor([0] * 10),
        torch.arange(10),
        1,
        20,
        torch.arange(21),
        (torch.arange(20) >= 10).long(),
        2,
    )
    sampler = CategoryBoostedSampler(full, beta=1.0)
    neg = sampler.sample(
        torch.zeros(50, dtype=torch.long),
        torch.zeros(50, dtype=torch.long),
        torch.Generator().manual_seed(0),
    )
    assert (neg >= 10).all() and sampler.fallbacks > 0


def test_boosted_sampler_checks_beta_and_categories():
    with pytest.raises(ConfigError, match=r"sampler.beta must be a probability in \[0, 1\]"):
        CategoryBoostedSampler(_pairs(), beta=1.5)
    bare = TrainingPairs(torch.tensor([0]), torch.tensor([0]), 1, 3)
    with pytest.raises(ConfigError, match="sampler=category_boosted needs item categories"):
        CategoryBoostedSampler(bare)
    assert isinstance(CategoryBoostedSampler(_pairs()), InCategorySampler)


# --- end to end -------------------------------------------------------------------------


@pytest.mark.slow
def test_dgcn_trains_through_gnnrec_train(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    write_small_ml100k(data)
    gnnrec_train(
        "model=dgcn",
        "sampler=category_boosted",
        "model.num_neighbors=3",
        f"dataset.root={data}",
        "train.epochs=2",
        "logger=none",
        "train.progress=false",
        "hydra.run.dir=out",
        cwd=tmp_path,
    )
    rows = [
        json.loads(line) for line in (tmp_path / "out" / "metrics.jsonl").read_text().splitlines()
    ]
    train_rows = [r for r in rows if "train/adv" in r]
    assert len(train_rows) == 2
    assert all(math.isfinite(r["train/adv"]) and r["train/adv"] > 0 for r in train_rows)
    results = json.loads((tmp_path / "out" / "results.json").read_text())
    assert results["model"] == "dgcn" and 0.0 <= results["test/recall@20"] <= 1.0
