"""User–item–category graphs built from the training interactions only."""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp
import torch
from torch_geometric.data import HeteroData

from gnnrec.data.categories import category_cooccurrence as cooccurring_categories
from gnnrec.data.dataset import InteractionDataset, split_edge_key
from gnnrec.data.sparse import binary_csr
from gnnrec.data.split import Split

USER, ITEM, CATEGORY = "user", "item", "category"
INTERACTS = (USER, "interacts", ITEM)
REV_INTERACTS = (ITEM, "rev_interacts", USER)
BELONGS_TO = (ITEM, "belongs_to", CATEGORY)
REV_BELONGS_TO = (CATEGORY, "rev_belongs_to", ITEM)
CO_OCCURS = (CATEGORY, "co_occurs", CATEGORY)


@dataclass
class TrainLog:
    """The TRAIN interactions as the graph was built from them, for models that
    need more than the edges (time order, behaviour types, domains).

    Rows are in dataset order: by user, then timestamp, then source order, so
    one user's rows are contiguous and time-ordered.

    Attributes:
        users: ``[E]`` int64 user ids.
        items: ``[E]`` int64 item ids.
        timestamps: ``[E]`` float64 timestamps.
        codes: per-interaction labelled columns (``behavior``, ``domain``, ...)
            as ``[E]`` int64 codes into ``names[key]``.
        names: the label of each code, per column.
        values: per-interaction numeric columns (``rating``, ...), ``[E]``.
    """

    users: torch.Tensor
    items: torch.Tensor
    timestamps: torch.Tensor
    codes: dict[str, torch.Tensor] = field(default_factory=dict)
    names: dict[str, list[str]] = field(default_factory=dict)
    values: dict[str, torch.Tensor] = field(default_factory=dict)

    @classmethod
    def from_split(cls, split: Split) -> TrainLog:
        ds = split.dataset
        idx = np.sort(np.asarray(split.train))
        codes: dict[str, torch.Tensor] = {}
        names: dict[str, list[str]] = {}
        values: dict[str, torch.Tensor] = {}
        for key, column in ds.extras.items():
            column = np.asarray(column)[idx]
            if column.dtype.kind in "US O":
                labels, inverse = np.unique(column.astype(str), return_inverse=True)
                codes[key] = torch.from_numpy(inverse.astype(np.int64))
                names[key] = [str(x) for x in labels]
            else:
                values[key] = torch.from_numpy(column.astype(np.float64))
        return cls(
            users=torch.from_numpy(ds.users[idx].astype(np.int64)),
            items=torch.from_numpy(ds.items[idx].astype(np.int64)),
            timestamps=torch.from_numpy(ds.timestamps[idx].astype(np.float64)),
            codes=codes,
            names=names,
            values=values,
        )

    def to(self, device: torch.device | str) -> TrainLog:
        self.users, self.items = self.users.to(device), self.items.to(device)
        self.timestamps = self.timestamps.to(device)
        self.codes = {k: v.to(device) for k, v in self.codes.items()}
        self.values = {k: v.to(device) for k, v in self.values.items()}
        return self


@dataclass
class RecGraph:
    """The training graph in the forms models need, built once per run.

    Attributes:
        hetero: PyG ``HeteroData`` with node types user, item, category and
            edge types interacts / belongs_to and their reverses, plus the
            dataset's side node and edge types (knowledge-graph entities,
            user attributes, hierarchy levels, category–category edges; a
            side edge type ``(src, rel, dst)`` gets the reverse
            ``(dst, rev_rel, src)`` unless it is a symmetric relation of one
            node type) and, when asked for, train co-occurrence
            ``(category, co_occurs, category)`` edges.
        edge_index: ``[2, num_edges]`` homogeneous edge list (both
            directions) over the node order users, items, categories.
        adjacency: ``[N, N]`` sparse CSR symmetric-normalised adjacency
            :math:`D^{-1/2} A D^{-1/2}` over the same node order, where
            ``N = num_users + num_items (+ num_categories)``.
        include_categories: whether category nodes are part of
            ``edge_index`` / ``adjacency``.
        log: the train interactions with their time order and labelled
            columns (behaviour, domain); None for graphs built by hand.
        item_text: the dataset's text per item (``InteractionDataset.item_text``),
            for text-aware models; None when the dataset has none.
    """

    hetero: HeteroData
    edge_index: torch.Tensor
    adjacency: torch.Tensor
    num_users: int
    num_items: int
    num_categories: int
    include_categories: bool
    log: TrainLog | None = None
    item_text: list[str] | None = None

    @property
    def num_nodes(self) -> int:
        n = self.num_users + self.num_items
        return n + self.num_categories if self.include_categories else n

    def to(self, device: torch.device | str) -> RecGraph:
        self.hetero = self.hetero.to(device)
        self.edge_index = self.edge_index.to(device)
        self.adjacency = self.adjacency.to(device)
        if self.log is not None:
            self.log = self.log.to(device)
        return self

    def item_category_index(self) -> torch.Tensor:
        """``[2, nnz]`` (item, category) pairs of the item → category map."""
        return self.hetero[BELONGS_TO].edge_index


