"""Item categories: single/multi-label, from a column, hierarchies, level choice, category edges."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from gnnrec.data.dataset import edge_key
from gnnrec.data.load import load_dataset
from gnnrec.errors import ConfigError

LOG = "user,item,time\na,i1,1\na,i2,2\nb,i3,3\nb,i4,4\n"
# depth 0: Media; depth 1: Fiction, Factual; depth 2: Drama, Comedy (Fiction), News (Factual)
TREE = "child,parent\nFiction,Media\nFactual,Media\nDrama,Fiction\nComedy,Fiction\nNews,Factual\n"
ITEMS = "item,cat\ni1,Drama\ni2,Comedy\ni3,News\ni4,Fiction\n"
COLUMNS = {"user": "user", "item": "item", "timestamp": "time"}


def load(tmp_path: Path, categories: dict, **options):
    (tmp_path / "log.csv").write_text(LOG)
    return load_dataset(
        "t",
        {"file": "log.csv", "columns": COLUMNS},
        categories=categories,
        root=tmp_path,
        **options,
    )


def labels(ds) -> dict[str, list[str]]:
    m = ds.item_categories.tocsr()
    return {
        str(ds.item_ids[i]): [
            str(ds.category_names[c]) for c in m.indices[m.indptr[i] : m.indptr[i + 1]]
        ]
        for i in range(ds.num_items)
    }


def test_multi_label_with_separator(tmp_path: Path) -> None:
    (tmp_path / "items.tsv").write_text("item\tgenres\ni1\tA|B\ni2\tB\ni3\t A | C \ni4\tC|C\n")
    ds = load(
        tmp_path,
        {"file": "items.tsv", "item_column": "item", "category_column": "genres", "label_sep": "|"},
    )
    assert labels(ds) == {"i1": ["A", "B"], "i2": ["B"], "i3": ["A", "C"], "i4": ["C"]}
    assert ds.category_top_level is None


def test_list_column_from_jsonl_is_multi_label(tmp_path: Path) -> None:
    rows = [
        {"item": "i1", "tags": ["A", "B"]},
        {"item": "i2", "tags": []},
        {"item": "i3", "tags": None},
        {"item": "i4", "tags": ["C"]},
    ]
    (tmp_path / "meta.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    ds = load(tmp_path, {"file": "meta.jsonl", "item_column": "item", "category_column": "tags"})
    assert labels(ds) == {"i1": ["A", "B"], "i2": ["unknown"], "i3": ["unknown"], "i4": ["C"]}


def test_category_column_of_the_interaction_file(tmp_path: Path) -> None:
    (tmp_path / "log.csv").write_text("user,item,time,cat\na,i1,1,X\nb,i1,2,Y\nb,i2,3,X\n")
    ds = load_dataset(
        "t",
        {"file": "log.csv", "columns": COLUMNS},
        categories={"category_column": "cat"},
        root=tmp_path,
    )
    # an item labelled differently on several rows carries every label
    assert labels(ds) == {"i1": ["X", "Y"], "i2": ["X"]}


def hierarchy(level, **more) -> dict:
    return {
        "file": "items.csv",
        "item_column": "item",
        "category_column": "cat",
        "hierarchy": {"file": "tree.csv", "level": level, **more},
    }


def write_tree(tmp_path: Path) -> None:
    (tmp_path / "tree.csv").write_text(TREE)
    (tmp_path / "items.csv").write_text(ITEMS)


@pytest.mark.parametrize(
    ("level", "expected", "top"),
    [
        (0, {"i1": ["Media"], "i2": ["Media"], "i3": ["Media"], "i4": ["Media"]}, [0]),
        (1, {"i1": ["Fiction"], "i2": ["Fiction"], "i3": ["Factual"], "i4": ["Fiction"]}, [0, 0]),
        # i4 is labelled at depth 1: shallower than the level, it keeps its own node
        (2, {"i1": ["Drama"], "i2": ["Comedy"], "i3": ["News"], "i4": ["Fiction"]}, [0] * 4),
        ("leaf", {"i1": ["Drama"], "i2": ["Comedy"], "i3": ["News"], "i4": ["Fiction"]}, [0] * 4),
        (
            "all",
            {
                "i1": ["Drama", "Fiction", "Media"],
                "i2": ["Comedy", "Fiction", "Media"],
                "i3": ["Factual", "Media", "News"],
                "i4": ["Fiction", "Media"],
            },
            [0] * 6,
        ),
    ],
)
def test_hierarchy_level_selection(tmp_path: Path, level, expected, top) -> None:
    write_tree(tmp_path)
    ds = load(tmp_path, hierarchy(level))
    assert labels(ds) == expected
    assert ds.category_top_level.tolist() == top


def test_two_roots_give_two_top_level_ids(tmp_path: Path) -> None:
    (tmp_path / "tree.csv").write_text("child,parent\nDrama,Fiction\nNews,Factual\n")
    (tmp_path / "items.csv").write_text("item,cat\ni1,Drama\ni2,News\ni3,Fiction\n")
    ds = load(tmp_path, hierarchy("leaf"))
    # categories Drama, Fiction, News, unknown (i4): tops Fiction, Fiction, Factual, unknown
    assert ds.category_names.tolist() == ["Drama", "Fiction", "News", "unknown"]
    assert ds.category_top_level.tolist() == [1, 1, 0, 2]


def test_keep_levels_as_node_types(tmp_path: Path) -> None:
    write_tree(tmp_path)
    ds = load(tmp_path, hierarchy(1, keep_levels=True))
    assert ds.category_names.tolist() == ["Factual", "Fiction"]
    assert ds.side_nodes["category_l0"].tolist() == ["Media"]
    assert ds.side_nodes["category_l2"].tolist() == ["Comedy", "Drama", "News"]
    deep = ds.side_edges[edge_key("item", "belongs_to", "category_l2")].toarray()
    assert deep.tolist() == [[0, 1, 0], [1, 0, 0], [0, 0, 1], [0, 0, 0]]  # i4 has no depth-2 label
    up = ds.side_edges[edge_key("category_l2", "child_of", "category")].toarray()
    assert up.tolist() == [[0, 1], [0, 1], [1, 0]]
    assert ds.side_edges[edge_key("category", "child_of", "category_l0")].toarray().tolist() == [
        [1],
        [1],
    ]


def test_category_edges_from_the_hierarchy(tmp_path: Path) -> None:
    write_tree(tmp_path)
    ds = load(tmp_path, hierarchy("leaf"), category_edges=["hierarchy", "siblings"])
    names = ds.category_names.tolist()
    assert names == ["Comedy", "Drama", "Fiction", "News"]
    child_of = ds.side_edges[edge_key("category", "child_of", "category")]
    assert sorted((names[r], names[c]) for r, c in zip(*child_of.nonzero(), strict=True)) == [
        ("Comedy", "Fiction"),
        ("Drama", "Fiction"),
    ]
    siblings = ds.side_edges[edge_key("category", "sibling_of", "category")]
    assert sorted((names[r], names[c]) for r, c in zip(*siblings.nonzero(), strict=True)) == [
        ("Comedy", "Drama"),
        ("Drama", "Comedy"),
    ]
    with pytest.raises(ConfigError, match="category_edges entries must be"):
        load(tmp_path, hierarchy("leaf"), category_edges=["cooccurrence"])


def test_category_paths_make_the_hierarchy(tmp_path: Path) -> None:
    rows = [
        {"item": "i1", "path": ["Books", "Fiction", "Crime"]},
        {"item": "i2", "path": ["Books", "Kids"]},
        {"item": "i3", "path": ["Music", "Fiction"]},  # same name, other parent: another node
        {"item": "i4", "path": []},
        {"item": "i9", "path": ["Toys"]},  # not in the log
    ]
    (tmp_path / "meta.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    spec = {
        "file": "meta.jsonl",
        "item_column": "item",
        "category_column": "path",
        "unknown_items": "ignore",
        "hierarchy": {"path": True, "level": 1},
    }
    ds = load(tmp_path, spec)
    assert labels(ds) == {
        "i1": ["Books > Fiction"],
        "i2": ["Books > Kids"],
        "i3": ["Music > Fiction"],
        "i4": ["unknown"],
    }
    # tops: Books, Books, Music, unknown
    assert ds.category_top_level.tolist() == [0, 0, 1, 2]


def test_text_paths_with_a_separator(tmp_path: Path) -> None:
    (tmp_path / "items.csv").write_text("item,path\ni1,A/B\ni2,A/C\ni3,D\ni4,A/B/E\n")
    spec = {
        "file": "items.csv",
        "item_column": "item",
        "category_column": "path",
        "label_sep": "/",
        "hierarchy": {"path": True, "level": 0},
    }
    ds = load(tmp_path, spec)
    assert ds.category_names.tolist() == ["A", "D"]
    assert np.asarray(ds.item_categories.sum(axis=0)).ravel().tolist() == [3.0, 1.0]
