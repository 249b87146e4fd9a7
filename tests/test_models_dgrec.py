"""DGRec: submodular neighbour selection, layer attention and category-balanced
loss weights, each checked by hand on tiny graphs, and each switch off."""

from __future__ import annotations

import json
import math

import pytest
import torch

from gnnrec.data.split import temporal_split
from gnnrec.errors import ConfigError
from gnnrec.graph.build import build_graph
from gnnrec.models.dgrec import (
    DGRec,
    category_membership,
    greedy_facility_location,
    item_class_weights,
    jaccard_similarity,
    kernel_similarity,
)
from gnnrec.models.lightgcn import LightGCN
from tests.conftest import write_small_ml100k
from tests.test_cli_train import gnnrec_train

# user 0 has items 0-4; users 1 and 2 have items 0-2 (so 0-2 are the popular ones).
# Items 0, 1, 2 are in category 0, item 3 in category 1, item 4 in category 2.
USER_ITEMS = {0: [0, 1, 2, 3, 4], 1: [0, 1, 2], 2: [0, 1, 2]}
ITEM_CATEGORY = [0, 0, 0, 1, 2]


def _interactions() -> torch.Tensor:
    pairs = [(u, i) for u, items in USER_ITEMS.items() for i in items]
    return torch.tensor(pairs).T


def _item_categories() -> torch.Tensor:
    return torch.tensor([list(range(5)), ITEM_CATEGORY])


def _model(**hparams) -> DGRec:
    return DGRec(_interactions(), _item_categories(), 3, 5, 3, **hparams)


def _user_items(model: DGRec, layer: int, user: int) -> list[int]:
    start, end = model.slot_rowptr[user], model.slot_rowptr[user + 1]
    return model.selection[layer, start:end].tolist()


def _place_items(model: DGRec, points: dict[int, tuple[float, float]]) -> None:
    """Items at the given 2-d points, every other item at the origin."""
    with torch.no_grad():
        model.embedding.weight[3:] = 0.0
        for item, point in points.items():
            model.embedding.weight[3 + item] = torch.tensor(point)


# --- submodular selection ---------------------------------------------------------------


def test_greedy_facility_location_takes_the_largest_marginal_gain():
    s = torch.tensor([[1.0, 0.9, 0.1], [0.9, 1.0, 0.2], [0.1, 0.2, 1.0]])
    # step 1: row sums 2.0, 2.1, 1.3 -> item 1; cover (0.9, 1, 0.2)
    # step 2: gains item 0: 0.1, item 2: 0.8 -> item 2; cover (0.9, 1, 1)
    # step 3: only item 0 is left (gain 0.1)
    assert greedy_facility_location(s.unsqueeze(0), 3).tolist() == [[1, 2, 0]]
    # k larger than the neighbourhood: every position once
    assert greedy_facility_location(s.unsqueeze(0), 5).tolist() == [[1, 2, 0]]


def test_greedy_never_repicks_once_gains_are_zero():
    # three identical items then two others: after (0, 3, 4) every gain is 0;
    # the next picks are the lowest positions not yet taken
    same = torch.tensor([[1, 1, 1, 0, 0], [1, 1, 1, 0, 0], [1, 1, 1, 0, 0]], dtype=torch.float)
    s = torch.cat([same, torch.tensor([[0, 0, 0, 1, 0], [0, 0, 0, 0, 1.0]])])
    assert greedy_facility_location(s.unsqueeze(0), 5).tolist() == [[0, 3, 4, 1, 2]]


def test_kernel_similarity_matches_the_formula():
    x = torch.tensor([[[0.0, 0.0], [3.0, 4.0]]])
    # distances 0, 5, 5, 0: mean 2.5; s = exp(-5 / (2 * 2.5)) = e^-1 off the diagonal
    expected = torch.tensor([[[1.0, math.exp(-1)], [math.exp(-1), 1.0]]])
    assert torch.allclose(kernel_similarity(x, sigma=2.0), expected)


