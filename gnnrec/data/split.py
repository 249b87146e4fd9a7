"""Train / validation / test splits of an :class:`InteractionDataset`.

Every split method is a function ``(dataset, **options) -> Split`` chosen in
``conf/split/<name>.yaml``. Each is deterministic (random ones through an
explicit seed) and checks its result with :func:`check_split` before
returning it: parts disjoint and covering the log, time order where the
method promises it, and no validation/test user without training
interactions unless the method allows cold users.

A split is saved with raw ids (:meth:`Split.save`) and read back against the
same dataset with :func:`load_split`, so it travels between machines and
between gnnrec and other frameworks.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import scipy.sparse as sp

from gnnrec.data.dataset import InteractionDataset
from gnnrec.data.files import write_bytes_atomic, write_delimited
from gnnrec.data.readers import Table, lookup_codes, read_delimited, to_float
from gnnrec.data.sparse import binary_csr
from gnnrec.errors import ConfigError, DataError, SplitError

log = logging.getLogger(__name__)

PARTS = ("train", "valid", "test")
SPLIT_FILE_VERSION = 1
_COLD_CHOICES = ("error", "drop", "keep")
_NO_INDEX = np.empty(0, dtype=np.int64)


@dataclass(frozen=True)
class Split:
    """Which interactions of a dataset are train, validation and test.

    Attributes:
        dataset: the dataset split.
        train, valid, test: sorted int64 indices into the dataset's interaction
            arrays; with ``dropped`` a partition of ``range(num_interactions)``.
        method: how the split was made (for results files).
        seed: the seed used, None for deterministic methods.
        time_order: the time order the split promises, checked by
            :func:`check_split`: ``"user"`` (per user, no training interaction
            is later than a validation one, no validation one later than a
            test one), ``"global"`` (the same over the whole log) or None.
        cold_users: validation/test may hold users without training
            interactions (cold-start evaluation; the cross-domain split).
        dropped: sorted indices of interactions in no part (e.g. the
            validation/test interactions of cold users under a global time
            cut with ``cold=drop``); empty for most methods.
        target_domain: the domain whose held-out users are counted as cold
            in it (:func:`target_cold_user_ids`; the cross-domain split),
            None otherwise.
        domain_column: the dataset extras column naming each interaction's
            domain (used with ``target_domain``).
        rank_within_domain: evaluation ranks only the items of
            ``target_domain`` (:meth:`candidate_items`; :func:`target_domain_split`).
        target_behavior: the behaviour held-out parts keep
            (:func:`target_behavior_split`), None otherwise.
        behavior_column: the dataset extras column naming each interaction's
            behaviour (used with ``target_behavior``).
        mask_seen: ``all``: evaluation masks every training item of a user;
            ``target``: only those of ``target_behavior`` (:meth:`seen_matrix`).
    """

    dataset: InteractionDataset
    train: np.ndarray
    valid: np.ndarray
    test: np.ndarray
    method: str
    seed: int | None = None
    time_order: str | None = None
    cold_users: bool = False
    dropped: np.ndarray = field(default_factory=lambda: _NO_INDEX)
    target_domain: str | None = None
    domain_column: str = "domain"
    rank_within_domain: bool = False
    target_behavior: str | None = None
    behavior_column: str = "behavior"
    mask_seen: str = "all"

    def part(self, name: str) -> np.ndarray:
        if name not in PARTS:
            raise ValueError(f"unknown split part {name!r}")
        return getattr(self, name)

    def user_item_matrix(self, name: str) -> sp.csr_matrix:
        """``[num_users, num_items]`` binary CSR matrix of one part."""
        idx = self.part(name)
        ds = self.dataset
        return binary_csr(ds.users[idx], ds.items[idx], (ds.num_users, ds.num_items))

    def user_item_matrix_all(self) -> sp.csr_matrix:
        """``[num_users, num_items]`` binary CSR of every interaction of the
        dataset, in any part or none (what a user has touched at all)."""
        ds = self.dataset
        return binary_csr(ds.users, ds.items, (ds.num_users, ds.num_items))

    def seen_matrix(self) -> sp.csr_matrix:
        """``[num_users, num_items]`` binary CSR of the training interactions that
        evaluation masks: all of them, or with ``mask_seen="target"`` only those
        of ``target_behavior`` (an item carted in train and bought in test can
        then be recommended, as multi-behaviour papers evaluate)."""
        if self.mask_seen == "all" or self.target_behavior is None:
            return self.user_item_matrix("train")
        ds = self.dataset
        behavior = np.asarray(ds.extras[self.behavior_column]).astype(str)
        idx = self.train[behavior[self.train] == self.target_behavior]
        return binary_csr(ds.users[idx], ds.items[idx], (ds.num_users, ds.num_items))

    def candidate_items(self) -> np.ndarray | None:
        """``[num_items]`` bool: the items evaluation ranks; None for all of them.

        With ``rank_within_domain``, the items with an interaction in
        ``target_domain`` (a shop's own catalogue)."""
        if not self.rank_within_domain or self.target_domain is None:
            return None
        ds = self.dataset
        domain = np.asarray(ds.extras[self.domain_column]).astype(str)
        out = np.zeros(ds.num_items, dtype=bool)
        out[ds.items[domain == self.target_domain]] = True
        return out

    def counts(self) -> dict[str, int]:
        """Interactions per part; with a ``target_domain`` also, for validation
        and test, the users (``<part>_users``) and those without a training
        interaction in the target domain (``<part>_users_target_cold``)."""
        out = {name: len(self.part(name)) for name in PARTS}
        if self.target_domain is not None:
            for name in ("valid", "test"):
                out[f"{name}_users"] = len(np.unique(self.dataset.users[self.part(name)]))
                out[f"{name}_users_target_cold"] = len(target_cold_user_ids(self, name))
        return out

    def check(self, hint: str = "") -> None:
        """Raise :class:`SplitError` if the split leaks; see :func:`check_split`."""
        check_split(self, hint)

    def save(self, folder: str | Path) -> Path:
        """Write the split with raw ids: ``{train,valid,test}.tsv`` and ``split.json``.

        Each part file has the header ``user_id	item_id	timestamp`` and one
        row per interaction (the timestamp tells repeated user-item pairs
        apart); ``dropped.tsv`` is written when interactions were dropped.
        ``split.json`` (method, seed, time order, counts) is written last, so
        its presence marks a complete split. Every file is written atomically.
        """
        folder = Path(folder)
        for name in [*PARTS, "dropped"]:
            idx = getattr(self, name)
            if len(idx) or name in ("train", "test"):
                _write_part(folder / f"{name}.tsv", self.dataset, idx)
            else:  # an empty validation part is no file (a header-only file does not read back)
                (folder / f"{name}.tsv").unlink(missing_ok=True)
        meta = {
            "format": "gnnrec-split",
            "version": SPLIT_FILE_VERSION,
            "dataset": self.dataset.name,
            "num_interactions": self.dataset.num_interactions,
            "method": self.method,
            "seed": self.seed,
            "time_order": self.time_order,
            "cold_users": self.cold_users,
            "target_domain": self.target_domain,
            "domain_column": self.domain_column,
            "rank_within_domain": self.rank_within_domain,
            "target_behavior": self.target_behavior,
            "mask_seen": self.mask_seen,
            "counts": {**self.counts(), "dropped": len(self.dropped)},
        }
        write_bytes_atomic(folder / "split.json", (json.dumps(meta, indent=2) + "\n").encode())
        return folder


# --------------------------------------------------------------------------- checks


def check_split(split: Split, hint: str = "") -> None:
    """Check that a split is a leak-free partition of its dataset.

    - indices are sorted, in range, and ``train``, ``valid``, ``test`` and
      ``dropped`` are disjoint and together cover every interaction;
    - with ``time_order="user"``, for every user the latest training
      timestamp is at most the earliest validation/test one and the latest
      validation timestamp at most the earliest test one; with ``"global"``
      the same over all interactions;
    - unless ``cold_users``, every user with validation or test interactions
      has at least one training interaction.

    A (user, item) pair in both train and test is allowed (repeat
    consumption) but logged, since ranking masks training items.

    Args:
        split: the split to check.
        hint: what to change when users are left without training
            interactions (added to that message).

    Raises:
        SplitError: the first violated property, with counts and raw ids.
    """
    ds = split.dataset
    n = ds.num_interactions
    parts = {name: np.asarray(getattr(split, name)) for name in (*PARTS, "dropped")}
    for name, idx in parts.items():
        if len(idx) and (idx.min() < 0 or idx.max() >= n):
            raise SplitError(f"split part {name} has indices outside 0..{n - 1}")
        if np.any(np.diff(idx) <= 0):
            raise SplitError(f"split part {name} is not sorted or repeats an interaction")
    seen = np.bincount(np.concatenate(list(parts.values())), minlength=n)
    if np.any(seen > 1):
        first = int(np.flatnonzero(seen > 1)[0])
        owners = [name for name, idx in parts.items() if _contains(idx, first)]
        raise SplitError(
            f"split parts overlap: {int((seen > 1).sum())} interactions are in more than one "
            f"part (e.g. interaction {first} of user {str(ds.user_ids[ds.users[first]])!r} is in "
            f"{' and '.join(owners)})"
        )
    if np.any(seen == 0):
        first = int(np.flatnonzero(seen == 0)[0])
        user, item = str(ds.user_ids[ds.users[first]]), str(ds.item_ids[ds.items[first]])
        raise SplitError(
            f"the split leaves {int((seen == 0).sum())} of {n} interactions in no part "
            f"(e.g. user {user!r}, item {item!r})"
        )
    if split.time_order == "user":
        _check_user_time_order(split)
    elif split.time_order == "global":
        _check_global_time_order(split)
    elif split.time_order is not None:
        raise ValueError(f"time_order must be 'user', 'global' or None, got {split.time_order!r}")
    if not split.cold_users:
        cold = cold_user_ids(split)
        if len(cold):
            raise SplitError(
                f"the split ({split.method}) leaves {len(cold)} users with validation or test "
                f"interactions but no training interaction (e.g. raw user ids "
                f"{_examples(ds.user_ids[cold])}); "
                + (hint or "raise dataset.kcore or choose another split")
            )
    repeated = _repeated_pairs(split)
    if repeated:
        log.info("%d validation/test interactions repeat a training (user, item) pair", repeated)


def cold_user_ids(split: Split) -> np.ndarray:
    """Users (ids) with validation or test interactions but no training interaction."""
    ds = split.dataset
    has_train = np.bincount(ds.users[split.train], minlength=ds.num_users) > 0
    held_out = np.concatenate([split.valid, split.test])
    in_eval = np.bincount(ds.users[held_out], minlength=ds.num_users) > 0
    return np.flatnonzero(in_eval & ~has_train)


def target_cold_user_ids(split: Split, part: str = "test") -> np.ndarray:
    """Users (ids) of a part without a training interaction in ``split.target_domain``.

    Under the cross-domain split every held-out user is such a user; the
    count is reported so that results say so (``split/test_users_target_cold``).
    """
    if split.target_domain is None:
        raise ValueError("the split has no target domain")
    ds = split.dataset
    domain = np.asarray(ds.extras[split.domain_column]).astype(str)
    train = split.train[domain[split.train] == split.target_domain]
    warm = np.bincount(ds.users[train], minlength=ds.num_users) > 0
    held_out = np.unique(ds.users[split.part(part)])
    return held_out[~warm[held_out]]


def _contains(sorted_idx: np.ndarray, value: int) -> bool:
    pos = np.searchsorted(sorted_idx, value)
    return bool(pos < len(sorted_idx) and sorted_idx[pos] == value)


def _examples(raw: np.ndarray, k: int = 3) -> str:
    return ", ".join(repr(str(r)) for r in raw[:k]) + (", ..." if len(raw) > k else "")


def _per_user(split: Split, idx: np.ndarray, reduce: np.ufunc, fill: float) -> np.ndarray:
    ds = split.dataset
    out = np.full(ds.num_users, fill)
    reduce.at(out, ds.users[idx], ds.timestamps[idx])
    return out


def _check_user_time_order(split: Split) -> None:
    ds = split.dataset
    max_train = _per_user(split, split.train, np.maximum, -np.inf)
    min_valid = _per_user(split, split.valid, np.minimum, np.inf)
    max_valid = _per_user(split, split.valid, np.maximum, -np.inf)
    min_test = _per_user(split, split.test, np.minimum, np.inf)
    for early, late, a, b in (
        (max_train, min_valid, "training", "validation"),
        (max_train, min_test, "training", "test"),
        (max_valid, min_test, "validation", "test"),
    ):
        bad = np.flatnonzero(early > late)
        if len(bad):
            u = int(bad[0])
            raise SplitError(
                f"time leak: {len(bad)} users have a {a} interaction later than a {b} one "
                f"(e.g. user {str(ds.user_ids[u])!r}: {a} at {early[u]:g}, {b} at {late[u]:g})"
            )


def _check_global_time_order(split: Split) -> None:
    t = split.dataset.timestamps

    def bound(idx: np.ndarray, reduce: np.ufunc, fill: float) -> float:
        return float(reduce.reduce(t[idx])) if len(idx) else fill

    pairs = (
        (bound(split.train, np.maximum, -np.inf), bound(split.valid, np.minimum, np.inf), "valid"),
        (bound(split.train, np.maximum, -np.inf), bound(split.test, np.minimum, np.inf), "test"),
        (bound(split.valid, np.maximum, -np.inf), bound(split.test, np.minimum, np.inf), "test"),
    )
    for early, late, name in pairs:
        if early > late:
            raise SplitError(
                f"time leak: an interaction at {early:g} precedes the {name} part "
                f"that starts at {late:g} (a global time split must be ordered)"
            )


def _repeated_pairs(split: Split) -> int:
    ds = split.dataset
    key = ds.users * np.int64(max(1, ds.num_items)) + ds.items
    held_out = np.concatenate([split.valid, split.test])
    # Sort + binary search: np.isin's hash path is ~10x slower on millions of keys.
    return int((_lookup(np.sort(key[split.train]), key[held_out]) >= 0).sum())


# --------------------------------------------------------------------------- helpers


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


def _ratios(ratios: Sequence[float]) -> tuple[float, float, float]:
    values = tuple(float(r) for r in ratios)
    if len(values) != 3 or min(values) < 0 or abs(sum(values) - 1.0) > 1e-6:
        raise ConfigError(
            f"split ratios must be three non-negative numbers summing to 1, got {values}"
        )
    return values


def _user_positions(dataset: InteractionDataset, order: np.ndarray | None = None) -> np.ndarray:
    """Position of each interaction among its user's, in dataset order or ``order``.

    ``order`` is a permutation of the interactions that keeps users
    contiguous and in increasing id order (e.g. a per-user shuffle).
    """
    users = dataset.users
    if len(users) and np.any(np.diff(users) < 0):
        raise ValueError("dataset interactions must be sorted by user")
    n = np.bincount(users, minlength=dataset.num_users)
    start = np.concatenate([[0], np.cumsum(n)[:-1]]).astype(np.int64)
    if order is None:
        return np.arange(len(users)) - start[users]
    pos = np.empty(len(users), dtype=np.int64)
    pos[order] = np.arange(len(users)) - start[users[order]]
    return pos


def _parts_from_positions(
    dataset: InteractionDataset, pos: np.ndarray, n_train: np.ndarray, n_valid: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    train_end = n_train[dataset.users]
    valid_end = train_end + n_valid[dataset.users]
    return (
        np.flatnonzero(pos < train_end),
        np.flatnonzero((pos >= train_end) & (pos < valid_end)),
        np.flatnonzero(pos >= valid_end),
    )


def _apply_cold(
    dataset: InteractionDataset,
    train: np.ndarray,
    valid: np.ndarray,
    test: np.ndarray,
    cold: str,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, bool]:
    """Handle held-out users without training interactions (``cold`` option).

    Returns ``valid, test, dropped, cold_users``: ``drop`` moves their
    validation/test interactions to ``dropped``; ``keep`` keeps them and
    marks the split as allowing cold users; ``error`` leaves them for
    :func:`check_split` to report.
    """
    if cold not in _COLD_CHOICES:
        raise ConfigError(f"split.cold must be one of {', '.join(_COLD_CHOICES)}, got {cold!r}")
    if cold != "drop":
        return valid, test, _NO_INDEX, cold == "keep"
    has_train = np.bincount(dataset.users[train], minlength=dataset.num_users) > 0
    keep_valid = has_train[dataset.users[valid]]
    keep_test = has_train[dataset.users[test]]
    dropped = np.sort(np.concatenate([valid[~keep_valid], test[~keep_test]]))
    if len(dropped):
        log.info("cold users: %d validation/test interactions dropped", len(dropped))
    return valid[keep_valid], test[keep_test], dropped, False


# --------------------------------------------------------------------------- methods


def temporal_split(dataset: InteractionDataset, ratios: Sequence[float] = (0.8, 0.1, 0.1)) -> Split:
    """Per-user temporal split: each user's earliest interactions train, latest test.

    Each user's interactions are ordered by timestamp (ties by position in
    the source file); the first share goes to train, the next to
    validation, the last to test, with sizes from :func:`ratio_counts`.
    Deterministic: the same dataset always gives the same split.
    """
    ratios = _ratios(ratios)
    pos = _user_positions(dataset)
    n = np.bincount(dataset.users, minlength=dataset.num_users)
    n_train, n_valid, _ = ratio_counts(n, ratios)
    train, valid, test = _parts_from_positions(dataset, pos, n_train, n_valid)
    split = Split(
        dataset=dataset,
        train=train,
        valid=valid,
        test=test,
        method=f"temporal_per_user{list(ratios)}",
        time_order="user",
    )
    split.check("give train a larger share (split.ratios) or raise dataset.kcore")
    return split


def random_split(
    dataset: InteractionDataset,
    ratios: Sequence[float] = (0.8, 0.1, 0.1),
    seed: int = 0,
    group_by: str | None = "user",
    cold: str = "error",
) -> Split:
    """Random ratio split, seeded.

    With ``group_by="user"`` (RecBole's default) each user's interactions
    are shuffled and cut with :func:`ratio_counts`, so every user keeps
    training interactions. With ``group_by=None`` the whole log is
    shuffled and cut at ``floor(N * valid)`` / ``floor(N * test)``
    interactions; users left with only held-out interactions are handled
    by ``cold`` (``error``, ``drop`` or ``keep``).

    The same dataset and seed always give the same split
    (``numpy.random.default_rng(seed)``).
    """
    ratios = _ratios(ratios)
    rng = np.random.default_rng(seed)
    n_all = dataset.num_interactions
    keys = rng.random(n_all)
    n_train: np.ndarray | int
    n_valid: np.ndarray | int
    if group_by == "user":
        # Orders by user, then randomly within a user (keys / 2 < 0.5 cannot round
        # up into the next user); one float argsort is much faster than lexsort.
        order = np.argsort(dataset.users + 0.5 * keys)
        pos = _user_positions(dataset, order)
        n = np.bincount(dataset.users, minlength=dataset.num_users)
        n_train, n_valid, _ = ratio_counts(n, ratios)
        train, valid, test = _parts_from_positions(dataset, pos, n_train, n_valid)
        dropped, cold_users = _NO_INDEX, False
    elif group_by in (None, "none"):
        order = np.argsort(keys, kind="stable")
        n_valid = int(np.floor(n_all * ratios[1] + 1e-9))
        n_test = int(np.floor(n_all * ratios[2] + 1e-9))
        n_train = n_all - n_valid - n_test
        train = np.sort(order[:n_train])
        valid = np.sort(order[n_train : n_train + n_valid])
        test = np.sort(order[n_train + n_valid :])
        valid, test, dropped, cold_users = _apply_cold(dataset, train, valid, test, cold)
    else:
        raise ConfigError(f"split.group_by must be 'user' or null, got {group_by!r}")
    split = Split(
        dataset=dataset,
        train=train,
        valid=valid,
        test=test,
        method=f"random_{'per_user' if group_by == 'user' else 'global'}{list(ratios)}",
        seed=int(seed),
        cold_users=cold_users,
        dropped=dropped,
    )
    split.check("set split.cold=drop (or keep), or split.group_by=user")
    return split


def leave_one_out_split(dataset: InteractionDataset) -> Split:
    """Leave-one-out: each user's last interaction is test, the second last valid.

    Order is the dataset's (timestamp, then position in the source file).
    As in RecBole, a user with two interactions gives one to train and one
    to test, a user with one interaction keeps it in train.
    """
    pos = _user_positions(dataset)
    n = np.bincount(dataset.users, minlength=dataset.num_users)
    from_end = n[dataset.users] - 1 - pos
    n_here = n[dataset.users]
    is_test = (from_end == 0) & (n_here >= 2)
    is_valid = (from_end == 1) & (n_here >= 3)
    split = Split(
        dataset=dataset,
        train=np.flatnonzero(~is_test & ~is_valid),
        valid=np.flatnonzero(is_valid),
        test=np.flatnonzero(is_test),
        method="leave_one_out",
        time_order="user",
    )
    split.check()
    return split


def global_temporal_split(
    dataset: InteractionDataset,
    ratios: Sequence[float] | None = (0.8, 0.1, 0.1),
    valid_start: float | None = None,
    test_start: float | None = None,
    cold: str = "drop",
) -> Split:
    """Global temporal cut: everything before a time trains, later interactions test.

    Either by time (``valid_start`` and ``test_start``, in the dataset's
    timestamp unit: train ``t < valid_start``, valid ``valid_start <= t <
    test_start``, test ``t >= test_start``) or by ratio (all interactions
    ordered by timestamp, ties by dataset order, cut at ``floor(N * r)``).
    Users whose first interaction falls after the cut have nothing to train
    on; ``cold`` decides: ``drop`` (default) leaves their held-out
    interactions out of every part, ``keep`` evaluates them as cold users,
    ``error`` refuses the split.
    """
    t = dataset.timestamps
    if valid_start is not None or test_start is not None:
        if valid_start is None or test_start is None or valid_start > test_start:
            raise ConfigError(
                "a global time cut needs split.valid_start <= split.test_start "
                f"(got {valid_start} and {test_start})"
            )
        part = np.searchsorted([valid_start, test_start], t, side="right")
        how = f"@{valid_start:g},{test_start:g}"
    else:
        if ratios is None:
            raise ConfigError("give split.ratios or split.valid_start and split.test_start")
        ratios = _ratios(ratios)
        n_all = len(t)
        n_valid = int(np.floor(n_all * ratios[1] + 1e-9))
        n_test = int(np.floor(n_all * ratios[2] + 1e-9))
        rank = np.empty(n_all, dtype=np.int64)
        rank[np.argsort(t, kind="stable")] = np.arange(n_all)
        n_train = n_all - n_valid - n_test
        part = (rank >= n_train).astype(np.int64) + (rank >= n_train + n_valid)
        how = str(list(ratios))
    train = np.flatnonzero(part == 0)
    valid, test, dropped, cold_users = _apply_cold(
        dataset, train, np.flatnonzero(part == 1), np.flatnonzero(part == 2), cold
    )
    split = Split(
        dataset=dataset,
        train=train,
        valid=valid,
        test=test,
        method=f"temporal_global{how}",
        time_order="global",
        cold_users=cold_users,
        dropped=dropped,
    )
    split.check("set split.cold=drop to leave them out, or split.cold=keep to evaluate them cold")
    return split


def cross_domain_split(
    dataset: InteractionDataset,
    target: str | None = None,
    cold_share: float = 0.2,
    valid_share: float = 0.5,
    seed: int = 0,
    column: str = "domain",
) -> Split:
    """Cross-domain cold-start split: users cold in a target domain, warm in the others.

    Among the users with interactions both in ``target`` and in another
    domain (``dataset.extras[column]``, one value per interaction), a seeded
    share ``cold_share`` is drawn; their target-domain interactions are held
    out (a share ``valid_share`` of these users to validation, the rest to
    test) and their other-domain interactions train. Every other
    interaction trains. Test users therefore have no training interaction in
    the target domain, only in the others.
    """
    if column not in dataset.extras:
        have = ", ".join(sorted(dataset.extras)) or "none"
        raise ConfigError(
            f"the cross-domain split needs a per-interaction '{column}' column in the dataset "
            f"(dataset extras: {have}); map the domain column in the dataset config"
        )
    if not 0 < cold_share <= 1 or not 0 <= valid_share < 1:
        raise ConfigError(
            f"split.cold_share must be in (0, 1] and split.valid_share in [0, 1), "
            f"got {cold_share} and {valid_share}"
        )
    domain = np.asarray(dataset.extras[column]).astype(str)
    if target is None:
        found = ", ".join(str(d) for d in np.unique(domain)[:20])
        raise ConfigError(
            "split=cross_domain needs split.target, the domain whose users are made cold; "
            f"the domains of {dataset.name} are: {found} "
            f"(e.g. split.target={np.unique(domain)[0]})"
        )
    in_target = domain == str(target)
    if not in_target.any():
        found = ", ".join(repr(str(d)) for d in np.unique(domain)[:20])
        raise ConfigError(f"split.target {target!r} is not a domain of the dataset; found {found}")
    users = dataset.users
    in_t = np.bincount(users[in_target], minlength=dataset.num_users) > 0
    in_other = np.bincount(users[~in_target], minlength=dataset.num_users) > 0
    candidates = np.flatnonzero(in_t & in_other)
    if not len(candidates):
        raise SplitError(
            f"no user has interactions both in domain {target!r} and in another domain; "
            "a cross-domain split needs overlapping users"
        )
    rng = np.random.default_rng(seed)
    chosen = rng.permutation(candidates)[: max(1, round(cold_share * len(candidates)))]
    n_valid_users = round(valid_share * len(chosen))
    role = np.zeros(dataset.num_users, dtype=np.int8)
    role[chosen[:n_valid_users]] = 1
    role[chosen[n_valid_users:]] = 2
    part = np.where(in_target, role[users], 0)
    split = Split(
        dataset=dataset,
        train=np.flatnonzero(part == 0),
        valid=np.flatnonzero(part == 1),
        test=np.flatnonzero(part == 2),
        method=f"cross_domain[{target}]",
        seed=int(seed),
        cold_users=True,
        target_domain=str(target),
        domain_column=column,
    )
    split.check()
    return split


TARGET_OTHERS = ("train", "drop")


MASK_SEEN = ("target", "all")


def _is_target(
    ds: InteractionDataset, column: str, target: str, option: str, noun: str, hint: str
) -> np.ndarray:
    """``[num_interactions]`` bool: ``extras[column] == target``.

    Raises:
        ConfigError: no such column (``hint`` says how to get one), or no
            interaction with that value (the message lists the values).
    """
    if column not in ds.extras:
        have = ", ".join(sorted(ds.extras)) or "none"
        raise ConfigError(
            f"{option}={target} needs a per-interaction '{column}' column in the dataset "
            f"(dataset extras: {have}); {hint}"
        )
    values = np.asarray(ds.extras[column]).astype(str)
    is_target = values == str(target)
    if not is_target.any():
        found = ", ".join(repr(str(v)) for v in np.unique(values)[:20])
        raise ConfigError(f"{option} {target!r} is not a {noun} of the data; found {found}")
    return is_target


def target_behavior_split(
    split: Split,
    target: str,
    column: str = "behavior",
    others: str = "train",
    mask_seen: str = "target",
) -> Split:
    """Evaluate one behaviour: keep only ``target`` interactions in validation and test.

    Applied on top of any split method (``gnnrec-train target_behavior=buy``;
    :func:`gnnrec.cli.common.make_split`), as multi-behaviour recommenders
    are evaluated: every interaction keeps its part when its behaviour
    (``dataset.extras[column]``) is ``target`` or it is in train; a held-out
    interaction of another behaviour

    - moves to train with ``others="train"`` (all auxiliary behaviours
      train). The split then promises no time order, since some of them are
      later than a held-out target interaction;
    - is dropped with ``others="drop"``; the method's time order still holds.

    Either way a held-out non-target interaction of a (user, item) pair that
    is held out as ``target`` is dropped, never trained on: it would reveal the
    held-out item (a view of the item bought in test).

    ``mask_seen="target"`` (default) masks at evaluation only the user's
    training interactions of ``target`` (:meth:`Split.seen_matrix`): an item
    carted in train and bought in test is a hit, as in the multi-behaviour
    papers (CRGCN, MB-CGCN: a carted item is not yet bought). ``"all"``
    masks every training item, so such purchases can never be hits.

    Raises:
        ConfigError: no such column, ``target`` not among its values, an
            unknown ``others``.
        SplitError: a held-out target interaction (or its pair) reached train;
            a non-target interaction left in validation/test.
    """
    ds = split.dataset
    is_target = _is_target(
        ds,
        column,
        target,
        "target_behavior",
        "behaviour",
        f"map interactions.columns.{column} or use files_as: behavior",
    )
    if others not in TARGET_OTHERS:
        raise ConfigError(f"others must be one of {', '.join(TARGET_OTHERS)}, got {others!r}")
    if mask_seen not in MASK_SEEN:
        raise ConfigError(
            f"target_behavior_mask must be one of {', '.join(MASK_SEEN)}, got {mask_seen!r}"
        )
    valid = split.valid[is_target[split.valid]]
    test = split.test[is_target[split.test]]
    held_other = np.union1d(
        split.valid[~is_target[split.valid]], split.test[~is_target[split.test]]
    )
    key = ds.users * np.int64(max(1, ds.num_items)) + ds.items
    target_keys = np.sort(key[np.concatenate([valid, test])])
    reveals = _lookup(target_keys, key[held_other]) >= 0
    moved = held_other[~reveals] if others == "train" else _NO_INDEX
    dropped = np.union1d(split.dropped, np.setdiff1d(held_other, moved))
    log.info(
        "target behaviour %s: %d validation, %d test interactions kept; %d held-out "
        "interactions of other behaviours moved to train, %d dropped (%d of them held-out "
        "target pairs)",
        target,
        len(valid),
        len(test),
        len(moved),
        len(held_other) - len(moved),
        int(reveals.sum()),
    )
    out = dataclasses.replace(
        split,
        train=np.union1d(split.train, moved),
        valid=valid,
        test=test,
        method=f"{split.method}+target[{target}]",
        time_order=None if len(moved) else split.time_order,
        dropped=dropped,
        target_behavior=str(target),
        behavior_column=column,
        mask_seen=mask_seen,
    )
    out.check()
    _check_target_leak(out, split, is_target, key)
    return out


def target_domain_split(split: Split, target: str, column: str = "domain") -> Split:
    """Evaluate one domain (shop): held-out parts keep only ``target``'s
    interactions, and evaluation ranks only ``target``'s items.

    Applied on top of any split method (``gnnrec-train target_domain=cloth``;
    :func:`gnnrec.cli.common.make_split`): a user asking a shop for
    recommendations is offered that shop's catalogue, as cross-domain papers
    evaluate each target domain. Another domain's test interactions are
    dropped (neither trained on nor evaluated: its published test file stays
    unseen); its validation interactions, carved from training data
    (``split.valid_from_train``), train. (A single-shop baseline reads that
    shop alone: ``dataset.domains=[<shop>]``.)

    On top of :func:`cross_domain_split` ``target`` must be its target domain.

    Raises:
        ConfigError: no such column, ``target`` not among its values, another
            target domain already set.
    """
    is_target = _is_target(
        split.dataset,
        column,
        target,
        "target_domain",
        "domain",
        "use files_as: domain or map interactions.columns.domain",
    )
    if split.target_domain is not None and split.target_domain != str(target):
        raise ConfigError(
            f"the split's target domain is {split.target_domain!r}; target_domain={target} "
            "would evaluate another one"
        )
    moved = split.valid[~is_target[split.valid]]
    off_test = split.test[~is_target[split.test]]
    log.info(
        "target domain %s: %d validation, %d test interactions kept; other domains: %d "
        "validation interactions moved to train, %d test interactions dropped",
        target,
        int(is_target[split.valid].sum()),
        int(is_target[split.test].sum()),
        len(moved),
        len(off_test),
    )
    out = dataclasses.replace(
        split,
        train=np.union1d(split.train, moved),
        valid=split.valid[is_target[split.valid]],
        test=split.test[is_target[split.test]],
        method=f"{split.method}+domain[{target}]",
        time_order=None if len(moved) else split.time_order,
        dropped=np.union1d(split.dropped, off_test),
        target_domain=str(target),
        domain_column=column,
        rank_within_domain=True,
    )
    out.check()
    return out


def _check_target_leak(out: Split, base: Split, is_target: np.ndarray, key: np.ndarray) -> None:
    """Held-out parts hold only target interactions, and none of their (user, item)
    pairs is among the interactions moved into train."""
    held = np.concatenate([out.valid, out.test])
    if not is_target[held].all():
        raise SplitError(f"{int((~is_target[held]).sum())} non-target interactions stayed held out")
    moved = np.setdiff1d(out.train, base.train)
    leaked = _lookup(np.sort(key[held]), key[moved]) >= 0
    if leaked.any():
        raise SplitError(
            f"{int(leaked.sum())} interactions moved into train share a (user, item) pair "
            "with a held-out target interaction"
        )


def predefined_split(
    dataset: InteractionDataset,
    folder: str | Path | None = None,
    column: str = "split",
    cold: str = "error",
    valid_from_train: float = 0.0,
    seed: int = 0,
) -> Split:
    """A split given by the data: files in ``folder``, or a per-interaction column.

    With ``folder``: ``train.tsv``, ``test.tsv`` and optionally ``valid.tsv``
    (tab separated, header ``user_id	item_id`` and optionally
    ``timestamp``), e.g. written by :meth:`Split.save` or by
    ``gnnrec-train eval.save_topk=true`` (``split/``). Rows are matched to
    the dataset's interactions by raw ids (and timestamp when given; a
    repeated pair is matched in order). A ``split.json`` next to the files
    restores the method, seed, time order and cold-user flag.

    Without ``folder``: ``dataset.extras[column]`` names each interaction's
    part (``train``/``valid``/``test``, or 0/1/2), as recorded by readers of
    datasets that ship their own split.

    ``cold`` handles test users without training interactions (``error``,
    ``drop``, ``keep``).

    ``valid_from_train`` > 0 carves a validation part out of a split that has
    none (Gowalla's and Yelp2018's files): each user's training interactions
    are shuffled (``numpy.random.default_rng(seed)``) and ``floor(n * r)`` of
    them, at least one while another stays in train (:func:`ratio_counts`), become
    validation. The test part is untouched, so test results stay comparable
    with papers that train on the whole train file, while model selection no
    longer looks at the test set.

    Raises:
        DataError: a row that matches no interaction, an interaction in no file.
        ConfigError: neither files nor a split column; ``valid_from_train``
            outside [0, 1) or given for a split that has a validation part.
    """
    if isinstance(valid_from_train, bool) or not isinstance(valid_from_train, int | float):
        raise ConfigError(f"split.valid_from_train must be a number, got {valid_from_train!r}")
    if not 0 <= valid_from_train < 1:
        raise ConfigError(f"split.valid_from_train must be in [0, 1), got {valid_from_train}")
    meta: dict = {}
    if folder is not None:
        folder = Path(folder).expanduser()
        if (folder / "split.json").is_file():
            meta = _read_meta(folder / "split.json")
        names = [*PARTS, "dropped"]
        parts = _match_files(dataset, folder, names)
        train, valid, test, dropped = (parts[n] for n in names)
        how = str(folder)
    else:
        if column not in dataset.extras:
            have = ", ".join(sorted(dataset.extras)) or "none"
            raise ConfigError(
                f"a predefined split needs split.folder (train.tsv, valid.tsv, test.tsv) or a "
                f"per-interaction '{column}' column in the dataset (dataset extras: {have})"
            )
        labels = np.asarray(dataset.extras[column]).astype(str)
        codes = {"train": 0, "valid": 1, "test": 2, "0": 0, "1": 1, "2": 2}
        known = np.isin(labels, list(codes))
        if not known.all():
            bad = str(labels[~known][0])
            raise DataError(
                f"the '{column}' column holds {bad!r}; expected train, valid or test (or 0, 1, 2)"
            )
        part = np.select(
            [np.isin(labels, ["train", "0"]), np.isin(labels, ["valid", "1"])], [0, 1], 2
        )
        train, valid, test = (np.flatnonzero(part == p) for p in range(3))
        dropped = _NO_INDEX
        how = column
    cold_users = bool(meta.get("cold_users", False))
    if not meta:
        valid, test, more, cold_users = _apply_cold(dataset, train, valid, test, cold)
        dropped = np.union1d(dropped, more)
    method = meta.get("method", f"predefined[{how}]")
    recorded_seed = meta.get("seed")
    if valid_from_train > 0:
        if len(valid):
            raise ConfigError(
                f"split.valid_from_train={valid_from_train} carves a validation part, but "
                f"this split ({how}) already has {len(valid)} validation interactions"
            )
        train, valid = carve_validation(dataset, train, float(valid_from_train), int(seed))
        method, recorded_seed = f"{method}+valid_from_train[{valid_from_train}]", seed
    domain_column = str(meta.get("domain_column") or "domain")
    split = Split(
        dataset=dataset,
        train=train,
        valid=valid,
        test=test,
        method=method,
        seed=None if recorded_seed is None else int(recorded_seed),
        time_order=meta.get("time_order"),
        cold_users=cold_users,
        dropped=dropped,
        # the target domain only counts where the dataset still names domains
        target_domain=meta.get("target_domain") if domain_column in dataset.extras else None,
        domain_column=domain_column,
    )
    split.check("set split.cold=drop or split.cold=keep")
    return split


def carve_validation(
    dataset: InteractionDataset, train: np.ndarray, ratio: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Move a random ``ratio`` of each user's ``train`` interactions to validation.

    Returns ``(train, valid)``, sorted interaction indices; per user
    ``floor(n * ratio)`` go to validation, at least one while another stays
    in train (:func:`ratio_counts`). Seeded by ``seed``.
    """
    rng = np.random.default_rng(seed)
    users = dataset.users[train]
    # by user, then randomly within a user (keys / 2 < 0.5 never reach the next user)
    order = np.argsort(users + 0.5 * rng.random(len(train)), kind="stable")
    n = np.bincount(users, minlength=dataset.num_users)
    n_train, _, _ = ratio_counts(n, (1.0 - ratio, ratio, 0.0))
    start = np.concatenate([[0], np.cumsum(n)[:-1]])
    sorted_users = users[order]
    position = np.arange(len(train)) - start[sorted_users]
    to_valid = position >= n_train[sorted_users]
    return np.sort(train[order[~to_valid]]), np.sort(train[order[to_valid]])


def load_split(folder: str | Path, dataset: InteractionDataset) -> Split:
    """Read a split written by :meth:`Split.save` against ``dataset``.

    Raises:
        DataError: no ``split.json``, files that do not match the dataset, or
            a split that fails :func:`check_split`.
    """
    folder = Path(folder).expanduser()
    if not (folder / "split.json").is_file():
        raise DataError("no split.json here (expected a folder written by Split.save)", folder)
    meta = _read_meta(folder / "split.json")
    if meta.get("dataset") not in (None, dataset.name):
        log.warning("split of dataset %r read against dataset %r", meta["dataset"], dataset.name)
    return predefined_split(dataset, folder=folder)


# --------------------------------------------------------------------------- files


def _write_part(path: Path, dataset: InteractionDataset, idx: np.ndarray) -> None:
    table = pa.table(
        {
            "user_id": pa.array(dataset.user_ids[dataset.users[idx]]),
            "item_id": pa.array(dataset.item_ids[dataset.items[idx]]),
            "timestamp": pa.array(dataset.timestamps[idx], pa.float64()),
        }
    )
    write_delimited(path, table, "\t")


def _read_meta(path: Path) -> dict:
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise DataError(f"not a readable split description ({err})", path) from None
    if not isinstance(meta, dict) or meta.get("format") != "gnnrec-split":
        raise DataError("not a gnnrec split description (format != gnnrec-split)", path)
    return meta


def _sorted_by_key(key: np.ndarray, t: np.ndarray | None) -> np.ndarray:
    """Stable order by (key, t): ties keep their order (dataset order, file order)."""
    return np.argsort(key, kind="stable") if t is None else np.lexsort((t, key))


def _match_files(
    dataset: InteractionDataset, folder: Path, names: Sequence[str]
) -> dict[str, np.ndarray]:
    """Interaction indices of each part file; parts without a file are empty.

    Each row is matched by (user, item[, timestamp]); the k-th row with a
    given key, counted over the files in ``names`` order, takes the k-th
    interaction with that key in dataset order. Both sides are sorted by key
    (stable), so a complete split lines up one to one; the first place where
    they differ names the row or the interaction that has no partner.
    """
    tables = {}
    for name in names:
        path = folder / f"{name}.tsv"
        if path.is_file():
            tables[name] = read_delimited(path, sep="\t")
        elif name in ("train", "test"):
            raise DataError(f"split file {name}.tsv not found", path)
    with_time = all("timestamp" in t.columns for t in tables.values())
    ds = dataset
    width = np.int64(max(1, ds.num_items))
    keys, times, parts = [], [], []
    for p, table in enumerate(tables.values()):
        users = lookup_codes(table, "user_id", ds.user_ids)
        items = lookup_codes(table, "item_id", ds.item_ids)
        unknown = (users < 0) | (items < 0)
        if unknown.any():
            _raise_unmatched(table, np.flatnonzero(unknown), ds.name)
        keys.append(users * width + items)
        if with_time:
            times.append(to_float(table, "timestamp", "a numeric timestamp"))
        parts.append(np.full(len(users), p))
    row_key = np.concatenate(keys)
    row_t = np.concatenate(times) if with_time else None
    ds_key = ds.users * width + ds.items
    ds_t = ds.timestamps if with_time else None
    row_order = _sorted_by_key(row_key, row_t)
    ds_order = _sorted_by_key(ds_key, ds_t)
    a_key, b_key = row_key[row_order], ds_key[ds_order]
    m = min(len(a_key), len(b_key))
    differ = a_key[:m] != b_key[:m]
    if with_time:
        assert row_t is not None and ds_t is not None
        differ |= row_t[row_order][:m] != ds_t[ds_order][:m]
    if len(a_key) != len(b_key) or differ.any():
        j = int(np.argmax(differ)) if differ.any() else m
        # Name the row when it sorts first, or when only its timestamp differs.
        row_first = j < len(a_key) and (
            j >= len(b_key) or a_key[j] == b_key[j] or a_key[j] < b_key[j]
        )
        if row_first:
            row = int(row_order[j])
            p = int(np.concatenate(parts)[row])
            offset = sum(len(k) for k in keys[:p])
            _raise_unmatched(list(tables.values())[p], np.array([row - offset]), ds.name)
        i = int(ds_order[j])
        user, item = str(ds.user_ids[ds.users[i]]), str(ds.item_ids[ds.items[i]])
        raise SplitError(
            f"the split files hold {len(a_key)} rows for the {len(b_key)} interactions of "
            f"dataset {ds.name!r} and leave some in no part (e.g. user {user!r}, item "
            f"{item!r} at {ds.timestamps[i]:g}); was the split made with other "
            "preprocessing options?",
        )
    index = np.empty(len(row_key), dtype=np.int64)
    index[row_order] = ds_order
    part_of_row = np.concatenate(parts)
    out = {name: _NO_INDEX for name in names}
    for p, name in enumerate(tables):
        out[name] = np.sort(index[part_of_row == p])
    return out


def _lookup(vocabulary: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Position of each value in a sorted ``vocabulary``, -1 when absent."""
    if not len(vocabulary):
        return np.full(len(values), -1, dtype=np.int64)
    pos = np.minimum(np.searchsorted(vocabulary, values), len(vocabulary) - 1)
    return np.where(vocabulary[pos] == values, pos, -1).astype(np.int64)


def _raise_unmatched(table: Table, rows: np.ndarray, name: str) -> None:
    row = int(rows[0])
    raise table.error(
        f"the row (user {table.column('user_id')[row].as_py()!r}, item "
        f"{table.column('item_id')[row].as_py()!r}) matches no interaction of dataset "
        f"{name!r}, or repeats one more often than the dataset holds it"
        + (f" ({len(rows)} such rows)" if len(rows) > 1 else "")
        + "; was the split made on another dataset or with other preprocessing options?",
        row,
    )
