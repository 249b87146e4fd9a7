"""Synthetic Gowalla-sized data for the evaluation benchmarks (no download needed).

30,000 users x 40,000 items with ~1.0M interactions (Gowalla after 10-core
filtering: 29,858 x 40,981, 1,027,370), Zipf-like item popularity, at least
10 interactions per user, 100 categories under 10 top-level categories with
one to three categories per item (some items unlabelled), and random 64-d
embeddings. Deterministic for a given seed.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from gnnrec.data.dataset import InteractionDataset
from gnnrec.data.split import Split, temporal_split


def synthetic_dataset(
    num_users: int = 30_000,
    num_items: int = 40_000,
    mean_interactions: int = 34,
    num_categories: int = 100,
    num_top_levels: int = 10,
    seed: int = 0,
) -> InteractionDataset:
    rng = np.random.default_rng(seed)
    lengths = 10 + rng.geometric(1.0 / (mean_interactions - 9), size=num_users)
    lengths = np.minimum(lengths, num_items // 4)
    weights = 1.0 / np.arange(1, num_items + 1) ** 0.8
    weights = weights[rng.permutation(num_items)]
    weights /= weights.sum()
    users = np.repeat(np.arange(num_users), lengths)
    items = np.empty(len(users), dtype=np.int64)
    start = 0
    for n in lengths:
        # Draw with replacement then drop repeats: close to popularity-weighted sampling.
        drawn = np.unique(rng.choice(num_items, size=n + n // 2, p=weights))
        drawn = rng.permutation(drawn)[:n]
        if len(drawn) < n:
            extra = rng.choice(np.setdiff1d(np.arange(num_items), drawn), n - len(drawn), False)
            drawn = np.concatenate([drawn, extra])
        items[start : start + n] = drawn
        start += n
    timestamps = rng.random(len(users))
    order = np.lexsort((timestamps, users))
    users, items, timestamps = users[order], items[order], timestamps[order]
    labels_per_item = rng.choice([0, 1, 1, 1, 2, 2, 3], size=num_items)
    rows = np.repeat(np.arange(num_items), labels_per_item)
    cols = rng.integers(0, num_categories, size=len(rows))
    cats = sp.csr_matrix(
        (np.ones(len(rows), dtype=np.float32), (rows, cols)), shape=(num_items, num_categories)
    )
    cats.sum_duplicates()
    cats.data[:] = 1.0
    return InteractionDataset(
        name="synthetic-gowalla",
        user_ids=np.array([f"u{u}" for u in range(num_users)]),
        item_ids=np.array([f"i{i}" for i in range(num_items)]),
        category_names=np.array([f"c{c}" for c in range(num_categories)]),
        users=users.astype(np.int64),
        items=items,
        timestamps=timestamps,
        weights=np.ones(len(users), dtype=np.float32),
        item_categories=cats,
        category_top_level=(np.arange(num_categories) // (num_categories // num_top_levels))
        * (num_categories // num_top_levels),
    )


def synthetic_split(seed: int = 0, **kwargs) -> Split:
    return temporal_split(synthetic_dataset(seed=seed, **kwargs), (0.8, 0.1, 0.1))


def synthetic_embeddings(
    num_users: int, num_items: int, dim: int = 64, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed + 1)
    scale = 1.0 / np.sqrt(dim)
    return (
        (rng.standard_normal((num_users, dim)) * scale).astype(np.float32),
        (rng.standard_normal((num_items, dim)) * scale).astype(np.float32),
    )
