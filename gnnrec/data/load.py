"""Build an :class:`InteractionDataset` from files described by configuration.

``conf/dataset/*.yaml`` instantiate :func:`load_dataset`; every key is
documented in ``docs/data.md``. The pipeline, each step logged with its
before/after counts:

1. read the interaction file(s) (any :data:`~gnnrec.data.readers.FORMATS`);
2. rating threshold (``min_rating``) and event-type weights (``behavior_weights``);
3. sort by (user, timestamp, file row) and drop repeated pairs (``dedup``);
4. items without category (``categories.missing: drop``);
5. k-core filtering (``kcore``);
6. contiguous re-indexing (raw ids kept in ``user_ids`` / ``item_ids``);
7. item categories (labels, hierarchy level), side relations (KG, attributes,
   category edges), item text (``item_text``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import scipy.sparse as sp

from gnnrec.data.categories import (
    UNKNOWN,
    assign_categories,
    hierarchy_nodes,
    items_with_labels,
    read_hierarchy,
    read_item_labels,
    read_path_labels,
)
from gnnrec.data.dataset import InteractionDataset
from gnnrec.data.preprocess import (
    Interactions,
    PreprocessLog,
    deduplicate,
    drop_items,
    filter_rating,
    kcore_filter,
    keep_domains,
    reindex,
    sort_interactions,
    weight_behaviors,
)
from gnnrec.data.readers import (
    FORMATS,
    Table,
    factorise,
    id_text,
    label_text,
    lookup_codes,
    read_table,
    to_float,
    to_timestamps,
)
from gnnrec.data.side import SideRelations, read_attributes, read_knowledge_graph
from gnnrec.errors import ConfigError, DataError

BUNDLED = ("ml-100k",)

COLUMNS = ("user", "item", "timestamp", "rating", "behavior", "weight", "domain")
"""Interaction columns a config can map (``user`` and ``item`` are required)."""

_FILE_KEYS = {"file", "format", "sep", "header", "names", "atomic", "quote", "encoding"}
_KEYS = {
    "interactions": _FILE_KEYS
    | {"files", "files_as", "shared_item_ids", "columns", "timestamp_format"},
    "categories": _FILE_KEYS
    | {"item_column", "category_column", "label_sep", "missing", "unknown_items", "hierarchy"},
    "categories.hierarchy": _FILE_KEYS
    | {"path", "child_column", "parent_column", "level", "keep_levels"},
    "kg": _FILE_KEYS | {"head_column", "relation_column", "tail_column", "relations", "link"},
    "kg.link": _FILE_KEYS | {"item_column", "entity_column"},
    "user_attributes": _FILE_KEYS | {"id_column", "columns", "buckets"},
    "item_attributes": _FILE_KEYS | {"id_column", "columns", "buckets"},
    "item_text": _FILE_KEYS | {"item_column", "columns", "separator", "categories"},
}
_SUFFIX_FORMATS = {
    ".parquet": "parquet",
    ".pq": "parquet",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "jsonl",
    ".tsv": "tsv",
    ".inter": "atomic",
    ".item": "atomic",
    ".user": "atomic",
    ".kg": "atomic",
    ".link": "atomic",
}
CATEGORY_EDGES = ("hierarchy", "siblings")


def bundled_root(name: str) -> Path:
    """Folder of a dataset shipped inside the package."""
    if name not in BUNDLED:
        raise ConfigError(f"no bundled dataset '{name}'; bundled: {', '.join(BUNDLED)}")
    return Path(str(resources.files("gnnrec.data.bundled") / name))


def dataset_folder(name: str, root: str | Path | None) -> Path:
    """The folder a config reads from: ``root`` (relative to the working
    directory, ``~`` expanded) or, when None, the bundled copy of ``name``."""
    return bundled_root(name) if root is None else Path(root).expanduser()


def _spec(value: Any, where: str) -> dict[str, Any]:
    """A config section as a dict, rejecting unknown keys (typos fail loudly)."""
    if not isinstance(value, Mapping):
        raise ConfigError(f"dataset.{where} must be a mapping, got {value!r}")
    spec = dict(value)
    unknown = sorted(set(spec) - _KEYS[where])
    if unknown:
        raise ConfigError(
            f"dataset.{where} has unknown key(s) {', '.join(unknown)}; "
            f"expected some of: {', '.join(sorted(_KEYS[where]))}"
        )
    return spec


def _format(spec: Mapping[str, Any], file: str, where: str) -> str:
    if spec.get("format"):
        fmt = str(spec["format"])
        if fmt not in FORMATS:
            raise ConfigError(
                f"dataset.{where}.format must be one of {', '.join(FORMATS)}, got {fmt!r}"
            )
        return fmt
    if spec.get("atomic"):
        return "atomic"
    suffixes = Path(file).suffixes
    suffix = suffixes[-2] if len(suffixes) > 1 and suffixes[-1] == ".gz" else Path(file).suffix
    return _SUFFIX_FORMATS.get(suffix.lower(), "csv")


def _path(folder: Path, file: Any, where: str) -> Path:
    if not isinstance(file, str | Path) or not str(file):
        raise ConfigError(f"dataset.{where} needs 'file' (a path relative to dataset.root)")
    return folder / str(file)


def _read(
    folder: Path, spec: Mapping[str, Any], file: Any, where: str, columns: Sequence[str], what: str
) -> Table:
    path = _path(folder, file, where)
    if not path.exists():
        raise DataError(
            f"file not found; looked for '{file}' in {folder} "
            "(set dataset.root to the folder that holds it)",
            path,
        )
    names = spec.get("names")
    return read_table(
        path,
        format=_format(spec, str(file), where),
        sep=spec.get("sep"),
        header=bool(spec.get("header", True)),
        names=None if names is None else [str(n) for n in names],
        columns=[c for c in dict.fromkeys(columns) if c],
        what=what,
        quote=spec.get("quote"),
        encoding=str(spec.get("encoding", "utf-8")),
    )


def _interaction_files(spec: Mapping[str, Any]) -> dict[str, Any]:
    """``{label: file}``: one unlabelled file, or labelled files (``files``)."""
    if spec.get("files") is not None:
        if spec.get("file") is not None:
            raise ConfigError("dataset.interactions takes 'file' or 'files', not both")
        files = spec["files"]
        if not isinstance(files, Mapping) or not files:
            raise ConfigError(
                "dataset.interactions.files must map labels to files, "
                "e.g. {train: train.txt, test: test.txt}"
            )
        return {str(k): v for k, v in files.items()}
    if spec.get("file") is None:
        raise ConfigError("dataset.interactions needs 'file' (or 'files')")
    return {"": spec["file"]}


FILE_ROLES = ("split", "domain", "behavior")


def _file_roles(
    spec: Mapping[str, Any], files: Mapping[str, Any]
) -> tuple[list[str], list[list[str]]]:
    """What the labels of ``files`` mean (``files_as``: ``split``, ``domain``,
    ``behavior``, or several as e.g. ``[domain, split]`` with keys
    ``<domain>/<part>``) and each file's label per role."""
    files_as = spec.get("files_as", "split")
    roles = _file_roles_of(spec)
    if not roles or any(r not in FILE_ROLES for r in roles) or len(set(roles)) < len(roles):
        raise ConfigError(
            "dataset.interactions.files_as must be split, domain, behavior or a list of "
            "them (e.g. [domain, split] with files keyed <domain>/<part>, [behavior, split] "
            f"with files keyed <behavior>/<part>), got {files_as!r}"
        )
    keys = list(files)
    if keys == [""]:  # one unlabelled file (``file:``): nothing to label
        return roles, [[""] for _ in roles]
    parts = [k.split("/") if len(roles) > 1 else [k] for k in keys]
    for key, part in zip(keys, parts, strict=True):
        if len(part) != len(roles) or not all(part):
            raise ConfigError(
                f"dataset.interactions.files: key {key!r} must name the "
                f"{' and the '.join(roles)} as {'/'.join(f'<{r}>' for r in roles)} "
                f"(files_as: {roles})"
            )
    return roles, [[p[i] for p in parts] for i in range(len(roles))]