def test_jaccard_similarity_of_category_sets():
    classes = torch.tensor([[[1.0, 0, 0], [1, 1, 0], [0, 0, 0]]])
    # {0} vs {0, 1}: 1/2; empty sets overlap nothing but themselves
    expected = torch.tensor([[[1.0, 0.5, 0], [0.5, 1, 0], [0, 0, 1]]])
    assert torch.equal(jaccard_similarity(classes), expected)


def test_embedding_selection_covers_more_categories_than_the_most_popular_items():
    model = _model(k=3, embedding_dim=2, reweight=False)
    _place_items(model, {3: (1.0, 0.0), 4: (0.0, 1.0)})
    model.start_epoch(torch.Generator())
    # user 0's messages: items 0-2 at the origin, item 3 at (1, 0), item 4 at (0, 1)
    # (degree 1); x = e^{-1/m}, y = e^{-sqrt2/m} with m the mean distance.
    # step 1: gains 3 + 2x (items 0-2) > 1 + 3x + y (items 3, 4) -> item 0
    # step 2: items 1, 2 gain 0; items 3 and 4 gain 1 - x + (y - x)^+ each -> item 3
    # step 3: item 4 (gain 1 - x > 0 = the gain of items 1, 2)
    chosen = _user_items(model, 0, 0)
    assert chosen == [0, 3, 4]
    assert len({ITEM_CATEGORY[i] for i in chosen}) == 3
    by_popularity = torch.topk(model.item_deg[USER_ITEMS[0]].float(), 3).indices.tolist()
    assert len({ITEM_CATEGORY[USER_ITEMS[0][i]] for i in by_popularity}) == 1
    # users with at most k items keep them all
    assert _user_items(model, 0, 1) == [0, 1, 2] and _user_items(model, 0, 2) == [0, 1, 2]


def test_category_selection_is_a_category_cover_made_once():
    model = _model(k=3, similarity="category", num_layers=2)
    # Jaccard 1 within category 0, 0 across: gains 3, 3, 3, 1, 1 -> item 0, then 3, then 4
    assert model.selection.shape[0] == 1  # one selection serves every layer
    model()
    assert _user_items(model, 0, 0) == [0, 3, 4]
    before = model.selection.clone()
    with torch.no_grad():
        model.embedding.weight.normal_()
    model.start_epoch(torch.Generator())
    assert torch.equal(model.selection, before)


def test_users_aggregate_only_their_selected_items():
    model = _model(k=3, embedding_dim=2, reweight=False, layer_attention=False)
    a, a_t = model.adjacencies()[0]
    dense = a.to_dense()
    assert a_t is not None and torch.equal(a_t.to_dense(), dense.T)
    selected = set(_user_items(model, 0, 0))
    user0 = dense[0, 3:]
    assert {i for i in range(5) if user0[i] != 0} == selected
    # 1 / sqrt(d_u d_i) with the full degrees: d_0 = 5, d_item = 3 (items 0-2) or 1
    for i in selected:
        assert math.isclose(float(user0[i]), 1 / math.sqrt(5 * (3 if i < 3 else 1)), rel_tol=1e-6)
    # every item still hears every one of its users
    heard = (dense[3:, :3] != 0).T.int().tolist()  # [user, item]
    assert heard == [[1, 1, 1, 1, 1], [1, 1, 1, 0, 0], [1, 1, 1, 0, 0]]


def test_selection_is_refreshed_per_epoch_and_restored_with_the_weights():
    model = _model(k=3, embedding_dim=2, reweight=False)
    _place_items(model, {3: (1.0, 0.0), 4: (0.0, 1.0)})
    model()
    assert bool(model.selected) and _user_items(model, 0, 0) == [0, 3, 4]
    # now items 0, 3, 4 coincide and 1, 2 (messages scaled by 1/sqrt(3)) stand apart:
    # gains 3 + 2x for 0, 3, 4 -> item 0, then items 1 and 2 (gain > 0 = that of 3, 4)
    _place_items(model, {1: (1.0, 0.0), 2: (0.0, 1.0)})
    model()  # steps never re-select
    assert _user_items(model, 0, 0) == [0, 3, 4]
    model.start_epoch(torch.Generator())
    assert _user_items(model, 0, 0) == [0, 1, 2]
    other = _model(k=3, embedding_dim=2, reweight=False)
    other.load_state_dict(model.state_dict())
    assert _user_items(other, 0, 0) == [0, 1, 2]
    assert torch.allclose(other()[0], model()[0])


