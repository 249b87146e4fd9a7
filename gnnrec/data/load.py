"""Build an :class:`InteractionDataset` from files described by configuration."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.compute as pc
import scipy.sparse as sp

from gnnrec.data.dataset import InteractionDataset
from gnnrec.data.readers import Table, read_delimited, to_float, to_ids
from gnnrec.errors import ConfigError, DataError

log = logging.getLogger(__name__)

BUNDLED = ("ml-100k",)


def bundled_root(name: str) -> Path:
    """Folder of a dataset shipped inside the package."""
    if name not in BUNDLED:
        raise ConfigError(f"no bundled dataset '{name}'; bundled: {', '.join(BUNDLED)}")
    return Path(str(resources.files("gnnrec.data.bundled") / name))


def _read(root: Path, spec: Mapping[str, Any]) -> Table:
    if "file" not in spec:
        raise ConfigError("a file entry of the dataset config needs 'file'")
    path = root / spec["file"]
    if not path.exists():
        raise DataError(
            f"file not found; looked for '{spec['file']}' in {root} "
            "(set dataset.root to the folder that holds it)",
            path,
        )
    return read_delimited(
        path,
        sep=spec.get("sep", ","),
        header=spec.get("header", True),
        names=spec.get("names"),
        atomic=spec.get("atomic", False),
    )


def _item_categories(
    table: Table,
    item_column: str,
    category_column: str,
    label_sep: str | None,
    item_index: dict[str, int],
    num_items: int,
    missing: str,
) -> tuple[sp.csr_matrix, np.ndarray]:
    raw_items = to_ids(table, item_column)
    labels = pc.utf8_trim_whitespace(table.column(category_column))
    if label_sep:
        lists = pc.split_pattern(labels, label_sep)
        lengths = np.asarray(pc.list_value_length(lists))
        flat = np.asarray(pc.list_flatten(lists).to_numpy(zero_copy_only=False), dtype=str)
        rows = np.repeat(np.arange(len(raw_items)), lengths)
    else:
        flat = np.asarray(labels.to_numpy(zero_copy_only=False), dtype=str)
        rows = np.arange(len(raw_items))
    keep = flat != ""
    flat, rows = flat[keep], rows[keep]
    item_of_row = np.array([item_index.get(r, -1) for r in raw_items], dtype=np.int64)
    known = item_of_row[rows] >= 0
    flat, items = flat[known], item_of_row[rows][known]
    has_label = np.zeros(num_items, dtype=bool)
    has_label[items] = True
    if not has_label.all():
        if missing == "unknown":
            lonely = np.flatnonzero(~has_label)
            items = np.concatenate([items, lonely])
            flat = np.concatenate([flat, np.full(len(lonely), "unknown")])
        elif missing != "keep":
            raise ConfigError(
                f"dataset.categories.missing must be 'unknown' or 'keep', got {missing!r}"
            )
    names, cats = np.unique(flat, return_inverse=True)
    matrix = sp.csr_matrix(
        (np.ones(len(items), dtype=np.float32), (items, cats)), shape=(num_items, len(names))
    )
    matrix.data[:] = 1.0  # duplicate labels on one item count once
    matrix.sort_indices()
    return matrix, names


def load_dataset(
    name: str,
    interactions: Mapping[str, Any],
    categories: Mapping[str, Any] | None = None,
    root: str | None = None,
    min_rating: float | None = None,
    dedup: str = "first",
) -> InteractionDataset:
    """Read an interaction log and its item categories into a dataset.

    Args:
        name: dataset name; also selects the bundled copy when ``root`` is None.
        interactions: ``file``, ``sep``, ``header``, ``atomic`` and
            ``columns`` (a map from ``user``, ``item``, optional ``rating``
            and ``timestamp`` to the file's column names).
        categories: ``file``, ``sep``, ``atomic``, ``item_column``,
            ``category_column``, ``label_sep`` (multi-label separator) and
            ``missing`` (``unknown`` gives items without a label the category
            ``unknown``; ``keep`` leaves their row empty).
        root: folder holding the files; None uses the bundled copy of ``name``.
        min_rating: keep interactions with ``rating >= min_rating`` as
            positive implicit feedback; None keeps all.
        dedup: repeated (user, item) pairs: ``first`` keeps the earliest,
            ``last`` the latest, ``count`` keeps the earliest with the number
            of repeats as its weight.

    Raises:
        DataError: a missing file or column, an unparsable value.
        ConfigError: an unknown option.
    """
    folder = bundled_root(name) if root is None else Path(root).expanduser()
    if not folder.is_dir():
        raise DataError("dataset folder not found (set dataset.root)", folder)
    if dedup not in ("first", "last", "count"):
        raise ConfigError(f"dataset.dedup must be first, last or count, got {dedup!r}")
    columns = dict(interactions.get("columns", {}))
    for required in ("user", "item"):
        if required not in columns:
            raise ConfigError(f"dataset.interactions.columns needs '{required}'")

    table = _read(folder, interactions)
    raw_users = to_ids(table, columns["user"])
    raw_items = to_ids(table, columns["item"])
    row_order = np.arange(table.num_rows)
    timestamps = (
        to_float(table, columns["timestamp"], "a numeric timestamp")
        if columns.get("timestamp")
        else row_order.astype(np.float64)
    )
    keep = np.ones(table.num_rows, dtype=bool)
    if min_rating is not None:
        if not columns.get("rating"):
            raise ConfigError("dataset.min_rating is set but no rating column is mapped")
        ratings = to_float(table, columns["rating"], "a numeric rating")
        keep &= ratings >= min_rating
        log.info("rating >= %s: %d of %d interactions kept", min_rating, keep.sum(), len(keep))
    if not keep.any():
        raise DataError("no interaction is left after the rating threshold", table.path)
    raw_users, raw_items = raw_users[keep], raw_items[keep]
    timestamps, row_order = timestamps[keep], row_order[keep]

    user_ids, users = np.unique(raw_users, return_inverse=True)
    item_ids, items = np.unique(raw_items, return_inverse=True)
    order = np.lexsort((row_order, timestamps, users))
    users, items, timestamps = users[order], items[order], timestamps[order]

    key = users.astype(np.int64) * len(item_ids) + items
    if dedup == "last":
        _, last_rev = np.unique(key[::-1], return_index=True)
        chosen = np.sort(len(key) - 1 - last_rev)
        weights = np.ones(len(chosen), dtype=np.float32)
    else:
        _, chosen, counts = np.unique(key, return_index=True, return_counts=True)
        perm = np.argsort(chosen)
        chosen = chosen[perm]
        weights = (counts[perm] if dedup == "count" else np.ones(len(chosen))).astype(np.float32)
    if len(chosen) < len(key):
        log.info("duplicates (%s): %d of %d interactions kept", dedup, len(chosen), len(key))
    users, items, timestamps = users[chosen], items[chosen], timestamps[chosen]

    if categories:
        cat_table = _read(folder, categories)
        item_categories, category_names = _item_categories(
            cat_table,
            categories.get("item_column", columns["item"]),
            categories.get("category_column", "category"),
            categories.get("label_sep"),
            {raw: i for i, raw in enumerate(item_ids)},
            len(item_ids),
            categories.get("missing", "unknown"),
        )
    else:
        item_categories = sp.csr_matrix((len(item_ids), 0), dtype=np.float32)
        category_names = np.array([], dtype=str)

    return InteractionDataset(
        name=name,
        user_ids=user_ids,
        item_ids=item_ids,
        category_names=category_names,
        users=users.astype(np.int64),
        items=items.astype(np.int64),
        timestamps=timestamps.astype(np.float64),
        weights=weights,
        item_categories=item_categories,
    )
