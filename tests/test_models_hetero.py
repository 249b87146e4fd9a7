"""R-GCN and HGT over the typed graph: layers by hand, category and side relations, errors."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import scipy.sparse as sp
import torch
from torch_geometric.nn import RGCNConv

from gnnrec.data.dataset import InteractionDataset
from gnnrec.data.split import temporal_split
from gnnrec.graph.build import (
    BELONGS_TO,
    CO_OCCURS,
    INTERACTS,
    REV_BELONGS_TO,
    REV_INTERACTS,
    build_graph,
)
from gnnrec.models.hetero import HGTRec, RGCNRec, hetero_relations

DIM = 8
MODELS = [RGCNRec, HGTRec]


def csr(pairs: list[tuple[int, int]], shape: tuple[int, int]) -> sp.csr_matrix:
    rows, cols = zip(*pairs, strict=True)
    return sp.csr_matrix((np.ones(len(rows), dtype=np.float32), (rows, cols)), shape=shape)


@pytest.fixture
def rich_dataset(tiny_dataset: InteractionDataset) -> InteractionDataset:
    """The tiny dataset plus side relations: KG entities (and a country two hops
    from items), a user attribute, and a kept hierarchy level over the categories."""
    nodes = {
        "entity": np.array(["e0", "e1", "e2"]),
        "country": np.array(["k0", "k1"]),
        "job": np.array(["j0", "j1"]),
        "category_l0": np.array(["t0", "t1"]),
    }
    edges = {
        "item__directed_by__entity": csr([(0, 0), (1, 0), (3, 1), (6, 2)], (8, 3)),
        "entity__born_in__country": csr([(0, 0), (1, 1)], (3, 2)),
        "user__has_job__job": csr([(0, 0), (1, 0), (2, 1), (3, 1)], (4, 2)),
        "item__belongs_to__category_l0": csr(
            [(0, 0), (1, 0), (2, 0), (7, 0), (3, 1), (4, 1), (5, 1), (6, 1)], (8, 2)
        ),
        "category__child_of__category_l0": csr([(0, 0), (1, 1), (2, 1)], (3, 2)),
    }
    return dataclasses.replace(tiny_dataset, side_nodes=nodes, side_edges=edges)


def category_relation(et: tuple[str, str, str]) -> bool:
    return "category" in et[0] or "category" in et[2]


def build(cls, dataset, include_categories=True, seed=0, **hparams):
    graph = build_graph(
        temporal_split(dataset),
        include_categories=include_categories,
        category_cooccurrence=hparams.pop("category_cooccurrence", None),
        side_relations=hparams.pop("side_relations", True),
    )
    torch.manual_seed(seed)
    return cls.from_graph(graph, embedding_dim=DIM, **hparams), graph


@pytest.mark.parametrize(("num_bases", "num_blocks"), [(None, None), (2, None), (None, 2)])
def test_rgcn_equals_rgcnconv_applied_by_hand(rich_dataset, num_bases, num_blocks):
    model, graph = build(RGCNRec, rich_dataset, num_bases=num_bases, num_blocks=num_blocks)
    h = graph.hetero
    # own offsetting: users, items, then the other node types in graph order
    types = ["user", "item"] + [t for t in h.node_types if t not in ("user", "item")]
    sizes = [h[t].num_nodes for t in types]
    offset = {t: sum(sizes[:k]) for k, t in enumerate(types)}
    edge_types = h.edge_types
    edge_index = torch.cat(
        [h[et].edge_index + torch.tensor([[offset[et[0]]], [offset[et[2]]]]) for et in edge_types],
        dim=1,
    )
    edge_type = torch.cat(
        [torch.full((h[et].edge_index.size(1),), r) for r, et in enumerate(edge_types)]
    )
    assert model.edge_types == edge_types
    convs = []
    for layer in model.convs:
        conv = RGCNConv(
            DIM, DIM, len(edge_types), num_bases=num_bases, num_blocks=num_blocks, bias=False
        )
        conv.load_state_dict(layer.state_dict())
        convs.append(conv)
    x0 = model.embedding.weight.detach()
    x1 = torch.relu(convs[0](x0, edge_index, edge_type))
    x2 = convs[1](x1, edge_index, edge_type)
    expected = (x0 + x1 + x2) / 3
    users, items = model()
    assert torch.allclose(users, expected[:4], atol=1e-6)
    assert torch.allclose(items, expected[4:12], atol=1e-6)


def test_rgcn_layer_is_the_papers_per_relation_mean(tiny_dataset):
    # h_i = W_0 x_i + sum_r mean_{j in N_i^r} W_r x_j, computed edge by edge
    model, _ = build(RGCNRec, tiny_dataset, num_layers=1)
    conv = model.convs[0]
    x = model.embedding.weight.detach()
    expected = x @ conv.root.detach()
    ei, et = model.edge_index, model.edge_type
    for i in range(x.size(0)):
        for r in range(conv.num_relations):
            src = ei[0, (ei[1] == i) & (et == r)]
            if len(src):
                expected[i] += x[src].mean(0) @ conv.weight[r].detach()
    out = conv(x, ei, et)
    assert torch.allclose(out, expected, atol=1e-6)


def test_hgt_equals_its_hgtconv_modules_applied_by_hand(rich_dataset):
    model, graph = build(HGTRec, rich_dataset, heads=2, category_cooccurrence=1)
    h = graph.hetero
    everything = {et: h[et].edge_index for et in h.edge_types}
    into_users_items = {et: e for et, e in everything.items() if et[2] in ("user", "item")}
    first, last = model.convs
    # layer 1 feeds layer 2's sources (every type within one hop of users/items);
    # country is two hops from items, so it is in layer 1 as a source only
    assert set(first.edge_types) == {et for et in everything if et[2] != "country"}
    assert "country" not in first.node_types and "country" in first.kqv_lin.lins
    assert set(last.edge_types) == set(into_users_items) and last.node_types == ["user", "item"]
    x0 = {t: model.embedding[t].weight.detach() for t in model.node_types}
    with torch.no_grad():
        x1 = first(x0, {et: e for et, e in everything.items() if et[2] != "country"})
        x2 = last({t: x1[t] for t in model.layer_inputs[1]}, into_users_items)
    users, items = model()
    assert torch.allclose(users, (x0["user"] + x1["user"] + x2["user"]) / 3, atol=1e-6)
    assert torch.allclose(items, (x0["item"] + x1["item"] + x2["item"]) / 3, atol=1e-6)


@pytest.mark.parametrize("cls", MODELS)
def test_include_categories_false_removes_exactly_the_category_relations(cls, rich_dataset):
    # three layers: HGT then reaches every node type (country is two hops from items)
    with_cats, graph = build(cls, rich_dataset, num_layers=3, category_cooccurrence=1)
    without, _ = build(
        cls, rich_dataset, include_categories=False, num_layers=3, category_cooccurrence=1
    )
    every = set(graph.hetero.edge_types)
    category = {et for et in every if category_relation(et)}
    assert {BELONGS_TO, REV_BELONGS_TO, CO_OCCURS} < category
    assert ("category", "child_of", "category_l0") in category
    assert ("category_l0", "rev_belongs_to", "item") in category
    assert set(with_cats.edge_types) == every
    assert set(without.edge_types) == every - category
    assert "category" not in without.node_types and "category_l0" not in without.node_types
    if cls is RGCNRec:
        assert with_cats.convs[0].num_relations == len(every) == 15
        assert without.convs[0].num_relations == len(every) - len(category) == 8


def test_include_categories_changes_the_item_embeddings(rich_dataset):
    # same parameters for everything the two models share: only the category
    # relations differ, and they move the item embeddings
    without, _ = build(RGCNRec, rich_dataset, include_categories=False)
    with_cats, _ = build(RGCNRec, rich_dataset)

    def rows(model, node_type):
        start = model.node_offsets[node_type]
        return slice(start, start + rich_dataset.num_nodes(node_type))

    with torch.no_grad():
        with_cats.embedding.weight.zero_()
        for t in without.node_types:
            with_cats.embedding.weight[rows(with_cats, t)] = without.embedding.weight[
                rows(without, t)
            ]
        for a, b in zip(with_cats.convs, without.convs, strict=True):
            a.root.copy_(b.root)
            a.weight.zero_()
            for r, et in enumerate(without.edge_types):
                a.weight[with_cats.edge_types.index(et)] = b.weight[r]
    # control: with zero category embeddings and zero category relation
    # weights the category relations add nothing, and the two agree
    users_b, items_b = without()
    users_a, items_a = with_cats()
    assert torch.allclose(items_a, items_b, atol=1e-6)
    assert torch.allclose(users_a, users_b, atol=1e-6)
    with torch.no_grad():
        for a in with_cats.convs:
            a.weight[with_cats.edge_types.index(BELONGS_TO)] = torch.eye(DIM)
            a.weight[with_cats.edge_types.index(REV_BELONGS_TO)] = torch.eye(DIM)
        with_cats.embedding.weight[rows(with_cats, "category")] = 1.0
    users_a, items_a = with_cats()
    assert not torch.allclose(items_a, items_b)


def test_plain_interactions_only_raise_one_line_value_error(tiny_dataset):
    for cls, name in ((RGCNRec, "rgcn"), (HGTRec, "hgt")):
        with pytest.raises(ValueError, match=f"model={name} needs relations beyond user–item"):
            build(cls, tiny_dataset, include_categories=False)
        try:
            build(cls, tiny_dataset, include_categories=False)
        except ValueError as err:
            assert "\n" not in str(err) and "include_categories=true" in str(err)
    # side relations alone are enough
    ds = dataclasses.replace(
        tiny_dataset,
        side_nodes={"job": np.array(["j0", "j1"])},
        side_edges={"user__has_job__job": csr([(0, 0), (1, 1)], (4, 2))},
    )
    for cls in MODELS:
        model, _ = build(cls, ds, include_categories=False)
        assert set(model.edge_types) == {
            INTERACTS,
            REV_INTERACTS,
            ("user", "has_job", "job"),
            ("job", "rev_has_job", "user"),
        }


@pytest.mark.parametrize("cls", MODELS)
def test_side_relations_and_cooccurrence_are_used_when_present(cls, rich_dataset):
    model, _ = build(cls, rich_dataset, category_cooccurrence=1)
    assert ("item", "directed_by", "entity") in model.edge_types
    assert ("user", "has_job", "job") in model.edge_types
    assert CO_OCCURS in model.edge_types
    # entity and co-occurrence messages reach the item embeddings
    _, items = model()
    with torch.no_grad():
        if cls is RGCNRec:
            start = model.node_offsets["entity"]
            model.embedding.weight[start : start + 3] += 1.0
        else:
            model.embedding["entity"].weight += 1.0
    _, moved = model()
    assert not torch.allclose(items[[0, 1, 3, 6]], moved[[0, 1, 3, 6]])
    plain, _ = build(cls, rich_dataset, side_relations=False)
    assert not any(et[0] in ("entity", "job") for et in plain.edge_types)
    assert CO_OCCURS not in plain.edge_types


def test_hgt_leaves_out_node_types_beyond_its_layers(rich_dataset):
    one, _ = build(HGTRec, rich_dataset, num_layers=1)
    two, _ = build(HGTRec, rich_dataset, num_layers=2)
    assert "country" not in one.node_types and "country" in two.node_types
    assert one.convs[0].node_types == ["user", "item"]


@pytest.mark.parametrize("cls", MODELS)
@pytest.mark.parametrize("combine", ["mean", "concat"])
def test_shapes_and_regularization(cls, combine, rich_dataset):
    model, _ = build(cls, rich_dataset, num_layers=2, combine=combine)
    users, items = model()
    width = DIM * 3 if combine == "concat" else DIM
    assert users.shape == (4, width) and items.shape == (8, width)
    u, i, j = torch.tensor([0, 3]), torch.tensor([1, 7]), torch.tensor([2, 2, 5])
    if cls is RGCNRec:
        w = model.embedding.weight
        expected = w[u].pow(2).sum() + w[i + 4].pow(2).sum() + w[j + 4].pow(2).sum()
    else:
        wu, wi = model.embedding["user"].weight, model.embedding["item"].weight
        expected = wu[u].pow(2).sum() + wi[i].pow(2).sum() + wi[j].pow(2).sum()
    assert torch.allclose(model.regularization(u, i, j), expected)
    assert model.scorer()(torch.tensor([0, 1, 2])).shape == (3, 8)


@pytest.mark.parametrize("cls", MODELS)
@pytest.mark.parametrize("num_layers", [1, 2])
def test_every_parameter_gets_a_gradient(cls, num_layers, rich_dataset):
    # HGT computes only what reaches users and items (see HGTRec), so no
    # parameter is left without a gradient, also with one layer
    model, _ = build(
        cls,
        rich_dataset,
        num_layers=num_layers,
        combine="learned",
        activation="tanh",
        dropout=0.1,
        category_cooccurrence=1,
    )
    users, items = model()
    ((users @ items.T).sigmoid().sum() + model.regularization(*[torch.arange(4)] * 3)).backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None or not p.grad.any()]
    assert not missing


@pytest.mark.parametrize("cls", MODELS)
def test_forward_is_deterministic_on_cpu(cls, rich_dataset):
    a, _ = build(cls, rich_dataset, seed=3, category_cooccurrence=1)
    b, _ = build(cls, rich_dataset, seed=3, category_cooccurrence=1)
    ua, ia = a()
    ua2, ia2 = a()
    ub, ib = b()
    assert torch.equal(ua, ua2) and torch.equal(ia, ia2)
    assert torch.equal(ua, ub) and torch.equal(ia, ib)


def test_bad_hyper_parameters_name_the_option(tiny_dataset):
    graph = build_graph(temporal_split(tiny_dataset), include_categories=True)
    with pytest.raises(ValueError, match="heads"):
        HGTRec.from_graph(graph, embedding_dim=8, heads=3)
    with pytest.raises(ValueError, match="num_bases and num_blocks"):
        RGCNRec.from_graph(graph, embedding_dim=8, num_bases=2, num_blocks=2)
    with pytest.raises(ValueError, match="num_blocks 3 must divide"):
        RGCNRec.from_graph(graph, embedding_dim=8, num_blocks=3)
    with pytest.raises(ValueError, match="activation must be one of"):
        RGCNRec.from_graph(graph, activation="swish")
    with pytest.raises(ValueError, match="num_layers"):
        HGTRec.from_graph(graph, num_layers=0)
    with pytest.raises(ValueError, match="combine must be one of"):
        HGTRec.from_graph(graph, combine="max")


def test_hetero_relations_drops_empty_edge_types_and_isolated_node_types(rich_dataset):
    graph = build_graph(temporal_split(rich_dataset), category_cooccurrence=100)
    assert graph.hetero[CO_OCCURS].edge_index.shape == (2, 0)
    num_nodes, edges = hetero_relations(graph.hetero, include_categories=True)
    assert CO_OCCURS not in edges
    assert list(num_nodes)[:2] == ["user", "item"]
    num_nodes, edges = hetero_relations(graph.hetero, include_categories=False)
    assert "category" not in num_nodes and "category_l0" not in num_nodes
    assert set(num_nodes) == {"user", "item", "entity", "country", "job"}
