"""Side relations (KG, user attributes, category edges) in the dataset and the hetero graph."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from gnnrec.data.dataset import edge_key
from gnnrec.data.load import load_dataset
from gnnrec.data.split import temporal_split
from gnnrec.errors import ConfigError
from gnnrec.graph.build import CO_OCCURS, build_graph

COLUMNS = {"user": "user", "item": "item", "timestamp": "time"}
# i1..i3 rated; i9 is in the link file but not in the log
LOG = "user,item,time\na,i1,1\na,i2,2\na,i3,3\nb,i1,4\nb,i2,5\nb,i3,6\n"
KG = (
    "head\trelation\ttail\n"
    "m1\tfilm.directed_by\tnolan\n"
    "m2\tfilm.directed_by\tnolan\n"
    "m1\tfilm.sequel\tm2\n"
    "m9\tfilm.directed_by\tnolan\n"
    "nolan\tperson.born_in\tlondon\n"
)
LINK = "item\tentity\ni1\tm1\ni2\tm2\ni9\tm9\n"
KG_SPEC = {
    "file": "kg.tsv",
    "head_column": "head",
    "relation_column": "relation",
    "tail_column": "tail",
    "link": {"file": "link.tsv", "item_column": "item", "entity_column": "entity"},
}


def write(tmp_path: Path) -> None:
    (tmp_path / "log.csv").write_text(LOG)
    (tmp_path / "kg.tsv").write_text(KG)
    (tmp_path / "link.tsv").write_text(LINK)
    (tmp_path / "users.csv").write_text("user,job,age\na,artist,17\nb,doctor,40\nz,cook,30\n")


def edges(matrix, src_names, dst_names) -> list[tuple[str, str]]:
    rows, cols = matrix.nonzero()
    return sorted((str(src_names[r]), str(dst_names[c])) for r, c in zip(rows, cols, strict=True))


def test_kg_entities_linked_to_items_are_the_items(tmp_path: Path) -> None:
    write(tmp_path)
    ds = load_dataset("t", {"file": "log.csv", "columns": COLUMNS}, root=tmp_path, kg=KG_SPEC)
    entity = ds.side_nodes["entity"]
    # m9's item is not in the dataset: m9 stays an entity
    assert entity.tolist() == ["london", "m9", "nolan"]
    items = ds.item_ids
    directed = ds.side_edges[edge_key("item", "film_directed_by", "entity")]
    assert edges(directed, items, entity) == [("i1", "nolan"), ("i2", "nolan")]
    assert edges(
        ds.side_edges[edge_key("entity", "film_directed_by", "entity")], entity, entity
    ) == [("m9", "nolan")]
    assert edges(ds.side_edges[edge_key("item", "film_sequel", "item")], items, items) == [
        ("i1", "i2")
    ]
    assert edges(ds.side_edges[edge_key("entity", "person_born_in", "entity")], entity, entity) == [
        ("nolan", "london")
    ]
    assert sum(m.nnz for m in ds.side_edges.values()) == 5  # every triple once
    assert "kg: 5 of 5 triples, 3 relations, 3 links, 2 dataset items linked" in (
        ds.preprocessing_log
    )


def test_kg_relation_selection(tmp_path: Path) -> None:
    write(tmp_path)
    ds = load_dataset(
        "t",
        {"file": "log.csv", "columns": COLUMNS},
        root=tmp_path,
        kg={**KG_SPEC, "relations": ["film.sequel"]},
    )
    assert list(ds.side_edges) == [edge_key("item", "film_sequel", "item")]
    assert ds.side_nodes["entity"].tolist() == []


def test_user_attributes_with_buckets(tmp_path: Path) -> None:
    write(tmp_path)
    ds = load_dataset(
        "t",
        {"file": "log.csv", "columns": COLUMNS},
        root=tmp_path,
        user_attributes={
            "file": "users.csv",
            "id_column": "user",
            "columns": ["job", "age"],
            "buckets": {"age": [18, 35]},
        },
    )
    # z is not in the log: ignored; its value 'cook' makes no node
    assert ds.side_nodes["job"].tolist() == ["artist", "doctor"]
    assert ds.side_nodes["age"].tolist() == ["<18", ">=35"]
    assert edges(
        ds.side_edges[edge_key("user", "has_age", "age")], ds.user_ids, ds.side_nodes["age"]
    ) == [("a", "<18"), ("b", ">=35")]
    with pytest.raises(ConfigError, match="node type 'user' is already used"):
        load_dataset(
            "t",
            {"file": "log.csv", "columns": COLUMNS},
            root=tmp_path,
            user_attributes={"file": "users.csv", "id_column": "user", "columns": ["user"]},
        )


def test_hetero_graph_has_side_types_with_reverses_and_homogeneous_graph_is_unchanged(
    tmp_path: Path,
) -> None:
    write(tmp_path)
    spec = {"file": "log.csv", "columns": COLUMNS}
    plain = load_dataset("t", spec, root=tmp_path)
    rich = load_dataset(
        "t",
        spec,
        root=tmp_path,
        kg=KG_SPEC,
        user_attributes={"file": "users.csv", "id_column": "user", "columns": ["job"]},
    )
    g_plain, g_rich = build_graph(temporal_split(plain)), build_graph(temporal_split(rich))
    assert torch.equal(g_plain.edge_index, g_rich.edge_index)
    assert torch.equal(g_plain.adjacency.to_dense(), g_rich.adjacency.to_dense())
    h = g_rich.hetero
    assert h["entity"].num_nodes == 3 and h["job"].num_nodes == 2
    fwd = h["item", "film_directed_by", "entity"].edge_index
    rev = h["entity", "rev_film_directed_by", "item"].edge_index
    assert torch.equal(fwd.flip(0), rev)
    assert ("user", "has_job", "job") in h.edge_types and ("job", "rev_has_job", "user") in (
        h.edge_types
    )
    assert "entity" not in build_graph(temporal_split(rich), side_relations=False).hetero.node_types


def test_category_cooccurrence_uses_train_interactions_only(tmp_path: Path) -> None:
    # a: i1 (X) then i2 (Y) then i3 (Z); b: i1 (X) then i2 (Y) then i3 (Z)
    (tmp_path / "log.csv").write_text(LOG)
    (tmp_path / "items.csv").write_text("item,cat\ni1,X\ni2,Y\ni3,Z\n")
    ds = load_dataset(
        "t",
        {"file": "log.csv", "columns": COLUMNS},
        root=tmp_path,
        categories={"file": "items.csv", "item_column": "item", "category_column": "cat"},
    )
    split = temporal_split(ds, ratios=(2 / 3, 0.0, 1 / 3))  # i3 is every user's test item
    pairs = build_graph(split, category_cooccurrence=2).hetero[CO_OCCURS].edge_index.t().tolist()
    # X and Y share both users in train; Z is test-only and makes no edge
    assert sorted(pairs) == [[0, 1], [1, 0]]
    assert build_graph(split, category_cooccurrence=3).hetero[CO_OCCURS].edge_index.shape == (2, 0)
    assert CO_OCCURS not in build_graph(split).hetero.edge_types
    assert np.array_equal(split.test, [2, 5])