def dataset_files(
    name: str,
    interactions: Mapping[str, Any],
    categories: Mapping[str, Any] | None = None,
    root: str | Path | None = None,
    kg: Mapping[str, Any] | None = None,
    user_attributes: Mapping[str, Any] | None = None,
    item_attributes: Mapping[str, Any] | None = None,
    item_text: Mapping[str, Any] | None = None,
    **_options: Any,
) -> list[Path]:
    """The raw files a dataset config reads, in a stable order (for cache keys).

    Takes the same arguments as :func:`load_dataset` (preprocessing options
    are accepted and ignored). The files need not exist.
    """
    folder = dataset_folder(name, root)
    paths = [folder / str(f) for f in _interaction_files(interactions).values()]
    if categories:
        if categories.get("file"):
            paths.append(folder / str(categories["file"]))
        hierarchy = categories.get("hierarchy")
        if hierarchy and hierarchy.get("file"):
            paths.append(folder / str(hierarchy["file"]))
    if kg:
        paths.append(folder / str(kg["file"]))
        if kg.get("link"):
            paths.append(folder / str(kg["link"]["file"]))
    for attributes in (user_attributes, item_attributes):
        if attributes:
            paths.append(folder / str(attributes["file"]))
    if item_text and item_text.get("file") is not None:
        paths.append(folder / str(item_text["file"]))
    return list(dict.fromkeys(paths))