def test_reselect_every_skips_epochs():
    model = _model(k=3, embedding_dim=2, reselect_every=2, reweight=False)
    gen = torch.Generator()
    _place_items(model, {3: (1.0, 0.0), 4: (0.0, 1.0)})
    model.start_epoch(gen)
    _place_items(model, {1: (1.0, 0.0), 2: (0.0, 1.0)})
    model.start_epoch(gen)  # epoch 2: kept
    assert _user_items(model, 0, 0) == [0, 3, 4]
    model.start_epoch(gen)  # epoch 3: re-selected from the new weights
    assert _user_items(model, 0, 0) == [0, 1, 2]


# --- layer attention --------------------------------------------------------------------


def test_layer_attention_weights_sum_to_one():
    model = _model(num_layers=2, embedding_dim=4)
    attention = model.combine
    x = torch.randn(7, 4)
    # identical layers: any weights summing to 1 return them unchanged
    assert torch.allclose(attention([x, x, x]), x, atol=1e-6)
    # layers 0, 1 and 2 (constant rows): the output is sum_l l * beta_l, beta by hand
    layers = [torch.full((1, 4), float(v)) for v in range(3)]
    scores = torch.stack([torch.tanh(attention.proj(h)) @ attention.query for h in layers], 1)
    beta = torch.softmax(scores, dim=1).detach()
    assert math.isclose(float(beta.sum()), 1.0, rel_tol=1e-6)
    expected = (beta * torch.arange(3.0)).sum()
    assert torch.allclose(attention(layers), expected.expand(1, 4), atol=1e-6)


# --- loss weights -----------------------------------------------------------------------


def test_class_balanced_weights_for_three_categories():
    # 6 items: item 0 in c0, items 1-2 in c1, items 3-5 in c2 -> n = (1, 2, 3) items;
    # beta = 0.5: w_c = 0.5 / (1 - 0.5^n) = 1, 2/3, 4/7
    cats = torch.tensor([[0, 1, 2, 3, 4, 5], [0, 1, 1, 2, 2, 2]])
    pairs = torch.tensor([[0, 0, 1, 2], [0, 1, 3, 3]])  # positives: items 0, 1, 3, 3
    model = DGRec(pairs, cats, 3, 6, 3, beta=0.5, submodular=False)
    # raw pair weights 1, 2/3, 4/7, 4/7 average 59/84, so each is scaled by 84/59
    expected = torch.tensor([84, 56, 56, 48, 48, 48]) / 59
    assert torch.allclose(model.item_weight, expected)
    assert torch.allclose(model.pair_weights(pairs[0], pairs[1]).mean(), torch.tensor(1.0))
    # counting training interactions instead: n = (1, 1, 2) -> w = 1, 1, 2/3; the
    # pairs average 5/6, so c0 and c1 weigh 6/5 and c2 4/5
    by_use = DGRec(pairs, cats, 3, 6, 3, beta=0.5, class_count="interactions", submodular=False)
    assert torch.allclose(by_use.item_weight, torch.tensor([6, 6, 6, 4, 4, 4]) / 5)


def test_weights_average_over_training_pairs_with_repeats():
    cats = torch.tensor([[0, 1, 2, 3, 4, 5], [0, 1, 1, 2, 2, 2]])
    pairs = torch.tensor([[0, 0, 1], [0, 1, 3]])
    repeats = torch.tensor([0, 0, 1, 3])  # user 0 saw item 0 twice
    model = DGRec(pairs, cats, 2, 6, 3, beta=0.5, train_items=repeats)
    assert torch.allclose(model.item_weight[repeats].mean(), torch.tensor(1.0))


