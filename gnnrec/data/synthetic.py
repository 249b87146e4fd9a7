"""A synthetic interaction log at any scale, for benchmarks and tests of scale.

:func:`write_synthetic_log` writes three CSV files that ``load_dataset``
reads through configuration alone (:func:`synthetic_config`):

- ``interactions.csv``: ``user_id,item_id,timestamp,rating``;
- ``item_categories.csv``: ``item_id,category`` (each item's leaf category);
- ``category_hierarchy.csv``: ``child,parent`` edges of a three-level tree
  (``t3`` → ``t3.m1`` → ``t3.m1.l4``).

The log has the shape of real ones: item popularity follows a Zipf law
(``popularity_exponent``), user activity a Pareto law
(``activity_exponent``), and each user favours one top-level category
(``home_share`` of their interactions come from it, the rest from the whole
catalogue), so cross-category interactions exist but are the minority.
Repeated (user, item) pairs occur, as in real logs. Everything is drawn
with vectorised numpy from one seeded generator.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from gnnrec.data.files import write_delimited

FILES = ("interactions.csv", "item_categories.csv", "category_hierarchy.csv")


def _tree(num_top: int, mid_per_top: int, leaf_per_mid: int) -> tuple[np.ndarray, ...]:
    """Names of top, mid and leaf categories, and each leaf's top index."""
    top = np.array([f"t{t}" for t in range(num_top)])
    mid = np.char.add(np.repeat(top, mid_per_top), [f".m{m}" for m in range(mid_per_top)] * num_top)
    leaf_suffix = [f".l{k}" for k in range(leaf_per_mid)] * len(mid)
    leaf = np.char.add(np.repeat(mid, leaf_per_mid), leaf_suffix)
    leaf_top = np.repeat(np.arange(num_top), mid_per_top * leaf_per_mid)
    return top, mid, leaf, leaf_top


def _write_csv(path: Path, columns: dict[str, Any]) -> Path:
    return write_delimited(path, pa.table(columns))


def write_synthetic_log(
    folder: str | Path,
    num_interactions: int,
    seed: int,
    num_users: int | None = None,
    num_items: int | None = None,
    popularity_exponent: float = 0.8,
    activity_exponent: float = 1.5,
    home_share: float = 0.7,
    tree: tuple[int, int, int] = (8, 6, 5),
) -> dict[str, Path]:
    """Write a synthetic log into ``folder`` and return the paths of :data:`FILES`.

    Args:
        folder: output folder (created).
        num_interactions: rows of ``interactions.csv``.
        seed: seed of the ``numpy.random.Generator`` behind every draw.
        num_users: default ``num_interactions // 20``.
        num_items: default ``num_interactions // 20``.
        popularity_exponent: Zipf exponent of item popularity by rank.
        activity_exponent: Pareto shape of user activity (smaller: heavier tail).
        home_share: probability that an interaction comes from the user's
            favourite top-level category.
        tree: top-level categories, mid categories per top, leaves per mid.
    """
    rng = np.random.default_rng(seed)
    n = int(num_interactions)
    n_users = int(num_users or max(1, n // 20))
    n_items = int(num_items or max(1, n // 20))
    top, mid, leaf, leaf_top = _tree(*tree)

    # Items: a leaf each (larger leaves are more likely), popularity by Zipf rank.
    leaf_weight = rng.pareto(1.5, len(leaf)) + 1.0
    item_leaf = rng.choice(len(leaf), n_items, p=leaf_weight / leaf_weight.sum())
    popularity = 1.0 / rng.permutation(np.arange(1, n_items + 1)) ** popularity_exponent
    item_top = leaf_top[item_leaf]
    by_top = np.argsort(item_top, kind="stable")
    cum = np.concatenate([[0.0], np.cumsum(popularity[by_top])])
    top_start = np.searchsorted(item_top[by_top], np.arange(len(top)), side="left")
    top_end = np.searchsorted(item_top[by_top], np.arange(len(top)), side="right")

    # Users: Pareto activity, a favourite top-level category among non-empty ones.
    activity = rng.pareto(activity_exponent, n_users) + 1.0
    users = rng.choice(n_users, n, p=activity / activity.sum())
    present = np.flatnonzero(top_end > top_start)
    home = present[rng.integers(0, len(present), n_users)]

    # Items of each interaction: from the home category or the whole catalogue,
    # by popularity (inverse CDF over the popularity-sorted cumulative sums).
    at_home = rng.random(n) < home_share
    lo = np.where(at_home, cum[top_start[home[users]]], 0.0)
    hi = np.where(at_home, cum[top_end[home[users]]], cum[-1])
    draw = lo + rng.random(n) * (hi - lo)
    pos = np.clip(np.searchsorted(cum, draw, side="right") - 1, 0, n_items - 1)
    items = by_top[pos]

    start = 1_500_000_000
    timestamps = start + rng.integers(0, 2 * 365 * 86400, n)
    ratings = rng.choice(np.arange(1, 6), n, p=[0.05, 0.1, 0.2, 0.35, 0.3])

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = {
        "interactions.csv": _write_csv(
            folder / "interactions.csv",
            {"user_id": users, "item_id": items, "timestamp": timestamps, "rating": ratings},
        ),
        "item_categories.csv": _write_csv(
            folder / "item_categories.csv",
            {"item_id": np.arange(n_items), "category": pc.take(pa.array(leaf), item_leaf)},
        ),
        "category_hierarchy.csv": _write_csv(
            folder / "category_hierarchy.csv",
            {
                "child": np.concatenate([mid, leaf]),
                "parent": np.concatenate([np.repeat(top, tree[1]), np.repeat(mid, tree[2])]),
            },
        ),
    }
    return paths


def synthetic_config(
    folder: str | Path,
    name: str = "synthetic",
    min_rating: float | None = None,
    kcore: int | None = None,
    level: int | str = "leaf",
) -> dict[str, Any]:
    """The ``load_dataset`` arguments that read :func:`write_synthetic_log` files.

    Args:
        level: hierarchy level used as the category (0 top, 1 mid, ``leaf``).
    """
    return {
        "name": name,
        "root": str(folder),
        "interactions": {
            "file": "interactions.csv",
            "format": "csv",
            "columns": {
                "user": "user_id",
                "item": "item_id",
                "timestamp": "timestamp",
                "rating": "rating",
            },
        },
        "categories": {
            "file": "item_categories.csv",
            "format": "csv",
            "item_column": "item_id",
            "category_column": "category",
            "missing": "unknown",
            "unknown_items": "ignore",
            "hierarchy": {
                "file": "category_hierarchy.csv",
                "format": "csv",
                "child_column": "child",
                "parent_column": "parent",
                "level": level,
            },
        },
        "min_rating": min_rating,
        "kcore": kcore,
        "dedup": "first",
    }
