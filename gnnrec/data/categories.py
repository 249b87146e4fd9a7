"""Item categories: labels from a file or a column, hierarchies, category–category edges.

An item carries one label (single-label), several (multi-label, split by a
configurable separator) or a node of a category hierarchy given as
child→parent edges. With a hierarchy one level is chosen as "the category";
the other levels can stay in the heterogeneous graph as node types
``category_l<depth>``. All work is vectorised over label pairs; only the
distinct labels and hierarchy nodes are looped over when validating.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

import networkx as nx
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import scipy.sparse as sp

from gnnrec.data.dataset import edge_key
from gnnrec.data.readers import Table, factorise, lookup_codes
from gnnrec.data.sparse import binary_csr
from gnnrec.errors import ConfigError

UNKNOWN = "unknown"
"""The category given to items without one when ``missing: unknown``."""

LEVELS = ("leaf", "all")
"""Named hierarchy levels besides a depth: each item's own labels, or every ancestor too."""


@dataclass(frozen=True)
class ItemLabels:
    """(item, label) pairs read from a category source.

    Attributes:
        items: ``[num_pairs]`` item codes (into the raw-id array of the log).
        labels: ``[num_pairs]`` codes into ``names``.
        names: the distinct labels, sorted.
        rows: ``[num_pairs]`` source row of each pair (to locate errors).
        table: the table the pairs came from.
    """

    items: np.ndarray
    labels: np.ndarray
    names: np.ndarray
    rows: np.ndarray
    table: Table

    def take(self, index: np.ndarray) -> ItemLabels:
        return ItemLabels(
            self.items[index], self.labels[index], self.names, self.rows[index], self.table
        )


def _item_codes(
    table: Table, item_column: str, item_ids: np.ndarray, unknown_items: str
) -> np.ndarray:
    """Item code of every row (-1 for items the log lacks, when ignored)."""
    if unknown_items not in ("error", "ignore"):
        raise ConfigError(
            f"dataset.categories.unknown_items must be error or ignore, got {unknown_items!r}"
        )
    items = lookup_codes(table, item_column, item_ids)
    unknown = items < 0
    if unknown.any() and unknown_items == "error":
        row = int(np.flatnonzero(unknown)[0])
        raw = str(table.column(item_column)[row].as_py()).strip()
        raise table.error(
            f"item {raw!r} does not occur in the interactions; expected items of the "
            "log (set categories.unknown_items: ignore to skip catalogue-only items)",
            row,
            item_column,
        )
    return items


def _label_lists(table: Table, column: str, label_sep: str | None) -> tuple[pa.Array, np.ndarray]:
    """``(values, lengths)``: every row's labels, trimmed, flattened in row order.

    A list column (JSON-lines, Parquet) gives its elements; a text column is
    split at ``label_sep`` (None: one label per row). Nulls give no label.
    """
    col = table.column(column)
    if pa.types.is_list(col.type) or pa.types.is_large_list(col.type):
        lengths = np.asarray(pc.list_value_length(col).fill_null(0), dtype=np.int64)
        values = pc.list_flatten(col)
        if not pa.types.is_string(values.type):
            values = pc.cast(values, pa.string())
        return pc.utf8_trim_whitespace(values.fill_null("")), lengths
    if not pa.types.is_string(col.type):
        col = pc.cast(col, pa.string())
    text = pc.utf8_trim_whitespace(col.fill_null(""))
    if not label_sep:
        return text, np.ones(len(text), dtype=np.int64)
    lists = pc.split_pattern(text, label_sep)
    lengths = np.asarray(pc.list_value_length(lists), dtype=np.int64)
    return pc.utf8_trim_whitespace(pc.list_flatten(lists)), lengths


