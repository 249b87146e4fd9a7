"""Behaviour-typed interactions: the synthetic funnel log, the target-behaviour split,
typed graph relations and MBLightGCN's per-type edge weights."""

from __future__ import annotations

import csv
import itertools
import json
import math
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
import torch
from omegaconf import OmegaConf

from gnnrec.cli.common import make_split
from gnnrec.data.dataset import InteractionDataset
from gnnrec.data.load import load_dataset
from gnnrec.data.split import leave_one_out_split, target_behavior_split, temporal_split
from gnnrec.data.synthetic import synthetic_config, write_synthetic_log
from gnnrec.errors import ConfigError
from gnnrec.graph.build import INTERACTS, build_graph
from gnnrec.models.behavior import MBLightGCN, _ValuedSpMM, typed_edges
from gnnrec.models.hetero import RGCNRec
from gnnrec.models.lightgcn import LightGCN
from tests.test_cli_train import gnnrec_train, run_dirs

FUNNEL = {"cart": 0.5, "fav": 0.5, "buy": 0.8}


def behavior_dataset(rows: list[tuple[int, int, float, str]], num_users: int, num_items: int):
    """A dataset from (user, item, timestamp, behaviour) rows, sorted as the loader sorts."""
    rows = sorted(rows, key=lambda r: (r[0], r[2]))
    return InteractionDataset(
        name="mb",
        user_ids=np.array([f"u{u}" for u in range(num_users)]),
        item_ids=np.array([f"i{i}" for i in range(num_items)]),
        category_names=np.array(["c0"]),
        users=np.array([r[0] for r in rows], dtype=np.int64),
        items=np.array([r[1] for r in rows], dtype=np.int64),
        timestamps=np.array([r[2] for r in rows], dtype=np.float64),
        weights=np.ones(len(rows), dtype=np.float32),
        item_categories=sp.csr_matrix(np.ones((num_items, 1), dtype=np.float32)),
        extras={"behavior": np.array([r[3] for r in rows])},
    )


