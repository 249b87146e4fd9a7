"""Preprocessing steps: thresholds, behaviour weights, duplicates, k-core, missing categories."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gnnrec.data.load import load_dataset
from gnnrec.data.preprocess import Interactions, PreprocessLog, kcore_filter
from gnnrec.errors import ConfigError

COLUMNS = {"user": "user", "item": "item", "timestamp": "time"}


def write(tmp_path: Path, header: str, rows: list[str], name: str = "log.csv") -> None:
    (tmp_path / name).write_text("\n".join([header, *rows]) + "\n")


def pairs(ds) -> list[tuple[str, str, float]]:
    return [
        (str(u), str(i), float(w))
        for u, i, w in zip(ds.user_ids[ds.users], ds.item_ids[ds.items], ds.weights, strict=True)
    ]


REPEATS = ["a,x,3", "a,x,1", "a,y,2", "a,x,5", "b,x,4"]


@pytest.mark.parametrize(
    ("dedup", "expected"),
    [
        # a's history in time order: x@1, y@2, x@3, x@5
        ("first", [("a", "x", 1.0), ("a", "y", 1.0), ("b", "x", 1.0)]),
        ("last", [("a", "y", 1.0), ("a", "x", 1.0), ("b", "x", 1.0)]),
        ("count", [("a", "x", 3.0), ("a", "y", 1.0), ("b", "x", 1.0)]),
    ],
)
def test_duplicates(tmp_path: Path, dedup: str, expected: list) -> None:
    write(tmp_path, "user,item,time", REPEATS)
    ds = load_dataset("t", {"file": "log.csv", "columns": COLUMNS}, root=tmp_path, dedup=dedup)
    assert pairs(ds) == expected
    assert ds.preprocessing_log.splitlines()[1] == (
        f"duplicates ({dedup}): 5 interactions, 2 users, 2 items -> "
        "3 interactions, 2 users, 2 items"
    )


def test_behavior_weights_and_sum_or_max_of_repeats(tmp_path: Path) -> None:
    write(
        tmp_path,
        "user,item,time,event",
        ["a,x,1,pv", "a,x,2,cart", "a,x,3,buy", "a,y,4,pv", "a,z,5,share", "b,x,6,fav"],
    )
    spec = {"file": "log.csv", "columns": {**COLUMNS, "behavior": "event"}}
    weights = {"buy": 4, "cart": 2, "fav": 2, "pv": 1}
    summed = load_dataset("t", spec, root=tmp_path, behavior_weights=weights, dedup="sum")
    # share is not listed: dropped; x for a = pv + cart + buy = 1 + 2 + 4
    assert pairs(summed) == [("a", "x", 7.0), ("a", "y", 1.0), ("b", "x", 2.0)]
    assert summed.extras["behavior"].tolist() == ["pv", "pv", "fav"]  # the first event kept
    strongest = load_dataset("t", spec, root=tmp_path, behavior_weights=weights, dedup="max")
    assert pairs(strongest) == [("a", "x", 4.0), ("a", "y", 1.0), ("b", "x", 2.0)]
    assert "behavior weights (dropped types: share)" in summed.preprocessing_log


def test_explicit_weight_column_times_behavior_weight(tmp_path: Path) -> None:
    write(tmp_path, "user,item,time,event,w", ["a,x,1,buy,0.5", "a,y,2,pv,3"])
    spec = {"file": "log.csv", "columns": {**COLUMNS, "behavior": "event", "weight": "w"}}
    ds = load_dataset("t", spec, root=tmp_path, behavior_weights={"buy": 4, "pv": 1})
    assert ds.weights.tolist() == [2.0, 3.0]


def test_rating_threshold_keeps_ratings_as_extras(tmp_path: Path) -> None:
    write(tmp_path, "user,item,time,r", ["a,x,1,5", "a,y,2,3", "b,x,3,4"])
    spec = {"file": "log.csv", "columns": {**COLUMNS, "rating": "r"}}
    ds = load_dataset("t", spec, root=tmp_path, min_rating=4)
    assert pairs(ds) == [("a", "x", 1.0), ("b", "x", 1.0)]
    assert ds.extras["rating"].tolist() == [5.0, 4.0]
    assert ds.item_ids.tolist() == ["x"]  # y had only a low rating


def test_kcore_filters_to_the_fixed_point(tmp_path: Path) -> None:
    # c has 1 interaction -> dropped; then item z has 1 -> dropped; then b has 1 -> dropped
    write(
        tmp_path, "user,item,time", ["a,x,1", "a,y,2", "b,x,3", "b,z,4", "c,z,5", "d,x,6", "d,y,7"]
    )
    ds = load_dataset("t", {"file": "log.csv", "columns": COLUMNS}, root=tmp_path, kcore=2)
    assert ds.user_ids.tolist() == ["a", "d"]
    assert ds.item_ids.tolist() == ["x", "y"]
    assert pairs(ds) == [("a", "x", 1.0), ("a", "y", 1.0), ("d", "x", 1.0), ("d", "y", 1.0)]
    assert "2-core users, 2-core items (3 rounds): 7 interactions, 4 users, 3 items -> " in (
        ds.preprocessing_log
    )
    with pytest.raises(ConfigError, match="leaves no interaction"):
        load_dataset("t", {"file": "log.csv", "columns": COLUMNS}, root=tmp_path, kcore=3)


def naive_kcore(edges: set[tuple[int, int]], k_user: int, k_item: int) -> set[tuple[int, int]]:
    """Reference: remove one under-threshold node at a time until none is left."""
    edges = set(edges)
    while True:
        users: dict[int, int] = {}
        items: dict[int, int] = {}
        for u, i in edges:
            users[u] = users.get(u, 0) + 1
            items[i] = items.get(i, 0) + 1
        bad = next(((u, i) for u, i in edges if users[u] < k_user or items[i] < k_item), None)
        if bad is None:
            return edges
        u, i = bad
        edges = (
            {e for e in edges if e[0] != u}
            if users[u] < k_user
            else {e for e in edges if e[1] != i}
        )


@settings(max_examples=60, deadline=None)
@given(
    st.sets(st.tuples(st.integers(0, 12), st.integers(0, 9)), max_size=80),
    st.integers(0, 4),
    st.integers(0, 4),
)
def test_kcore_matches_the_one_at_a_time_reference(edges, k_user, k_item) -> None:
    ordered = sorted(edges)
    arr = np.array(ordered, dtype=np.int64).reshape(-1, 2)
    x = Interactions(
        users=arr[:, 0],
        items=arr[:, 1],
        timestamps=np.zeros(len(arr)),
        weights=np.ones(len(arr), dtype=np.float32),
        rows=np.arange(len(arr)),
        user_ids=np.arange(13).astype(str),
        item_ids=np.arange(10).astype(str),
    )
    expected = naive_kcore(set(ordered), k_user, k_item)
    if not expected:
        with pytest.raises(ConfigError):
            kcore_filter(x, k_user, k_item, PreprocessLog())
        return
    out = kcore_filter(x, k_user, k_item, PreprocessLog())
    assert set(zip(out.users.tolist(), out.items.tolist(), strict=True)) == expected
    # the result is a fixed point: filtering again changes nothing
    again = kcore_filter(out, k_user, k_item, PreprocessLog())
    assert len(again.users) == len(out.users)


@pytest.mark.parametrize(
    ("missing", "items", "categories", "rows"),
    [
        ("unknown", ["x", "y", "z"], ["A", "unknown"], [[1, 0], [1, 0], [0, 1]]),
        ("keep", ["x", "y", "z"], ["A"], [[1], [1], [0]]),
        ("drop", ["x", "y"], ["A"], [[1], [1]]),
    ],
)
def test_items_without_category(tmp_path: Path, missing, items, categories, rows) -> None:
    write(tmp_path, "user,item,time", ["a,x,1", "a,y,2", "a,z,3"])
    write(tmp_path, "item,cat", ["x,A", "y,A", "z,"], name="items.csv")
    ds = load_dataset(
        "t",
        {"file": "log.csv", "columns": COLUMNS},
        categories={
            "file": "items.csv",
            "item_column": "item",
            "category_column": "cat",
            "missing": missing,
        },
        root=tmp_path,
    )
    assert ds.item_ids.tolist() == items
    assert ds.category_names.tolist() == categories
    assert ds.item_categories.toarray().tolist() == rows


def test_raw_id_maps_survive_filtering(tmp_path: Path) -> None:
    write(tmp_path, "user,item,time,r", ["u9,i3,1,5", "u1,i2,2,1", "u5,i1,3,5", "u9,i1,4,5"])
    spec = {"file": "log.csv", "columns": {**COLUMNS, "rating": "r"}}
    ds = load_dataset("t", spec, root=tmp_path, min_rating=5)
    assert ds.user_ids.tolist() == ["u5", "u9"]
    assert ds.item_ids.tolist() == ["i1", "i3"]
    raw = list(zip(ds.user_ids[ds.users], ds.item_ids[ds.items], strict=True))
    assert raw == [("u5", "i1"), ("u9", "i3"), ("u9", "i1")]