def test_multi_category_and_uncategorised_items():
    # item 0 in c0 and c1, item 1 in c1, item 2 without a category (class 2 = "none")
    m = category_membership(torch.tensor([[0, 0, 1], [0, 1, 1]]), 3, 2)
    assert m.tolist() == [[1, 1, 0], [0, 1, 0], [0, 0, 1]]
    # n = (1, 2, 1), beta = 0.5: w_c = 1, 2/3, 1; item 0 takes the mean (1 + 2/3) / 2
    w = item_class_weights(m, m.sum(0), 0.5)
    assert torch.allclose(w, torch.tensor([5 / 6, 2 / 3, 1.0]))


# --- switches off -----------------------------------------------------------------------


@pytest.fixture
def graph(tiny_dataset):
    return build_graph(temporal_split(tiny_dataset))


def test_all_switches_off_is_lightgcn(graph):
    model = DGRec.from_graph(
        graph, num_layers=2, submodular=False, layer_attention=False, reweight=False
    )
    lightgcn = LightGCN.from_graph(graph, num_layers=2)
    lightgcn.embedding.weight.data.copy_(model.embedding.weight.data)
    for ours, theirs in zip(model(), lightgcn(), strict=True):
        assert torch.allclose(ours, theirs, atol=1e-6)
    assert model.pair_weights(torch.tensor([0]), torch.tensor([1])) is None
    assert not any(True for _ in model.combine.parameters())


def test_k_above_every_degree_selects_everything(graph):
    plain = DGRec.from_graph(graph, submodular=False, reweight=False)
    model = DGRec.from_graph(graph, k=100, reweight=False)
    model.load_state_dict(plain.state_dict())
    for ours, theirs in zip(model(), plain(), strict=True):
        assert torch.allclose(ours, theirs, atol=1e-6)


def test_from_graph_trains_one_step(graph):
    model = DGRec.from_graph(graph, k=2, num_layers=2)
    model.start_epoch(torch.Generator())
    users, items = model()
    assert users.shape == (4, 64) and items.shape == (8, 64)
    pos = graph.hetero["user", "interacts", "item"].edge_index
    weights = model.pair_weights(pos[0], pos[1])
    assert weights.shape == (pos.shape[1],) and bool((weights > 0).all())
    loss = -(weights * (users[pos[0]] * items[pos[1]]).sum(1)).mean()
    loss.backward()
    assert all(p.grad is not None and p.grad.any() for p in model.parameters())


def test_category_hubs_are_refused(tiny_dataset):
    graph = build_graph(temporal_split(tiny_dataset), include_categories=True)
    with pytest.raises(ConfigError, match="include_categories=false"):
        DGRec.from_graph(graph)


@pytest.mark.parametrize(
    ("hparams", "message"),
    [
        ({"k": 0}, "k must be an integer >= 1"),
        ({"beta": 1.0}, "beta must be a number in"),
        ({"sigma": 0}, "sigma must be a number > 0"),
        ({"similarity": "cosine"}, "similarity must be one of embedding, category"),
        ({"class_count": "users"}, "class_count must be one of items, interactions"),
        ({"submodular": "yes"}, "submodular must be true or false"),
        ({"reselect_every": 0}, "reselect_every must be an integer >= 1"),
    ],
)
def test_bad_hyper_parameters_are_named(hparams, message):
    with pytest.raises(ValueError, match=message):
        _model(**hparams)


# --- end to end -------------------------------------------------------------------------


@pytest.mark.slow
def test_dgrec_trains_through_gnnrec_train(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    write_small_ml100k(data)
    gnnrec_train(
        "model=dgrec",
        "model.k=4",
        "model.num_layers=2",
        f"dataset.root={data}",
        "train.epochs=2",
        "logger=none",
        "train.progress=false",
        "hydra.run.dir=out",
        cwd=tmp_path,
    )
    out = tmp_path / "out"
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    losses = [r["train/bpr"] for r in rows if "train/bpr" in r]
    assert len(losses) == 2 and all(math.isfinite(v) for v in losses)
    results = json.loads((out / "results.json").read_text())
    assert results["model"] == "dgrec" and 0.0 <= results["test/recall@20"] <= 1.0