def read_log(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


# --------------------------------------------------------------------------- synthetic funnel


def test_funnel_stages_are_later_subsets_of_the_previous_stage(tmp_path):
    write_synthetic_log(tmp_path, 3000, seed=5, funnel=FUNNEL)
    rows = read_log(tmp_path / "interactions.csv")
    first_time: dict[str, dict[tuple[str, str], int]] = {}
    for r in rows:
        stage = first_time.setdefault(r["behavior"], {})
        pair = (r["user_id"], r["item_id"])
        stage[pair] = min(stage.get(pair, math.inf), int(r["timestamp"]))
    assert sum(r["behavior"] == "view" for r in rows) == 3000  # the funnel adds rows
    order = ["view", "cart", "fav", "buy"]
    for early, late in itertools.pairwise(order):
        assert set(first_time[late]) <= set(first_time[early])
        assert all(first_time[late][p] > first_time[early][p] for p in first_time[late])
        # each stage is reached by about its rate of the previous stage's pairs
        share = len(first_time[late]) / len(first_time[early])
        assert abs(share - ({"view": 1, **FUNNEL}[late])) < 0.1


def test_no_funnel_keeps_the_log_and_the_funnel_only_adds_rows(tmp_path):
    plain = write_synthetic_log(tmp_path / "plain", 2000, seed=3)["interactions.csv"]
    typed = write_synthetic_log(tmp_path / "typed", 2000, seed=3, funnel=FUNNEL)
    lines = plain.read_text().splitlines()
    assert lines[0] == "user_id,item_id,timestamp,rating"
    typed_lines = typed["interactions.csv"].read_text().splitlines()
    assert [line.rsplit(",", 1)[0] for line in typed_lines[: len(lines)]] == lines
    with pytest.raises(ConfigError, match=r"funnel\.buy"):
        write_synthetic_log(tmp_path / "bad", 100, seed=0, funnel={"buy": 1.5})


def test_dedup_last_keeps_each_pairs_deepest_stage(tmp_path):
    write_synthetic_log(tmp_path, 3000, seed=5, funnel=FUNNEL)
    depth = {"view": 0, "cart": 1, "fav": 2, "buy": 3}
    deepest: dict[tuple[str, str], int] = {}
    for r in read_log(tmp_path / "interactions.csv"):
        pair = (r["user_id"], r["item_id"])
        deepest[pair] = max(deepest.get(pair, 0), depth[r["behavior"]])
    ds = load_dataset(**synthetic_config(tmp_path, behavior=True, dedup="last"))
    assert ds.num_interactions == len(deepest)
    got = {
        (str(ds.user_ids[u]), str(ds.item_ids[i])): depth[str(b)]
        for u, i, b in zip(ds.users, ds.items, ds.extras["behavior"], strict=True)
    }
    assert got == deepest


# --------------------------------------------------------------------------- target split


@pytest.fixture
def funnel_log() -> InteractionDataset:
    """u0: view i0 (1), view i1 (2), view i3 (3), view i2 (4), buy i2 (5): leave-one-out
    holds out buy i2 (test) and view i2 (valid, same pair). u1: buy i0 (1), view i1 (2),
    buy i3 (3), view i2 (4): holds out buy i3 (valid) and view i2 (test)."""
    rows = [
        (0, 0, 1.0, "view"), (0, 1, 2.0, "view"), (0, 3, 3.0, "view"),
        (0, 2, 4.0, "view"), (0, 2, 5.0, "buy"),
        (1, 0, 1.0, "buy"), (1, 1, 2.0, "view"), (1, 3, 3.0, "buy"), (1, 2, 4.0, "view"),
    ]  # fmt: skip
    return behavior_dataset(rows, 2, 4)


def pairs(ds: InteractionDataset, idx: np.ndarray) -> list[tuple[int, int, str]]:
    return [(int(ds.users[k]), int(ds.items[k]), str(ds.extras["behavior"][k])) for k in idx]


def test_target_split_keeps_only_the_target_held_out(funnel_log):
    ds = funnel_log
    base = leave_one_out_split(ds)
    assert pairs(ds, base.test) == [(0, 2, "buy"), (1, 2, "view")]
    out = target_behavior_split(base, "buy")
    assert pairs(ds, out.valid) == [(1, 3, "buy")]
    assert pairs(ds, out.test) == [(0, 2, "buy")]
    # u1's held-out view of i2 trains; u0's view of i2 would reveal the test buy: dropped
    assert (1, 2, "view") in pairs(ds, out.train)
    assert pairs(ds, out.dropped) == [(0, 2, "view")]
    held = {(u, i) for u, i, _ in pairs(ds, np.concatenate([out.valid, out.test]))}
    assert not held & {(u, i) for u, i, _ in pairs(ds, out.train)}
    assert out.time_order is None  # u1 trains on a view later than its valid buy
    assert out.method == "leave_one_out+target[buy]"


def test_target_split_can_drop_the_other_behaviours_and_keep_time_order(funnel_log):
    out = target_behavior_split(leave_one_out_split(funnel_log), "buy", others="drop")
    assert len(out.train) == 5 and len(out.dropped) == 2
    assert out.time_order == "user"


def test_target_split_refuses_what_it_cannot_do(funnel_log, tiny_dataset):
    with pytest.raises(ConfigError, match="'behavior' column"):
        target_behavior_split(temporal_split(tiny_dataset), "buy")
    with pytest.raises(ConfigError, match=r"'cart' is not a behaviour.*'buy', 'view'"):
        target_behavior_split(leave_one_out_split(funnel_log), "cart")


def test_make_split_applies_target_behavior_from_config(funnel_log):
    cfg = OmegaConf.create({"split": {"_target_": "gnnrec.data.split.leave_one_out_split"}})
    assert make_split(cfg, funnel_log).method == "leave_one_out"
    cfg.target_behavior = "buy"
    assert make_split(cfg, funnel_log).method == "leave_one_out+target[buy]"


# --------------------------------------------------------------------------- typed graph


@pytest.fixture
def two_user_log() -> InteractionDataset:
    """u0: view i0, buy i1; u1: view i1 then buy i1 (one pair, two types)."""
    rows = [(0, 0, 1.0, "view"), (0, 1, 2.0, "buy"), (1, 1, 1.0, "view"), (1, 1, 2.0, "buy")]
    return behavior_dataset(rows, 2, 2)


def all_train(ds: InteractionDataset):
    """A split with every interaction in train (a graph of the whole log)."""
    from gnnrec.data.split import Split

    empty = np.empty(0, dtype=np.int64)
    return Split(ds, np.arange(ds.num_interactions), empty, empty, method="all")


def test_behavior_relations_one_relation_per_type(two_user_log):
    graph = build_graph(all_train(two_user_log), behavior_relations=True)
    h = graph.hetero
    assert INTERACTS not in h.edge_types
    assert h["user", "interacts_buy", "item"].edge_index.tolist() == [[0, 1], [1, 1]]
    assert h["user", "interacts_view", "item"].edge_index.tolist() == [[0, 1], [0, 1]]
    assert h["item", "rev_interacts_buy", "user"].edge_index.tolist() == [[1, 1], [0, 1]]
    # R-GCN then has one relation per type and direction (no categories here)
    model = RGCNRec.from_graph(graph, embedding_dim=4, num_layers=1)
    assert len(model.edge_types) == 4
    with pytest.raises(ValueError, match="behavior column"):
        build_graph(all_train_without_behavior(two_user_log), behavior_relations=True)


def all_train_without_behavior(ds: InteractionDataset):
    from dataclasses import replace

    return all_train(replace(ds, extras={}))


def test_typed_edges_one_weight_slot_per_pair_and_type():
    # u0-i0 view, u0-i1 buy, u1-i1 view + buy (and a repeated view counted once)
    e = typed_edges(
        np.array([0, 0, 1, 1, 1]), np.array([0, 1, 1, 1, 1]), np.array([0, 1, 0, 1, 0]),
        ["view", "buy"], 2, 2,
    )  # fmt: skip
    edges = list(zip(e.row.tolist(), e.col.tolist(), strict=True))
    assert edges == [(0, 2), (0, 3), (1, 3), (2, 0), (3, 0), (3, 1)]  # items are nodes 2, 3
    slots = sorted(
        (edges[k], e.types[b])
        for k, b in zip(e.slot_edge.tolist(), e.slot_type.tolist(), strict=True)
    )
    assert slots == sorted(
        [((0, 2), "view"), ((2, 0), "view"), ((0, 3), "buy"), ((3, 0), "buy"),
         ((1, 3), "view"), ((3, 1), "view"), ((1, 3), "buy"), ((3, 1), "buy")]
    )  # fmt: skip
    assert [edges[r] for r in e.reverse.tolist()] == [(c, r) for r, c in edges]


def model_on(ds: InteractionDataset, **kwargs) -> MBLightGCN:
    graph = build_graph(all_train(ds))
    torch.manual_seed(0)
    return MBLightGCN.from_graph(graph, embedding_dim=4, num_layers=2, **kwargs)


def test_fixed_weights_give_the_hand_computed_adjacency(two_user_log):
    # A: u0-i0 = w_view = 1, u0-i1 = w_buy = 3, u1-i1 = 1 + 3 = 4;
    # degrees u0 4, u1 4, i0 1, i1 7; A_hat = A_uv / sqrt(d_u d_v)
    model = model_on(two_user_log, behavior_weights={"view": 1, "buy": 3}, learn_weights=False)
    assert [n for n, _ in model.named_parameters()] == ["embedding.weight"]
    a = model.normalized_adjacency().to_dense()
    assert a[0, 2].item() == pytest.approx(1 / math.sqrt(4 * 1))
    assert a[0, 3].item() == pytest.approx(3 / math.sqrt(4 * 7))
    assert a[1, 3].item() == pytest.approx(4 / math.sqrt(4 * 7))
    assert a[1, 2].item() == 0 and torch.equal(a, a.T)
    x = model.embedding.weight
    assert torch.allclose(model.layers()[2], a @ (a @ x), atol=1e-6)


def test_learned_weights_get_a_gradient_and_move_the_adjacency(two_user_log):
    model = model_on(two_user_log, behavior_weights={"view": 1, "buy": 3})
    assert model.types == ["buy", "view"] and model.learned
    assert model.type_weights().tolist() == pytest.approx([3, 1])
    users, items = model()
    (users[0] @ items[1]).backward()
    grad = model.weight_logit.grad
    assert grad is not None and grad.abs().min() > 0
    with torch.no_grad():  # weights 2 and 2: u0-i0 2, u0-i1 2, u1-i1 4; degrees 4, 4, 2, 6
        model.weight_logit.copy_(torch.log(torch.expm1(torch.tensor([2.0, 2.0]))))
    a = model.normalized_adjacency().to_dense()
    assert a[0, 2].item() == pytest.approx(2 / math.sqrt(4 * 2))
    assert a[0, 3].item() == pytest.approx(2 / math.sqrt(4 * 6))
    assert a[1, 3].item() == pytest.approx(4 / math.sqrt(4 * 6))


def test_valued_spmm_gradients_match_finite_differences(two_user_log):
    m = model_on(two_user_log)
    values = torch.rand(len(m.row), dtype=torch.float64, requires_grad=True)
    x = torch.randn(m.num_nodes, 3, dtype=torch.float64, requires_grad=True)
    args = (m.crow, m.row, m.col, m.reverse)
    assert torch.autograd.gradcheck(lambda v, y: _ValuedSpMM.apply(v, y, *args), (values, x))


def test_one_type_is_lightgcn_with_nothing_to_learn(tiny_dataset):
    split = temporal_split(tiny_dataset)
    graph = build_graph(split)
    torch.manual_seed(0)
    mb = MBLightGCN.from_graph(graph, embedding_dim=4, num_layers=2)
    assert mb.types == ["interaction"] and not mb.learned
    assert [n for n, _ in mb.named_parameters()] == ["embedding.weight"]
    lg = LightGCN.from_graph(graph, embedding_dim=4, num_layers=2)
    lg.embedding.weight.data.copy_(mb.embedding.weight.data)
    assert torch.allclose(mb.normalized_adjacency().to_dense(), graph.adjacency.to_dense())
    for a, b in zip(mb(), lg(), strict=True):
        assert torch.allclose(a, b, atol=1e-6)
    with pytest.raises(ValueError, match=r"no weight for behaviour.*view"):
        model_on(
            behavior_dataset([(0, 0, 1.0, "view"), (0, 1, 2.0, "buy")], 1, 2),
            behavior_weights={"buy": 2},
        )


# --------------------------------------------------------------------------- end to end


@pytest.mark.slow
def test_mblightgcn_trains_from_gnnrec_train_on_buys(tmp_path):
    gnnrec_train(
        "dataset=synthetic-behavior",
        "dataset.num_interactions=4000",
        f"dataset.folder={tmp_path / 'log'}",
        "model=mblightgcn",
        "++target_behavior=buy",
        "train.epochs=1",
        "eval.save_topk=true",
        "logger=none",
        "train.progress=false",
        "hydra.run.dir=out",
        cwd=tmp_path,
    )
    (run,) = run_dirs(tmp_path / "out")
    results = json.loads((run / "results.json").read_text())
    assert results["model"] == "mblightgcn"
    assert results["split"] == "temporal_per_user[0.8, 0.1, 0.1]+target[buy]"
    bought = {
        (r["user_id"], r["item_id"])
        for r in read_log(tmp_path / "log" / "interactions.csv")
        if r["behavior"] == "buy"
    }
    held = [
        tuple(line.split("\t"))
        for part in ("valid", "test")
        for line in (run / "split" / f"{part}.tsv").read_text().splitlines()[1:]
    ]
    assert held and all(pair in bought for pair in held)
    trained = {
        tuple(line.split("\t"))
        for line in (run / "split" / "train.tsv").read_text().splitlines()[1:]
    }
    assert not trained & set(held)
    assert 0.0 <= results["test/recall@20"] <= 1.0
