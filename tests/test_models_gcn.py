"""Stacked graph convolutions: LightGCN (against PyG, every switch) and NGCF (by hand)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch_geometric.nn.models import LightGCN as PyGLightGCN

from gnnrec.data.split import temporal_split
from gnnrec.graph.build import build_graph
from gnnrec.models.layers.dropout import sparse_value_dropout
from gnnrec.models.lightgcn import LightGCN
from gnnrec.models.ngcf import NGCF


def _graph(dataset, include_categories: bool = False):
    return build_graph(temporal_split(dataset), include_categories=include_categories)


def _dense_adjacency(edge_index: torch.Tensor, n: int) -> torch.Tensor:
    a = torch.zeros(n, n, dtype=torch.float64)
    a[edge_index[0], edge_index[1]] = 1.0
    return a


# ---------------------------------------------------------------- LightGCN vs PyG


@pytest.mark.parametrize("include_categories", [False, True])
def test_lightgcn_equals_pyg_lightgcn_with_the_same_weights(tiny_dataset, include_categories):
    g = _graph(tiny_dataset, include_categories)
    torch.manual_seed(0)
    ours = LightGCN.from_graph(g, embedding_dim=8, num_layers=3)
    # PyG's LGConv normalises with gcn_norm(add_self_loops=False): D^-1/2 A D^-1/2, our default
    pyg = PyGLightGCN(g.num_nodes, embedding_dim=8, num_layers=3)
    with torch.no_grad():
        pyg.embedding.weight.copy_(ours.embedding.weight)
    with torch.no_grad():
        expected = pyg.get_embedding(g.edge_index)
        got = ours.propagate()
        assert got.shape == (g.num_nodes, 8)
        assert torch.allclose(got, expected, atol=1e-6)
        users, items = ours()
        # PyG scores node pairs (edge_label_index); ours are dot products of user and item rows
        u = torch.tensor([0, 0, 1, 2, 3, 3])
        i = torch.tensor([0, 5, 2, 7, 1, 4])
        label_index = torch.stack([u, i + g.num_users])
        pyg_scores = pyg(g.edge_index, label_index)
        our_scores = (users[u] * items[i]).sum(-1)
        assert torch.allclose(our_scores, pyg_scores, atol=1e-6)
    if include_categories:
        assert g.num_nodes == 4 + 8 + 3 and ours.embedding.num_embeddings == 15


# ---------------------------------------------------------------- LightGCN switches


def test_lightgcn_default_is_the_layer_mean_bit_for_bit(tiny_dataset):
    g = _graph(tiny_dataset)
    torch.manual_seed(0)
    model = LightGCN.from_graph(g, embedding_dim=4, num_layers=3)
    assert [name for name, _ in model.named_parameters()] == ["embedding.weight"]
    assert model.adjacency is g.adjacency  # sym, no self-loops: the graph's own adjacency
    out = model.propagate()
    # today's propagation, step by step: bit-identical
    x = model.embedding.weight
    ref = 0.25 * x
    for _ in range(3):
        x = torch.sparse.mm(g.adjacency, x)
        ref = ref + 0.25 * x
    assert torch.equal(out, ref)
    # and the dense mean of A^k E in float64
    a = g.adjacency.to_dense().double()
    e = model.embedding.weight.detach().double()
    dense = (e + a @ e + a @ a @ e + a @ a @ a @ e) / 4
    assert torch.allclose(out.double(), dense, atol=1e-6)


def test_norm_left_rows_sum_to_one(tiny_dataset):
    g = _graph(tiny_dataset)
    model = LightGCN.from_graph(g, embedding_dim=4, num_layers=1, norm="left", combine="last")
    a = model.adjacency.to_dense().double()
    plain = _dense_adjacency(g.edge_index, g.num_nodes)
    deg = plain.sum(1)
    connected = deg > 0
    assert torch.allclose(a.sum(1)[connected], torch.ones(int(connected.sum()), dtype=a.dtype))
    assert torch.allclose(a[connected], plain[connected] / deg[connected, None])
    assert not torch.allclose(a, a.T)  # D^-1 A is not symmetric on this graph
    e = model.embedding.weight.detach().double()
    assert torch.allclose(model.propagate().double(), a @ e, atol=1e-6)


def test_self_loops_add_the_diagonal(tiny_dataset):
    g = _graph(tiny_dataset)
    plain = _dense_adjacency(g.edge_index, g.num_nodes)
    looped = LightGCN.from_graph(g, embedding_dim=4, norm="none", self_loops=True)
    assert torch.equal(looped.adjacency.to_dense().double(), plain + torch.eye(g.num_nodes))
    sym = LightGCN.from_graph(g, embedding_dim=4, self_loops=True).adjacency.to_dense().double()
    deg = plain.sum(1) + 1  # the loop counts in the degree
    expected = (plain + torch.eye(g.num_nodes)) / torch.sqrt(deg[:, None] * deg[None, :])
    assert torch.allclose(sym, expected, atol=1e-6)
    assert (torch.diagonal(sym) > 0).all()
    assert (torch.diagonal(g.adjacency.to_dense()) == 0).all()


def test_combine_last_and_concat(tiny_dataset):
    g = _graph(tiny_dataset)
    a = g.adjacency.to_dense().double()
    last = LightGCN.from_graph(g, embedding_dim=4, num_layers=2, combine="last")
    e = last.embedding.weight.detach().double()
    assert torch.allclose(last.propagate().double(), a @ a @ e, atol=1e-6)
    concat = LightGCN.from_graph(g, embedding_dim=4, num_layers=2, combine="concat")
    users, items = concat()
    assert users.shape == (4, 3 * 4) and items.shape == (8, 3 * 4)
    e = concat.embedding.weight.detach().double()
    assert torch.allclose(concat.propagate().double(), torch.cat([e, a @ e, a @ a @ e], 1))


def test_alpha_implies_weighted_and_alpha_with_other_combinations_fails(tiny_dataset):
    g = _graph(tiny_dataset)
    model = LightGCN.from_graph(g, embedding_dim=4, num_layers=1, alpha=[0.0, 1.0])
    a = g.adjacency.to_dense()
    assert torch.allclose(model.propagate(), a @ model.embedding.weight, atol=1e-6)
    with pytest.raises(ValueError, match="alpha only applies"):
        LightGCN.from_graph(g, num_layers=1, alpha=[0.5, 0.5], combine="last")
    with pytest.raises(ValueError, match="combine must be one of"):
        LightGCN.from_graph(g, combine="max")
    with pytest.raises(ValueError, match="norm must be one of"):
        LightGCN.from_graph(g, norm="right")
    with pytest.raises(ValueError, match="self_loops must be true or false"):
        LightGCN.from_graph(g, self_loops="yes")
    with pytest.raises(ValueError, match=r"edge_dropout must be a probability in \[0, 1\)"):
        LightGCN.from_graph(g, edge_dropout=1.0)


@pytest.mark.parametrize("combine", ["learned", "attention"])
def test_learned_combinations_receive_gradient(tiny_dataset, combine):
    g = _graph(tiny_dataset)
    torch.manual_seed(0)
    model = LightGCN.from_graph(g, embedding_dim=4, num_layers=2, combine=combine)
    users, items = model()
    (users @ items.T).pow(2).sum().backward()
    combo = list(model.combine.named_parameters())
    assert combo
    for name, p in combo:
        assert p.grad is not None and p.grad.abs().sum() > 0, name


@pytest.mark.parametrize("switch", ["edge_dropout", "message_dropout"])
def test_dropout_changes_training_outputs_only(tiny_dataset, switch):
    g = _graph(tiny_dataset)
    torch.manual_seed(0)
    plain = LightGCN.from_graph(g, embedding_dim=8, num_layers=2)
    model = LightGCN.from_graph(g, embedding_dim=8, num_layers=2, **{switch: 0.5})
    model.load_state_dict(plain.state_dict())
    model.train()
    torch.manual_seed(1)
    first = model.propagate()
    second = model.propagate()
    assert not torch.allclose(first, plain.propagate())
    assert not torch.equal(first, second)  # a fresh mask every step
    torch.manual_seed(1)
    assert torch.equal(model.propagate(), first)  # drawn from torch's seeded generator
    model.eval()
    assert torch.equal(model.propagate(), plain.propagate())
    first.sum().backward()
    assert model.embedding.weight.grad.abs().sum() > 0


def test_sparse_value_dropout_drops_and_rescales(tiny_dataset):
    a = _graph(tiny_dataset).adjacency
    torch.manual_seed(0)
    dropped = sparse_value_dropout(a, 0.25)
    assert dropped.layout == torch.sparse_csr and dropped.shape == a.shape
    before, after = a.values(), dropped.values()
    kept = after != 0
    assert 0 < int(kept.sum()) < len(before)
    assert torch.allclose(after[kept], before[kept] / 0.75)
    coo = sparse_value_dropout(a.to_sparse_coo(), 0.25)
    assert coo.layout == torch.sparse_coo
    assert sparse_value_dropout(a, 0.25, training=False) is a
    assert sparse_value_dropout(a, 0.0) is a


def test_switches_work_with_category_hubs(tiny_dataset):
    g = _graph(tiny_dataset, include_categories=True)
    model = LightGCN.from_graph(
        g, embedding_dim=4, num_layers=2, norm="left", self_loops=True, edge_dropout=0.1
    )
    assert model.adjacency.shape == (15, 15)
    users, items = model()
    assert users.shape == (4, 4) and items.shape == (8, 4)


# ---------------------------------------------------------------- NGCF


def test_ngcf_one_layer_matches_the_formula_on_a_hand_graph():
    # u0 - i0, u0 - i1: degrees 2, 1, 1; L[u0, i*] = 1/sqrt(2 * 1)
    s = 2**-0.5
    lap = torch.tensor([[0.0, s, s], [s, 0.0, 0.0], [s, 0.0, 0.0]])
    torch.manual_seed(0)
    model = NGCF(lap.to_sparse_csr(), 1, 2, embedding_dim=4, num_layers=1)
    conv = model.convs[0]
    with torch.no_grad():
        for lin in (conv.lin_sum, conv.lin_bi):
            lin.bias.normal_()  # non-zero biases so that they are checked too
    model.eval()  # message dropout (0.1 by default) is off
    users, items = model()
    e = model.embedding.weight.detach().double()
    w1, b1 = conv.lin_sum.weight.detach().double(), conv.lin_sum.bias.detach().double()
    w2, b2 = conv.lin_bi.weight.detach().double(), conv.lin_bi.bias.detach().double()
    lap = lap.double()
    h = ((lap + torch.eye(3)) @ e) @ w1.T + b1 + ((lap @ e) * e) @ w2.T + b2
    h = torch.where(h > 0, h, 0.2 * h)
    expected = torch.cat([e, h / h.norm(dim=1, keepdim=True)], dim=1)
    assert users.shape == (1, 8) and items.shape == (2, 8)
    assert torch.allclose(torch.cat([users, items]).double(), expected, atol=1e-6)


def test_ngcf_message_and_node_dropout_act_in_training_only(tiny_dataset):
    g = _graph(tiny_dataset)
    torch.manual_seed(0)
    model = NGCF.from_graph(g, embedding_dim=8, num_layers=2, node_dropout=0.3)
    assert model.propagate().shape == (g.num_nodes, 3 * 8)
    assert not torch.equal(model.propagate(), model.propagate())
    model.eval()
    assert torch.equal(model.propagate(), model.propagate())
    with pytest.raises(ValueError, match="node_dropout must be a probability"):
        NGCF.from_graph(g, node_dropout=-0.1)
    with pytest.raises(ValueError, match="num_layers must be an integer >= 1"):
        NGCF.from_graph(g, num_layers=0)


def test_ngcf_with_category_hubs_scores_users_and_items_only(tiny_dataset):
    g = _graph(tiny_dataset, include_categories=True)
    torch.manual_seed(0)
    model = NGCF.from_graph(g, embedding_dim=8, num_layers=2, combine="mean")
    assert model.embedding.num_embeddings == 4 + 8 + 3
    users, items = model()
    assert users.shape == (4, 8) and items.shape == (8, 8)
    (users @ items.T).sum().backward()
    category_grad = model.embedding.weight.grad[12:]
    assert category_grad.abs().sum() > 0  # categories take part in propagation


@pytest.mark.parametrize("include_categories", [False, True])
def test_ngcf_every_parameter_gets_a_gradient_from_a_bpr_step(tiny_dataset, include_categories):
    g = _graph(tiny_dataset, include_categories)
    torch.manual_seed(0)
    model = NGCF.from_graph(g, embedding_dim=8, num_layers=3)
    model.train()
    users, items = model()
    u = torch.tensor([0, 1, 2, 3])
    pos = torch.tensor([0, 3, 5, 7])
    neg = torch.tensor([1, 2, 6, 4])
    eu = users.index_select(0, u)
    diff = (eu * items.index_select(0, pos)).sum(-1) - (eu * items.index_select(0, neg)).sum(-1)
    loss = -F.logsigmoid(diff).mean() + 1e-4 * model.regularization(u, pos, neg)
    loss.backward()
    names = [name for name, _ in model.named_parameters()]
    assert len(names) == 1 + 3 * 4  # embedding + (W1, b1, W2, b2) per layer
    for name, p in model.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_ngcf_regularization_is_the_layer0_norm_of_the_batch(tiny_dataset):
    g = _graph(tiny_dataset)
    model = NGCF.from_graph(g, embedding_dim=4, num_layers=1)
    w = model.embedding.weight
    u, pos, neg = torch.tensor([0, 2]), torch.tensor([1, 1]), torch.tensor([3])
    expected = w[[0, 2]].pow(2).sum() + 2 * w[4 + 1].pow(2).sum() + w[4 + 3].pow(2).sum()
    assert torch.allclose(model.regularization(u, pos, neg), expected)
