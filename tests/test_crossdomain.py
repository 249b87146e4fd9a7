"""Cross-domain transfer: per-domain graphs, shared embeddings, pseudo-domains, cold counts."""

from __future__ import annotations

import json
import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from gnnrec.data.dataset import InteractionDataset
from gnnrec.data.domains import (
    category_domains,
    load_with_category_domains,
    with_category_domains,
)
from gnnrec.data.split import (
    Split,
    cross_domain_split,
    load_split,
    target_cold_user_ids,
    temporal_split,
)
from gnnrec.errors import ConfigError
from gnnrec.graph.build import build_graph
from gnnrec.models.crossdomain import CrossDomainGCN, domain_adjacencies, item_domain_weights
from tests.conftest import make_dataset
from tests.test_cli_train import gnnrec_train

# users u0, u1, u2; items i0, i1 (domain A), i2 (domain B). u2 has no A interaction.
TWO_DOMAIN_LOG = [
    # (user, item, timestamp, domain)
    (0, 0, 1.0, "A"),
    (0, 2, 2.0, "B"),
    (1, 1, 3.0, "A"),
    (1, 2, 4.0, "B"),
    (2, 2, 5.0, "B"),
]


def two_domain_dataset() -> InteractionDataset:
    ds = make_dataset([(u, i, t) for u, i, t, _ in TWO_DOMAIN_LOG], 3, 3, [[0], [0], [1]], 2)
    # make_dataset sorts by (user, timestamp), which TWO_DOMAIN_LOG already is
    return replace(ds, extras={"domain": np.array([d for *_, d in TWO_DOMAIN_LOG])})


def all_train(ds: InteractionDataset, **kwargs) -> Split:
    empty = np.empty(0, dtype=np.int64)
    return Split(ds, np.arange(ds.num_interactions), empty, empty, "hand", **kwargs)


def hand_model(**hparams) -> CrossDomainGCN:
    """The two-domain log's model, K = 1, d = 1, e = (1, 2, 3 | 4, 5, 6)."""
    graph = build_graph(all_train(two_domain_dataset()))
    model = CrossDomainGCN.from_graph(graph, num_layers=1, embedding_dim=1, **hparams)
    with torch.no_grad():
        model.embedding.weight.copy_(torch.arange(1.0, 7.0).unsqueeze(1))
    return model


def test_each_domain_adjacency_holds_only_its_domains_edges():
    users, items = np.array([0, 0, 1, 1, 2]), np.array([0, 2, 1, 2, 2])
    domains = np.array([0, 1, 0, 1, 1])  # A, B, A, B, B
    a, b = domain_adjacencies(users, items, domains, 2, num_users=3, num_items=3)
    # nodes u0 u1 u2 i0 i1 i2 = 0..5; A: u0-i0, u1-i1, every degree 1
    assert sorted(zip(*a.nonzero(), strict=True)) == [(0, 3), (1, 4), (3, 0), (4, 1)]
    np.testing.assert_allclose(a.data, 1.0)
    # B: u0-i2, u1-i2, u2-i2; deg(u) = 1, deg(i2) = 3, so 1/sqrt(1 * 3)
    assert sorted(zip(*b.nonzero(), strict=True)) == [
        (0, 5), (1, 5), (2, 5), (5, 0), (5, 1), (5, 2),
    ]  # fmt: skip
    np.testing.assert_allclose(b.data, 1 / math.sqrt(3))


def test_items_average_the_domains_they_were_interacted_in():
    # item 0 in A, item 1 in A and B, item 2 in no domain
    w = item_domain_weights(np.array([0, 1, 1]), np.array([0, 0, 1]), 2, 3)
    assert w.tolist() == [[1.0, 0.0], [0.5, 0.5], [0.5, 0.5]]


