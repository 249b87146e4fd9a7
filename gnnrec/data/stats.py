"""Descriptive statistics of a dataset and of a split (for ``gnnrec-data stats``)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from gnnrec.data.dataset import InteractionDataset
from gnnrec.data.split import PARTS, Split

QUANTILES = (0.0, 0.25, 0.5, 0.75, 0.9, 0.99, 1.0)
"""Quantiles of the per-user and per-item interaction counts that are reported."""


def count_quantiles(counts: np.ndarray, qs: Sequence[float] = QUANTILES) -> dict[str, float]:
    """``{"min", "p25", ..., "max", "mean"}`` of a count array (linear interpolation)."""
    if not len(counts):
        return {}
    values = np.quantile(counts, qs)
    names = ["min" if q == 0 else "max" if q == 1 else f"p{round(q * 100)}" for q in qs]
    return {**dict(zip(names, values.tolist(), strict=True)), "mean": float(counts.mean())}


def category_table(dataset: InteractionDataset) -> list[dict[str, float | str]]:
    """One row per category, most interactions first (ties by name).

    Each row: ``category``, ``items`` (items carrying it), ``interactions``
    (interactions with such items) and ``share`` (of all interactions; a
    multi-label item counts for each of its categories, so shares can sum
    to more than 1).
    """
    ic = dataset.item_categories.tocsc()
    items_per_cat = np.diff(ic.indptr)
    item_count = np.bincount(dataset.items, minlength=dataset.num_items)
    inter_per_cat = np.asarray(ic.T @ item_count.astype(np.float64)).ravel()
    order = np.lexsort((dataset.category_names, -inter_per_cat))
    total = max(1, dataset.num_interactions)
    return [
        {
            "category": str(dataset.category_names[c]),
            "items": int(items_per_cat[c]),
            "interactions": int(inter_per_cat[c]),
            "share": float(inter_per_cat[c] / total),
        }
        for c in order
    ]


def domain_table(dataset: InteractionDataset, column: str = "domain") -> list[dict[str, object]]:
    """One row per domain (shop) of ``dataset.extras[column]``, in name order:
    ``<column>`` (the name), ``interactions``, ``users`` and ``items``
    (distinct ones with an interaction there); empty when the dataset has no
    such column. Shops with their own catalogues (``files_as: [domain, ...]``)
    share no item, so their ``items`` add up to the dataset's. With
    ``column="behavior"``, one row per behaviour type."""
    if column not in dataset.extras:
        return []
    domain = np.asarray(dataset.extras[column]).astype(str)
    rows: list[dict[str, object]] = []
    for name in np.unique(domain):
        inside = domain == name
        rows.append(
            {
                column: str(name),
                "interactions": int(inside.sum()),
                "users": len(np.unique(dataset.users[inside])),
                "items": len(np.unique(dataset.items[inside])),
            }
        )
    return rows


def dataset_stats(dataset: InteractionDataset) -> dict[str, object]:
    """Sizes, density, interaction-count quantiles and category coverage."""
    per_user = np.bincount(dataset.users, minlength=dataset.num_users)
    per_item = np.bincount(dataset.items, minlength=dataset.num_items)
    cats_per_item = np.diff(dataset.item_categories.tocsr().indptr)
    return {
        **dataset.summary(),
        "interactions_per_user": count_quantiles(per_user),
        "interactions_per_item": count_quantiles(per_item),
        "categories_per_item": float(cats_per_item.mean()) if len(cats_per_item) else 0.0,
        "multi_label_items": int((cats_per_item > 1).sum()),
        "items_without_category": int((cats_per_item == 0).sum()),
        "time_span": [float(dataset.timestamps.min()), float(dataset.timestamps.max())]
        if dataset.num_interactions
        else [],
    }


def cross_category(split: Split, part: str = "test") -> np.ndarray:
    """``[len(part)]`` bool: the interaction's item carries a category that
    none of the user's training items carries.

    The definition of the evaluator's ``cc_recall`` (see
    :func:`gnnrec.evaluation.metrics.category.novel_items`): items without a
    category are never cross-category.
    """
    ds = split.dataset
    idx = split.part(part)
    if not len(idx) or not ds.num_categories:
        return np.zeros(len(idx), dtype=bool)
    user_cats = (split.user_item_matrix("train") @ ds.item_categories).tocsr()
    user_cats.data[:] = 1.0
    item_rows = ds.item_categories.tocsr()[ds.items[idx]]
    seen = np.asarray(item_rows.multiply(user_cats[ds.users[idx]]).sum(axis=1)).ravel()
    return np.diff(item_rows.indptr) > seen


def split_stats(split: Split) -> dict[str, object]:
    """Part sizes, users per part, cold items and the cross-category share of test."""
    ds = split.dataset
    train_items = np.zeros(ds.num_items, dtype=bool)
    train_items[ds.items[split.train]] = True
    out: dict[str, object] = {"method": split.method, "seed": split.seed}
    for part in PARTS:
        idx = split.part(part)
        out[part] = len(idx)
        out[f"{part}_users"] = len(np.unique(ds.users[idx]))
    out["dropped"] = len(split.dropped)
    for part in ("valid", "test"):
        idx = split.part(part)
        out[f"{part}_cold_items"] = int((~train_items[ds.items[idx]]).sum())
        cc = cross_category(split, part)
        out[f"{part}_cross_category"] = int(cc.sum())
        out[f"{part}_cross_category_share"] = float(cc.mean()) if len(cc) else float("nan")
    return out
