"""Preprocessing of an interaction log: thresholds, behaviour weights, duplicates, k-core.

Every step is a vectorised function of an :class:`Interactions` record (no
Python loop per row) and records its before/after counts in a
:class:`PreprocessLog`, which also goes to the ``gnnrec.data`` logger. Users
and items stay codes into the sorted raw-id arrays until :func:`reindex`
makes them contiguous.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import NamedTuple

import numpy as np

from gnnrec.errors import ConfigError

log = logging.getLogger("gnnrec.data")

DEDUP = ("first", "last", "count", "sum", "max")
"""Ways to treat repeated (user, item) pairs (see :func:`deduplicate`)."""


class Counts(NamedTuple):
    """Interactions, distinct users and distinct items at one point of preprocessing."""

    interactions: int
    users: int
    items: int

    def __str__(self) -> str:
        return f"{self.interactions} interactions, {self.users} users, {self.items} items"


@dataclass(frozen=True)
class Interactions:
    """Parallel per-interaction arrays under preprocessing.

    Attributes:
        users, items: int64 codes into ``user_ids`` / ``item_ids``.
        timestamps: float64 timestamps (the file order when the log has none).
        weights: float32 interaction weights.
        rows: int64 position of each interaction in the source files (ties in
            time keep this order).
        extras: further per-interaction arrays (ratings, behaviour codes, ...).
        labels: for text-valued extras, the names their codes index.
        user_ids, item_ids: sorted raw ids the codes index.
    """

    users: np.ndarray
    items: np.ndarray
    timestamps: np.ndarray
    weights: np.ndarray
    rows: np.ndarray
    user_ids: np.ndarray
    item_ids: np.ndarray
    extras: dict[str, np.ndarray] = field(default_factory=dict)
    labels: dict[str, np.ndarray] = field(default_factory=dict)

    def take(self, index: np.ndarray) -> Interactions:
        """The interactions at ``index`` (a boolean mask or positions), in that order."""
        return replace(
            self,
            users=self.users[index],
            items=self.items[index],
            timestamps=self.timestamps[index],
            weights=self.weights[index],
            rows=self.rows[index],
            extras={k: v[index] for k, v in self.extras.items()},
        )

    def counts(self) -> Counts:
        users = np.count_nonzero(np.bincount(self.users, minlength=len(self.user_ids)))
        items = np.count_nonzero(np.bincount(self.items, minlength=len(self.item_ids)))
        return Counts(len(self.users), int(users), int(items))

    def decoded_extras(self) -> dict[str, np.ndarray]:
        """Extras with text codes turned back into their names."""
        return {k: self.labels[k][v] if k in self.labels else v for k, v in self.extras.items()}


@dataclass
class PreprocessLog:
    """What each preprocessing step did, as lines ``step: before -> after``."""

    lines: list[str] = field(default_factory=list)

    def record(self, step: str, before: Counts, after: Counts) -> None:
        line = f"{step}: {before} -> {after}"
        log.info("%s", line)
        self.lines.append(line)

    def note(self, line: str) -> None:
        log.info("%s", line)
        self.lines.append(line)

    def text(self) -> str:
        return "\n".join(self.lines)


def _apply(x: Interactions, keep: np.ndarray, step: str, report: PreprocessLog) -> Interactions:
    before = x.counts()
    out = x if keep.all() else x.take(keep)
    report.record(step, before, out.counts())
    return out


def filter_rating(
    x: Interactions, ratings: np.ndarray, min_rating: float, report: PreprocessLog
) -> Interactions:
    """Keep interactions with ``rating >= min_rating`` (explicit → implicit feedback)."""
    return _apply(x, ratings >= min_rating, f"rating >= {min_rating:g}", report)


def keep_domains(x: Interactions, names: Sequence[str], report: PreprocessLog) -> Interactions:
    """Keep the interactions whose domain (shop) is among ``names``: one shop of
    a multi-shop log, whose other shops' items then leave the catalogue.

    Raises:
        ConfigError: the log has no domains, or a name is not one of them.
    """
    if "domain" not in x.labels:
        raise ConfigError(
            "dataset.domains is set but the log has no domains (use files_as: domain or map "
            "interactions.columns.domain)"
        )
    have = [str(n) for n in x.labels["domain"]]
    wanted = [str(n) for n in ([names] if isinstance(names, str) else names)]
    unknown = [n for n in wanted if n not in have]
    if unknown or not wanted:
        raise ConfigError(
            f"dataset.domains {wanted} names domains the log does not have "
            f"({', '.join(map(repr, unknown)) or 'none given'}); it has {have}"
        )
    keep = np.isin(np.asarray(have)[x.extras["domain"]], wanted)
    return _apply(x, keep, f"domains {', '.join(wanted)}", report)


def weight_behaviors(
    x: Interactions, weights: Mapping[str, float], report: PreprocessLog
) -> Interactions:
    """Keep the event types listed in ``weights`` and multiply each weight by its type's.

    The event type of each interaction is ``x.extras["behavior"]`` (codes
    into ``x.labels["behavior"]``). ``weights`` maps event type → weight
    (e.g. ``buy: 4, cart: 2, fav: 2, pv: 1``); types not listed, or with
    weight 0, are dropped.
    """
    for name, value in weights.items():
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            raise ConfigError(
                f"dataset.behavior_weights.{name} must be a non-negative number, got {value!r}"
            )
    names = x.labels["behavior"]
    per_type = np.array([float(weights.get(str(n), 0.0)) for n in names], dtype=np.float32)
    unused = sorted(set(map(str, weights)) - set(map(str, names)))
    if unused:
        report.note(f"behavior types not in the log: {', '.join(unused)}")
    dropped = [str(n) for n, w in zip(names, per_type, strict=True) if w == 0]
    keep = per_type[x.extras["behavior"]] > 0
    step = "behavior weights" + (f" (dropped types: {', '.join(dropped)})" if dropped else "")
    out = _apply(x, keep, step, report)
    return replace(out, weights=(out.weights * per_type[out.extras["behavior"]]).astype(np.float32))


def sort_interactions(x: Interactions) -> Interactions:
    """Order by user, then timestamp, then source row (the order every split relies on)."""
    if len(x.rows) > 1 and not np.all(x.rows[1:] > x.rows[:-1]):
        return x.take(np.lexsort((x.rows, x.timestamps, x.users)))
    # Rows are in file order, so two stable sorts give the same order as the
    # three-key lexsort in a fraction of the time.
    order = np.argsort(x.timestamps, kind="stable")
    return x.take(order[np.argsort(x.users[order], kind="stable")])


def deduplicate(
    x: Interactions, how: str, report: PreprocessLog, per: Sequence[str] = ()
) -> Interactions:
    """Keep one interaction per (user, item) pair of a log sorted by :func:`sort_interactions`.

    ``first`` keeps the earliest, ``last`` the latest; ``count``, ``sum`` and
    ``max`` keep the earliest with weight the number of repeats, the sum or
    the maximum of their weights. The result keeps the sorted order.

    ``per`` names coded extras columns (e.g. ``behavior``) that tell repeats
    apart: with ``per=("behavior",)`` a cart and a buy of the same pair are
    both kept, and only repeats of one behaviour are merged.
    """
    if how not in DEDUP:
        raise ConfigError(f"dataset.dedup must be one of {', '.join(DEDUP)}, got {how!r}")
    key = x.users * np.int64(len(x.item_ids)) + x.items
    for column in per:
        if column not in x.labels:
            have = ", ".join(sorted(x.labels)) or "none"
            raise ConfigError(
                f"dataset.dedup_per: the log has no '{column}' column to tell repeated pairs "
                f"apart (label columns: {have})"
            )
        codes = np.asarray(x.extras[column], dtype=np.int64)
        key = key * np.int64(max(1, len(x.labels[column]))) + codes
    order = np.argsort(key, kind="stable")
    sorted_key = key[order]
    starts = np.flatnonzero(np.r_[True, sorted_key[1:] != sorted_key[:-1]])
    if len(starts) == len(key):
        report.record(f"duplicates ({how})", x.counts(), x.counts())
        return x
    ends = np.r_[starts[1:], len(key)]
    chosen = order[ends - 1] if how == "last" else order[starts]
    weights = x.weights[chosen]
    if how == "count":
        weights = (ends - starts).astype(np.float32)
    elif how == "sum":
        weights = np.add.reduceat(x.weights[order], starts).astype(np.float32)
    elif how == "max":
        weights = np.maximum.reduceat(x.weights[order], starts).astype(np.float32)
    keep_order = np.argsort(chosen, kind="stable")
    before = x.counts()
    out = replace(x.take(chosen[keep_order]), weights=weights[keep_order])
    report.record(f"duplicates ({how})", before, out.counts())
    return out


def drop_items(
    x: Interactions, keep_item: np.ndarray, step: str, report: PreprocessLog
) -> Interactions:
    """Drop interactions with items where ``keep_item`` (indexed by item code) is false."""
    return _apply(x, keep_item[x.items], step, report)


def kcore_filter(x: Interactions, user_k: int, item_k: int, report: PreprocessLog) -> Interactions:
    """Repeatedly drop users with fewer than ``user_k`` and items with fewer than
    ``item_k`` interactions until every remaining user and item has enough.

    Each round removes every under-threshold user and item at once and
    recounts; the loop ends at the fixed point (the k-core of the bipartite
    graph), which is unique, so the result does not depend on the order.
    """
    if user_k < 0 or item_k < 0:
        raise ConfigError(f"dataset.kcore must be non-negative, got user {user_k}, item {item_k}")
    before = x.counts()
    rounds = 0
    while len(x.users):
        user_n = np.bincount(x.users, minlength=len(x.user_ids))
        item_n = np.bincount(x.items, minlength=len(x.item_ids))
        keep = (user_n[x.users] >= user_k) & (item_n[x.items] >= item_k)
        if keep.all():
            break
        x = x.take(keep)
        rounds += 1
    report.record(f"{user_k}-core users, {item_k}-core items ({rounds} rounds)", before, x.counts())
    if not len(x.users):
        raise ConfigError(
            f"dataset.kcore (users {user_k}, items {item_k}) leaves no interaction; lower it"
        )
    return x


def reindex(codes: np.ndarray, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Contiguous ids for the codes in use.

    Returns:
        ``(new_codes, kept_ids, old_to_new)``: ``kept_ids`` keeps the sorted
        order of ``ids``; ``old_to_new`` is -1 for ids no longer used.
    """
    used = np.bincount(codes, minlength=len(ids)) > 0
    old_to_new = np.full(len(ids), -1, dtype=np.int64)
    old_to_new[used] = np.arange(int(used.sum()), dtype=np.int64)
    return old_to_new[codes], ids[used], old_to_new