NORMALIZATIONS = ("sym", "left", "none")


def normalized_adjacency(
    edge_index: np.ndarray, num_nodes: int, norm: str = "sym", self_loops: bool = False
) -> sp.csr_matrix:
    r"""The (optionally self-looped) adjacency, normalised.

    ``norm="sym"``: :math:`\hat A = D^{-1/2} A D^{-1/2}` (GCN, LightGCN);
    ``"left"``: :math:`D^{-1} A` (row-normalised, mean aggregation as in
    GraphSAGE's mean aggregator); ``"none"``: :math:`A`. With
    ``self_loops`` :math:`A` is replaced by :math:`A + I` before
    normalising (degrees then count the loop, as in Kipf & Welling).

    ``edge_index`` holds both directions of every undirected edge; isolated
    nodes keep an all-zero row (their inverse degree is taken as 0).
    """
    if norm not in NORMALIZATIONS:
        raise ValueError(f"norm must be one of {', '.join(NORMALIZATIONS)}; got {norm!r}")
    a = binary_csr(edge_index[0], edge_index[1], (num_nodes, num_nodes), dtype=np.float64)
    if self_loops:
        a = (a + sp.identity(num_nodes, dtype=np.float64, format="csr")).tocsr()
    if norm == "none":
        out = a.tocsr()
        out.sort_indices()
        return out
    deg = np.asarray(a.sum(axis=1)).ravel()
    inv = np.zeros_like(deg)
    nz = deg > 0
    inv[nz] = deg[nz] ** (-0.5 if norm == "sym" else -1.0)
    d = sp.diags(inv)
    out = (d @ a @ d).tocsr() if norm == "sym" else (d @ a).tocsr()
    out.sort_indices()
    return out


def adjacency(
    edge_index: torch.Tensor, num_nodes: int, norm: str = "sym", self_loops: bool = False
) -> torch.Tensor:
    """:func:`normalized_adjacency` of a torch ``[2, E]`` edge list, as a torch CSR
    tensor on the edge list's device (for models that choose their own
    normalisation over :attr:`RecGraph.edge_index`)."""
    m = normalized_adjacency(edge_index.cpu().numpy(), num_nodes, norm, self_loops)
    return to_torch_csr(m).to(edge_index.device)


def to_torch_csr(m: sp.spmatrix) -> torch.Tensor:
    """A scipy sparse matrix as a float32 torch CSR tensor (indices sorted)."""
    m = sp.csr_matrix(m)
    m.sort_indices()
    with warnings.catch_warnings():
        # torch flags sparse CSR as "beta"; sparse.mm with CSR is stable for our use.
        warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")
        return torch.sparse_csr_tensor(
            torch.from_numpy(m.indptr.astype(np.int64)),
            torch.from_numpy(m.indices.astype(np.int64)),
            torch.from_numpy(m.data.astype(np.float32)),
            size=m.shape,
            check_invariants=True,
        )


def _edges(matrix: sp.spmatrix) -> np.ndarray:
    coo = matrix.tocoo()
    return np.vstack([coo.row, coo.col]).astype(np.int64)


def _add_side_relations(hetero: HeteroData, ds: InteractionDataset) -> None:
    """The dataset's side node and edge types, each edge type with its reverse."""
    for node_type, names in ds.side_nodes.items():
        hetero[node_type].num_nodes = len(names)
    for key, matrix in ds.side_edges.items():
        src, rel, dst = split_edge_key(key)
        edges = _edges(matrix)
        hetero[src, rel, dst].edge_index = torch.from_numpy(edges)
        symmetric = src == dst and (matrix != matrix.T).nnz == 0
        if not symmetric:
            hetero[dst, f"rev_{rel}", src].edge_index = torch.from_numpy(edges[::-1].copy())