def read_item_labels(
    table: Table,
    item_column: str,
    category_column: str,
    item_ids: np.ndarray,
    label_sep: str | None = None,
    unknown_items: str = "error",
) -> ItemLabels:
    """Item→label pairs of a table (a category file, or the interaction log itself).

    Args:
        item_ids: sorted raw item ids of the interaction log (before filtering).
        label_sep: multi-label separator of a text column (None: one label
            per row); a list column is multi-label as it is.
        unknown_items: ``error`` when the table names an item the log lacks,
            ``ignore`` to skip such rows (catalogue files list items nobody
            interacted with).

    Raises:
        DataError: an item id the log does not have (with ``error``).
    """
    items = _item_codes(table, item_column, item_ids, unknown_items)
    flat, lengths = _label_lists(table, category_column, label_sep)
    rows = np.repeat(np.arange(len(lengths), dtype=np.int64), lengths)
    keep = np.asarray(pc.greater(pc.utf8_length(flat), 0)) & (items[rows] >= 0)
    labels, names = factorise(flat.filter(pa.array(keep)))
    rows = rows[keep]
    return ItemLabels(items[rows], labels, names, rows, table)


PATH_SEP = " > "
"""Joins the steps of a category path into a node name (``Books > Fiction``)."""


def read_path_labels(
    table: Table,
    item_column: str,
    category_column: str,
    item_ids: np.ndarray,
    label_sep: str | None = None,
    unknown_items: str = "error",
) -> tuple[ItemLabels, Hierarchy]:
    """Item labels given as root→leaf category paths, and the hierarchy they make.

    Each row holds one path (a list column, e.g. Amazon's ``categories``, or
    text split at ``label_sep``). A node is a path prefix named by its steps
    joined with :data:`PATH_SEP`, so equal names under different parents stay
    different nodes; the item's label is its deepest node. The work loops over
    depths, not rows.
    """
    items = _item_codes(table, item_column, item_ids, unknown_items)
    flat, lengths = _label_lists(table, category_column, label_sep)
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
    # A path stops at its first empty step.
    empty = ~np.asarray(pc.greater(pc.utf8_length(flat), 0))
    step = np.arange(len(flat)) - np.repeat(starts, lengths)
    first_empty = np.full(len(lengths), np.iinfo(np.int64).max)
    np.minimum.at(first_empty, np.repeat(np.arange(len(lengths)), lengths)[empty], step[empty])
    lengths = np.minimum(lengths, first_empty)
    lengths[items < 0] = 0
    prefixes: list[pa.Array] = []
    rows_at: list[np.ndarray] = []
    for depth in range(int(lengths.max()) if len(lengths) else 0):
        rows = np.flatnonzero(lengths > depth)
        steps = flat.take(pa.array(starts[rows] + depth))
        if depth:
            previous = prefixes[-1].take(pa.array(np.searchsorted(rows_at[-1], rows)))
            steps = pc.binary_join_element_wise(previous, steps, PATH_SEP)
        prefixes.append(steps)
        rows_at.append(rows)
    if not prefixes:
        none, no_names = np.zeros(0, dtype=np.int64), np.array([], dtype=str)
        return ItemLabels(none, none, no_names, none, table), Hierarchy(no_names, none, none)
    codes, names = factorise(pa.concat_arrays(prefixes))
    sizes = np.cumsum([0] + [len(r) for r in rows_at])
    node_at = [codes[sizes[d] : sizes[d + 1]] for d in range(len(rows_at))]
    parents = np.full(len(names), -1, dtype=np.int64)
    depth_of = np.zeros(len(names), dtype=np.int64)
    for depth in range(len(rows_at)):
        depth_of[node_at[depth]] = depth
        if depth:
            up = node_at[depth - 1][np.searchsorted(rows_at[depth - 1], rows_at[depth])]
            parents[node_at[depth]] = up
    leaf_row = np.flatnonzero(lengths > 0)
    leaf = np.empty(len(leaf_row), dtype=np.int64)
    for depth in range(len(rows_at)):
        ends_here = lengths[rows_at[depth]] == depth + 1
        leaf[np.searchsorted(leaf_row, rows_at[depth][ends_here])] = node_at[depth][ends_here]
    pairs = ItemLabels(items[leaf_row], leaf, names, leaf_row, table)
    return pairs, Hierarchy(names, parents, depth_of)


