"""SGL, SimGCL, XSimGCL and SGL's graph augmentations on tiny hand-made graphs."""

from __future__ import annotations

import math

import pytest
import torch

from gnnrec.data.split import temporal_split
from gnnrec.graph.augment import (
    augmented_view,
    drop_interaction_edges,
    drop_nodes,
    edge_dropout,
    node_dropout,
    random_walk,
)
from gnnrec.graph.build import build_graph
from gnnrec.losses.functional import info_nce
from gnnrec.models.ssl import SGL, SimGCL, XSimGCL, sign_aligned_noise


def _bipartite(num_users: int, num_items: int, seed: int = 0) -> torch.Tensor:
    """A random user–item edge list (both directions) with every user and item linked."""
    g = torch.Generator().manual_seed(seed)
    dense = torch.rand(num_users, num_items, generator=g) < 0.5
    dense[torch.arange(num_users), torch.arange(num_users) % num_items] = True
    dense[torch.arange(num_items) % num_users, torch.arange(num_items)] = True
    u, i = dense.nonzero().T
    one_way = torch.stack([u, i + num_users])
    return torch.cat([one_way, one_way.flip(0)], dim=1)


def _pairs(edge_index: torch.Tensor) -> set[tuple[int, int]]:
    return set(map(tuple, edge_index.T.tolist()))


@pytest.fixture
def graph(tiny_dataset):
    return build_graph(temporal_split(tiny_dataset))


def _batch():
    users = torch.tensor([0, 1, 1, 3, 2])
    pos = torch.tensor([4, 0, 7, 4, 2])
    neg = torch.tensor([1, 3, 5, 6, 0])
    return users, pos, neg


# --- augmentations ---------------------------------------------------------------------


def test_edge_dropout_keeps_share_symmetric_and_renormalised():
    edges = _bipartite(30, 40)
    num_edges = edges.shape[1] // 2
    gen = torch.Generator().manual_seed(0)
    kept = drop_interaction_edges(edges, 30, 0.2, gen)
    # exactly floor(0.8 E) undirected edges survive (SGL-Torch keeps int(E * (1 - rho)))
    assert kept.shape[1] // 2 == num_edges - int(num_edges * 0.2)
    assert _pairs(kept) <= _pairs(edges)
    assert _pairs(kept) == _pairs(kept.flip(0))  # both directions of every kept edge
    a = edge_dropout(edges, 70, 30, 0.2, torch.Generator().manual_seed(0)).to_dense().double()
    assert torch.equal(a, a.T)
    # dense D^-1/2 A D^-1/2 of the kept edge set, degrees recomputed on the view
    binary = torch.zeros(70, 70, dtype=torch.float64)
    binary[kept[0], kept[1]] = 1.0
    assert torch.equal((a != 0).double(), binary)
    deg = binary.sum(1)
    inv = torch.where(deg > 0, deg.pow(-0.5), torch.zeros_like(deg))
    assert torch.allclose(a, inv[:, None] * binary * inv[None, :], atol=1e-6)


def test_views_are_reproducible_from_the_generator():
    edges = _bipartite(10, 12)
    for draw in (
        lambda g: edge_dropout(edges, 22, 10, 0.3, g),
        lambda g: node_dropout(edges, 22, 10, 12, 0.3, g),
    ):
        a = draw(torch.Generator().manual_seed(5)).to_dense()
        b = draw(torch.Generator().manual_seed(5)).to_dense()
        c = draw(torch.Generator().manual_seed(6)).to_dense()
        assert torch.equal(a, b) and not torch.equal(a, c)


def test_node_dropout_removes_every_edge_of_dropped_nodes():
    edges = _bipartite(10, 20)
    kept = drop_nodes(edges, 10, 20, 0.3, torch.Generator().manual_seed(1))
    remaining = _pairs(kept)
    touched = set(kept.flatten().tolist())
    # 3 users and 6 items are dropped; no dropped node keeps an edge
    lost_users = {u for u in range(10) if u not in touched}
    lost_items = {i for i in range(10, 30) if i not in touched}
    assert len(lost_users) >= 3 and len(lost_items) >= 6
    assert all(u not in lost_users and i not in lost_items for u, i in remaining if u < 10)
    assert remaining == _pairs(kept.flip(0))