def test_forward_by_hand():
    model = hand_model()
    h = model.domain_representations().detach().squeeze(-1)  # [D, N]
    r3 = math.sqrt(3)
    # A: u0 = (1 + 4)/2, u1 = (2 + 5)/2, u2 isolated = 3/2; i0 = (4 + 1)/2, i1 = (5 + 2)/2, i2 = 6/2
    torch.testing.assert_close(h[0], torch.tensor([2.5, 3.5, 1.5, 2.5, 3.5, 3.0]))
    # B: u = (e_u + 6/sqrt3)/2; i0, i1 isolated; i2 = (6 + (1 + 2 + 3)/sqrt3)/2
    expected_b = [(1 + 6 / r3) / 2, (2 + 6 / r3) / 2, (3 + 6 / r3) / 2, 2.0, 2.5, (6 + 6 / r3) / 2]
    torch.testing.assert_close(h[1], torch.tensor(expected_b))
    users, items = (x.detach().squeeze(-1) for x in model())
    # users: mean of their two domain rows; items: their only domain's row
    torch.testing.assert_close(users, (h[0, :3] + h[1, :3]) / 2)
    torch.testing.assert_close(items, torch.tensor([2.5, 3.5, (6 + 6 / r3) / 2]))


def test_learned_domain_weights_are_a_softmax_over_domains():
    model = hand_model(domain_combine="learned")
    with torch.no_grad():
        model.domain_combine.logits.copy_(torch.tensor([0.0, math.log(3.0)]))
    h = model.domain_representations().detach().squeeze(-1)
    users = model()[0].detach().squeeze(-1)
    torch.testing.assert_close(users, 0.25 * h[0, :3] + 0.75 * h[1, :3])


def test_a_target_cold_user_learns_its_target_representation_from_other_domains():
    model = hand_model(domain_combine="attention")
    # u2 never interacted in A: its A row is alpha_0 * e_u2 = 3/2, the shared embedding
    assert model.domain_representations()[0, 2].item() == pytest.approx(1.5)
    before = model.domain_representations()[0, 2].detach().clone()
    # one SGD step on u2's B interaction only (BPR against the A item i0)
    users, items = model()
    loss = -torch.nn.functional.logsigmoid(users[2] @ items[2] - users[2] @ items[0])
    loss.backward()
    assert model.embedding.weight.grad[2].abs().item() > 0
    with torch.no_grad():
        model.embedding.weight -= 0.1 * model.embedding.weight.grad
    after = model.domain_representations()[0, 2].detach()
    assert not torch.allclose(before, after)  # the B interaction moved u2's A row
    # and u2 ranks the two A items by a non-trivial (non-constant) score
    users, items = model()
    a_scores = items[:2].squeeze(-1) * users[2]
    assert a_scores[0] != a_scores[1]


def test_model_refuses_a_dataset_without_domains(tiny_dataset):
    graph = build_graph(temporal_split(tiny_dataset))
    with pytest.raises(ConfigError, match=r"'domain' column.*ml-100k-domains"):
        CrossDomainGCN.from_graph(graph)
    with_categories = build_graph(all_train(two_domain_dataset()), include_categories=True)
    with pytest.raises(ConfigError, match="include_categories=false"):
        CrossDomainGCN.from_graph(with_categories)
    with pytest.raises(ValueError, match="domain_combine must be one of"):
        CrossDomainGCN.from_graph(build_graph(all_train(two_domain_dataset())), domain_combine="x")


