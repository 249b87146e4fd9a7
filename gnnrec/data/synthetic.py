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

Optionally (``funnel``) the log gets a ``behavior`` column, a SYNTHETIC
multi-behaviour log shaped as a purchase funnel: every row above is a
``view``; the last view of each distinct (user, item) pair goes on to the
first later stage (e.g. ``cart``) with that stage's rate, a pair that reached
it goes on to the next (``fav``) with the next rate, and so on (``buy``), each
stage a new row later than the previous one. Later stages are therefore
subsets of earlier ones. The rates do not depend on the user or the item, so
the behaviour types carry no signal beyond "this pair went further". No real
multi-behaviour log is bundled; :func:`load_synthetic` generates and reads
one from a dataset config (``conf/dataset/synthetic-behavior.yaml``).
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from gnnrec.data.dataset import InteractionDataset
from gnnrec.data.files import write_delimited
from gnnrec.data.load import load_dataset
from gnnrec.errors import ConfigError

FILES = ("interactions.csv", "item_categories.csv", "category_hierarchy.csv")

FUNNEL_START = "view"
"""The behaviour of every row drawn before the funnel (the funnel's first stage)."""

MAX_STAGE_DELAY_S = 3 * 86400
"""A funnel stage follows the previous one by 1 s to this many seconds (uniform)."""


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
    funnel: Mapping[str, float] | None = None,
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
        funnel: later behaviour stages in funnel order → the probability that
            a pair at the previous stage reaches this one (e.g. ``{"cart": 0.4,
            "fav": 0.6, "buy": 0.7}``); adds a ``behavior`` column (``view``
            for the rows above) and one row per stage reached. None (default):
            no behaviour column, the log of earlier versions unchanged.
    """
    stages = _check_funnel(funnel)
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
    log = {"user_id": users, "item_id": items, "timestamp": timestamps, "rating": ratings}
    if stages is not None:
        # drawn after everything else, so the view rows equal the log without a funnel
        log = _add_funnel(log, stages, n_items, rng)

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = {
        "interactions.csv": _write_csv(folder / "interactions.csv", log),
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


def _check_funnel(funnel: Mapping[str, float] | None) -> list[tuple[str, float]] | None:
    if funnel is None:
        return None
    if not isinstance(funnel, Mapping) or not funnel:
        raise ConfigError(f"funnel must map stage names to rates, got {funnel!r}")
    stages = [(str(name), rate) for name, rate in funnel.items()]
    for name, rate in stages:
        if name == FUNNEL_START:
            raise ConfigError(f"funnel: {FUNNEL_START!r} is the first stage; list the later ones")
        if isinstance(rate, bool) or not isinstance(rate, int | float) or not 0 <= rate <= 1:
            raise ConfigError(f"funnel.{name} must be a rate in [0, 1], got {rate!r}")
    return [(name, float(rate)) for name, rate in stages]


def _add_funnel(
    log: dict[str, np.ndarray],
    stages: list[tuple[str, float]],
    n_items: int,
    rng: np.random.Generator,
) -> dict[str, np.ndarray]:
    """``log`` (all views) plus one row per funnel stage reached, with a ``behavior`` column.

    The funnel starts at the last view of each distinct (user, item) pair; each
    stage's row is 1 s to :data:`MAX_STAGE_DELAY_S` later than the previous
    stage's and copies the view's rating.
    """
    users, items, t = log["user_id"], log["item_id"], log["timestamp"]
    key = users.astype(np.int64) * n_items + items
    order = np.lexsort((t, key))
    last_view = order[np.r_[key[order][1:] != key[order][:-1], True]]
    columns = {name: [values] for name, values in log.items()}
    behavior = [np.full(len(users), FUNNEL_START)]
    alive = last_view
    when = t[last_view]
    for name, rate in stages:
        go_on = rng.random(len(alive)) < rate
        when = when[go_on] + rng.integers(1, MAX_STAGE_DELAY_S + 1, int(go_on.sum()))
        alive = alive[go_on]
        for column, values in log.items():
            columns[column].append(when if column == "timestamp" else values[alive])
        behavior.append(np.full(len(alive), name))
    out = {column: np.concatenate(parts) for column, parts in columns.items()}
    out["behavior"] = np.concatenate(behavior)
    return out


def synthetic_config(
    folder: str | Path,
    name: str = "synthetic",
    min_rating: float | None = None,
    kcore: int | None = None,
    level: int | str = "leaf",
    behavior: bool = False,
    dedup: str = "first",
) -> dict[str, Any]:
    """The ``load_dataset`` arguments that read :func:`write_synthetic_log` files.

    Args:
        level: hierarchy level used as the category (0 top, 1 mid, ``leaf``).
        behavior: map the ``behavior`` column (a log written with ``funnel``).
        dedup: repeated (user, item) pairs; ``last`` keeps each pair's
            deepest funnel stage (stages are later than the view before them).
    """
    columns = {"user": "user_id", "item": "item_id", "timestamp": "timestamp", "rating": "rating"}
    if behavior:
        columns["behavior"] = "behavior"
    return {
        "name": name,
        "root": str(folder),
        "interactions": {"file": "interactions.csv", "format": "csv", "columns": columns},
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
        "dedup": dedup,
    }


def load_synthetic(
    num_interactions: int,
    seed: int,
    funnel: Mapping[str, float] | None = None,
    folder: str | Path | None = None,
    name: str = "synthetic",
    dedup: str = "first",
    kcore: int | None = None,
    level: int | str = "leaf",
    **generator: Any,
) -> InteractionDataset:
    """Generate a synthetic log (:func:`write_synthetic_log`) and load it as a dataset.

    The target of ``conf/dataset/synthetic-*.yaml``: the same arguments give
    the same dataset on every machine (one seeded generator), so the log is
    written afresh at each call, into ``folder`` (kept for inspection) or
    a temporary folder (removed).

    Args:
        num_interactions, seed, funnel: see :func:`write_synthetic_log`;
            ``generator`` passes its other arguments.
        folder: where to write the files; None: a temporary folder.
        name, dedup, kcore, level: see :func:`synthetic_config` (with a
            funnel, ``dedup: last`` keeps each pair's deepest stage).
    """

    def write_and_load(where: str | Path) -> InteractionDataset:
        write_synthetic_log(where, num_interactions, seed, funnel=funnel, **generator)
        config = synthetic_config(
            where, name, kcore=kcore, level=level, behavior=funnel is not None, dedup=dedup
        )
        return load_dataset(**config)

    if folder is not None:
        return write_and_load(Path(folder).expanduser())
    with tempfile.TemporaryDirectory(prefix="gnnrec-synthetic-") as tmp:
        return write_and_load(tmp)