def test_random_walk_draws_a_mask_per_layer_and_category_edges_stay():
    # users 0-1, items 2-4, category 5 (items 2 and 3 belong to it)
    ui = torch.tensor([[0, 0, 1, 1], [2, 3, 3, 4]])
    ic = torch.tensor([[2, 3], [5, 5]])
    one_way = torch.cat([ui, ic], dim=1)
    edges = torch.cat([one_way, one_way.flip(0)], dim=1)
    layers = random_walk(edges, 6, 2, 0.5, 3, torch.Generator().manual_seed(0))
    assert len(layers) == 3
    masks = {tuple((layer.to_dense() != 0).flatten().tolist()) for layer in layers}
    assert len(masks) > 1  # not one graph repeated
    for layer in layers:
        dense = layer.to_dense()
        assert (dense[:2, 2:5] != 0).sum() == 2  # int(4 * 0.5) = 2 interactions left
        assert dense[2, 5] != 0 and dense[3, 5] != 0  # item–category edges never dropped
    ed = augmented_view("ed", edges, 6, 2, 3, 0.5, 3, torch.Generator().manual_seed(0))
    assert ed[0] is ed[1] is ed[2]
    with pytest.raises(ValueError, match="drop_ratio must be in"):
        drop_interaction_edges(edges, 2, 1.0, torch.Generator())


# --- InfoNCE and the SimGCL noise -------------------------------------------------------


def test_info_nce_matches_hand_computation():
    # anchors a1=(1,0), a2=(0,1); positives p1=(1,0), p2=(1,1)/sqrt2 after normalising (1,1).
    # cosines: a1.p1=1, a1.p2=1/sqrt2, a2.p1=0, a2.p2=1/sqrt2; tau=0.5 -> logits x2.
    # row 1: -log(e^2 / (e^2 + e^sqrt2)); row 2: -log(e^sqrt2 / (e^0 + e^sqrt2)); mean of both.
    anchor = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    positive = torch.tensor([[2.0, 0.0], [1.0, 1.0]])
    s = math.sqrt(2)
    row1 = -math.log(math.exp(2) / (math.exp(2) + math.exp(s)))
    row2 = -math.log(math.exp(s) / (1.0 + math.exp(s)))
    assert info_nce(anchor, positive, 0.5).item() == pytest.approx((row1 + row2) / 2, rel=1e-6)


def test_simgcl_noise_has_norm_eps_and_the_sign_of_e():
    x = torch.randn(50, 8, generator=torch.Generator().manual_seed(0))
    noise = sign_aligned_noise(x, 0.3, torch.Generator().manual_seed(1))
    assert torch.allclose(noise.norm(dim=1), torch.full((50,), 0.3), atol=1e-6)
    assert torch.equal(torch.sign(noise), torch.sign(x))
    again = sign_aligned_noise(x, 0.3, torch.Generator().manual_seed(1))
    assert torch.equal(noise, again)


# --- models -----------------------------------------------------------------------------


def test_sgl_views_are_built_only_in_start_epoch(graph):
    torch.manual_seed(0)
    model = SGL.from_graph(graph, embedding_dim=8, num_layers=2, drop_ratio=0.3)
    users, pos, neg = _batch()
    with pytest.raises(RuntimeError, match="start_epoch"):
        model.auxiliary_losses(users, pos, neg, torch.Generator())
    model.start_epoch(torch.Generator().manual_seed(0))
    views = model._views
    model()
    first = model.auxiliary_losses(users, pos, neg, torch.Generator().manual_seed(1))["cl"]
    model()
    second = model.auxiliary_losses(users, pos, neg, torch.Generator().manual_seed(2))["cl"]
    assert model._views is views and first.item() == second.item()
    model.start_epoch(torch.Generator().manual_seed(3))
    assert model._views is not views
    # the main representation ignores the views: a LightGCN mean over layers 0..K
    a = graph.adjacency.to_dense().double()
    e0 = model.embedding.weight.detach().double()
    u, i = model()
    expected = (e0 + a @ e0 + a @ (a @ e0)) / 3
    assert torch.allclose(torch.cat([u, i]).double(), expected, atol=1e-6)


def test_sgl_view_embeddings_propagate_over_the_view(graph):
    torch.manual_seed(0)
    model = SGL.from_graph(graph, embedding_dim=4, num_layers=2, aug_type="rw", drop_ratio=0.3)
    model.start_epoch(torch.Generator().manual_seed(0))
    view = model._views[0]
    a1, a2 = (adj.to_dense().double() for adj in view)
    e0 = model.embedding.weight.detach().double()
    expected = (e0 + a1 @ e0 + a2 @ (a1 @ e0)) / 3
    assert torch.allclose(model.view_embeddings(view).double(), expected, atol=1e-6)


