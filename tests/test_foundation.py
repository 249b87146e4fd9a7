"""The foundation path on tiny hand-made data: split, graph, models, sampler, trainer."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from gnnrec.data.split import ratio_counts, temporal_split
from gnnrec.errors import ConfigError
from gnnrec.evaluation.evaluator import Evaluator
from gnnrec.graph.build import BELONGS_TO, INTERACTS, REV_INTERACTS, build_graph
from gnnrec.models import MF, GATRec, LightGCN, MostPop
from gnnrec.sampling import TrainingPairs, UniformSampler
from gnnrec.train.loop import Trainer
from tests.conftest import make_dataset


def test_ratio_counts_follow_recbole_rule():
    # n=10: floor(1)=1 valid, 1 test, 8 train.
    # n=5: floor(0.5)=0 each; 0<0.5<1 so test and valid get 1 each while train>1: 3/1/1.
    # n=2: test bumped to 1 (train 2>1), then train=1 so valid stays 0: 1/0/1.
    # n=1: nothing can move: 1/0/0.
    train, valid, test = ratio_counts(np.array([10, 5, 2, 1]), (0.8, 0.1, 0.1))
    assert train.tolist() == [8, 3, 1, 1]
    assert valid.tolist() == [1, 1, 0, 0]
    assert test.tolist() == [1, 1, 1, 0]


def test_temporal_split_is_a_leak_free_time_ordered_partition(tiny_dataset):
    ds = tiny_dataset
    split = temporal_split(ds, (0.8, 0.1, 0.1))
    all_idx = np.concatenate([split.train, split.valid, split.test])
    assert sorted(all_idx.tolist()) == list(range(ds.num_interactions))
    train_pairs = set(zip(ds.users[split.train], ds.items[split.train], strict=True))
    for part in (split.valid, split.test):
        pairs = set(zip(ds.users[part], ds.items[part], strict=True))
        assert not pairs & train_pairs
    for u in range(ds.num_users):
        t_train = ds.timestamps[split.train][ds.users[split.train] == u]
        t_valid = ds.timestamps[split.valid][ds.users[split.valid] == u]
        t_test = ds.timestamps[split.test][ds.users[split.test] == u]
        assert t_train.max() <= min(t_valid.min(initial=np.inf), t_test.min(initial=np.inf))
        assert t_valid.max(initial=-np.inf) <= t_test.min(initial=np.inf)
    # users 0-2 have 8 interactions (floor(0.8)=0 -> bumped: 6/1/1), user 3 has 5 (3/1/1)
    assert split.counts() == {"train": 21, "valid": 4, "test": 4}
    # the same dataset gives the same split
    again = temporal_split(ds, (0.8, 0.1, 0.1))
    assert np.array_equal(again.test, split.test) and np.array_equal(again.valid, split.valid)


def test_graph_uses_train_only_with_symmetric_normalisation():
    # users u0, u1; items i0, i1, i2. Train: u0-i0, u0-i1, u1-i1 (earliest); test: u0-i2, u1-i0.
    triples = [(0, 0, 1.0), (0, 1, 2.0), (0, 2, 3.0), (0, 1, 2.5), (1, 1, 1.0), (1, 0, 2.0)]
    ds = make_dataset(triples[:3] + triples[4:], 2, 3, [[0], [0], [1]], 2)
    split = temporal_split(ds, (0.6, 0.0, 0.4))
    # u0: n=3 -> test floor(1.2)=1 -> train i0,i1 / test i2; u1: n=2 -> test bumped to 1.
    assert ds.items[split.test].tolist() == [2, 0]
    g = build_graph(split)
    assert g.hetero["user"].num_nodes == 2 and g.hetero["item"].num_nodes == 3
    assert g.hetero["category"].num_nodes == 2
    assert sorted(map(tuple, g.hetero[INTERACTS].edge_index.T.tolist())) == [(0, 0), (0, 1), (1, 1)]
    assert g.hetero[REV_INTERACTS].edge_index.shape == (2, 3)
    assert g.hetero[BELONGS_TO].edge_index.shape == (2, 3)
    a = g.adjacency.to_dense()
    assert a.shape == (5, 5)
    # degrees: u0=2, u1=1, i0=1, i1=2, i2=0 (its only interaction is in test)
    # A[u0,i0] = 1/sqrt(2*1); A[u0,i1] = 1/sqrt(2*2); A[u1,i1] = 1/sqrt(1*2)
    assert a[0, 2].item() == pytest.approx(2**-0.5)
    assert a[0, 3].item() == pytest.approx(0.5)
    assert a[1, 3].item() == pytest.approx(2**-0.5)
    assert torch.equal(a, a.T)
    assert a[4].abs().sum().item() == 0.0  # i2 is isolated in the train graph
    assert (a != 0).sum().item() == 6  # 3 train edges, both directions
    with_cats = build_graph(split, include_categories=True)
    # + category nodes: i0-c0, i1-c0, i2-c1 -> degrees i0=2, i1=3, i2=1, c0=2, c1=1
    a = with_cats.adjacency.to_dense()
    assert a.shape == (7, 7)
    assert a[3, 5].item() == pytest.approx(1 / (3 * 2) ** 0.5)  # i1-c0
    assert a[4, 6].item() == pytest.approx(1.0)  # i2-c1, both degree 1


def test_lightgcn_matches_dense_propagation(tiny_dataset):
    split = temporal_split(tiny_dataset)
    g = build_graph(split)
    torch.manual_seed(0)
    model = LightGCN.from_graph(g, embedding_dim=4, num_layers=2)
    user_emb, item_emb = model()
    a = g.adjacency.to_dense().double()
    e0 = model.embedding.weight.detach().double()
    expected = (e0 + a @ e0 + a @ (a @ e0)) / 3  # alpha_k = 1/(K+1), K=2
    assert torch.allclose(user_emb.double(), expected[:4], atol=1e-6)
    assert torch.allclose(item_emb.double(), expected[4:], atol=1e-6)


def test_lightgcn_layer_weights():
    a = torch.eye(2).to_sparse_csr()
    model = LightGCN(a, 1, 1, embedding_dim=2, num_layers=1, alpha=[0.25, 0.75])
    u, i = model()
    # identity adjacency: E = 0.25 E0 + 0.75 E0 = E0
    assert torch.allclose(torch.cat([u, i]), model.embedding.weight)
    with pytest.raises(ValueError, match="alpha needs 2 weights"):
        LightGCN(a, 1, 1, num_layers=1, alpha=[1.0])
    with pytest.raises(ValueError, match="num_layers must be an integer >= 0, got 'x'"):
        LightGCN(a, 1, 1, num_layers="x")


def test_gat_and_mf_shapes_and_gradients(tiny_dataset):
    split = temporal_split(tiny_dataset)
    g = build_graph(split, include_categories=True)
    gat = GATRec.from_graph(g, embedding_dim=8, heads=2)
    mf = MF.from_graph(g, embedding_dim=8)
    for model, tables in ((gat, [gat.embedding]), (mf, [mf.user_emb, mf.item_emb])):
        u, i = model()
        assert u.shape == (4, 8) and i.shape == (8, 8)
        (u.sum() + i.sum()).backward()
        for table in tables:
            assert table.weight.grad is not None and table.weight.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="not divisible"):
        GATRec.from_graph(g, embedding_dim=6, heads=4)


def test_mostpop_scores_train_popularity(tiny_dataset):
    split = temporal_split(tiny_dataset)
    g = build_graph(split)
    model = MostPop.from_graph(g)
    train_items = tiny_dataset.items[split.train]
    expected = np.bincount(train_items, minlength=8)
    scores = model.scorer()(torch.tensor([0, 3]))
    assert scores.shape == (2, 8)
    assert scores[1].tolist() == expected.astype(float).tolist()
    assert not model.trainable


def test_sampler_never_returns_a_positive():
    users = torch.tensor([0, 0, 0, 1])
    items = torch.tensor([0, 1, 2, 0])
    sampler = UniformSampler(TrainingPairs(users, items, num_users=2, num_items=4))
    gen = torch.Generator().manual_seed(1)
    query = torch.tensor([0] * 200 + [1] * 200)
    neg = sampler.sample(query, torch.zeros_like(query), gen).squeeze(1)
    assert (neg[:200] == 3).all()  # user 0's only non-positive item
    assert set(neg[200:].tolist()) == {1, 2, 3}
    full = UniformSampler(
        TrainingPairs(torch.zeros(4, dtype=torch.long), torch.arange(4), 1, 4), max_rounds=3
    )
    with pytest.raises(RuntimeError, match="no negative item"):
        full.sample(torch.tensor([0]), torch.tensor([0]), gen)


def _train_once(dataset, seed: int) -> tuple[dict, dict]:
    split = temporal_split(dataset)
    g = build_graph(split)
    torch.manual_seed(seed)
    model = LightGCN.from_graph(g, embedding_dim=8, num_layers=2)
    ev = Evaluator(split, ks=[2, 4])
    users = torch.from_numpy(dataset.users[split.train])
    items = torch.from_numpy(dataset.items[split.train])
    trainer = Trainer(epochs=5, batch_size=4, lr=0.05, monitor="recall@4", progress=False)
    fit = trainer.fit(model, ev, users, items, torch.Generator().manual_seed(seed))
    return ev.evaluate(model.scorer(), "test").metrics, {"best_epoch": fit.best_epoch}


def test_training_is_deterministic_on_cpu(tiny_dataset):
    first = _train_once(tiny_dataset, seed=3)
    second = _train_once(tiny_dataset, seed=3)
    assert first == second


def test_unknown_monitor_is_a_config_error(tiny_dataset):
    split = temporal_split(tiny_dataset)
    model = MF.from_graph(build_graph(split), embedding_dim=4)
    users = torch.from_numpy(tiny_dataset.users[split.train])
    items = torch.from_numpy(tiny_dataset.items[split.train])
    with pytest.raises(ConfigError, match=r"train\.monitor='recall@20' is not a validation metric"):
        Trainer(epochs=1, progress=False).fit(
            model, Evaluator(split, ks=[4]), users, items, torch.Generator()
        )


def test_trainer_restores_best_epoch_weights(tiny_dataset):
    split = temporal_split(tiny_dataset)
    g = build_graph(split)
    torch.manual_seed(0)
    model = MF.from_graph(g, embedding_dim=8)
    ev = Evaluator(split, ks=[4])
    users = torch.from_numpy(tiny_dataset.users[split.train])
    items = torch.from_numpy(tiny_dataset.items[split.train])
    fit = Trainer(epochs=6, batch_size=8, lr=0.1, monitor="recall@4", progress=False).fit(
        model, ev, users, items, torch.Generator().manual_seed(0)
    )
    best = max(row["valid/recall@4"] for row in fit.history)
    assert fit.best_value == best
    assert ev.evaluate(model.scorer(), "valid").metrics["valid/recall@4"] == best


def test_empty_validation_trains_all_epochs_without_early_stopping(tiny_dataset, caplog):
    split = temporal_split(tiny_dataset, (0.8, 0.0, 0.2))
    assert len(split.valid) == 0
    model = MF.from_graph(build_graph(split), embedding_dim=4)
    users = torch.from_numpy(tiny_dataset.users[split.train])
    items = torch.from_numpy(tiny_dataset.items[split.train])
    fit = Trainer(epochs=3, patience=1, progress=False).fit(
        model, Evaluator(split, ks=[4]), users, items, torch.Generator().manual_seed(0)
    )
    assert (fit.epochs_run, fit.best_epoch) == (3, 3)
    assert "validation part is empty" in caplog.text


def test_lr_decay_schedules_every_epoch_and_decay_one_changes_nothing(tiny_dataset):
    split = temporal_split(tiny_dataset, (0.8, 0.0, 0.2))
    users = torch.from_numpy(tiny_dataset.users[split.train])
    items = torch.from_numpy(tiny_dataset.items[split.train])

    def fit(**kwargs):
        torch.manual_seed(0)
        model = MF.from_graph(build_graph(split), embedding_dim=4)
        trainer = Trainer(epochs=3, batch_size=8, lr=0.08, progress=False, **kwargs)
        result = trainer.fit(
            model, Evaluator(split, ks=[4]), users, items, torch.Generator().manual_seed(0)
        )
        return result.history, torch.cat([p.detach().flatten() for p in model.parameters()])

    history, _ = fit(lr_decay=0.5)
    assert [row["train/lr"] for row in history] == [0.08, 0.04, 0.02]
    constant, weights = fit()
    assert [row["train/lr"] for row in constant] == [0.08] * 3
    _, same = fit(lr_decay=1.0)
    assert torch.equal(weights, same)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"lr": "fast"}, "train.lr must be a positive number, got 'fast'"),
        ({"epochs": 0}, "train.epochs must be a positive number, got 0"),
        ({"reg_weight": -1.0}, "train.reg_weight must be >= 0, got -1.0"),
        ({"lr_decay": 1.5}, "train.lr_decay must be in (0, 1], got 1.5"),
        ({"select_on": "train"}, "train.select_on must be 'valid' or 'test', got 'train'"),
    ],
)
def test_trainer_options_are_checked(kwargs, message):
    with pytest.raises(ConfigError) as err:
        Trainer(**kwargs)
    assert str(err.value) == message
