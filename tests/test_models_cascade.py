"""CascadeGCN (CRGCN): stages by hand, the per-behaviour loss terms, the errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from gnnrec.errors import ConfigError
from gnnrec.graph.build import build_graph
from gnnrec.models.cascade import CascadeGCN
from tests.test_behavior import all_train, behavior_dataset

# u0: cart i0, buy i1; u1: cart i1, buy i1; u2: buy i2 (3 users, 3 items)
ROWS = [
    (0, 0, 1.0, "cart"),
    (0, 1, 2.0, "buy"),
    (1, 1, 1.0, "cart"),
    (1, 1, 2.0, "buy"),
    (2, 2, 1.0, "buy"),
]


def normalized(edges: list[tuple[int, int]], n_users: int, n_items: int) -> np.ndarray:
    a = np.zeros((n_users + n_items,) * 2)
    for u, i in edges:
        a[u, n_users + i] = a[n_users + i, u] = 1.0
    d = a.sum(1)
    inv = np.where(d > 0, 1 / np.sqrt(np.maximum(d, 1)), 0.0)
    return inv[:, None] * a * inv[None, :]


@pytest.fixture
def model() -> CascadeGCN:
    graph = build_graph(all_train(behavior_dataset(ROWS, 3, 3)))
    torch.manual_seed(0)
    return CascadeGCN.from_graph(graph, order=["cart", "buy"], embedding_dim=4, num_layers=2)


def test_stages_by_hand(model: CascadeGCN) -> None:
    h0 = model.embedding.weight.detach().double()
    cart = torch.from_numpy(normalized([(0, 0), (1, 1)], 3, 3))
    buy = torch.from_numpy(normalized([(0, 1), (1, 1), (2, 2)], 3, 3))
    h1 = h0 + F.normalize(cart @ cart @ h0, dim=1)
    h2 = h1 + F.normalize(buy @ buy @ h1, dim=1)
    stages = model.stages()
    torch.testing.assert_close(stages[0].double(), h1, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(stages[1].double(), h2, rtol=1e-5, atol=1e-6)
    users, items = model()
    torch.testing.assert_close(users.double(), h2[:3], rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(items.double(), h2[3:], rtol=1e-5, atol=1e-6)
    # u2 has no cart: its cart stage adds a zero row (F.normalize of zeros is zeros)
    torch.testing.assert_close(stages[0][2], model.embedding.weight[2])


def test_each_behaviour_trains_its_own_stage(model: CascadeGCN) -> None:
    users, pos, neg = (
        torch.tensor([0, 0, 1, 2]),
        torch.tensor([0, 1, 1, 2]),
        torch.tensor([[2], [2], [0], [0]]),
    )
    # 5 pairs, 3 buy pairs -> buys weigh 5/3; (0, 0) is a cart only
    weights = model.pair_weights(users, pos)
    assert weights.tolist() == pytest.approx([0.0, 5 / 3, 5 / 3, 5 / 3])
    model.train()
    model()
    terms = model.auxiliary_losses(users, pos, neg, torch.Generator())
    assert set(terms) == {"bpr_cart"}
    h = model.stages()[0]
    cart = [(0, 0, 2), (1, 1, 0)]  # (0, 0) and (1, 1) were carted; (2, 2) was not
    expected = sum(-F.logsigmoid(h[u] @ h[3 + i] - h[u] @ h[3 + j]) * 5 / 2 for u, i, j in cart) / 4
    torch.testing.assert_close(terms["bpr_cart"], expected)
    terms["bpr_cart"].backward()
    assert model.embedding.weight.grad.abs().sum() > 0


def test_cascade_needs_its_order() -> None:
    graph = build_graph(all_train(behavior_dataset(ROWS, 3, 3)))
    with pytest.raises(ConfigError, match=r"needs model.order, the behaviours in funnel order"):
        CascadeGCN.from_graph(graph)
    with pytest.raises(ConfigError, match=r"'view'"):
        CascadeGCN.from_graph(graph, order=["view", "buy"])
    one = CascadeGCN.from_graph(graph, order=["buy"])  # carts are left out: graph and loss
    assert one.behaviours == ["buy"]
    weights = one.pair_weights(torch.tensor([0, 0]), torch.tensor([0, 1]))
    assert weights.tolist() == pytest.approx([0.0, 5 / 3])
