"""The canonical in-memory dataset: contiguous ids, interactions, item categories."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp


@dataclass(frozen=True)
class InteractionDataset:
    """An implicit-feedback interaction log with item categories.

    Users, items and categories carry contiguous integer ids ``0..n-1``; the
    raw ids (as strings) are kept in ``user_ids`` / ``item_ids`` /
    ``category_names`` so that ``user_ids[u]`` is the raw id of user ``u``.

    Interactions are parallel arrays of length ``num_interactions``, sorted by
    user, then timestamp, then the order in the source file (a stable order
    that every split relies on).

    Attributes:
        name: dataset name used in logs and results.
        user_ids: ``[num_users]`` raw user ids.
        item_ids: ``[num_items]`` raw item ids.
        category_names: ``[num_categories]`` category names.
        users: ``[num_interactions]`` int64 user ids.
        items: ``[num_interactions]`` int64 item ids.
        timestamps: ``[num_interactions]`` float64 timestamps (seconds or any
            monotone unit; only the order matters).
        weights: ``[num_interactions]`` float32 interaction weights (1 for
            plain implicit feedback).
        item_categories: ``[num_items, num_categories]`` CSR multi-hot matrix
            (1 where the item carries the category). Rows may be empty for
            items without a category.
        extras: optional per-interaction arrays (``rating``, ``behavior``,
            ``domain``, ...), each of length ``num_interactions``.
        category_top_level: optional ``[num_categories]`` int64 id of each
            category's top-level ancestor in a category hierarchy (a
            top-level category is its own ancestor); None without hierarchy.
            Two categories are "far" apart when their top-level ids differ.
    """

    name: str
    user_ids: np.ndarray
    item_ids: np.ndarray
    category_names: np.ndarray
    users: np.ndarray
    items: np.ndarray
    timestamps: np.ndarray
    weights: np.ndarray
    item_categories: sp.csr_matrix
    extras: dict[str, np.ndarray] = field(default_factory=dict)
    category_top_level: np.ndarray | None = None

    def __post_init__(self) -> None:
        n = len(self.users)
        for name in ("items", "timestamps", "weights"):
            if len(getattr(self, name)) != n:
                raise ValueError(f"{name} has {len(getattr(self, name))} entries, expected {n}")
        if self.item_categories.shape != (self.num_items, self.num_categories):
            raise ValueError(
                f"item_categories has shape {self.item_categories.shape}, "
                f"expected ({self.num_items}, {self.num_categories})"
            )

    @property
    def num_users(self) -> int:
        return len(self.user_ids)

    @property
    def num_items(self) -> int:
        return len(self.item_ids)

    @property
    def num_categories(self) -> int:
        return len(self.category_names)

    @property
    def num_interactions(self) -> int:
        return len(self.users)

    @property
    def density(self) -> float:
        return self.num_interactions / max(1, self.num_users * self.num_items)

    def summary(self) -> dict[str, float]:
        """Counts used in logs and run results."""
        return {
            "users": self.num_users,
            "items": self.num_items,
            "categories": self.num_categories,
            "interactions": self.num_interactions,
            "density": self.density,
        }

    def __repr__(self) -> str:
        return (
            f"InteractionDataset(name={self.name!r}, users={self.num_users}, "
            f"items={self.num_items}, categories={self.num_categories}, "
            f"interactions={self.num_interactions})"
        )