def _add_behavior_relations(hetero: HeteroData, split: Split) -> None:
    """One user→item relation (and its reverse) per behaviour type of the TRAIN part."""
    ds = split.dataset
    if "behavior" not in ds.extras:
        have = ", ".join(sorted(ds.extras)) or "none"
        raise ValueError(
            "behavior_relations needs a per-interaction behavior column in the dataset "
            f"(dataset extras: {have}); map interactions.columns.behavior in the dataset config"
        )
    train = np.asarray(split.train)
    behavior = np.asarray(ds.extras["behavior"])[train].astype(str)
    for name in np.unique(behavior):
        rows = train[behavior == name]
        m = binary_csr(ds.users[rows], ds.items[rows], (ds.num_users, ds.num_items)).tocoo()
        ui = np.vstack([m.row, m.col]).astype(np.int64)
        # PyG keys parameters by the joined edge type: keep relation names to [A-Za-z0-9_]
        rel = re.sub(r"\W", "_", str(name))
        hetero[USER, f"interacts_{rel}", ITEM].edge_index = torch.from_numpy(ui)
        hetero[ITEM, f"rev_interacts_{rel}", USER].edge_index = torch.from_numpy(ui[::-1].copy())


def build_graph(
    split: Split,
    include_categories: bool = False,
    side_relations: bool = True,
    category_cooccurrence: int | None = None,
    behavior_relations: bool = False,
) -> RecGraph:
    """Build the user–item–category graph of a split's TRAIN interactions.

    Validation and test interactions never enter the graph. Item–category
    edges come from the dataset's item→category map (they are side
    information, not interactions); so do the side relations.

    Args:
        split: the split whose train part makes the user–item edges.
        include_categories: put category nodes into the homogeneous
            ``edge_index`` / ``adjacency`` (the heterogeneous graph always
            has them).
        side_relations: add the dataset's side node and edge types to
            ``hetero`` (the homogeneous graph never has them).
        category_cooccurrence: add ``(category, co_occurs, category)`` edges
            between categories that at least this many users both have in
            their TRAIN interactions (None: none).
        behavior_relations: in ``hetero``, replace interacts / rev_interacts
            by one relation per behaviour type of the TRAIN interactions
            (``dataset.extras["behavior"]``): ``(user, interacts_<b>, item)``
            and its reverse ``(item, rev_interacts_<b>, user)``, for R-GCN /
            HGT (the homogeneous graph is unchanged).
    """
    ds = split.dataset
    train = split.user_item_matrix("train").tocoo()
    ui = np.vstack([train.row, train.col]).astype(np.int64)
    ic_m = ds.item_categories.tocoo()
    ic = np.vstack([ic_m.row, ic_m.col]).astype(np.int64)
    num_u, num_i, num_c = ds.num_users, ds.num_items, ds.num_categories

    hetero = HeteroData()
    hetero[USER].num_nodes = num_u
    hetero[ITEM].num_nodes = num_i
    hetero[CATEGORY].num_nodes = num_c
    if behavior_relations:
        _add_behavior_relations(hetero, split)
    else:
        hetero[INTERACTS].edge_index = torch.from_numpy(ui)
        hetero[REV_INTERACTS].edge_index = torch.from_numpy(ui[::-1].copy())
    hetero[BELONGS_TO].edge_index = torch.from_numpy(ic)
    hetero[REV_BELONGS_TO].edge_index = torch.from_numpy(ic[::-1].copy())
    if side_relations:
        _add_side_relations(hetero, split.dataset)
    if category_cooccurrence is not None:
        together = cooccurring_categories(
            split.user_item_matrix("train"), ds.item_categories, int(category_cooccurrence)
        )
        hetero[CO_OCCURS].edge_index = torch.from_numpy(_edges(together))

    pieces = [np.vstack([ui[0], ui[1] + num_u])]
    num_nodes = num_u + num_i
    if include_categories:
        pieces.append(np.vstack([ic[0] + num_u, ic[1] + num_u + num_i]))
        num_nodes += num_c
    one_way = np.concatenate(pieces, axis=1)
    both = np.concatenate([one_way, one_way[::-1]], axis=1)
    adjacency = normalized_adjacency(both, num_nodes)
    return RecGraph(
        hetero=hetero,
        edge_index=torch.from_numpy(both.copy()),
        adjacency=to_torch_csr(adjacency),
        num_users=num_u,
        num_items=num_i,
        num_categories=num_c,
        include_categories=include_categories,
        log=TrainLog.from_split(split),
        item_text=None if ds.item_text is None else [str(t) for t in ds.item_text],
    )
