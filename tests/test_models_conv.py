"""The PyG message-passing stack: GCNRec, SAGERec, TransformerRec, GATRec."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch.nn.functional import elu

from gnnrec.data.split import temporal_split
from gnnrec.graph.build import build_graph
from gnnrec.models.conv import ConvStackRec, GCNRec, SAGERec, TransformerRec
from gnnrec.models.gat import GATRec
from gnnrec.models.layers.combine import COMBINATIONS

CONF = Path(__file__).resolve().parents[1] / "conf" / "model"

MODELS = {
    "gcn": (GCNRec, {}),
    "gcn-no-loops": (GCNRec, {"self_loops": False}),
    "sage": (SAGERec, {}),
    "transformer": (TransformerRec, {"heads": 2}),
    "transformer-beta": (TransformerRec, {"heads": 2, "beta": True}),
    "gat": (GATRec, {"heads": 2}),
}
STACKS = {"gcn": GCNRec, "sage": SAGERec, "transformer": TransformerRec, "gat": GATRec}


@pytest.fixture
def graph(tiny_dataset):
    return build_graph(temporal_split(tiny_dataset), include_categories=True)


def build(name: str, graph, **hparams) -> ConvStackRec:
    cls, extra = MODELS[name]
    torch.manual_seed(0)
    return cls.from_graph(graph, embedding_dim=8, **{**extra, **hparams})


@pytest.mark.parametrize("name", MODELS)
def test_forward_equals_the_models_convs_applied_by_hand(name, graph):
    model = build(name, graph, num_layers=3).eval()
    x = model.embedding.weight
    layers = [x]
    for k, conv in enumerate(model.convs):
        x = conv(x, graph.edge_index)
        if k < 2:
            x = elu(x)
        layers.append(x)
    expected = torch.stack(layers).mean(0)  # default combine=mean: 1/(L+1) sum
    u, i = model()
    assert torch.allclose(torch.cat([u, i]), expected[: 4 + 8], atol=1e-6)
    assert graph.num_nodes == 4 + 8 + 3  # category hubs are nodes


def hand_graph() -> tuple[torch.Tensor, torch.Tensor]:
    """2 users, 3 items; u0-i0, u0-i1, u1-i1, u1-i2 (both directions); dense A."""
    one_way = torch.tensor([[0, 0, 1, 1], [2, 3, 3, 4]])
    edge_index = torch.cat([one_way, one_way.flip(0)], dim=1)
    a = torch.zeros(5, 5)
    a[edge_index[1], edge_index[0]] = 1.0  # row = receiving node
    return edge_index, a


@pytest.mark.parametrize("self_loops", [True, False])
def test_one_layer_gcn_is_the_dense_normalised_product(self_loops):
    edge_index, a = hand_graph()
    torch.manual_seed(0)
    model = GCNRec(
        edge_index, 5, 2, 3, self_loops=self_loops, embedding_dim=3, num_layers=1, combine="last"
    )
    conv = model.convs[0]
    torch.nn.init.normal_(conv.bias)  # PyG zero-initialises it; make it count
    a_hat = a + torch.eye(5) if self_loops else a
    d = a_hat.sum(1).pow(-0.5)  # every node has a neighbour
    norm = d[:, None] * a_hat * d[None, :]
    x = model.embedding.weight
    expected = norm @ x @ conv.lin.weight.T + conv.bias
    u, i = model()
    assert torch.allclose(torch.cat([u, i]), expected, atol=1e-6)


def test_sage_mean_aggregation_is_the_dense_row_normalised_product():
    edge_index, a = hand_graph()
    isolated = 5  # a sixth node with no edges aggregates zeros
    a = torch.nn.functional.pad(a, (0, 1, 0, 1))
    torch.manual_seed(0)
    model = SAGERec(edge_index, 6, 2, 4, embedding_dim=3, num_layers=1, combine="last")
    conv = model.convs[0]
    deg = a.sum(1, keepdim=True)
    mean = torch.where(deg > 0, a / deg.clamp(min=1), 0.0)  # D^-1 A, zero row if isolated
    x = model.embedding.weight
    expected = mean @ x @ conv.lin_l.weight.T + conv.lin_l.bias + x @ conv.lin_r.weight.T
    u, i = model()
    out = torch.cat([u, i])
    assert torch.allclose(out, expected, atol=1e-6)
    assert torch.allclose(out[isolated], x[isolated] @ conv.lin_r.weight.T + conv.lin_l.bias)


@pytest.mark.parametrize("name", MODELS)
def test_shapes_and_every_parameter_gets_a_gradient(name, graph):
    model = build(name, graph, combine="attention")
    u, i = model()
    assert u.shape == (4, 8) and i.shape == (8, 8)
    g = torch.Generator().manual_seed(1)
    weights = torch.randn(4 + 8, 8, generator=g)
    (torch.cat([u, i]) * weights).sum().backward()
    for pname, p in model.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, pname


@pytest.mark.parametrize("stack", STACKS)
@pytest.mark.parametrize("combine", COMBINATIONS)
def test_every_combination_builds_and_runs(stack, combine, graph):
    alpha = [0.5, 0.3, 0.2] if combine == "weighted" else None
    model = STACKS[stack].from_graph(graph, embedding_dim=8, combine=combine, alpha=alpha)
    u, i = model()
    width = 8 * 3 if combine == "concat" else 8
    assert u.shape == (4, width) and i.shape == (8, width)
    assert model.scorer()(torch.tensor([0, 3])).shape == (2, 8)


@pytest.mark.parametrize("stack", STACKS)
def test_edge_dropout_changes_training_outputs_only(stack, graph):
    model = STACKS[stack].from_graph(graph, embedding_dim=8, edge_dropout=0.5)
    plain = STACKS[stack].from_graph(graph, embedding_dim=8)
    plain.load_state_dict(model.state_dict())
    torch.manual_seed(0)
    train_a = torch.cat(model.train()())
    train_b = torch.cat(model())
    assert not torch.allclose(train_a, train_b)
    assert not torch.allclose(train_a, torch.cat(plain.train()()))
    model.eval()
    assert torch.equal(torch.cat(model()), torch.cat(model()))
    assert torch.allclose(torch.cat(model()), torch.cat(plain.eval()()))


def test_feature_dropout_acts_between_layers_in_training_only(graph):
    model = GCNRec.from_graph(graph, embedding_dim=8, dropout=0.5)
    torch.manual_seed(0)
    assert not torch.allclose(torch.cat(model.train()()), torch.cat(model()))
    assert torch.equal(torch.cat(model.eval()()), torch.cat(model()))


def test_regularization_is_the_layer0_norm_of_the_batch(graph):
    model = build("gat", graph)
    users, pos, neg = torch.tensor([0, 2]), torch.tensor([1]), torch.tensor([5, 5])
    w = model.embedding.weight
    expected = w[0].pow(2).sum() + w[2].pow(2).sum() + w[4 + 1].pow(2).sum()
    expected = expected + 2 * w[4 + 5].pow(2).sum()
    assert torch.allclose(model.regularization(users, pos, neg), expected)


def test_gat_defaults_keep_the_pre_stack_parameters(graph):
    model = GATRec.from_graph(graph)
    names = {n for n, _ in model.named_parameters()}
    assert {n.split(".")[0] for n in names} == {"embedding", "convs"}
    assert len(model.convs) == 2 and model.convs[0].heads == 2
    assert model.convs[0].out_channels == 32 and model.convs[0].add_self_loops
    assert model.embedding.weight.shape == (graph.num_nodes, 64)


@pytest.mark.parametrize(
    ("stack", "hparams", "option"),
    [
        ("gcn", {"combine": "jk"}, "combine must be one of mean, weighted"),
        ("sage", {"activation": "tanh"}, "activation must be one of elu, relu, none"),
        ("gcn", {"dropout": 1.0}, "dropout must be a probability in"),
        ("sage", {"edge_dropout": -0.1}, "edge_dropout must be"),
        ("gcn", {"num_layers": 0}, "num_layers must be an integer >= 1"),
        ("transformer", {"heads": 3}, "not divisible by heads 3"),
        ("gat", {"heads": 0}, "heads must be an integer >= 1"),
        ("gat", {"attention_dropout": 2}, "attention_dropout must be"),
        ("transformer", {"combine": "last", "alpha": [1.0, 0.0]}, "alpha only applies"),
        ("gcn", {"combine": "weighted", "alpha": [1.0]}, "alpha needs 3 weights"),
    ],
)
def test_invalid_choices_raise_value_error_naming_the_option(stack, hparams, option, graph):
    with pytest.raises(ValueError, match=option):
        STACKS[stack].from_graph(graph, embedding_dim=8, **hparams)


def test_options_of_other_layers_are_rejected(graph):
    with pytest.raises(TypeError, match="self_loops"):
        SAGERec.from_graph(graph, self_loops=False)


@pytest.mark.parametrize("name", STACKS)
def test_configs_name_every_switch_and_combination(name):
    text = (CONF / f"{name}.yaml").read_text()
    for key in ("combine:", "activation:", "dropout:", "edge_dropout:", "include_categories: true"):
        assert key in text
    for choice in COMBINATIONS:
        assert choice in text
