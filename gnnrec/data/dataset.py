"""The canonical in-memory dataset: contiguous ids, interactions, item categories."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

BASE_NODE_TYPES = ("user", "item", "category")
"""Node types every dataset has; side relations add more."""

_NAME = re.compile(r"^[A-Za-z0-9]+(_[A-Za-z0-9]+)*$")


def type_name(text: str) -> str:
    """``text`` as a node or relation type name: letters, digits and single underscores.

    Types become PyG ``HeteroData`` keys and ``"__"``-joined module names, so
    dots, spaces and repeated underscores are folded (``film.film.actor`` →
    ``film_film_actor``).
    """
    return "_".join(part for part in re.split(r"[^A-Za-z0-9]+", str(text)) if part) or "x"


def edge_key(src: str, relation: str, dst: str) -> str:
    """The ``side_edges`` key of an edge type, ``"src__relation__dst"``."""
    for part in (src, relation, dst):
        if not _NAME.match(part):
            raise ValueError(f"{part!r} is not a type name (see type_name)")
    return f"{src}__{relation}__{dst}"


def split_edge_key(key: str) -> tuple[str, str, str]:
    """``(src, relation, dst)`` of a ``side_edges`` key."""
    parts = key.split("__")
    if len(parts) != 3:
        raise ValueError(f"{key!r} is not an edge key 'src__relation__dst'")
    return parts[0], parts[1], parts[2]


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
        side_nodes: extra node types of the heterogeneous graph, node type →
            ``[num_nodes]`` names (``entity`` for knowledge-graph entities,
            ``occupation`` for a user attribute, ``category_l0`` for a kept
            hierarchy level, ...).
        side_edges: side relations (static: never built from interactions),
            ``edge_key(src, relation, dst)`` → ``[num_src, num_dst]`` binary
            CSR matrix; src and dst are ``user``, ``item``, ``category`` or a
            ``side_nodes`` type.
        preprocessing_log: the preprocessing steps with their before/after
            counts, one per line.
        item_text: optional ``[num_items]`` ``str`` array, a text per item
            (title, description, category names; see the dataset config's
            ``item_text`` section), ``""`` for items without text; None when
            the dataset has no item text.
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
    side_nodes: dict[str, np.ndarray] = field(default_factory=dict)
    side_edges: dict[str, sp.csr_matrix] = field(default_factory=dict)
    preprocessing_log: str = ""
    item_text: np.ndarray | None = None

    def __post_init__(self) -> None:
        n = len(self.users)
        for name in ("items", "timestamps", "weights"):
            if len(getattr(self, name)) != n:
                raise ValueError(f"{name} has {len(getattr(self, name))} entries, expected {n}")
        for name, values in self.extras.items():
            if len(values) != n:
                raise ValueError(f"extras[{name!r}] has {len(values)} entries, expected {n}")
        if self.item_categories.shape != (self.num_items, self.num_categories):
            raise ValueError(
                f"item_categories has shape {self.item_categories.shape}, "
                f"expected ({self.num_items}, {self.num_categories})"
            )
        top = self.category_top_level
        if top is not None and len(top) != self.num_categories:
            raise ValueError(
                f"category_top_level has {len(top)} entries, expected {self.num_categories}"
            )
        text = self.item_text
        if text is not None and (text.shape != (self.num_items,) or text.dtype.kind != "U"):
            raise ValueError(
                f"item_text must be a [{self.num_items}] str array, "
                f"got shape {text.shape} and dtype {text.dtype}"
            )
        for node_type in self.side_nodes:
            if node_type in BASE_NODE_TYPES or not _NAME.match(node_type):
                raise ValueError(f"side node type {node_type!r} is reserved or not a type name")
        for key, matrix in self.side_edges.items():
            src, _, dst = split_edge_key(key)
            shape = (self.num_nodes(src), self.num_nodes(dst))
            if matrix.shape != shape:
                raise ValueError(f"side_edges[{key!r}] has shape {matrix.shape}, expected {shape}")

    def num_nodes(self, node_type: str) -> int:
        """Number of nodes of a node type (base or side)."""
        base = {"user": self.num_users, "item": self.num_items, "category": self.num_categories}
        if node_type in base:
            return base[node_type]
        if node_type not in self.side_nodes:
            raise KeyError(f"no node type {node_type!r}")
        return len(self.side_nodes[node_type])

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
        """Counts used in logs and run results (side relations only when present)."""
        out: dict[str, float] = {
            "users": self.num_users,
            "items": self.num_items,
            "categories": self.num_categories,
            "interactions": self.num_interactions,
            "density": self.density,
        }
        for node_type, names in self.side_nodes.items():
            out[f"nodes_{node_type}"] = len(names)
        if self.side_edges:
            out["side_edges"] = sum(m.nnz for m in self.side_edges.values())
        return out

    def __repr__(self) -> str:
        return (
            f"InteractionDataset(name={self.name!r}, users={self.num_users}, "
            f"items={self.num_items}, categories={self.num_categories}, "
            f"interactions={self.num_interactions})"
        )