def items_with_labels(pairs: ItemLabels, num_items: int) -> np.ndarray:
    """``[num_items]`` bool: which item codes carry at least one label."""
    has = np.zeros(num_items, dtype=bool)
    has[pairs.items] = True
    return has


# --------------------------------------------------------------------------- hierarchy


@dataclass(frozen=True)
class Hierarchy:
    """A category forest from child→parent edges.

    Attributes:
        names: ``[num_nodes]`` sorted node names.
        parents: ``[num_nodes]`` int64 parent node, -1 for a top-level node.
        depth: ``[num_nodes]`` int64 depth, 0 for top-level nodes.
    """

    names: np.ndarray
    parents: np.ndarray
    depth: np.ndarray

    @property
    def max_depth(self) -> int:
        return int(self.depth.max()) if len(self.depth) else 0

    def ancestor(self, nodes: np.ndarray, level: int) -> np.ndarray:
        """Ancestor of each node at depth ``level``; a node shallower than
        ``level`` is its own answer."""
        out = nodes.copy()
        for _ in range(self.max_depth):
            deeper = self.depth[out] > level
            if not deeper.any():
                break
            out[deeper] = self.parents[out[deeper]]
        return out

    def top(self, nodes: np.ndarray) -> np.ndarray:
        """Top-level ancestor of each node (a top-level node is its own)."""
        return self.ancestor(nodes, 0)

    def lookup(self, names: np.ndarray) -> np.ndarray:
        """Node of each name, -1 where the hierarchy lacks it."""
        pos = np.searchsorted(self.names, names)
        pos = np.minimum(pos, max(len(self.names) - 1, 0))
        found = (self.names[pos] == names) if len(self.names) else np.zeros(len(names), bool)
        return np.where(found, pos, -1)


def read_hierarchy(table: Table, child_column: str, parent_column: str) -> Hierarchy:
    """Build a category forest from child→parent rows, checked with networkx.

    Repeated identical rows are allowed. A node is top-level when it never
    appears as a child.

    Raises:
        DataError: a category with two parents, a category that is its own
            parent, a cycle (the message lists it and the line of its first
            edge).
    """
    child_text = pc.utf8_trim_whitespace(pc.cast(table.column(child_column), pa.string()))
    parent_text = pc.utf8_trim_whitespace(pc.cast(table.column(parent_column), pa.string()))
    children = np.asarray(child_text.to_numpy(zero_copy_only=False)).astype(str)
    parents = np.asarray(parent_text.to_numpy(zero_copy_only=False)).astype(str)
    for values, column in ((children, child_column), (parents, parent_column)):
        empty = values == ""
        if empty.any():
            row = int(np.flatnonzero(empty)[0])
            raise table.error("expected a category name, found an empty value", row, column)
    names, inverse = np.unique(np.concatenate([children, parents]), return_inverse=True)
    child, parent = inverse[: len(children)], inverse[len(children) :]
    self_loop = child == parent
    if self_loop.any():
        row = int(np.flatnonzero(self_loop)[0])
        raise table.error(
            f"category {str(children[row])!r} is its own parent; "
            "expected child→parent edges of a tree",
            row,
            parent_column,
        )
    edge = child * len(names) + parent
    _, first = np.unique(edge, return_index=True)
    first = np.sort(first)  # the first row of each distinct edge, in file order
    by_child = first[np.argsort(child[first], kind="stable")]
    twice = np.flatnonzero(child[by_child[1:]] == child[by_child[:-1]])
    if len(twice):
        at = int(np.argmin(by_child[twice + 1]))
        row, earlier = int(by_child[twice[at] + 1]), int(by_child[twice[at]])
        raise table.error(
            f"category {str(children[row])!r} has two parents ({str(parents[earlier])!r} on "
            f"{table.where(earlier)} and {str(parents[row])!r}); expected a tree "
            "(one parent per category)",
            row,
            parent_column,
        )
    graph = nx.DiGraph()
    graph.add_nodes_from(range(len(names)))
    graph.add_edges_from(zip(child[first].tolist(), parent[first].tolist(), strict=True))
    try:
        cycle = nx.find_cycle(graph)
    except nx.NetworkXNoCycle:
        cycle = None
    if cycle:
        path = " → ".join([str(names[a]) for a, _ in cycle] + [str(names[cycle[0][0]])])
        row = int(first[np.flatnonzero(child[first] == cycle[0][0])[0]])
        raise table.error(
            f"the hierarchy has a cycle: {path}; expected child→parent edges of a tree", row
        )
    parent_of = np.full(len(names), -1, dtype=np.int64)
    parent_of[child[first]] = parent[first]
    depth = np.zeros(len(names), dtype=np.int64)
    cur = parent_of.copy()
    while (cur >= 0).any():
        up = cur >= 0
        depth[up] += 1
        cur[up] = parent_of[cur[up]]
    return Hierarchy(names, parent_of, depth)


