"""Aggregation of per-user metric values into reported numbers.

Per-user metrics are NaN where undefined (e.g. no ground truth, no
new-category test item); a reported value is the mean over the users where
the metric is defined, in float64.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence

import numpy as np


def mean_defined(values: np.ndarray) -> float:
    """Mean over the non-NaN entries (float64); NaN when there is none."""
    values = np.asarray(values, dtype=np.float64)
    defined = values[~np.isnan(values)]
    return float(defined.mean()) if len(defined) else math.nan


def means(per_user: Mapping[str, np.ndarray], mask: np.ndarray | None = None) -> dict[str, float]:
    """:func:`mean_defined` of every per-user vector, over ``mask``'s users if given."""
    if mask is None:
        return {key: mean_defined(v) for key, v in per_user.items()}
    return {key: mean_defined(v[mask]) for key, v in per_user.items()}


def history_bins(edges: Sequence[int]) -> list[str]:
    """Labels of training-history groups for upper bin edges, e.g. ``[5, 20]`` →
    ``hist_0-5``, ``hist_6-20``, ``hist_21+`` (numbers of training interactions)."""
    edges = [int(e) for e in edges]
    if any(b <= a for a, b in itertools.pairwise(edges)) or (edges and edges[0] < 0):
        raise ValueError(f"history bin edges must be increasing and >= 0, got {edges}")
    labels, low = [], 0
    for e in edges:
        labels.append(f"hist_{low}-{e}")
        low = e + 1
    labels.append(f"hist_{low}+")
    return labels


def history_groups(history_length: np.ndarray, edges: Sequence[int]) -> np.ndarray:
    """Group index of each user: the first bin whose upper edge is >= its history length."""
    return np.searchsorted(np.asarray(edges, dtype=np.int64), history_length, side="left")


def popularity_bins(quantiles: Sequence[float]) -> list[str]:
    """Labels of item popularity buckets, e.g. ``[0.5, 0.8]`` → ``pop_q0-50``,
    ``pop_q50-80``, ``pop_q80-100`` (percent of items, least popular first)."""
    cuts = [0.0, *sorted(float(q) for q in quantiles), 1.0]
    return [f"pop_q{100 * a:g}-{100 * b:g}" for a, b in itertools.pairwise(cuts)]
