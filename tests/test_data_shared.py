"""Every dataset in the shared data folder loads through its config alone, with DATA.md's counts.

The folder is ``<repo>/../shared/data`` or ``$GNNREC_SHARED_DATA``; each
sub-folder ``<name>`` is read by ``conf/dataset/<name>.yaml`` with ``root``
pointed at it. Skipped when the folder is absent.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pytest
from conftest import REPO, shared_data_dir
from omegaconf import OmegaConf

from gnnrec.data.dataset import split_edge_key
from gnnrec.data.load import dataset_files, load_dataset

SHARED = shared_data_dir()
FOLDERS = sorted(p.name for p in SHARED.iterdir() if p.is_dir()) if SHARED.is_dir() else []
pytestmark = [
    pytest.mark.shared_data,
    pytest.mark.skipif(not FOLDERS, reason=f"no shared data folder at {SHARED}"),
]


def config(name: str, **overrides: Any) -> dict[str, Any]:
    cfg = OmegaConf.load(REPO / "conf" / "dataset" / f"{name}.yaml")
    if "dataset" in cfg:  # a `# @package _global_` file that also pins its split
        cfg = cfg.dataset
    cfg.root = None  # not resolved: the file may interpolate an environment variable
    plain = OmegaConf.to_container(cfg, resolve=True)
    plain.pop("_target_")
    return {**plain, "root": str(SHARED / name.removesuffix("-kg")), **overrides}


@pytest.mark.parametrize("name", FOLDERS)
def test_every_shared_dataset_loads_through_its_config(name: str) -> None:
    assert (REPO / "conf" / "dataset" / f"{name}.yaml").is_file(), f"add conf/dataset/{name}.yaml"
    cfg = config(name)
    assert all(p.is_file() for p in dataset_files(**cfg))
    ds = load_dataset(**cfg)
    assert ds.num_interactions > 0
    # a config that names a category file must yield categories; Gowalla has none
    assert (ds.num_categories > 0) == (cfg.get("categories") is not None)


def genre_counts(data_md: str) -> dict[str, int]:
    """``Items per genre: Drama 725, Comedy 505, ...`` from DATA.md."""
    listed = re.search(r"Items per genre:(.*?)\.\n", data_md, re.S)
    assert listed, "DATA.md lists no items per genre"
    pairs = re.findall(r"([\w'-]+) ([\d,]+)", listed.group(1))
    return {genre: int(count.replace(",", "")) for genre, count in pairs}


@pytest.mark.skipif("ml-100k" not in FOLDERS, reason="no shared ml-100k")
def test_ml_100k_counts_match_data_md() -> None:
    every = load_dataset(**config("ml-100k", min_rating=None))
    assert (every.num_interactions, every.num_users, every.num_items) == (100_000, 943, 1_682)
    per_genre = np.asarray(every.item_categories.sum(axis=0)).ravel().astype(int)
    expected = genre_counts((SHARED / "ml-100k" / "DATA.md").read_text())
    assert len(expected) == 19
    assert dict(zip(every.category_names.tolist(), per_genre.tolist(), strict=True)) == expected
    positive = load_dataset(**config("ml-100k"))
    assert (positive.num_interactions, positive.num_users, positive.num_items) == (
        55_375,
        942,
        1_447,
    )
    assert positive.num_categories == 19


@pytest.mark.skipif("ml-100k" not in FOLDERS, reason="no shared ml-100k")
def test_ml_100k_knowledge_graph_counts_match_data_md() -> None:
    ds = load_dataset(**config("ml-100k-kg", min_rating=None))
    kg = {k: m for k, m in ds.side_edges.items() if not split_edge_key(k)[1].startswith("has_")}
    assert sum(m.nnz for m in kg.values()) == 91_631  # no triple is repeated
    assert len({split_edge_key(k)[1] for k in kg}) == 24
    assert "kg: 91631 of 91631 triples, 24 relations, 1598 links, 1598 dataset items linked" in (
        ds.preprocessing_log
    )
    assert ds.side_nodes["occupation"].size == 21
    assert ds.side_nodes["gender"].tolist() == ["F", "M"]
