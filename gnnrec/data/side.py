"""Side relations: knowledge-graph triples and user/item attributes as graph node and edge types.

Side relations are static facts about users and items (never interactions),
so they may enter the training graph whole. They become extra node types
(``entity``, one per attribute) and edge types ``src__relation__dst`` of the
dataset's ``side_nodes`` / ``side_edges`` (see :mod:`gnnrec.data.dataset`).
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import scipy.sparse as sp

from gnnrec.data.dataset import BASE_NODE_TYPES, edge_key, type_name
from gnnrec.data.readers import Table, factorise, id_text, label_text, lookup_codes, to_float
from gnnrec.data.sparse import binary_csr
from gnnrec.errors import ConfigError

ENTITY = "entity"
"""Node type of knowledge-graph entities that are not items."""


@dataclass
class SideRelations:
    """Side node types and edge types collected from several sources."""

    nodes: dict[str, np.ndarray] = field(default_factory=dict)
    edges: dict[str, sp.csr_matrix] = field(default_factory=dict)

    def add_nodes(self, node_type: str, names: np.ndarray, source: str) -> None:
        if node_type in BASE_NODE_TYPES or node_type in self.nodes:
            raise ConfigError(
                f"{source}: node type '{node_type}' is already used; rename the column"
            )
        self.nodes[node_type] = names

    def add_edges(self, key: str, matrix: sp.csr_matrix) -> None:
        self.edges[key] = matrix

    def merge(self, other: SideRelations, source: str) -> None:
        for node_type, names in other.nodes.items():
            self.add_nodes(node_type, names, source)
        self.edges.update(other.edges)


def _first_repeat(codes: np.ndarray) -> tuple[int, int] | None:
    """``(earlier_row, row)`` of the first repeated code in file order, or None."""
    order = np.argsort(codes, kind="stable")
    same = np.flatnonzero(codes[order[1:]] == codes[order[:-1]])
    if not len(same):
        return None
    at = int(np.argmin(order[same + 1]))
    return int(order[same[at]]), int(order[same[at] + 1])


def _reject_repeats(table: Table, column: str, repeated: str, expected: str) -> None:
    """Raise a located error at the first id of ``column`` that repeats an earlier row.

    The message reads ``<repeated with the raw id> (first on <earlier row>);
    expected <expected>``; ``repeated`` holds ``{raw}`` for the id.
    """
    repeat = _first_repeat(factorise(id_text(table, column))[0])
    if repeat is None:
        return
    earlier, row = repeat
    raw = str(table.column(column)[row].as_py()).strip()
    raise table.error(
        f"{repeated.format(raw=repr(raw))} (first on {table.where(earlier)}); expected {expected}",
        row,
        column,
    )


@dataclass(frozen=True)
class KnowledgeGraph:
    """What was read from a KG and its link file, for logs and tests."""

    relations: SideRelations
    triples: int
    relation_names: np.ndarray
    linked_items: int


def read_knowledge_graph(
    triples: Table,
    link: Table,
    item_ids: np.ndarray,
    head_column: str = "head_id",
    relation_column: str = "relation_id",
    tail_column: str = "tail_id",
    item_column: str = "item_id",
    entity_column: str = "entity_id",
    relations: Sequence[str] | None = None,
) -> KnowledgeGraph:
    """Knowledge-graph triples ``head relation tail`` with an item→entity link file.

    An entity linked to a dataset item *is* that item (as in KGAT and
    RecBole's KG models); the other entities become nodes of type
    ``entity``. Relation ``r`` gives up to four edge types,
    ``(item|entity, r, item|entity)``, with ``r`` folded to a type name
    (``film.film.actor`` → ``film_film_actor``); the graph builder adds the
    reverses.

    Args:
        item_ids: final raw item ids of the dataset; link rows for other items
            (filtered out or unknown) are ignored, their entities stay entities.
        relations: the relations to keep (raw names); None keeps all.

    Raises:
        DataError: an item linked to two entities or an entity to two items.
        ConfigError: a listed relation the KG does not have.
    """
    entity_codes, entity_names = factorise(
        pa.concat_arrays([id_text(triples, head_column), id_text(triples, tail_column)])
    )
    n = triples.num_rows
    heads, tails = entity_codes[:n], entity_codes[n:]
    rel_codes, rel_names = factorise(label_text(triples, relation_column))
    keep = np.ones(n, dtype=bool)
    if relations is not None:
        wanted = [str(r) for r in relations]
        absent = sorted(set(wanted) - set(map(str, rel_names)))
        if absent:
            shown = ", ".join(map(str, rel_names[:30])) + (" ..." if len(rel_names) > 30 else "")
            raise ConfigError(
                f"dataset.kg.relations names {', '.join(absent)}, which the KG "
                f"{triples.path} does not have; it has: {shown}"
            )
        keep = np.isin(rel_codes, np.flatnonzero(np.isin(rel_names, wanted)))

    link_items = lookup_codes(link, item_column, item_ids)
    link_entities = lookup_codes(link, entity_column, entity_names)
    for column, what, other in (
        (item_column, "item", "entities"),
        (entity_column, "entity", "items"),
    ):
        _reject_repeats(
            link,
            column,
            f"{what} {{raw}} is linked twice",
            f"each {what} linked to one of the {other}",
        )
    linked = (link_items >= 0) & (link_entities >= 0)
    entity_item = np.full(len(entity_names), -1, dtype=np.int64)
    entity_item[link_entities[linked]] = link_items[linked]

    heads, tails, rel_codes = heads[keep], tails[keep], rel_codes[keep]
    head_item, tail_item = entity_item[heads], entity_item[tails]
    plain = np.unique(np.concatenate([heads[head_item < 0], tails[tail_item < 0]]))
    entity_pos = np.full(len(entity_names), -1, dtype=np.int64)
    entity_pos[plain] = np.arange(len(plain))
    side = SideRelations()
    side.add_nodes(ENTITY, entity_names[plain].astype(str), "dataset.kg")
    src = np.where(head_item >= 0, head_item, entity_pos[heads])
    dst = np.where(tail_item >= 0, tail_item, entity_pos[tails])
    group = rel_codes * 4 + 2 * (head_item >= 0) + (tail_item >= 0)
    order = np.argsort(group, kind="stable")
    starts: np.ndarray | list[int] = (
        np.flatnonzero(np.r_[True, group[order][1:] != group[order][:-1]]) if n else []
    )
    bounds = np.r_[starts, len(order)]
    type_of = {True: "item", False: ENTITY}
    sizes = {"item": len(item_ids), ENTITY: len(plain)}
    relation_types = _relation_type_names(rel_names)
    for begin, end in itertools.pairwise(bounds):
        part = order[begin:end]
        g = int(group[part[0]])
        s_type, d_type = type_of[bool(g & 2)], type_of[bool(g & 1)]
        key = edge_key(s_type, relation_types[g // 4], d_type)
        side.add_edges(key, binary_csr(src[part], dst[part], (sizes[s_type], sizes[d_type])))
    return KnowledgeGraph(
        side,
        triples=int(keep.sum()),
        relation_names=rel_names[np.unique(rel_codes)].astype(str),
        linked_items=len(np.unique(link_items[linked])),
    )


def _relation_type_names(names: np.ndarray) -> list[str]:
    """Type names of relations, made unique when folding maps two names to one."""
    out: list[str] = []
    seen: dict[str, int] = {}
    for name in names:
        base = type_name(str(name))
        seen[base] = seen.get(base, 0) + 1
        out.append(base if seen[base] == 1 else f"{base}_{seen[base]}")
    return out


def bucket_names(edges: Sequence[float], column: str) -> np.ndarray:
    """Names of the buckets ``np.digitize`` makes from sorted ``edges``:
    ``<e0``, ``[e0,e1)``, ..., ``>=ek``."""
    fmt = [f"{e:g}" for e in edges]
    inner = [f"[{a},{b})" for a, b in itertools.pairwise(fmt)]
    return np.array([f"<{fmt[0]}", *inner, f">={fmt[-1]}"])


def read_attributes(
    table: Table,
    kind: str,
    ids: np.ndarray,
    id_column: str,
    columns: Sequence[str],
    buckets: Mapping[str, Sequence[float]] | None = None,
) -> SideRelations:
    """User (or item) attributes as node types: ``occupation``, ``age`` buckets, ...

    Each attribute column becomes a node type named after the column, with
    one node per distinct value and edges ``kind → has_<column> → column``.
    Columns in ``buckets`` are numbers cut at the given edges (e.g. age at
    ``[18, 25, 35, 45, 50, 56]``). Rows of ids the dataset does not have
    (filtered out) are ignored; empty values give no edge.

    Raises:
        DataError: an id listed twice, an unparsable bucketed number.
        ConfigError: an attribute whose name is an existing node type.
    """
    buckets = dict(buckets or {})
    where = f"dataset.{kind}_attributes"
    for name in buckets:
        if name not in columns:
            raise ConfigError(f"{where}.buckets.{name} is not one of the columns {list(columns)}")
    codes = lookup_codes(table, id_column, ids)
    _reject_repeats(table, id_column, f"{kind} {{raw}} is listed twice", f"one row per {kind}")
    known = codes >= 0
    side = SideRelations()
    for column in columns:
        node_type = type_name(column)
        if column in buckets:
            edges = sorted(float(e) for e in buckets[column])
            if not edges:
                raise ConfigError(f"{where}.buckets.{column} needs at least one edge")
            values = np.digitize(to_float(table, column, "a number to bucket"), edges)
            names = bucket_names(edges, column)
            present = np.ones(len(values), dtype=bool)
        else:
            values, names = factorise(label_text(table, column))
            present = names[values] != ""
        use = known & present
        used = np.unique(values[use])
        pos = np.full(len(names), -1, dtype=np.int64)
        pos[used] = np.arange(len(used))
        side.add_nodes(node_type, names[used].astype(str), where)
        side.add_edges(
            edge_key(kind, f"has_{node_type}", node_type),
            binary_csr(codes[use], pos[values[use]], (len(ids), len(used))),
        )
    return side
