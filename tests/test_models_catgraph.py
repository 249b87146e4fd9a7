"""CategoryGraphRec: adjacency with weighted category co-occurrence edges, the
LightGCN special case, the score decomposition, the mix scalar, errors, a CLI run."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from gnnrec.data.split import Split, temporal_split
from gnnrec.errors import ConfigError
from gnnrec.graph.build import CO_OCCURS, build_graph
from gnnrec.models.catgraph import CategoryGraphRec
from gnnrec.models.lightgcn import LightGCN
from tests.conftest import make_dataset
from tests.test_cli_train import gnnrec_train

NO_INDEX = np.empty(0, dtype=np.int64)


def all_train(ds) -> Split:
    """Every interaction in train, so the graph is exactly the hand-written one."""
    return Split(ds, np.arange(len(ds.users)), NO_INDEX, NO_INDEX, method="all")


def small_graph(min_users: int | None = 1, include_categories: bool = True):
    # u0: i0, i1; u1: i2. Categories: i0 -> c0, i1 -> c1, i2 -> c1.
    # u0 has c0 and c1 in train, so with min_users=1 there is one co-occurrence edge c0-c1.
    ds = make_dataset([(0, 0, 1.0), (0, 1, 2.0), (1, 2, 1.0)], 2, 3, [[0], [1], [1]], 2)
    split = all_train(ds)
    return build_graph(split, include_categories, category_cooccurrence=min_users)


def test_adjacency_has_weighted_cooccurrence_entries():
    g = small_graph()
    assert g.hetero[CO_OCCURS].edge_index.t().tolist() == [[0, 1], [1, 0]]
    model = CategoryGraphRec.from_graph(g, cooccurrence_weight=0.5, embedding_dim=2)
    a = model.adjacency.to_dense().double()
    # nodes u0=0 u1=1 i0=2 i1=3 i2=4 c0=5 c1=6; weighted degrees:
    # u0=2, u1=1, i0=2 (u0,c0), i1=2 (u0,c1), i2=2 (u1,c1), c0=1+0.5=1.5, c1=2+0.5=2.5
    expected = {
        (0, 2): 1 / 4**0.5,  # u0-i0: 1/sqrt(2*2)
        (0, 3): 1 / 4**0.5,  # u0-i1
        (1, 4): 1 / 2**0.5,  # u1-i2: 1/sqrt(1*2)
        (2, 5): 1 / 3**0.5,  # i0-c0: 1/sqrt(2*1.5)
        (3, 6): 1 / 5**0.5,  # i1-c1: 1/sqrt(2*2.5)
        (4, 6): 1 / 5**0.5,  # i2-c1
        (5, 6): 0.5 / 3.75**0.5,  # c0-c1: w/sqrt(1.5*2.5)
    }
    dense = torch.zeros(7, 7, dtype=torch.float64)
    for (r, c), v in expected.items():
        dense[r, c] = dense[c, r] = v
    assert torch.allclose(a, dense, atol=1e-7)
    # w = 0: no cat-cat entry and the degrees of c0 (1) and c1 (2) lose it
    a0 = CategoryGraphRec.from_graph(g, cooccurrence_weight=0.0).adjacency.to_dense()
    assert a0[5, 6].item() == 0.0
    assert a0[2, 5].item() == pytest.approx(1 / 2**0.5)  # 1/sqrt(2*1)
    assert a0[3, 6].item() == pytest.approx(1 / 4**0.5)  # 1/sqrt(2*2)


def lightgcn_pair(dataset, **hparams):
    g = build_graph(temporal_split(dataset), include_categories=True, category_cooccurrence=1)
    torch.manual_seed(0)
    lightgcn = LightGCN.from_graph(g, embedding_dim=4, num_layers=2)
    catgraph = CategoryGraphRec.from_graph(g, embedding_dim=4, num_layers=2, **hparams)
    catgraph.embedding.weight.data.copy_(lightgcn.embedding.weight.data)
    return g, lightgcn, catgraph


def test_mix_off_without_cooccurrence_weight_is_lightgcn_with_category_hubs(tiny_dataset):
    g, lightgcn, catgraph = lightgcn_pair(tiny_dataset, mix="off", cooccurrence_weight=0.0)
    assert g.hetero[CO_OCCURS].edge_index.shape[1] > 0  # there are edges to leave out
    assert torch.allclose(catgraph.adjacency.to_dense(), g.adjacency.to_dense())
    for ours, theirs in zip(catgraph(), lightgcn(), strict=True):
        assert torch.allclose(ours, theirs, atol=1e-7)
    # the co-occurrence edges do change the propagation once they weigh something
    _, lightgcn, weighted = lightgcn_pair(tiny_dataset, mix="off", cooccurrence_weight=1.0)
    assert not torch.allclose(weighted()[1], lightgcn()[1], atol=1e-4)


def labelled_graph():
    # items: i0 [c0], i1 [c1], i2 [c0, c2] (mean of two), i3 [] (no category), i4 [c2]
    triples = [(0, 0, 1.0), (0, 2, 2.0), (1, 1, 1.0), (1, 3, 2.0), (2, 4, 1.0), (2, 2, 2.0)]
    ds = make_dataset(triples, 3, 5, [[0], [1], [0, 2], [], [2]], 3)
    return build_graph(all_train(ds), include_categories=True, category_cooccurrence=1)


def test_score_is_item_affinity_plus_gamma_category_affinity():
    torch.manual_seed(0)
    model = CategoryGraphRec.from_graph(
        labelled_graph(), embedding_dim=3, num_layers=2, mix="fixed", mix_init=0.7
    ).eval()
    x = model.propagate()  # [3 users + 5 items + 3 categories, 3]
    e_u, e_i, e_c = x[:3], x[3:8], x[8:]
    c_bar = torch.stack(
        [e_c[0], e_c[1], (e_c[0] + e_c[2]) / 2, torch.zeros(3), e_c[2]]
    )  # by hand from the labels
    expected = e_u @ e_i.T + 0.7 * (e_u @ c_bar.T)
    scores = model.scorer()(torch.arange(3))
    assert torch.allclose(scores, expected, atol=1e-6)
    # the item representation is e_i + gamma * c_bar, and i3 (no category) keeps e_i
    items = model()[1]
    assert torch.allclose(items, e_i + 0.7 * c_bar, atol=1e-6)
    assert torch.equal(items[3], e_i[3])


def test_learned_gamma_gets_the_category_affinity_as_gradient():
    torch.manual_seed(0)
    model = CategoryGraphRec.from_graph(labelled_graph(), embedding_dim=3, mix_init=0.25)
    assert isinstance(model.gamma, torch.nn.Parameter) and model.gamma.item() == 0.25
    users, items = model()
    pairs_u, pairs_i = torch.tensor([0, 1, 2]), torch.tensor([2, 1, 4])
    (users[pairs_u] * items[pairs_i]).sum().backward()
    # d/dgamma sum_(u,i) e_u . (e_i + gamma c_bar_i) = sum_(u,i) e_u . c_bar_i
    e_u, _, c_bar = (t.detach() for t in model.representations())
    expected = (e_u[pairs_u] * c_bar[pairs_i]).sum()
    assert model.gamma.grad is not None
    assert model.gamma.grad.item() == pytest.approx(expected.item(), rel=1e-5)
    fixed = CategoryGraphRec.from_graph(labelled_graph(), mix="fixed", mix_init=0.25)
    assert "gamma" not in dict(fixed.named_parameters())
    assert fixed.gamma.item() == 0.25


def test_errors_name_the_option():
    ds = make_dataset([(0, 0, 1.0), (1, 1, 1.0)], 2, 2, [[], []], 0)
    with pytest.raises(ConfigError, match="has none"):
        CategoryGraphRec.from_graph(build_graph(all_train(ds), include_categories=True))
    with pytest.raises(ConfigError, match="include_categories=true"):
        CategoryGraphRec.from_graph(small_graph(include_categories=False))
    g = small_graph(min_users=None)
    with pytest.raises(ConfigError, match="category_cooccurrence"):
        CategoryGraphRec.from_graph(g)
    CategoryGraphRec.from_graph(g, cooccurrence_weight=0.0)  # fine without the edges
    with pytest.raises(ValueError, match="mix must be one of"):
        CategoryGraphRec.from_graph(small_graph(), mix="sometimes")
    with pytest.raises(ValueError, match="cooccurrence_weight"):
        CategoryGraphRec.from_graph(small_graph(), cooccurrence_weight=-1.0)


@pytest.mark.slow
def test_trains_from_gnnrec_train_on_ml100k(tmp_path):
    gnnrec_train(
        "model=catgraph",
        "train.epochs=1",
        "logger=none",
        "train.progress=false",
        "hydra.run.dir=out",
        cwd=tmp_path,
    )
    results = json.loads((tmp_path / "out" / "results.json").read_text())
    assert results["model"] == "catgraph"
    assert 0.0 < results["test/recall@20"] <= 1.0