def hierarchy_nodes(pairs: ItemLabels, hierarchy: Hierarchy) -> np.ndarray:
    """``[len(pairs.names)]`` hierarchy node of every label.

    Raises:
        DataError: at the first row whose label the hierarchy lacks.
    """
    nodes = hierarchy.lookup(pairs.names)
    absent = nodes[pairs.labels] < 0
    if absent.any():
        first = int(np.argmin(np.where(absent, pairs.rows, np.iinfo(np.int64).max)))
        name = str(pairs.names[pairs.labels[first]])
        raise pairs.table.error(
            f"category {name!r} is not in the hierarchy file; expected a node of the hierarchy",
            int(pairs.rows[first]),
        )
    return nodes


# --------------------------------------------------------------------------- assignment


@dataclass(frozen=True)
class CategoryAssignment:
    """Item categories ready for the dataset.

    Attributes:
        matrix: ``[num_items, num_categories]`` binary CSR.
        names: ``[num_categories]`` category names.
        top_level: ``[num_categories]`` top-level ancestor ids (hierarchy only).
        side_nodes, side_edges: kept hierarchy levels and category edges.
    """

    matrix: sp.csr_matrix
    names: np.ndarray
    top_level: np.ndarray | None
    side_nodes: dict[str, np.ndarray]
    side_edges: dict[str, sp.csr_matrix]


def _level(level: int | str, hierarchy: Hierarchy) -> int | str:
    if isinstance(level, str) and level in LEVELS:
        return level
    if isinstance(level, bool) or not isinstance(level, int) or level < 0:
        raise ConfigError(
            f"dataset.categories.hierarchy.level must be a depth (0 = top) or one of "
            f"{', '.join(LEVELS)}, got {level!r}"
        )
    return level


