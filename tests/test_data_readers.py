"""Every interaction format, read from small files written here, gives the same dataset."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from gnnrec.data.load import dataset_files, load_dataset
from gnnrec.data.readers import read_table, to_codes, to_timestamps
from gnnrec.data.stats import domain_table
from gnnrec.errors import ConfigError

# (user, item, rating, time) rows; the loaded dataset is the same in every format.
ROWS = [("u2", "007", 5, 30), ("u1", "010", 3, 20), ("u1", "007", 4, 10), ("u2", "010", 1, 40)]
COLUMNS = {"user": "user", "item": "item", "rating": "rating", "timestamp": "time"}


def delimited(sep: str, header: bool = True) -> str:
    lines = [sep.join(map(str, row)) for row in ROWS]
    return "\n".join(([sep.join(["user", "item", "rating", "time"])] if header else []) + lines)


def check_standard(ds) -> None:
    """Ids sorted as strings (leading zeros kept), interactions by (user, time)."""
    assert ds.user_ids.tolist() == ["u1", "u2"]
    assert ds.item_ids.tolist() == ["007", "010"]
    # u1: 007@10, 010@20; u2: 007@30, 010@40
    assert ds.users.tolist() == [0, 0, 1, 1]
    assert ds.items.tolist() == [0, 1, 0, 1]
    assert ds.timestamps.tolist() == [10.0, 20.0, 30.0, 40.0]
    assert ds.extras["rating"].tolist() == [4.0, 3.0, 5.0, 1.0]


@pytest.mark.parametrize(
    ("filename", "content", "options"),
    [
        ("log.csv", delimited(","), {}),
        ("log.txt", delimited(";"), {"format": "csv", "sep": ";"}),
        ("log.tsv", delimited("\t"), {}),
        (
            "log.dat",
            delimited("::", header=False),
            {"sep": "::", "header": False, "names": ["user", "item", "rating", "time"]},
        ),
        (
            "log.csv",
            delimited("|", header=False),
            {"sep": "|", "header": False, "names": ["user", "item", "rating", "time"]},
        ),
        (
            "log.inter",
            delimited("\t").replace(
                "user\titem\trating\ttime", "user:token\titem:token\trating:float\ttime:float"
            ),
            {},
        ),
    ],
    ids=["csv", "semicolon", "tsv", "double-colon", "headerless", "atomic"],
)
def test_delimited_formats(tmp_path: Path, filename: str, content: str, options: dict) -> None:
    (tmp_path / filename).write_text(content + "\n")
    ds = load_dataset("t", {"file": filename, "columns": COLUMNS, **options}, root=tmp_path)
    check_standard(ds)


def test_gzip_and_crlf(tmp_path: Path) -> None:
    with gzip.open(tmp_path / "log.csv.gz", "wt") as fh:
        fh.write(delimited(",").replace("\n", "\r\n") + "\r\n")
    check_standard(load_dataset("t", {"file": "log.csv.gz", "columns": COLUMNS}, root=tmp_path))


def test_quoted_csv_fields(tmp_path: Path) -> None:
    (tmp_path / "log.csv").write_text('user,item,rating,time\n"u1","0,1",4,1\nu2,"0,1",5,2\n')
    ds = load_dataset("t", {"file": "log.csv", "columns": COLUMNS}, root=tmp_path)
    assert ds.item_ids.tolist() == ["0,1"]


def test_parquet_with_integer_ids_and_datetimes(tmp_path: Path) -> None:
    table = pa.table(
        {
            "user": pa.array([2, 1, 1], pa.int64()),
            "item": pa.array(["b", "a", "b"]),
            "time": pa.array([3_000_000, 1_000_000, 2_000_000], pa.timestamp("ms")),
        }
    )
    pq.write_table(table, tmp_path / "log.parquet")
    ds = load_dataset(
        "t",
        {"file": "log.parquet", "columns": {"user": "user", "item": "item", "timestamp": "time"}},
        root=tmp_path,
    )
    assert ds.user_ids.tolist() == ["1", "2"]
    assert ds.timestamps.tolist() == [1000.0, 2000.0, 3000.0]  # seconds
    assert list(zip(ds.users.tolist(), ds.items.tolist(), strict=True)) == [(0, 0), (0, 1), (1, 1)]


def test_jsonl_reads_only_the_mapped_fields(tmp_path: Path) -> None:
    rows = [
        {"user": u, "item": i, "rating": r, "time": t, "review": {"text": "x" * 10}}
        for u, i, r, t in ROWS
    ]
    with gzip.open(tmp_path / "log.jsonl.gz", "wt") as fh:
        fh.write("".join(json.dumps(r) + "\n" for r in rows))
    table = read_table(tmp_path / "log.jsonl.gz", "jsonl", columns=["user", "item"])
    assert list(table.columns) == ["user", "item"]
    check_standard(load_dataset("t", {"file": "log.jsonl.gz", "columns": COLUMNS}, root=tmp_path))


def test_iso_dates_and_strptime_formats(tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_text("t\n2024-01-31\n2024-01-31T12:00:00\n2024-01-31 12:00:00Z\n")
    (tmp_path / "b.csv").write_text("t\n31/01/2024 12:00\n")
    a = read_table(tmp_path / "a.csv")
    b = read_table(tmp_path / "b.csv")
    midnight = 1706659200.0  # 2024-01-31T00:00:00Z
    assert to_timestamps(a, "t").tolist() == [midnight, midnight + 43200, midnight + 43200]
    assert to_timestamps(b, "t", "%d/%m/%Y %H:%M").tolist() == [midnight + 43200]


def test_ids_are_exact_text(tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_text("id\n007\n 7 \n7.0\n")
    codes, ids = to_codes(read_table(tmp_path / "a.csv"), "id")
    assert ids.tolist() == ["007", "7", "7.0"]
    assert codes.tolist() == [0, 1, 2]


def test_lightgcn_predefined_split(tmp_path: Path) -> None:
    (tmp_path / "train.txt").write_text("0 10 11 12\n1 11\n\n2\n")
    (tmp_path / "test.txt").write_text("0 13\n1   10 12\n")
    spec = {"format": "lightgcn", "files": {"train": "train.txt", "test": "test.txt"}}
    ds = load_dataset("t", spec, root=tmp_path)
    pairs = list(zip(ds.user_ids[ds.users], ds.item_ids[ds.items], ds.extras["split"], strict=True))
    # file order within a user (no timestamps): train lines first, then test
    assert pairs == [
        ("0", "10", "train"),
        ("0", "11", "train"),
        ("0", "12", "train"),
        ("0", "13", "test"),
        ("1", "11", "train"),
        ("1", "10", "test"),
        ("1", "12", "test"),
    ]
    assert [p.name for p in dataset_files("t", spec, root=tmp_path)] == ["train.txt", "test.txt"]


def test_files_as_domain_and_domain_column(tmp_path: Path) -> None:
    (tmp_path / "books.csv").write_text("user,item\n1,b1\n2,b2\n")
    (tmp_path / "movies.csv").write_text("user,item\n1,m1\n")
    spec = {
        "files": {"Books": "books.csv", "Movies": "movies.csv"},
        "files_as": "domain",
        "columns": {"user": "user", "item": "item"},
    }
    ds = load_dataset("t", spec, root=tmp_path)
    assert ds.extras["domain"].tolist() == ["Books", "Movies", "Books"]
    (tmp_path / "all.csv").write_text("user,item,shop\n1,b1,A\n1,m1,B\n")
    ds = load_dataset(
        "t",
        {"file": "all.csv", "columns": {"user": "user", "item": "item", "domain": "shop"}},
        root=tmp_path,
    )
    assert ds.extras["domain"].tolist() == ["A", "B"]


def test_reading_ten_thousand_rows_needs_no_python_loop(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    n = 10_000
    users = rng.integers(0, 500, n)
    items = rng.integers(0, 300, n)
    text = "\n".join(f"{u},{i},{t}" for u, i, t in zip(users, items, range(n), strict=True))
    (tmp_path / "log.csv").write_text("user,item,time\n" + text + "\n")
    ds = load_dataset(
        "t",
        {"file": "log.csv", "columns": {"user": "user", "item": "item", "timestamp": "time"}},
        root=tmp_path,
        dedup="count",
    )
    assert ds.weights.sum() == n
    assert ds.num_interactions == len(np.unique(users * 1000 + items))


def test_shops_keep_their_own_item_catalogues(tmp_path: Path) -> None:
    """Two shops that both number items from 0: item 0 of one is not item 0 of the other."""
    (tmp_path / "a_train.tsv").write_text("1\t0\n2\t1\n")
    (tmp_path / "a_test.tsv").write_text("1\t1\n")
    (tmp_path / "b_train.tsv").write_text("1\t0\n2\t0\n")
    spec = {
        "files": {
            "A/train": "a_train.tsv",
            "A/test": "a_test.tsv",
            "B/train": "b_train.tsv",
        },
        "files_as": ["domain", "split"],
        "sep": "\t",
        "header": False,
        "names": ["user", "item"],
        "columns": {"user": "user", "item": "item"},
    }
    ds = load_dataset("t", spec, root=tmp_path)
    assert ds.item_ids.tolist() == ["A:0", "A:1", "B:0"]  # 3 items, not 2
    assert ds.num_interactions == 5  # B's (1, 0) is not a duplicate of A's (1, 0)
    rows = sorted(
        zip(
            ds.user_ids[ds.users].tolist(),
            ds.item_ids[ds.items].tolist(),
            ds.extras["domain"].tolist(),
            ds.extras["split"].tolist(),
            strict=True,
        )
    )
    assert rows == [
        ("1", "A:0", "A", "train"),
        ("1", "A:1", "A", "test"),
        ("1", "B:0", "B", "train"),
        ("2", "A:1", "A", "train"),
        ("2", "B:0", "B", "train"),
    ]
    # the stats count each shop's own users and items
    assert domain_table(ds) == [
        {"domain": "A", "interactions": 3, "users": 2, "items": 2},
        {"domain": "B", "interactions": 2, "users": 2, "items": 1},
    ]
    # shops that really share item ids say so
    shared = load_dataset("t", {**spec, "shared_item_ids": True}, root=tmp_path)
    assert shared.item_ids.tolist() == ["0", "1"]


def test_file_keys_must_name_every_role(tmp_path: Path) -> None:
    (tmp_path / "a.tsv").write_text("1\t0\n")
    spec = {
        "files": {"A": "a.tsv"},
        "files_as": ["domain", "split"],
        "sep": "\t",
        "header": False,
        "names": ["user", "item"],
        "columns": {"user": "user", "item": "item"},
    }
    with pytest.raises(ConfigError, match=r"key 'A' must name the domain and the split"):
        load_dataset("t", spec, root=tmp_path)
    with pytest.raises(ConfigError, match=r"files_as must be split, domain, behavior or a list"):
        load_dataset("t", {**spec, "files_as": "shop"}, root=tmp_path)