def test_xsimgcl_eval_is_plain_propagation_and_train_is_perturbed(graph):
    torch.manual_seed(0)
    model = XSimGCL.from_graph(graph, embedding_dim=4, num_layers=2)
    a = graph.adjacency.to_dense().double()
    e0 = model.embedding.weight.detach().double()
    expected = (a @ e0 + a @ (a @ e0)) / 2  # layer 0 left out of the mean, as in SELFRec
    model.eval()
    u, i = model()
    assert torch.allclose(torch.cat([u, i]).double(), expected, atol=1e-6)
    model.train()
    model.start_epoch(torch.Generator().manual_seed(0))
    u, i = model()
    assert not torch.allclose(torch.cat([u, i]).double(), expected, atol=1e-3)
    final, layer1 = model._views
    assert torch.equal(torch.cat([u, i]), final[:12])
    # layer l*=1 is A e0 plus noise of norm eps=0.2 per row
    noise = layer1.detach().double() - a @ e0
    nonzero = (a @ e0).abs().sum(1) > 0
    assert torch.allclose(noise.norm(dim=1)[nonzero], torch.full((12,), 0.2).double()[nonzero])
    model.eval()
    assert model._views is None  # switching to eval drops the stored training views


def test_simgcl_main_view_is_clean_and_aux_uses_the_generator(graph):
    torch.manual_seed(0)
    model = SimGCL.from_graph(graph, embedding_dim=4, num_layers=2)
    a = graph.adjacency.to_dense().double()
    e0 = model.embedding.weight.detach().double()
    u, i = model()
    assert torch.allclose(torch.cat([u, i]).double(), (a @ e0 + a @ (a @ e0)) / 2, atol=1e-6)
    users, pos, neg = _batch()
    cl1 = model.auxiliary_losses(users, pos, neg, torch.Generator().manual_seed(1))["cl"]
    cl2 = model.auxiliary_losses(users, pos, neg, torch.Generator().manual_seed(2))["cl"]
    assert cl1.item() != cl2.item()


def _build(name: str, graph):
    if name == "sgl":
        return SGL.from_graph(graph, embedding_dim=8, num_layers=2, drop_ratio=0.2)
    if name == "simgcl":
        return SimGCL.from_graph(graph, embedding_dim=8)
    return XSimGCL.from_graph(graph, embedding_dim=8)


def _step_terms(name: str, graph, seed: int) -> tuple[dict[str, float], torch.nn.Module]:
    torch.manual_seed(seed)
    model = _build(name, graph)
    gen = torch.Generator().manual_seed(seed)
    model.train()
    model.start_epoch(gen)
    users, pos, neg = _batch()
    user_emb, item_emb = model()
    u = user_emb.index_select(0, users)
    bpr = -torch.nn.functional.logsigmoid(
        (u * item_emb.index_select(0, pos)).sum(-1) - (u * item_emb.index_select(0, neg)).sum(-1)
    ).mean()
    aux = model.auxiliary_losses(users, pos, neg, gen)
    loss = bpr + 1e-4 * model.regularization(users, pos, neg) + sum(aux.values())
    loss.backward()
    return {k: v.item() for k, v in aux.items()}, model


@pytest.mark.parametrize("name", ["sgl", "simgcl", "xsimgcl"])
@pytest.mark.parametrize("include_categories", [False, True])
def test_every_parameter_gets_a_gradient_and_runs_repeat(tiny_dataset, name, include_categories):
    graph = build_graph(temporal_split(tiny_dataset), include_categories=include_categories)
    first, model = _step_terms(name, graph, seed=4)
    assert set(first) == {"cl"} and first["cl"] > 0
    for param in model.parameters():
        assert param.grad is not None and param.grad.abs().sum() > 0
    second, _ = _step_terms(name, graph, seed=4)
    assert first == second  # same seed, bitwise the same auxiliary loss


def test_invalid_options_name_what_would_work(graph):
    with pytest.raises(ValueError, match="aug_type must be one of ed, nd, rw"):
        SGL.from_graph(graph, aug_type="edge")
    with pytest.raises(ValueError, match=r"drop_ratio must be in \[0, 1\), got 1.5"):
        SGL.from_graph(graph, drop_ratio=1.5)
    with pytest.raises(ValueError, match="ssl_temp must be a number > 0"):
        SimGCL.from_graph(graph, ssl_temp=0)
    with pytest.raises(ValueError, match="eps must be a number >= 0"):
        SimGCL.from_graph(graph, eps="big")
    with pytest.raises(ValueError, match="layer_cl must be between 1 and num_layers=2, got 3"):
        XSimGCL.from_graph(graph, layer_cl=3)
    with pytest.raises(ValueError, match="num_layers must be an integer >= 1"):
        XSimGCL.from_graph(graph, num_layers=0)