def assign_categories(
    pairs: ItemLabels,
    num_items: int,
    missing: str = UNKNOWN,
    hierarchy: Hierarchy | None = None,
    level: int | str = "leaf",
    keep_levels: bool = False,
    category_edges: tuple[str, ...] = (),
) -> CategoryAssignment:
    """Turn (item, label) pairs of the final items into the category matrix.

    Args:
        pairs: pairs whose ``items`` are final contiguous item ids.
        missing: ``unknown`` gives items without a label the category
            ``unknown``; ``keep`` leaves their row empty (``drop`` was applied
            before, by removing their interactions).
        hierarchy: the category forest; labels must be its nodes.
        level: with a hierarchy, the depth used as category (0 = top level;
            a label shallower than the level stays itself, so a level below
            the deepest one is ``leaf``), ``leaf`` (each
            item's own labels) or ``all`` (labels and all their ancestors).
        keep_levels: with a depth ``level``, keep every other depth ``d`` as
            node type ``category_l<d>`` with ``item→category_l<d>``
            ``belongs_to`` edges and ``child_of`` edges between
            consecutive levels.
        category_edges: ``hierarchy`` adds ``category→category`` ``child_of``
            edges (a category to its nearest ancestor that is a category);
            ``siblings`` links categories with the same parent.
    """
    items = pairs.items
    side_nodes: dict[str, np.ndarray] = {}
    side_edges: dict[str, sp.csr_matrix] = {}
    top_level = None
    if hierarchy is None:
        if keep_levels or category_edges:
            raise ConfigError(
                "dataset.category_edges and hierarchy.keep_levels need categories.hierarchy"
            )
        nodes = pairs.labels
        node_names = pairs.names
    else:
        level = _level(level, hierarchy)
        label_nodes = hierarchy_nodes(pairs, hierarchy)
        leaf = label_nodes[pairs.labels]
        if level == "all":
            chain_nodes, chain_items = [leaf], [items]
            cur, owner = leaf, items
            for _ in range(hierarchy.max_depth):
                up = hierarchy.parents[cur]
                cur, owner = up[up >= 0], owner[up >= 0]
                chain_nodes.append(cur)
                chain_items.append(owner)
            nodes, items = np.concatenate(chain_nodes), np.concatenate(chain_items)
        elif level == "leaf":
            nodes = leaf
        else:
            nodes = hierarchy.ancestor(leaf, int(level))
        node_names = hierarchy.names
    has = np.zeros(num_items, dtype=bool)
    has[items] = True
    used_nodes = np.unique(nodes)
    names = node_names[used_nodes].astype(str)
    cats = np.searchsorted(used_nodes, nodes)
    if missing not in ("unknown", "keep", "drop"):
        raise ConfigError(
            f"dataset.categories.missing must be unknown, keep or drop, got {missing!r}"
        )
    lonely = np.flatnonzero(~has)
    if len(lonely) and missing == UNKNOWN:
        # ``unknown`` may already be a label (ml-100k has it): reuse that category.
        pos = int(np.searchsorted(names, UNKNOWN))
        if pos == len(names) or names[pos] != UNKNOWN:
            names = np.array([*names[:pos], UNKNOWN, *names[pos:]], dtype=str)
            cats = cats + (cats >= pos)
            used_nodes = np.insert(used_nodes, pos, -1)
        items = np.concatenate([items, lonely])
        cats = np.concatenate([cats, np.full(len(lonely), pos)])
    matrix = binary_csr(items, cats, (num_items, len(names)))
    if hierarchy is not None:
        top_nodes = np.where(used_nodes >= 0, hierarchy.top(np.maximum(used_nodes, 0)), -1)
        top_names = np.where(top_nodes >= 0, hierarchy.names[np.maximum(top_nodes, 0)], UNKNOWN)
        _, top_level = np.unique(top_names, return_inverse=True)
        top_level = top_level.astype(np.int64)
        if keep_levels:
            if not isinstance(level, int):
                raise ConfigError(
                    "dataset.categories.hierarchy.keep_levels needs a depth as level, "
                    f"got {level!r}"
                )
            _keep_levels(
                hierarchy,
                pairs.items,
                leaf,
                int(level),
                used_nodes,
                num_items,
                side_nodes,
                side_edges,
            )
        _category_edges(hierarchy, used_nodes, category_edges, side_edges)
    return CategoryAssignment(matrix, names, top_level, side_nodes, side_edges)


def _positions(nodes: np.ndarray, size: int) -> np.ndarray:
    """``[size]`` position of each hierarchy node in ``nodes`` (-1 where absent)."""
    out = np.full(size, -1, dtype=np.int64)
    real = nodes >= 0
    out[nodes[real]] = np.flatnonzero(real)
    return out


