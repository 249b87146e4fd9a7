"""Evaluation protocols of multi-behaviour and cross-shop logs: behaviour files,
the target behaviour's mask, per-domain ranking and the papers' sampled metrics."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from gnnrec.data.dataset import InteractionDataset
from gnnrec.data.load import load_dataset
from gnnrec.data.split import Split, predefined_split, target_behavior_split, target_domain_split
from gnnrec.errors import ConfigError
from gnnrec.evaluation import Evaluator
from gnnrec.evaluation import sampled as S

# ------------------------------------------------------------------ behaviour files


def write_behavior_files(folder: Path) -> dict:
    (folder / "buy.txt").write_text("1 10\n1 11\n2 10\n")
    (folder / "cart.txt").write_text("1 10\n1 12\n1 12\n")  # (1, 10) was also bought
    (folder / "test.txt").write_text("1 12\n2 11\n")
    return {
        "files": {"buy/train": "buy.txt", "cart/train": "cart.txt", "buy/test": "test.txt"},
        "files_as": ["behavior", "split"],
        "sep": " ",
        "header": False,
        "names": ["user", "item"],
        "columns": {"user": "user", "item": "item"},
    }


def rows(ds: InteractionDataset) -> list[tuple[str, str, str, str]]:
    return sorted(
        zip(
            ds.user_ids[ds.users].tolist(),
            ds.item_ids[ds.items].tolist(),
            ds.extras["behavior"].tolist(),
            ds.extras["split"].tolist(),
            strict=True,
        )
    )


def test_behaviour_files_keep_a_cart_and_a_buy_of_one_pair(tmp_path: Path) -> None:
    spec = write_behavior_files(tmp_path)
    ds = load_dataset("t", spec, root=tmp_path)
    assert rows(ds) == [
        ("1", "10", "buy", "train"),
        ("1", "10", "cart", "train"),  # kept: dedup is per behaviour for behaviour files
        ("1", "11", "buy", "train"),
        ("1", "12", "buy", "test"),
        ("1", "12", "cart", "train"),  # the repeated cart row is merged
        ("2", "10", "buy", "train"),
        ("2", "11", "buy", "test"),
    ]
    assert ds.item_ids.tolist() == ["10", "11", "12"]  # behaviours share one catalogue
    merged = load_dataset("t", spec, root=tmp_path, dedup_per=[])
    assert len(rows(merged)) == 5  # one row per (user, item): the later cart rows go
    assert ("1", "10", "cart", "train") not in rows(merged)
    buys = load_dataset("t", spec, root=tmp_path, behavior_weights={"buy": 1})
    assert [r[2] for r in rows(buys)] == ["buy"] * 5  # purchases only


def test_one_shop_alone_keeps_only_its_catalogue(tmp_path: Path) -> None:
    (tmp_path / "a.tsv").write_text("1\t0\n2\t1\n")
    (tmp_path / "b.tsv").write_text("1\t0\n2\t5\n")
    spec = {
        "files": {"A": "a.tsv", "B": "b.tsv"},
        "files_as": "domain",
        "sep": "\t",
        "header": False,
        "names": ["user", "item"],
        "columns": {"user": "user", "item": "item"},
    }
    assert load_dataset("t", spec, root=tmp_path).num_items == 4
    ds = load_dataset("t", spec, root=tmp_path, domains=["B"])
    assert ds.item_ids.tolist() == ["B:0", "B:5"]
    with pytest.raises(ConfigError, match=r"dataset.domains \['C'\] names domains the log"):
        load_dataset("t", spec, root=tmp_path, domains=["C"])


def test_behaviour_file_options_that_cannot_work_are_refused(tmp_path: Path) -> None:
    spec = write_behavior_files(tmp_path)
    with pytest.raises(ConfigError, match=r"dedup_per entries must be behavior or domain"):
        load_dataset("t", spec, root=tmp_path, dedup_per="shop")
    with pytest.raises(ConfigError, match=r"files_as: behavior and columns.behavior both set"):
        load_dataset(
            "t",
            {**spec, "columns": {"user": "user", "item": "item", "behavior": "item"}},
            root=tmp_path,
        )
    with pytest.raises(ConfigError, match=r"no 'behavior' column to tell repeated pairs apart"):
        load_dataset(
            "t",
            {**spec, "files_as": "split", "files": {"train": "buy.txt", "test": "test.txt"}},
            root=tmp_path,
            dedup_per="behavior",
        )


# ------------------------------------------------------------------ hand-made datasets


def dataset(
    rows: list[tuple[int, int, str, str]], num_users: int, num_items: int, column: str
) -> InteractionDataset:
    """(user, item, label, part) rows in (user, row) order; ``label`` goes to ``extras[column]``."""
    rows = sorted(rows, key=lambda r: r[0])
    return InteractionDataset(
        name="hand",
        user_ids=np.array([f"u{u}" for u in range(num_users)]),
        item_ids=np.array([f"i{i}" for i in range(num_items)]),
        category_names=np.array([], dtype=str),
        users=np.array([r[0] for r in rows], dtype=np.int64),
        items=np.array([r[1] for r in rows], dtype=np.int64),
        timestamps=np.arange(len(rows), dtype=np.float64),
        weights=np.ones(len(rows), dtype=np.float32),
        item_categories=sp.csr_matrix((num_items, 0), dtype=np.float32),
        extras={column: np.array([r[2] for r in rows]), "split": np.array([r[3] for r in rows])},
    )


def scorer(table: list[list[float]]):
    scores = torch.tensor(table, dtype=torch.float32)
    return lambda users: scores[users].clone()


# ------------------------------------------------------------------ target behaviour mask

# u0 bought i0 and carted i1 in train, then bought i1 (test); u1 bought i2, buys i3 in test.
BEHAVIOR_ROWS = [
    (0, 0, "buy", "train"),
    (0, 1, "cart", "train"),
    (0, 1, "buy", "test"),
    (1, 2, "buy", "train"),
    (1, 3, "buy", "test"),
]
BEHAVIOR_SCORES = [[0.1, 0.9, 0.5, 0.2], [0.8, 0.1, 0.9, 0.3]]


def test_a_carted_item_bought_later_is_a_hit_under_the_target_mask() -> None:
    ds = dataset(BEHAVIOR_ROWS, 2, 4, "behavior")
    split = target_behavior_split(predefined_split(ds), "buy")
    assert split.mask_seen == "target"
    assert split.seen_matrix().toarray().tolist() == [[1, 0, 0, 0], [0, 0, 1, 0]]
    result = Evaluator(split, ks=[1, 2]).evaluate(scorer(BEHAVIOR_SCORES), "test")
    # u0: i0 masked (bought), i1 ranks first -> hit. u1: i2 masked, list i0, i3 -> hit at 2.
    assert result.metrics["test/recall@1"] == pytest.approx(0.5)
    assert result.metrics["test/recall@2"] == pytest.approx(1.0)
    strict = target_behavior_split(predefined_split(ds), "buy", mask_seen="all")
    result = Evaluator(strict, ks=[1]).evaluate(scorer(BEHAVIOR_SCORES), "test")
    # masking the carted i1 too: u0's list is i2, a miss; u1 as before.
    assert result.metrics["test/recall@1"] == pytest.approx(0.0)
    with pytest.raises(ConfigError, match=r"target_behavior_mask must be one of target, all"):
        target_behavior_split(predefined_split(ds), "buy", mask_seen="buys")


# ------------------------------------------------------------------ target domain

# items i0, i1 in shop A; i2, i3 in shop B. u0 bought i0 (A), i2 (B); test i1 (A), i3 (B).
# u1 bought i1 (A), i3 (B); test i2 (B).
DOMAIN_ROWS = [
    (0, 0, "A", "train"),
    (0, 2, "B", "train"),
    (0, 1, "A", "test"),
    (0, 3, "B", "test"),
    (1, 1, "A", "train"),
    (1, 3, "B", "train"),
    (1, 2, "B", "test"),
]
DOMAIN_SCORES = [[0.9, 0.8, 0.1, 0.3], [0.9, 0.1, 0.5, 0.2]]


def test_target_domain_keeps_its_test_pairs_and_ranks_its_own_items() -> None:
    ds = dataset(DOMAIN_ROWS, 2, 4, "domain")
    base = predefined_split(ds)
    split = target_domain_split(base, "B")
    assert ds.items[split.test].tolist() == [3, 2]  # A's test pair (u0, i1) is dropped
    assert ds.items[split.dropped].tolist() == [1]
    assert split.candidate_items().tolist() == [False, False, True, True]
    result = Evaluator(split, ks=[1]).evaluate(scorer(DOMAIN_SCORES), "test")
    # u0: i2 seen, only i3 is left in B -> hit; u1: i3 seen, i2 -> hit (i0 would win unrestricted)
    assert result.metrics["test/recall@1"] == pytest.approx(1.0)
    unrestricted = Evaluator(Split(ds, split.train, split.valid, split.test, "x"), ks=[1])
    unrestricted = unrestricted.evaluate(scorer(DOMAIN_SCORES), "test")
    assert unrestricted.metrics["test/recall@1"] == pytest.approx(0.0)  # i1 / i0 come first
    # another shop's validation pairs (carved from its training data) train; its test pairs not
    with_valid = predefined_split(dataset([*DOMAIN_ROWS, (1, 0, "A", "valid")], 2, 4, "domain"))
    moved = target_domain_split(with_valid, "B")
    pairs = moved.dataset.users[moved.train] * 4 + moved.dataset.items[moved.train]
    assert len(moved.valid) == 0 and 1 * 4 + 0 in pairs.tolist()


def test_target_domain_refuses_what_it_cannot_do() -> None:
    ds = dataset(DOMAIN_ROWS, 2, 4, "domain")
    with pytest.raises(ConfigError, match=r"target_domain 'C' is not a domain"):
        target_domain_split(predefined_split(ds), "C")
    with pytest.raises(ConfigError, match=r"needs a per-interaction 'shop' column"):
        target_domain_split(predefined_split(ds), "A", column="shop")
    with pytest.raises(ConfigError, match=r"target domain is 'B'; target_domain=A would"):
        target_domain_split(target_domain_split(predefined_split(ds), "B"), "A")


# ------------------------------------------------------------------ sampled metrics


def test_uniform_keys_are_splitmix64_of_seed_user_and_item() -> None:
    mask = (1 << 64) - 1

    def splitmix(x: int) -> int:
        z = (x + 0x9E3779B97F4A7C15) & mask
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & mask
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & mask
        return z ^ (z >> 31)

    def key(seed: int, user: int, item: int) -> float:
        x = (seed * 0xA24BAED4963EE407 + user * 0xD1B54A32D192ED03 + item) & mask
        return ((splitmix(x) >> 11) + 0.5) * 2.0**-53

    users = [0, 5, 93_333]
    keys = S.uniform_keys(7, torch.tensor(users), torch.arange(4))
    assert keys.tolist() == [[key(7, u, i) for i in range(4)] for u in users]


def test_uniform_draws_are_uniform() -> None:
    users = torch.arange(20_000)
    drawn = S.sample_negatives(3, users, 10, torch.zeros(20_000, 10, dtype=torch.bool), 1)
    counts = torch.bincount(drawn.ravel(), minlength=10).double()
    # 2,000 expected per item; sd sqrt(20000 * 0.1 * 0.9) = 42
    assert (counts - 2000).abs().max() < 5 * 42


def test_negatives_avoid_excluded_and_weightless_items() -> None:
    g = torch.Generator().manual_seed(0)
    excluded = torch.rand(50, 30, generator=g) < 0.3
    weights = torch.ones(30)
    weights[[4, 7]] = 0
    drawn = S.sample_negatives(1, torch.arange(50), 30, excluded, 10, weights)
    assert drawn.shape == (50, 10)
    assert not excluded.gather(1, drawn).any()
    assert not torch.isin(drawn, torch.tensor([4, 7])).any()
    assert all(len(set(row)) == 10 for row in drawn.tolist())  # without replacement
    with pytest.raises(ValueError, match=r"user 0 has only 2 items to draw 3 negatives from"):
        S.sample_negatives(1, torch.tensor([0]), 3, torch.tensor([[True, False, False]]), 3)


def test_sampled_rank_and_metrics_by_hand() -> None:
    ranks = S.sampled_ranks(
        torch.tensor([0.4, 0.1]),
        torch.tensor([2, 5]),
        torch.tensor([[0.5, 0.4, 0.9], [0.5, 0.4, 0.1]]),
        torch.tensor([[1, 3, 4], [1, 3, 4]]),
    )
    # 0.4 (i2): i1, i4 ahead, i3 ties with a larger id -> 2; 0.1 (i5): i1, i3 ahead, i4 ties
    # with a smaller id -> 3
    assert ranks.tolist() == [2, 3]
    assert S.sampled_hit(ranks, 3).tolist() == [1.0, 0.0]
    assert S.sampled_ndcg(ranks, 3).tolist() == [0.5, 0.0]  # 1 / log2(2 + 2)


def sampled_case() -> Evaluator:
    # u0 trains on i0 and holds out i2 and i5: the only items left to draw are i1, i3, i4.
    # u1 trains on i1, holds out i0; items left: i2..i5.
    ds = dataset(
        [
            (0, 0, "x", "train"),
            (0, 2, "x", "test"),
            (0, 5, "x", "test"),
            (1, 1, "x", "train"),
            (1, 0, "x", "test"),
        ],
        2,
        6,
        "domain",
    )
    return Evaluator(predefined_split(ds), ks=[3])


def test_evaluate_sampled_by_hand() -> None:
    ev = sampled_case()
    scores = scorer([[0.0, 0.5, 0.4, 0.4, 0.9, 0.1], [0.9, 0.0, 0.1, 0.2, 0.3, 0.4]])
    result = ev.evaluate_sampled(scores, "test", num_negatives=3, seed=5, ks=[1, 3])
    # u0 (negatives i1, i3, i4): i2 ranks 2, i5 ranks 3 -> HR@3 (1 + 0) / 2, NDCG@3 (0.5 + 0) / 2
    # u1 (3 of i2..i5, all below 0.9): i0 ranks 0 -> HR 1, NDCG 1
    assert result.per_user["sampled3_uniform/hit@3"].tolist() == [0.5, 1.0]
    assert result.per_user["sampled3_uniform/ndcg@3"].tolist() == [0.25, 1.0]
    assert result.metrics["test/sampled3_uniform/hit@3"] == pytest.approx(0.75)
    assert result.metrics["test/sampled3_uniform/ndcg@3"] == pytest.approx(0.625)
    assert result.metrics["test/sampled3_uniform/hit@1"] == pytest.approx(0.5)
    assert result.metrics["test/sampled3_uniform/users"] == 2
    assert not any(k.startswith("test/hit") for k in result.metrics)  # labelled, never mixed
    with pytest.raises(ValueError, match=r"user 0 has only 3 items to draw 4 negatives"):
        ev.evaluate_sampled(scores, "test", num_negatives=4, ks=[3])
    with pytest.raises(ValueError, match=r"sampler must be one of uniform, popularity"):
        ev.evaluate_sampled(scores, "test", num_negatives=3, sampler="pop", ks=[3])


def test_sampled_values_do_not_depend_on_the_chunking() -> None:
    rng = np.random.default_rng(0)
    rows = [(u, int(i), "x", "train") for u in range(40) for i in rng.choice(60, 5, replace=False)]
    rows += [
        (u, int(i), "x", "test")
        for u in range(40)
        for i in rng.choice(
            np.setdiff1d(np.arange(60), [r[1] for r in rows if r[0] == u]), 2, replace=False
        )
    ]
    split = predefined_split(dataset(rows, 40, 60, "domain"))
    table = torch.rand(40, 60, generator=torch.Generator().manual_seed(1)).tolist()
    small = Evaluator(split, ks=[10], memory_budget_mb=0.02)
    large = Evaluator(split, ks=[10])
    assert small.chunk_size < 40 <= large.chunk_size
    for sampler in S.SAMPLERS:
        a = small.evaluate_sampled(scorer(table), "test", 20, sampler, seed=9).metrics
        b = large.evaluate_sampled(scorer(table), "test", 20, sampler, seed=9).metrics
        assert a == b
        assert not math.isnan(a[f"test/sampled20_{sampler}/hit@10"])


# ------------------------------------------------------------------ from gnnrec-train


def write_small_jdata(folder: Path) -> None:
    """20 users x 24 items in JData's layout: buys, carts, follows, held-out buys."""
    g = torch.Generator().manual_seed(0)
    files: dict[str, list[str]] = {n: [] for n in ("buy", "cart", "collect", "validation", "test")}
    for u in range(20):
        items = torch.randperm(24, generator=g)[:9].tolist()
        files["buy"] += [f"{u} {i}" for i in items[:5]]
        files["cart"] += [f"{u} {i}" for i in items[4:7]]
        files["collect"] += [f"{u} {items[7]}"]
        files["validation"] += [f"{u} {items[7]}"]
        files["test"] += [f"{u} {items[8]}", f"{u} {items[6]}"]  # items[6] was carted
    for name, lines in files.items():
        (folder / f"{name}.txt").write_text("\n".join(lines) + "\n")


