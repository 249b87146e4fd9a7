"""Split methods: exact parts on small logs, invariants, determinism, leakage checks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
from hydra.utils import instantiate
from hypothesis import given, settings
from hypothesis import strategies as st
from omegaconf import OmegaConf

from gnnrec.data.dataset import InteractionDataset
from gnnrec.data.split import (
    PARTS,
    Split,
    check_split,
    cross_domain_split,
    global_temporal_split,
    leave_one_out_split,
    load_split,
    predefined_split,
    random_split,
    ratio_counts,
    temporal_split,
)
from gnnrec.errors import ConfigError, DataError

CONF = Path(__file__).resolve().parents[1] / "conf"


def make_dataset(
    users: list[int],
    items: list[int],
    times: list[float] | None = None,
    extras: dict[str, list] | None = None,
) -> InteractionDataset:
    """A dataset from parallel lists, sorted like the loader sorts (user, time, order)."""
    u = np.asarray(users, dtype=np.int64)
    i = np.asarray(items, dtype=np.int64)
    t = np.arange(len(u), dtype=np.float64) if times is None else np.asarray(times, float)
    order = np.lexsort((np.arange(len(u)), t, u))
    n_users, n_items = int(u.max()) + 1, int(i.max()) + 1
    return InteractionDataset(
        name="tiny",
        user_ids=np.array([f"u{k}" for k in range(n_users)]),
        item_ids=np.array([f"i{k}" for k in range(n_items)]),
        category_names=np.array(["c0"]),
        users=u[order],
        items=i[order],
        timestamps=t[order],
        weights=np.ones(len(u), dtype=np.float32),
        item_categories=sp.csr_matrix(np.ones((n_items, 1), dtype=np.float32)),
        extras={k: np.asarray(v)[order] for k, v in (extras or {}).items()},
    )


def user_log(counts: list[int]) -> InteractionDataset:
    """User k has counts[k] interactions with items 0, 1, ... at times 0, 1, ..."""
    users = np.repeat(np.arange(len(counts)), counts)
    items = np.concatenate([np.arange(c) for c in counts])
    times = items.astype(float)
    return make_dataset(users.tolist(), items.tolist(), times.tolist())


def parts(split: Split) -> list[list[int]]:
    return [split.part(p).tolist() for p in PARTS]


# --------------------------------------------------------------------------- methods


def test_ratio_counts_follow_recbole_rule() -> None:
    # n=10: floor(1.0)=1 valid, 1 test, 8 train. n=3: floors are 0, then test
    # and valid are bumped to 1 while train keeps > 1 before each bump.
    # n=2: test bumped (train 2 > 1), valid not (train 1). n=1: all train.
    train, valid, test = ratio_counts(np.array([10, 3, 2, 1]), (0.8, 0.1, 0.1))
    assert train.tolist() == [8, 1, 1, 1]
    assert valid.tolist() == [1, 1, 0, 0]
    assert test.tolist() == [1, 1, 1, 0]


def test_temporal_split_exact_parts() -> None:
    # user 0: 10 interactions at indices 0..9; user 1: 3 at 10..12; user 2: 2 at 13..14.
    split = temporal_split(user_log([10, 3, 2]))
    assert parts(split) == [[0, 1, 2, 3, 4, 5, 6, 7, 10, 13], [8, 11], [9, 12, 14]]
    assert split.time_order == "user"
    assert split.counts() == {"train": 10, "valid": 2, "test": 3}


def test_temporal_split_orders_by_time_not_file_order() -> None:
    # One user, items given out of time order: item 2 at t=0, item 0 at t=5, item 1 at t=9.
    ds = make_dataset([0, 0, 0], [0, 1, 2], [5.0, 9.0, 0.0])
    split = temporal_split(ds, ratios=(1 / 3, 1 / 3, 1 / 3))
    # The dataset is sorted by time: index 0 is item 2, 1 is item 0, 2 is item 1.
    assert [ds.items[split.part(p)].tolist() for p in PARTS] == [[2], [0], [1]]


def test_temporal_split_without_train_share_is_a_clear_error() -> None:
    # Ratios (0, 0.5, 0.5): a user with 2 interactions gets 1 valid, 1 test, 0 train.
    with pytest.raises(DataError) as err:
        temporal_split(user_log([2, 2, 4]), ratios=(0.0, 0.5, 0.5))
    message = str(err.value)
    assert "leaves 3 users" in message
    assert "'u0', 'u1', 'u2'" in message
    assert "split.ratios" in message


def test_temporal_split_rejects_bad_ratios() -> None:
    with pytest.raises(ConfigError, match="summing to 1"):
        temporal_split(user_log([3]), ratios=(0.8, 0.1))


def test_random_split_per_user_sizes_and_determinism() -> None:
    ds = user_log([10, 3, 2, 1])
    split = random_split(ds, seed=7)
    per_user = [np.bincount(ds.users[split.part(p)], minlength=4).tolist() for p in PARTS]
    # The sizes are ratio_counts' for n = 10, 3, 2, 1.
    assert per_user == [[8, 1, 1, 1], [1, 1, 0, 0], [1, 1, 1, 0]]
    again = random_split(ds, seed=7)
    assert parts(again) == parts(split)
    assert split.seed == 7
    assert any(parts(random_split(ds, seed=s)) != parts(split) for s in range(1, 6))


def test_random_split_global_counts_and_cold_handling() -> None:
    # 20 interactions: floor(2.0) = 2 valid, 2 test, 16 train.
    ds = user_log([5, 5, 5, 5])
    split = random_split(ds, seed=1, group_by=None)
    assert split.counts() == {"train": 16, "valid": 2, "test": 2}
    # A user with a single interaction that lands in test is cold.
    ds = user_log([1] * 10 + [10])
    outcomes = []
    for seed in range(20):
        try:
            random_split(ds, ratios=(0.5, 0.25, 0.25), seed=seed, group_by=None)
            outcomes.append("ok")
        except DataError as err:
            assert "split.cold=drop" in str(err)
            outcomes.append("cold")
    assert "cold" in outcomes
    dropped = random_split(ds, ratios=(0.5, 0.25, 0.25), seed=0, group_by=None, cold="drop")
    assert len(dropped.dropped) > 0
    kept = random_split(ds, ratios=(0.5, 0.25, 0.25), seed=0, group_by=None, cold="keep")
    assert kept.cold_users and len(kept.dropped) == 0


def test_leave_one_out_exact_parts() -> None:
    # Users with 4, 3, 2 and 1 interactions at indices 0-3, 4-6, 7-8, 9.
    split = leave_one_out_split(user_log([4, 3, 2, 1]))
    assert parts(split) == [[0, 1, 4, 7, 9], [2, 5], [3, 6, 8]]


def test_global_temporal_by_ratio() -> None:
    # Two users interleaved in time; 10 interactions: 8 train, 1 valid, 1 test.
    ds = make_dataset([0, 1] * 5, list(range(10)), [float(t) for t in range(10)])
    split = global_temporal_split(ds)
    t = ds.timestamps
    assert sorted(t[split.train].tolist()) == [0.0, 1, 2, 3, 4, 5, 6, 7]
    assert t[split.valid].tolist() == [8.0]
    assert t[split.test].tolist() == [9.0]


def test_global_temporal_by_time_and_cold_users() -> None:
    # u0 at t=0,1,5,9; u1 at t=2,3; u2 only at t=6 and t=8 (after the valid cut at 5).
    ds = make_dataset([0, 0, 0, 0, 1, 1, 2, 2], [0, 1, 2, 3, 0, 1, 0, 1], [0, 1, 5, 9, 2, 3, 6, 8])
    split = global_temporal_split(ds, ratios=None, valid_start=5, test_start=8)
    t = ds.timestamps
    assert sorted(t[split.train].tolist()) == [0, 1, 2, 3]
    assert t[split.valid].tolist() == [5.0]
    assert t[split.test].tolist() == [9.0]
    assert ds.user_ids[ds.users[split.dropped]].tolist() == ["u2", "u2"]
    with pytest.raises(DataError, match=r"leaves 1 users.*'u2'.*split.cold=drop"):
        global_temporal_split(ds, ratios=None, valid_start=5, test_start=8, cold="error")
    kept = global_temporal_split(ds, ratios=None, valid_start=5, test_start=8, cold="keep")
    assert kept.cold_users and kept.counts() == {"train": 4, "valid": 2, "test": 2}


def test_global_temporal_needs_both_cuts() -> None:
    with pytest.raises(ConfigError, match=r"valid_start <= split.test_start"):
        global_temporal_split(user_log([3]), ratios=None, valid_start=5)


def test_cross_domain_split_holds_out_target_of_cold_users() -> None:
    # u0..u3 active in books and movies; u4 only in books.
    users = [0, 0, 1, 1, 2, 2, 3, 3, 4]
    items = [0, 1, 0, 1, 0, 1, 2, 1, 2]
    domain = ["books", "movies"] * 4 + ["books"]
    ds = make_dataset(users, items, extras={"domain": domain})
    split = cross_domain_split(ds, target="movies", cold_share=0.5, valid_share=0.5, seed=3)
    dom = ds.extras["domain"]
    held_out = np.concatenate([split.valid, split.test])
    # cold_share 0.5 of the 4 overlapping users = 2 users, one to valid, one to test.
    assert len(split.valid) == 1 and len(split.test) == 1
    assert set(dom[held_out]) == {"movies"}
    cold = set(ds.users[held_out].tolist())
    train_movies = ds.users[split.train][dom[split.train] == "movies"]
    assert cold.isdisjoint(train_movies.tolist())
    # The cold users still train on their books.
    assert cold <= set(ds.users[split.train][dom[split.train] == "books"].tolist())
    assert split.cold_users
    again = cross_domain_split(ds, target="movies", cold_share=0.5, valid_share=0.5, seed=3)
    assert parts(again) == parts(split)


def test_cross_domain_errors_name_the_fix() -> None:
    ds = make_dataset([0, 1], [0, 1], extras={"domain": ["a", "b"]})
    with pytest.raises(ConfigError, match="not a domain of the dataset; found 'a', 'b'"):
        cross_domain_split(ds, target="c")
    with pytest.raises(DataError, match="overlapping users"):
        cross_domain_split(ds, target="a")
    with pytest.raises(ConfigError, match="'domain' column"):
        cross_domain_split(user_log([2]), target="a")


def test_predefined_split_from_column() -> None:
    ds = make_dataset(
        [0, 0, 0, 1, 1], [0, 1, 2, 0, 1], extras={"split": ["train", "valid", "test", "0", "2"]}
    )
    assert parts(predefined_split(ds)) == [[0, 3], [1], [2, 4]]
    bad = make_dataset([0, 0], [0, 1], extras={"split": ["train", "tset"]})
    with pytest.raises(DataError, match="'tset'"):
        predefined_split(bad)
    with pytest.raises(ConfigError, match=r"split.folder"):
        predefined_split(user_log([2]))


def test_predefined_split_carves_validation_from_train() -> None:
    # user 0: 10 train + 1 test, user 1: 2 train + 1 test, user 2: 3 train + 1 test
    counts = [(0, 10), (1, 2), (2, 3)]
    users = [u for u, n in counts for _ in range(n + 1)]
    labels = [p for _, n in counts for p in ["train"] * n + ["test"]]
    ds = make_dataset(users, list(range(len(users))), extras={"split": labels})
    split = predefined_split(ds, valid_from_train=0.2, seed=3)
    valid_users = ds.users[split.valid]
    # floor(10 * 0.2) = 2; users 1 and 2: floor(0.4) = floor(0.6) = 0, bumped to 1
    # because more than one train row is there to give (ratio_counts)
    assert np.bincount(valid_users, minlength=3).tolist() == [2, 1, 1]
    assert split.test.tolist() == predefined_split(ds).test.tolist()
    original_train = predefined_split(ds).train
    assert sorted(np.concatenate([split.train, split.valid]).tolist()) == original_train.tolist()
    assert "valid_from_train[0.2]" in split.method and split.seed == 3
    again = predefined_split(ds, valid_from_train=0.2, seed=3)
    assert split.valid.tolist() == again.valid.tolist()
    others = {tuple(predefined_split(ds, valid_from_train=0.2, seed=s).valid) for s in range(8)}
    assert len(others) > 1  # the seed decides which rows
    with_valid = make_dataset([0, 0, 0], [0, 1, 2], extras={"split": ["train", "valid", "test"]})
    with pytest.raises(ConfigError, match="already has 1 validation"):
        predefined_split(with_valid, valid_from_train=0.1)
    with pytest.raises(ConfigError, match=r"in \[0, 1\)"):
        predefined_split(ds, valid_from_train=1.5)


# --------------------------------------------------------------------------- save / load


def test_save_and_load_round_trip(tmp_path: Path) -> None:
    split = random_split(user_log([6, 4, 3]), seed=5)
    split.save(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "split.json",
        "test.tsv",
        "train.tsv",
        "valid.tsv",
    ]
    lines = (tmp_path / "test.tsv").read_text().splitlines()
    assert lines[0] == "user_id\titem_id\ttimestamp"
    assert len(lines) == 1 + len(split.test)
    loaded = load_split(tmp_path, split.dataset)
    assert parts(loaded) == parts(split)
    assert (loaded.method, loaded.seed, loaded.time_order) == (split.method, 5, None)


def test_round_trip_keeps_repeated_pairs_apart(tmp_path: Path) -> None:
    # u0 consumed item 0 three times (t=0, 1, 2) and item 1 once; a random
    # split must come back with each repeat in its own part.
    ds = make_dataset([0, 0, 0, 0, 0, 0], [0, 0, 0, 1, 2, 3], [0, 1, 2, 3, 4, 5])
    for seed in range(5):
        split = random_split(ds, ratios=(0.5, 0.25, 0.25), seed=seed)
        split.save(tmp_path / str(seed))
        assert parts(load_split(tmp_path / str(seed), ds)) == parts(split)


def test_round_trip_keeps_dropped_and_time_order(tmp_path: Path) -> None:
    ds = make_dataset([0, 0, 0, 0, 1, 1, 2, 2], [0, 1, 2, 3, 0, 1, 0, 1], [0, 1, 5, 9, 2, 3, 6, 8])
    split = global_temporal_split(ds, ratios=None, valid_start=5, test_start=8)
    split.save(tmp_path)
    loaded = load_split(tmp_path, ds)
    assert loaded.dropped.tolist() == split.dropped.tolist()
    assert loaded.time_order == "global"


def test_load_split_locates_rows_that_match_nothing(tmp_path: Path) -> None:
    ds = user_log([3, 3])
    temporal_split(ds).save(tmp_path)
    text = (tmp_path / "train.tsv").read_text().splitlines()
    text[2] = "u9\ti0\t0"
    (tmp_path / "train.tsv").write_text("\n".join(text) + "\n")
    with pytest.raises(DataError) as err:
        load_split(tmp_path, ds)
    assert err.value.line == 3
    assert "'u9'" in str(err.value) and "matches no interaction" in str(err.value)


def test_load_split_needs_split_json(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"no split\.json"):
        load_split(tmp_path, user_log([3]))


def test_predefined_folder_without_timestamps(tmp_path: Path) -> None:
    # The format gnnrec-train writes (split/*.tsv): raw ids only, no valid file.
    ds = user_log([3, 2])
    (tmp_path / "train.tsv").write_text("user_id\titem_id\nu0\ti0\nu0\ti1\nu1\ti0\n")
    (tmp_path / "test.tsv").write_text("user_id\titem_id\nu0\ti2\nu1\ti1\n")
    assert parts(predefined_split(ds, folder=tmp_path)) == [[0, 1, 3], [], [2, 4]]
    (tmp_path / "test.tsv").write_text("user_id\titem_id\nu0\ti2\n")
    with pytest.raises(DataError, match=r"4 rows for the 5 interactions .* user 'u1', item 'i1'"):
        predefined_split(ds, folder=tmp_path)


# --------------------------------------------------------------------------- checks


def test_check_split_finds_overlap_gaps_and_leaks() -> None:
    ds = user_log([4])
    empty = np.array([], dtype=np.int64)

    def split(train, valid, test, time_order=None) -> Split:
        as_idx = [np.asarray(p, dtype=np.int64) for p in (train, valid, test)]
        return Split(ds, *as_idx, method="hand", time_order=time_order)

    with pytest.raises(DataError, match=r"overlap: 1 interactions.*train and test"):
        check_split(split([0, 1, 2], [], [2, 3]))
    with pytest.raises(DataError, match="1 of 4 interactions in no part"):
        check_split(split([0, 1], [2], empty))
    with pytest.raises(DataError, match="time leak: 1 users have a training interaction later"):
        check_split(split([0, 1, 3], [], [2], time_order="user"))
    with pytest.raises(DataError, match="time leak"):
        check_split(split([0, 2, 3], [1], [], time_order="global"))
    with pytest.raises(DataError, match=r"leaves 1 users.*'u0'"):
        check_split(split(empty, [0, 1], [2, 3]))
    check_split(split([0, 1], [2], [3], time_order="user"))


# --------------------------------------------------------------------------- configs


@pytest.mark.parametrize(
    ("name", "options"),
    [
        ("temporal", {}),
        ("random", {}),
        ("leave_one_out", {}),
        ("global_temporal", {}),
        ("predefined", {}),
        ("cross_domain", {"target": "b"}),
    ],
)
def test_every_split_config_instantiates(name: str, options: dict) -> None:
    cfg = OmegaConf.merge(OmegaConf.load(CONF / "split" / f"{name}.yaml"), options)
    users = [0] * 5 + [1] * 5 + [2] * 5
    extras = {
        "domain": ["a", "a", "a", "b", "b"] * 3,
        "split": ["train", "train", "train", "valid", "test"] * 3,
    }
    ds = make_dataset(users, list(range(5)) * 3, extras=extras)
    split = instantiate(cfg, _convert_="all", _partial_=True)(dataset=ds)
    assert isinstance(split, Split)
    check_split(split)


def test_split_configs_are_all_tested() -> None:
    names = {p.stem for p in (CONF / "split").glob("*.yaml")}
    assert names == {
        "temporal",
        "random",
        "leave_one_out",
        "global_temporal",
        "predefined",
        "cross_domain",
    }


# --------------------------------------------------------------------------- properties


logs = st.lists(
    st.tuples(st.integers(0, 5), st.integers(0, 7), st.integers(0, 20)), min_size=1, max_size=60
)


@settings(max_examples=60, deadline=None)
@given(rows=logs, seed=st.integers(0, 2**31))
def test_per_user_splits_are_leak_free_partitions(rows, seed) -> None:
    users, items, times = (list(c) for c in zip(*rows, strict=True))
    ds = make_dataset(users, items, [float(t) for t in times])
    for split in (
        temporal_split(ds),
        random_split(ds, seed=seed),
        leave_one_out_split(ds),
        global_temporal_split(ds),
        random_split(ds, seed=seed, group_by=None, cold="drop"),
    ):
        everything = np.concatenate([split.train, split.valid, split.test, split.dropped])
        assert np.array_equal(np.sort(everything), np.arange(ds.num_interactions))
        # Per-user methods keep every user with interactions in train.
        if split.method.startswith(("temporal_per_user", "random_per_user", "leave_one_out")):
            assert set(ds.users[split.train].tolist()) == set(users)
        check_split(split)


def test_load_split_refuses_repeated_and_retimed_rows(tmp_path: Path) -> None:
    ds = user_log([3, 3])
    temporal_split(ds).save(tmp_path)
    train = (tmp_path / "train.tsv").read_text().splitlines()
    # Line 2 copied to line 4: the interaction is listed more often than the dataset holds it.
    (tmp_path / "train.tsv").write_text("\n".join([*train, train[1]]) + "\n")
    with pytest.raises(DataError, match="repeats one more often") as err:
        load_split(tmp_path, ds)
    assert err.value.line == 4
    # A known pair at a time the dataset does not have.
    (tmp_path / "train.tsv").write_text("\n".join([*train[:-1], "u1\ti0\t7"]) + "\n")
    with pytest.raises(DataError, match="matches no interaction"):
        load_split(tmp_path, ds)


def test_a_split_without_validation_part_saves_and_loads(tmp_path, tiny_dataset):
    from gnnrec.data.split import load_split, temporal_split

    split = temporal_split(tiny_dataset, ratios=(0.8, 0.0, 0.2))
    assert len(split.valid) == 0
    split.save(tmp_path)
    assert not (tmp_path / "valid.tsv").exists()
    loaded = load_split(tmp_path, tiny_dataset)
    assert len(loaded.valid) == 0
    assert np.array_equal(np.sort(loaded.train), np.sort(split.train))
    assert np.array_equal(np.sort(loaded.test), np.sort(split.test))