def _keep_levels(
    hierarchy: Hierarchy,
    items: np.ndarray,
    leaf: np.ndarray,
    level: int,
    used_nodes: np.ndarray,
    num_items: int,
    side_nodes: dict[str, np.ndarray],
    side_edges: dict[str, sp.csr_matrix],
) -> None:
    """Every depth other than ``level`` as node type ``category_l<d>``."""
    size = len(hierarchy.names)
    node_type: dict[int, str] = {}
    members: dict[int, np.ndarray] = {}
    for depth in range(hierarchy.max_depth + 1):
        if depth == level:
            node_type[depth], members[depth] = "category", used_nodes
            continue
        deep = hierarchy.depth[leaf] >= depth
        at = hierarchy.ancestor(leaf[deep], depth)
        nodes = np.unique(at)
        node_type[depth], members[depth] = f"category_l{depth}", nodes
        side_nodes[node_type[depth]] = hierarchy.names[nodes].astype(str)
        side_edges[edge_key("item", "belongs_to", node_type[depth])] = binary_csr(
            items[deep], np.searchsorted(nodes, at), (num_items, len(nodes))
        )
    for depth in range(1, hierarchy.max_depth + 1):
        child_pos = _positions(members[depth], size)
        parent_pos = _positions(members[depth - 1], size)
        child = members[depth][members[depth] >= 0]
        child = child[hierarchy.depth[child] == depth]
        rows, cols = child_pos[child], parent_pos[hierarchy.parents[child]]
        known = cols >= 0
        shape = (len(members[depth]), len(members[depth - 1]))
        key = edge_key(node_type[depth], "child_of", node_type[depth - 1])
        side_edges[key] = binary_csr(rows[known], cols[known], shape)


def _category_edges(
    hierarchy: Hierarchy,
    used_nodes: np.ndarray,
    kinds: tuple[str, ...],
    side_edges: dict[str, sp.csr_matrix],
) -> None:
    """Category–category edges from the hierarchy (see :func:`assign_categories`)."""
    n = len(used_nodes)
    real = used_nodes >= 0
    if "hierarchy" in kinds:
        is_category = np.zeros(len(hierarchy.names), dtype=bool)
        is_category[used_nodes[real]] = True
        position = _positions(used_nodes, len(hierarchy.names))
        start = np.flatnonzero(real)
        cur = hierarchy.parents[used_nodes[real]]
        child = start
        rows, cols = [], []
        for _ in range(hierarchy.max_depth):
            alive = cur >= 0
            cur, child = cur[alive], child[alive]
            hit = is_category[cur]
            rows.append(child[hit])
            cols.append(position[cur[hit]])
            cur, child = hierarchy.parents[cur[~hit]], child[~hit]
        r = np.concatenate(rows) if rows else np.zeros(0, np.int64)
        c = np.concatenate(cols) if cols else np.zeros(0, np.int64)
        side_edges[edge_key("category", "child_of", "category")] = binary_csr(r, c, (n, n))
    if "siblings" in kinds:
        parent = np.where(real, hierarchy.parents[np.maximum(used_nodes, 0)], -1)
        has = parent >= 0
        groups = binary_csr(np.flatnonzero(has), parent[has], (n, len(hierarchy.names)))
        same = (groups @ groups.T).tocsr()
        same.setdiag(0)
        same.eliminate_zeros()
        side_edges[edge_key("category", "sibling_of", "category")] = binary_csr(
            *cast("tuple[np.ndarray, np.ndarray]", same.nonzero()), (n, n)
        )


def category_cooccurrence(
    user_items: sp.csr_matrix, item_categories: sp.csr_matrix, min_users: int
) -> sp.csr_matrix:
    """``[C, C]`` binary: categories that at least ``min_users`` users both interacted with.

    Computed from the interactions given (the graph builder passes TRAIN
    only), so no test interaction shapes the graph. The diagonal is empty.
    """
    if min_users < 1:
        raise ConfigError(f"category_cooccurrence must be at least 1, got {min_users}")
    user_cats = (user_items @ item_categories).tocsr()
    user_cats.data[:] = 1.0
    counts = (user_cats.T @ user_cats).tocsr()
    counts.setdiag(0)
    counts.data[counts.data < min_users] = 0
    counts.eliminate_zeros()
    counts.data[:] = 1.0
    counts.sort_indices()
    return counts.astype(np.float32)