def test_pseudo_domains_from_hand_built_categories():
    # items: i0 {c0}, i1 {c1}, i2 {c0, c2}, i3 {} ; one interaction per item, user 0
    ds = make_dataset([(0, i, float(i)) for i in range(4)], 1, 4, [[0], [1], [0, 2], []], 3)
    assert category_domains(ds, ["c0"], "A").tolist() == ["A", "other", "A", "other"]
    assert category_domains(ds, ["c1", "c2"], "X", "Y").tolist() == ["Y", "X", "X", "Y"]
    with pytest.raises(ConfigError, match=r"no category 'Drama'.*c0, c1, c2"):
        category_domains(ds, ["Drama"], "A")
    # items without a category fall outside
    assert category_domains(ds, ["c0", "c1", "c2"], "A").tolist() == ["A", "A", "A", "other"]
    only_c0 = make_dataset([(0, 0, 0.0), (0, 2, 1.0)], 1, 4, [[0], [1], [0, 2], []], 3)
    with pytest.raises(ConfigError, match="pseudo-domain 'other'"):
        category_domains(only_c0, ["c0"], "A")
    with pytest.raises(ConfigError, match="different names"):
        category_domains(ds, ["c0"], "A", "A")
    with pytest.raises(ConfigError, match="already has a per-interaction 'domain'"):
        with_category_domains(replace(ds, extras={"domain": np.array(["x"] * 4)}), ["c0"], "A")


def test_target_cold_counts_and_round_trip(tmp_path: Path):
    ds = two_domain_dataset()
    # test: u0's A interaction (u0 has no other A one: cold) and u1's B one (u1 warm in A)
    train, test = np.array([1, 2, 3, 4]), np.array([0])
    split = Split(ds, train, np.empty(0, dtype=np.int64), test, "hand", target_domain="A")
    assert target_cold_user_ids(split).tolist() == [0]
    warm = Split(ds, np.array([0, 1, 2, 4]), np.empty(0, dtype=np.int64), np.array([3]), "hand")
    warm = replace(warm, target_domain="A")
    assert target_cold_user_ids(warm).tolist() == []  # u1 trains on i1 in A
    assert warm.counts() == {
        "train": 4, "valid": 0, "test": 1,
        "valid_users": 0, "valid_users_target_cold": 0,
        "test_users": 1, "test_users_target_cold": 0,
    }  # fmt: skip
    # the cross-domain split: every test user is cold in the target
    cd = cross_domain_split(ds, target="A", cold_share=1.0, valid_share=0.5)
    assert cd.counts()["valid_users"] == cd.counts()["valid_users_target_cold"] == 1
    assert cd.counts()["test_users"] == cd.counts()["test_users_target_cold"] == 1
    assert load_split(cd.save(tmp_path / "split"), ds).counts() == cd.counts()


@pytest.mark.slow
def test_gnnrec_train_on_ml100k_pseudo_domains(tmp_path: Path):
    gnnrec_train(
        "dataset=ml-100k-domains",
        "split=cross_domain",
        "split.target=Drama",
        "model=crossdomain",
        "train.epochs=2",
        "train.progress=false",
        "logger=none",
        "hydra.run.dir=out",
        cwd=tmp_path,
    )
    results = json.loads((tmp_path / "out" / "results.json").read_text())
    assert results["dataset"] == "ml-100k-domains" and results["split"] == "cross_domain[Drama]"
    assert results["split/test_users_target_cold"] == results["split/test_users"] > 0
    assert 0 <= results["test/recall@20"] <= 1


def test_ml100k_pseudo_domains_split_drama_from_the_rest():
    ds = load_with_category_domains(
        {
            "name": "ml-100k",
            "interactions": {
                "file": "ml-100k.inter",
                "sep": "\t",
                "atomic": True,
                "columns": {"user": "user_id", "item": "item_id", "timestamp": "timestamp"},
            },
            "categories": {
                "file": "ml-100k.item",
                "sep": "\t",
                "atomic": True,
                "item_column": "item_id",
                "category_column": "class",
                "label_sep": " ",
            },
        },
        categories=["Drama"],
        inside="Drama",
        name="ml-100k-domains",
    )
    drama = list(ds.category_names).index("Drama")
    is_drama = ds.item_categories[:, drama].toarray().ravel() > 0
    domain = ds.extras["domain"]
    assert ds.name == "ml-100k-domains" and set(domain) == {"Drama", "other"}
    assert ((domain == "Drama") == is_drama[ds.items]).all()
