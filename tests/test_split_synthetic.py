"""The synthetic log: deterministic, loads through configuration, splits leak-free."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from gnnrec.data.load import load_dataset
from gnnrec.data.split import global_temporal_split, leave_one_out_split, temporal_split
from gnnrec.data.stats import split_stats
from gnnrec.data.synthetic import FILES, synthetic_config, write_synthetic_log


def test_same_seed_same_files(tmp_path: Path) -> None:
    a = write_synthetic_log(tmp_path / "a", 2000, seed=3)
    b = write_synthetic_log(tmp_path / "b", 2000, seed=3)
    c = write_synthetic_log(tmp_path / "c", 2000, seed=4)
    assert sorted(a) == sorted(FILES)
    assert all(a[f].read_bytes() == b[f].read_bytes() for f in FILES)
    assert a["interactions.csv"].read_bytes() != c["interactions.csv"].read_bytes()
    header = a["interactions.csv"].read_text().splitlines()[0]
    assert header == "user_id,item_id,timestamp,rating"


def test_loads_with_hierarchy_and_splits(tmp_path: Path) -> None:
    write_synthetic_log(tmp_path, 20_000, seed=1)
    leaf = load_dataset(**synthetic_config(tmp_path, min_rating=3))
    top = load_dataset(**synthetic_config(tmp_path, min_rating=3, level=0))
    # 8 top-level categories of 6 mid categories of 5 leaves each.
    assert top.num_categories <= 8 and leaf.num_categories <= 240
    assert leaf.category_top_level is not None
    assert set(np.char.partition(leaf.category_names.astype(str), ".")[:, 0]) <= set(
        top.category_names.tolist()
    )
    assert leaf.num_interactions == top.num_interactions
    for split in (temporal_split(leaf), leave_one_out_split(leaf), global_temporal_split(leaf)):
        stats = split_stats(split)
        assert stats["train"] > stats["test"] > 0
    # Users favour one top-level category: most test interactions stay in a known one.
    share = split_stats(temporal_split(top))["test_cross_category_share"]
    assert 0 < share < 0.5