def _category_edges(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    kinds = [value] if isinstance(value, str) else list(value)
    for kind in kinds:
        if kind not in CATEGORY_EDGES:
            raise ConfigError(
                f"dataset.category_edges entries must be {' or '.join(CATEGORY_EDGES)}, "
                f"got {kind!r} (co-occurrence edges come from the training split: set "
                "model.graph.category_cooccurrence)"
            )
    return tuple(kinds)


def _file_roles_of(spec: Mapping[str, Any]) -> list[str]:
    """The roles ``files_as`` names (unchecked; :func:`_file_roles` checks them)."""
    files_as = spec.get("files_as", "split")
    return [files_as] if isinstance(files_as, str) else list(files_as or [])


def _dedup_per(value: Any, spec: Mapping[str, Any]) -> tuple[str, ...]:
    if value is None:
        return ("behavior",) if "behavior" in _file_roles_of(spec) else ()
    columns = [value] if isinstance(value, str) else list(value)
    for column in columns:
        if column not in ("behavior", "domain"):
            raise ConfigError(
                f"dataset.dedup_per entries must be behavior or domain, got {column!r}"
            )
    return tuple(columns)


def _kcore(value: Any) -> tuple[int, int] | None:
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        return value, value
    if isinstance(value, Mapping) and set(value) <= {"user", "item"}:
        return int(value.get("user", 0)), int(value.get("item", 0))
    raise ConfigError(f"dataset.kcore must be a number or {{user: k, item: k}}, got {value!r}")


def _read_log(
    folder: Path, spec: dict[str, Any], columns: dict[str, str], extra: Sequence[str]
) -> tuple[Interactions, list[Table]]:
    """Read every interaction file and factorise ids jointly."""
    files = _interaction_files(spec)
    roles, file_labels = _file_roles(spec, files)
    for role in ("domain", "behavior"):
        if role in roles and columns.get(role):
            raise ConfigError(
                f"dataset.interactions: files_as: {role} and columns.{role} both set; "
                f"name each interaction's {role} one way"
            )
    wanted = [columns[k] for k in COLUMNS if columns.get(k)] + list(extra)
    tables = [
        _read(folder, spec, file, "interactions", wanted, "interactions") for file in files.values()
    ]
    sizes = np.array([t.num_rows for t in tables], dtype=np.int64)
    user_codes, user_ids = factorise(
        pa.concat_arrays([id_text(t, columns["user"]) for t in tables])
    )
    item_text = [id_text(t, columns["item"]) for t in tables]
    if "domain" in roles and not spec.get("shared_item_ids", False):
        # shops number their catalogues independently: item 5 of one is not item 5 of another
        domains = file_labels[roles.index("domain")]
        item_text = [
            pc.binary_join_element_wise(pa.scalar(domain), ids, ":")
            for domain, ids in zip(domains, item_text, strict=True)
        ]
    item_codes, item_ids = factorise(pa.concat_arrays(item_text))
    rows = np.arange(int(sizes.sum()), dtype=np.int64)
    if columns.get("timestamp"):
        fmt = spec.get("timestamp_format")
        timestamps = np.concatenate([to_timestamps(t, columns["timestamp"], fmt) for t in tables])
    else:
        timestamps = rows.astype(np.float64)
    if columns.get("weight"):
        weights = np.concatenate([to_float(t, columns["weight"], "a weight") for t in tables])
        weights = weights.astype(np.float32)
    else:
        weights = np.ones(len(rows), dtype=np.float32)
    extras: dict[str, np.ndarray] = {}
    labels: dict[str, np.ndarray] = {}
    if columns.get("rating"):
        extras["rating"] = np.concatenate(
            [to_float(t, columns["rating"], "a numeric rating") for t in tables]
        )
    for key in ("behavior", "domain"):
        if columns.get(key):
            text = pa.concat_arrays([label_text(t, columns[key]) for t in tables])
            extras[key], labels[key] = factorise(text)
    if len(files) > 1 or next(iter(files)):
        for role, per_file in zip(roles, file_labels, strict=True):
            names = list(dict.fromkeys(per_file))
            extras[role] = np.repeat([names.index(x) for x in per_file], sizes)
            labels[role] = np.array(names, dtype=str)
    log = Interactions(
        users=user_codes,
        items=item_codes,
        timestamps=timestamps,
        weights=weights,
        rows=rows,
        user_ids=user_ids,
        item_ids=item_ids,
        extras=extras,
        labels=labels,
    )
    return log, tables


def load_dataset(
    name: str,
    interactions: Mapping[str, Any],
    categories: Mapping[str, Any] | None = None,
    root: str | Path | None = None,
    min_rating: float | None = None,
    dedup: str = "first",
    dedup_per: str | Sequence[str] | None = None,
    behavior_weights: Mapping[str, float] | None = None,
    domains: Sequence[str] | None = None,
    kcore: int | Mapping[str, int] | None = None,
    kg: Mapping[str, Any] | None = None,
    user_attributes: Mapping[str, Any] | None = None,
    item_attributes: Mapping[str, Any] | None = None,
    category_edges: Sequence[str] | str | None = None,
    item_text: Mapping[str, Any] | None = None,
) -> InteractionDataset:
    """Read an interaction log, its item categories and side relations into a dataset.

    Args:
        name: dataset name; also selects the bundled copy when ``root`` is None.
        interactions: ``file`` (or ``files``: label → file, e.g. a predefined
            ``{train: train.txt, test: test.txt}`` split, labels kept in
            ``extras[files_as]``, ``files_as`` being ``split``, ``domain``,
            ``behavior`` or a list of them with keys ``<a>/<b>``),
            ``format``, ``sep``, ``header``, ``names``, ``timestamp_format``
            and ``columns`` (``user``, ``item``, optional ``timestamp``,
            ``rating``, ``behavior``, ``weight``, ``domain`` → column names).
        categories: a category ``file`` (or none: ``category_column`` of the
            interaction file), ``item_column``, ``category_column``,
            ``label_sep`` (multi-label separator), ``missing`` (``unknown``,
            ``keep`` or ``drop`` items without category), ``unknown_items``
            (``error`` or ``ignore`` category rows of items not in the log) and
            ``hierarchy`` (``file``, ``child_column``, ``parent_column``,
            ``level``: depth, ``leaf`` or ``all``, ``keep_levels``).
        root: folder holding the files; None uses the bundled copy of ``name``.
        min_rating: keep interactions with ``rating >= min_rating``.
        dedup: repeated (user, item) pairs: ``first``, ``last``, ``count``,
            ``sum`` or ``max`` (see :func:`gnnrec.data.preprocess.deduplicate`).
        dedup_per: columns (``behavior``, ``domain``) whose values tell
            repeated pairs apart, so that a cart and a buy of one pair are
            both kept; ``[]`` merges every repeat of a pair. None (default):
            ``[behavior]`` when the behaviours come from the files
            (``files_as`` holds ``behavior``), else ``[]``.
        behavior_weights: event type → weight; other types are dropped.
        domains: keep only these domains' (shops') interactions, e.g.
            ``[sport]``: one shop of a multi-shop log, the others' items
            leaving the catalogue (the single-shop baseline).
        kcore: minimum interactions per user and item (a number, or
            ``{user: k, item: k}``), applied until nothing changes.
        kg: knowledge graph: ``file``, ``head_column``, ``relation_column``,
            ``tail_column``, ``relations`` (None: all) and ``link`` (``file``,
            ``item_column``, ``entity_column``).
        user_attributes, item_attributes: ``file``, ``id_column``,
            ``columns`` and ``buckets`` (column → bucket edges).
        category_edges: ``hierarchy`` and/or ``siblings`` category–category
            edges (needs ``categories.hierarchy``).
        item_text: a text per item (``InteractionDataset.item_text``):
            ``file`` with ``item_column`` and the text ``columns`` (joined by
            ``separator``, default ``". "``, empty values skipped) and/or
            ``categories: true`` (append the item's category names, joined by
            ``", "``); items absent from the file get ``""`` (or their
            category names).

    Raises:
        DataError: a missing file or column, an unparsable value, an
            inconsistent category, hierarchy, KG or attribute file.
        ConfigError: an unknown or inconsistent option.
    """
    folder = dataset_folder(name, root)
    spec = _spec(interactions, "interactions")
    if not folder.is_dir():
        wanted = ", ".join(str(f) for f in _interaction_files(spec).values())
        raise DataError(
            f"dataset folder not found; looked there for {wanted} (set dataset.root, or "
            "GNNREC_SHARED_DATA for the shared datasets)",
            folder,
        )
    columns = {str(k): v for k, v in dict(spec.get("columns") or {}).items()}
    if _format(spec, str(next(iter(_interaction_files(spec).values()))), "interactions") == (
        "lightgcn"
    ):
        columns = {"user": "user", "item": "item", **columns}
    unknown = sorted(set(columns) - set(COLUMNS))
    if unknown:
        raise ConfigError(
            f"dataset.interactions.columns has unknown key(s) {', '.join(unknown)}; "
            f"expected some of: {', '.join(COLUMNS)}"
        )
    for required in ("user", "item"):
        if not columns.get(required):
            raise ConfigError(f"dataset.interactions.columns needs '{required}'")
    if min_rating is not None and not columns.get("rating"):
        raise ConfigError("dataset.min_rating is set but no rating column is mapped")
    if min_rating is not None and (
        isinstance(min_rating, bool) or not isinstance(min_rating, int | float)
    ):
        raise ConfigError(f"dataset.min_rating must be a number or null, got {min_rating!r}")
    if behavior_weights is not None and not (
        columns.get("behavior") or "behavior" in _file_roles_of(spec)
    ):
        raise ConfigError(
            "dataset.behavior_weights is set but the log has no behaviours (map "
            "interactions.columns.behavior or use files_as: behavior)"
        )
    core = _kcore(kcore)
    edge_kinds = _category_edges(category_edges)
    cat_spec = _spec(categories, "categories") if categories else None
    cat_in_log = cat_spec is not None and not cat_spec.get("file")
    category_column = str(cat_spec.get("category_column", "category")) if cat_spec else ""
    if cat_in_log and len(_interaction_files(spec)) > 1:
        raise ConfigError("categories from an interaction column need a single interaction file")

    x, tables = _read_log(folder, spec, columns, [category_column] if cat_in_log else [])
    report = PreprocessLog()
    report.note(f"read {', '.join(str(t.path.name) for t in tables)}: {x.counts()}")
    if min_rating is not None:
        x = filter_rating(x, x.extras["rating"], float(min_rating), report)
        if not len(x.users):
            raise DataError("no interaction is left after the rating threshold", tables[0].path)
    if behavior_weights is not None:
        x = weight_behaviors(x, dict(behavior_weights), report)
        if not len(x.users):
            raise DataError("no interaction is left after the behavior weights", tables[0].path)
    if domains is not None:
        x = keep_domains(x, domains, report)
    x = sort_interactions(x)
    x = deduplicate(x, dedup, report, _dedup_per(dedup_per, spec))

    pairs = None
    hierarchy = None
    missing = "keep"
    if cat_spec is not None:
        missing = str(cat_spec.get("missing", "unknown"))
        if cat_in_log:
            cat_table = tables[0]
        else:
            item_column = str(cat_spec.get("item_column", columns["item"]))
            cat_table = _read(
                folder,
                cat_spec,
                cat_spec["file"],
                "categories",
                [item_column, category_column],
                "item categories",
            )
        h_spec = (
            _spec(cat_spec["hierarchy"], "categories.hierarchy")
            if cat_spec.get("hierarchy")
            else None
        )
        label_args = (
            cat_table,
            columns["item"] if cat_in_log else item_column,
            category_column,
            x.item_ids,
            cat_spec.get("label_sep"),
            str(cat_spec.get("unknown_items", "error")),
        )
        if h_spec is not None and h_spec.get("path"):
            if h_spec.get("file"):
                raise ConfigError(
                    "dataset.categories.hierarchy: path: true reads the hierarchy from the "
                    "category paths; remove 'file'"
                )
            pairs, hierarchy = read_path_labels(*label_args)
        else:
            pairs = read_item_labels(*label_args)
        if h_spec is not None and not h_spec.get("path"):
            child = str(h_spec.get("child_column", "child"))
            parent = str(h_spec.get("parent_column", "parent"))
            h_table = _read(
                folder,
                h_spec,
                h_spec.get("file"),
                "categories.hierarchy",
                [child, parent],
                "child→parent category edges",
            )
            hierarchy = read_hierarchy(h_table, child, parent)
            hierarchy_nodes(pairs, hierarchy)
        if missing == "drop":
            has = items_with_labels(pairs, len(x.item_ids))
            x = drop_items(x, has, "items without category (drop)", report)
    if core is not None:
        x = kcore_filter(x, core[0], core[1], report)

    users, user_ids, _ = reindex(x.users, x.user_ids)
    items, item_ids, item_map = reindex(x.items, x.item_ids)
    if pairs is not None and cat_spec is not None:
        final = item_map[pairs.items]
        pairs = replace(pairs.take(final >= 0), items=final[final >= 0])
        h = cat_spec.get("hierarchy") or {}
        assigned = assign_categories(
            pairs,
            len(item_ids),
            missing=missing,
            hierarchy=hierarchy,
            level=h.get("level", "leaf"),
            keep_levels=bool(h.get("keep_levels", False)),
            category_edges=edge_kinds,
        )
        item_categories, category_names = assigned.matrix, assigned.names
        top_level = assigned.top_level
        side = SideRelations(dict(assigned.side_nodes), dict(assigned.side_edges))
    else:
        if edge_kinds:
            raise ConfigError("dataset.category_edges needs categories with a hierarchy")
        item_categories = sp.csr_matrix((len(item_ids), 0), dtype=np.float32)
        category_names = np.array([], dtype=str)
        top_level = None
        side = SideRelations()

    if kg:
        side.merge(_load_kg(folder, kg, item_ids, report), "dataset.kg")
    for kind, attr, ids in (
        ("user", user_attributes, user_ids),
        ("item", item_attributes, item_ids),
    ):
        if attr:
            side.merge(_load_attributes(folder, kind, attr, ids), f"dataset.{kind}_attributes")
    texts = None
    if item_text:
        texts = _load_item_text(
            folder, item_text, item_ids, category_names, item_categories, report
        )
    report.note(
        f"dataset: {len(users)} interactions, {len(user_ids)} users, {len(item_ids)} items, "
        f"{len(category_names)} categories"
    )
    return InteractionDataset(
        name=name,
        user_ids=user_ids,
        item_ids=item_ids,
        category_names=category_names,
        users=users,
        items=items,
        timestamps=x.timestamps.astype(np.float64),
        weights=x.weights.astype(np.float32),
        item_categories=item_categories,
        extras=x.decoded_extras(),
        category_top_level=top_level,
        side_nodes=side.nodes,
        side_edges=side.edges,
        preprocessing_log=report.text(),
        item_text=texts,
    )


def _load_kg(
    folder: Path, kg: Mapping[str, Any], item_ids: np.ndarray, report: PreprocessLog
) -> SideRelations:
    spec = _spec(kg, "kg")
    head = str(spec.get("head_column", "head_id"))
    relation = str(spec.get("relation_column", "relation_id"))
    tail = str(spec.get("tail_column", "tail_id"))
    if not spec.get("link"):
        raise ConfigError("dataset.kg needs 'link' (the item→entity file)")
    link_spec = _spec(spec["link"], "kg.link")
    item_column = str(link_spec.get("item_column", "item_id"))
    entity_column = str(link_spec.get("entity_column", "entity_id"))
    triples = _read(
        folder, spec, spec.get("file"), "kg", [head, relation, tail], "knowledge-graph triples"
    )
    link = _read(
        folder,
        link_spec,
        link_spec.get("file"),
        "kg.link",
        [item_column, entity_column],
        "item→entity links",
    )
    relations = spec.get("relations")
    graph = read_knowledge_graph(
        triples,
        link,
        item_ids,
        head,
        relation,
        tail,
        item_column,
        entity_column,
        None if relations is None else [str(r) for r in relations],
    )
    report.note(
        f"kg: {graph.triples} of {triples.num_rows} triples, {len(graph.relation_names)} "
        f"relations, {link.num_rows} links, {graph.linked_items} dataset items linked, "
        f"{len(graph.relations.nodes['entity'])} other entities"
    )
    return graph.relations


def _load_attributes(
    folder: Path, kind: str, attributes: Mapping[str, Any], ids: np.ndarray
) -> SideRelations:
    where = f"{kind}_attributes"
    spec = _spec(attributes, where)
    id_column = str(spec.get("id_column", f"{kind}_id"))
    columns = spec.get("columns")
    if not columns or isinstance(columns, str):
        raise ConfigError(f"dataset.{where}.columns must list the attribute columns")
    columns = [str(c) for c in columns]
    table = _read(
        folder, spec, spec.get("file"), where, [id_column, *columns], f"{kind} attributes"
    )
    buckets = spec.get("buckets") or {}
    return read_attributes(table, kind, ids, id_column, columns, buckets)


def _text_column(table: Table, column: str) -> pa.Array:
    """A text column, trimmed, with missing values as ``""``."""
    col = table.column(column)
    if not (pa.types.is_string(col.type) or pa.types.is_large_string(col.type)):
        col = pc.cast(col, pa.string())
    return pc.utf8_trim_whitespace(col.cast(pa.string())).fill_null("")


def _load_item_text(
    folder: Path,
    item_text: Mapping[str, Any],
    item_ids: np.ndarray,
    category_names: np.ndarray,
    item_categories: sp.csr_matrix,
    report: PreprocessLog,
) -> np.ndarray:
    """``[num_items]`` texts: the file's text columns, then the category names."""
    spec = _spec(item_text, "item_text")
    columns = spec.get("columns") or []
    if isinstance(columns, str):
        columns = [columns]
    columns = [str(c) for c in columns]
    with_categories = spec.get("categories", False)
    if not isinstance(with_categories, bool):
        raise ConfigError(
            f"dataset.item_text.categories must be true or false, got {with_categories!r}"
        )
    if spec.get("file") is None and not with_categories:
        raise ConfigError(
            "dataset.item_text needs 'file' with 'columns' (the item text file) "
            "and/or 'categories: true' (the category names as text)"
        )
    separator = str(spec.get("separator", ". "))
    parts: list[list[str]] = [[] for _ in item_ids]
    source = ""
    if spec.get("file") is not None:
        if not columns:
            raise ConfigError("dataset.item_text.columns must list the text columns of its file")
        item_column = str(spec.get("item_column", "item_id"))
        table = _read(folder, spec, spec["file"], "item_text", [item_column, *columns], "item text")
        codes = lookup_codes(table, item_column, item_ids)
        known = np.flatnonzero(codes >= 0)
        _, first = np.unique(codes[known], return_index=True)
        row: int | np.integer[Any]
        if len(first) < len(known):
            row = int(known[np.setdiff1d(np.arange(len(known)), first)[0]])
            raw = str(table.column(item_column)[row].as_py()).strip()
            raise table.error(
                f"item {raw!r} has a second text row; expected one row per item", row, item_column
            )
        texts = [_text_column(table, c).to_pylist() for c in columns]
        for row in known:
            parts[codes[row]] = [t[row] for t in texts if t[row]]
        source = f" from {table.path.name} ({', '.join(columns)})"
    if with_categories:
        csr = item_categories.tocsr()
        for item, part in enumerate(parts):
            names = [str(category_names[c]) for c in np.sort(csr[item].indices)]
            names = [n for n in names if n != UNKNOWN]
            if names:
                part.append(", ".join(names))
        source += " with category names"
    out = np.array([separator.join(p) for p in parts], dtype=str)
    report.note(f"item text: {int((out != '').sum())} of {len(out)} items have text{source}")
    return out