def test_jdata_config_trains_on_all_behaviours_and_reports_sampled_metrics(
    tmp_path: Path, train_here
) -> None:
    data = tmp_path / "jdata"
    data.mkdir()
    write_small_jdata(data)
    proc = train_here(
        "dataset=jdata-behavior",
        f"dataset.root={data}",
        "train.epochs=2",
        "train.monitor=recall@10",
        "eval.sampled.negatives=5",
        "eval.sampled.ks=[1,5]",
        "eval.save_per_user=true",
        "logger=none",
        "train.progress=false",
        "hydra.run.dir=out",
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    results = json.loads((tmp_path / "out" / "results.json").read_text())
    assert results["split"] == "predefined[split]+target[buy]"
    assert results["split/train"] == 20 * (5 + 3 + 1)
    assert results["split/test"] == 40
    assert 0 <= results["test/sampled5_uniform/hit@1"] <= results["test/sampled5_uniform/hit@5"]
    assert "SAMPLED test metrics (each test item among 5 uniform-drawn negatives" in proc.stdout
    per_user = np.load(tmp_path / "out" / "per_user.npz")
    assert per_user["sampled5_uniform/hit@5"].mean() == pytest.approx(
        results["test/sampled5_uniform/hit@5"]
    )


def write_small_shops(folder: Path) -> None:
    """12 users buying in two shops whose item ids overlap (0..14 each)."""
    g = torch.Generator().manual_seed(1)
    for shop in ("sport", "cloth"):
        train, test = [], []
        for u in range(12):
            items = torch.randperm(15, generator=g)[:6].tolist()
            train += [f"{u}\t{i}\t1" for i in items[:5]]
            test.append(f"{u}\t{items[5]}\t1")
        (folder / f"{shop}_train.tsv").write_text("\n".join(train) + "\n")
        (folder / f"{shop}_test.tsv").write_text("\n".join(test) + "\n")


def test_one_shop_is_evaluated_over_its_own_catalogue(tmp_path: Path, train_here) -> None:
    data = tmp_path / "shops"
    data.mkdir()
    write_small_shops(data)
    proc = train_here(
        "dataset=amazon-sport-cloth",
        f"dataset.root={data}",
        "target_domain=cloth",
        "train.epochs=1",
        "train.monitor=recall@10",
        "eval.sampled.negatives=4",
        "eval.sampled.ks=[5]",
        "eval.save_topk=true",
        "logger=none",
        "train.progress=false",
        "hydra.run.dir=out",
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    results = json.loads((tmp_path / "out" / "results.json").read_text())
    assert results["split"] == "predefined[split]+valid_from_train[0.1]+domain[cloth]"
    assert results["split/test"] == 12  # the 12 Clothing test pairs; Sports' are dropped
    per_shop = [
        {
            line.split("\t")[1]
            for f in data.glob(f"{shop}_*.tsv")
            for line in f.read_text().split("\n")
            if line
        }
        for shop in ("sport", "cloth")
    ]
    assert results["data/items"] == len(per_shop[0]) + len(per_shop[1])  # none fused
    assert len(per_shop[0] | per_shop[1]) < results["data/items"]
    assert results["peak_rss_mb"] > 0
    assert 0 <= results["test/sampled4_uniform/hit@5"] <= 1
    lines = (tmp_path / "out" / "topk.tsv").read_text().splitlines()[1:]
    recommended = {item for line in lines for item in line.split("\t")[2:3]}
    assert recommended and all(item.startswith("cloth:") for item in recommended)


def test_the_cascade_trains_one_stage_per_behaviour_on_jdata(tmp_path: Path, train_here) -> None:
    data = tmp_path / "jdata"
    data.mkdir()
    write_small_jdata(data)
    proc = train_here(
        "dataset=jdata-behavior",
        f"dataset.root={data}",
        "model=cascade",
        "model.order=[collect,cart,buy]",
        "train.epochs=1",
        "train.monitor=recall@10",
        "logger=none",
        "train.progress=false",
        "hydra.run.dir=out",
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    (row,) = [json.loads(line) for line in (tmp_path / "out" / "metrics.jsonl").open()]
    assert row["train/bpr_collect"] > 0 and row["train/bpr_cart"] > 0
    assert "cascade=collect>cart>buy" in (tmp_path / "out" / "train.log").read_text()


def test_stats_count_each_behaviour(tmp_path: Path) -> None:
    from gnnrec.data.stats import domain_table

    ds = load_dataset("t", write_behavior_files(tmp_path), root=tmp_path)
    assert domain_table(ds, "behavior") == [
        {"behavior": "buy", "interactions": 5, "users": 2, "items": 3},
        {"behavior": "cart", "interactions": 2, "users": 1, "items": 2},
    ]
