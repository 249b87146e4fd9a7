"""Train / validation / test splits of an :class:`InteractionDataset`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from gnnrec.data.dataset import InteractionDataset
from gnnrec.errors import ConfigError

PARTS = ("train", "valid", "test")


@dataclass(frozen=True)
class Split:
    """Which interactions of a dataset are train, validation and test.

    Attributes:
        dataset: the dataset split.
        train, valid, test: sorted int64 indices into the dataset's interaction
            arrays; together a partition of ``range(num_interactions)``.
        method: how the split was made (for results files).
        seed: the seed used, None for deterministic methods.
    """

    dataset: InteractionDataset
    train: np.ndarray
    valid: np.ndarray
    test: np.ndarray
    method: str
    seed: int | None = None

    def part(self, name: str) -> np.ndarray:
        if name not in PARTS:
            raise ValueError(f"unknown split part {name!r}")
        return getattr(self, name)

    def user_item_matrix(self, name: str) -> sp.csr_matrix:
        """``[num_users, num_items]`` binary CSR matrix of one part."""
        idx = self.part(name)
        ds = self.dataset
        m = sp.csr_matrix(
            (np.ones(len(idx), dtype=np.float32), (ds.users[idx], ds.items[idx])),
            shape=(ds.num_users, ds.num_items),
        )
        m.sum_duplicates()
        m.data[:] = 1.0
        m.sort_indices()
        return m

    def counts(self) -> dict[str, int]:
        return {name: len(self.part(name)) for name in PARTS}


def ratio_counts(n: np.ndarray, ratios: Sequence[float]) -> tuple[np.ndarray, ...]:
    """Per-user sizes of train/valid/test for ``n`` interactions each.

    Valid and test get ``floor(n * ratio)``; train gets the rest. A user whose
    ``n * ratio`` lies in (0, 1) still gets one valid/test interaction as long
    as at least two remain in train (test first, then valid). This is
    RecBole's rule (``_calcu_split_ids``), so splits agree with it.
    """
    _, r_valid, r_test = ratios
    n = n.astype(np.int64)
    valid = np.floor(n * r_valid + 1e-9).astype(np.int64)
    test = np.floor(n * r_test + 1e-9).astype(np.int64)
    train = n - valid - test
    for part, r in ((test, r_test), (valid, r_valid)):
        bump = (train > 1) & (n * r > 0) & (n * r < 1)
        part += bump
        train -= bump
    return train, valid, test


def temporal_split(dataset: InteractionDataset, ratios: Sequence[float] = (0.8, 0.1, 0.1)) -> Split:
    """Per-user temporal split: each user's earliest interactions train, latest test.

    Each user's interactions are ordered by timestamp (ties by position in
    the source file); the first share goes to train, the next to
    validation, the last to test, with sizes from :func:`ratio_counts`.
    Deterministic: the same dataset always gives the same split.
    """
    ratios = tuple(float(r) for r in ratios)
    if len(ratios) != 3 or min(ratios) < 0 or abs(sum(ratios) - 1.0) > 1e-6:
        raise ConfigError(
            f"split ratios must be three non-negative numbers summing to 1, got {ratios}"
        )
    users = dataset.users
    # Interactions are stored sorted by (user, timestamp, file order).
    if len(users) and np.any(np.diff(users) < 0):
        raise ValueError("dataset interactions must be sorted by user")
    n = np.bincount(users, minlength=dataset.num_users)
    start = np.concatenate([[0], np.cumsum(n)[:-1]])
    n_train, n_valid, _ = ratio_counts(n, ratios)
    pos = np.arange(len(users)) - start[users]
    train_end = n_train[users]
    valid_end = train_end + n_valid[users]
    return Split(
        dataset=dataset,
        train=np.flatnonzero(pos < train_end),
        valid=np.flatnonzero((pos >= train_end) & (pos < valid_end)),
        test=np.flatnonzero(pos >= valid_end),
        method=f"temporal_per_user{list(ratios)}",
    )
