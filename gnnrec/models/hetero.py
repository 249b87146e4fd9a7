r"""Heterogeneous recommenders: R-GCN and HGT over the typed training graph.

Both read :attr:`RecGraph.hetero` (node types user / item / category and the
dataset's side node types; interacts, belongs_to, co_occurs and the side
relations, each with a reverse) through :func:`hetero_relations`, which
applies the graph option ``include_categories`` and drops what cannot carry
messages.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from typing import cast

import torch
from torch import Tensor, nn
from torch_geometric.data import HeteroData
from torch_geometric.nn import HGTConv, RGCNConv
from torch_geometric.typing import EdgeType

from gnnrec.graph.build import CATEGORY, INTERACTS, ITEM, REV_INTERACTS, USER, RecGraph
from gnnrec.models.base import GraphRecommender, Recommender, check_heads, check_int, squared_norm
from gnnrec.models.layers.activation import resolve_activation
from gnnrec.models.layers.combine import layer_combination
from gnnrec.models.layers.dropout import check_probability

_HIERARCHY_LEVEL = re.compile(r"category_l\d+")
"""Node types of kept category-hierarchy levels (see ``gnnrec.data.categories``)."""


def is_category_type(node_type: str) -> bool:
    """Whether a node type is the category type or a kept hierarchy level."""
    return node_type == CATEGORY or _HIERARCHY_LEVEL.fullmatch(node_type) is not None


def hetero_relations(
    hetero: HeteroData, include_categories: bool = True
) -> tuple[dict[str, int], dict[EdgeType, Tensor]]:
    """The node types (with their sizes) and edge types a heterogeneous model propagates over.

    Without ``include_categories`` every edge type touching the category node
    type or a hierarchy level (``category_l<d>``) is removed: belongs_to,
    rev_belongs_to, co_occurs and such side relations. Edge types without
    edges are removed, then node types that receive no edges (and the edges
    they send), since they would get no representation (HGTConv returns none
    for them). Users and items are always kept.

    Returns:
        ``(num_nodes, edge_index)``: node type → number of nodes, in the
        order users, items, then the graph's other node types; edge type →
        ``[2, E]`` edges, in the graph's edge-type order.
    """
    edges = {
        et: hetero[et].edge_index
        for et in hetero.edge_types
        if hetero[et].edge_index.size(1) > 0
        and (include_categories or not (is_category_type(et[0]) or is_category_type(et[2])))
    }
    while True:
        receiving = {et[2] for et in edges} | {USER, ITEM}
        kept = {et: e for et, e in edges.items() if et[0] in receiving}
        if len(kept) == len(edges):
            break
        edges = kept
    order = [USER, ITEM] + [t for t in hetero.node_types if t not in (USER, ITEM)]
    num_nodes = {t: int(hetero[t].num_nodes) for t in order if t in receiving}
    return num_nodes, edges


def _require_more_than_interactions(model: str, edge_types: Sequence[EdgeType]) -> None:
    if all(et in (INTERACTS, REV_INTERACTS) for et in edge_types):
        raise ValueError(
            f"model={model} needs relations beyond user–item and this graph has none: "
            "item categories (model.graph.include_categories=true on a dataset with "
            "categories) or side relations (a knowledge graph or attributes, e.g. "
            "dataset=ml-100k-kg); otherwise choose model=lightgcn"
        )


def _check_common(
    embedding_dim: int, num_layers: int, activation: str, dropout: float
) -> Callable[[Tensor], Tensor]:
    check_int("embedding_dim", embedding_dim)
    check_int("num_layers", num_layers)
    check_probability("dropout", dropout)
    return resolve_activation(activation)


class RGCNRec(GraphRecommender):
    r"""R-GCN over the typed user–item–category(–side) graph, LightGCN-style layer mean.

    .. math::
        \mathbf{h}_i^{(l+1)} = \sigma\Big(\mathbf{W}_0^{(l)} \mathbf{h}_i^{(l)}
            + \sum_{r \in \mathcal{R}} \sum_{j \in \mathcal{N}_i^r}
              \frac{1}{|\mathcal{N}_i^r|} \mathbf{W}_r^{(l)} \mathbf{h}_j^{(l)}\Big),
        \qquad
        \mathbf{e}_v = \operatorname{combine}\big(\mathbf{h}_v^{(0)}, \dots,
            \mathbf{h}_v^{(L)}\big),

    :math:`\hat y_{ui} = \mathbf{e}_u^\top \mathbf{e}_i`. :math:`\mathcal{R}`
    holds one relation per edge type of the graph (reverses are relations of
    their own), :math:`\mathbf{h}^{(0)}` are free ID embeddings of every node
    of every node type, :math:`\sigma` is ``activation`` between layers and
    the identity after the last. With ``num_bases`` :math:`B`,
    :math:`\mathbf{W}_r = \sum_b a_{rb} \mathbf{V}_b` (basis decomposition);
    with ``num_blocks`` :math:`\mathbf{W}_r` is block-diagonal.
    Implemented with PyG's ``RGCNConv`` (``aggr="mean"``, no bias) on the
    homogeneous view of the graph (nodes ordered users, items, then the
    other node types; relation ``r`` = position of the edge type). The last
    layer is computed for users and items only (bipartite ``RGCNConv`` call
    over the edges into them): no score changes.

    Schlichtkrull et al., "Modeling Relational Data with Graph Convolutional
    Networks", ESWC 2018. Deviations: the paper's link-prediction decoder is
    DistMult over the last layer; here scores are dot products of the layer
    combination (``combine``, default the LightGCN mean
    :math:`\frac{1}{L+1}\sum_l \mathbf{h}^{(l)}`), with layer 0 free
    embeddings instead of one-hot inputs; dropout is on node features
    between layers, not the paper's edge dropout.

    Args:
        num_nodes: node type → number of nodes; must hold ``user`` and ``item``.
        edge_index: edge type ``(src, rel, dst)`` → ``[2, E]`` edges (local ids).
        embedding_dim: size :math:`d` of every layer.
        num_layers: number of R-GCN layers :math:`L`.
        num_bases: basis decomposition with this many bases (None: full
            :math:`\mathbf{W}_r`).
        num_blocks: block-diagonal decomposition with this many blocks
            (must divide ``embedding_dim``; not together with ``num_bases``).
        activation: :math:`\sigma` between layers (relu, elu, gelu, tanh, none).
        dropout: dropout on node features between layers (training only).
        combine: layer combination (mean, weighted, learned, last, concat,
            attention; see :func:`~gnnrec.models.layers.combine.layer_combination`).
        alpha: fixed layer weights for ``combine="weighted"``.
        init_std: standard deviation of the normal initialisation of the embeddings.
    """

    edge_index: Tensor
    edge_type: Tensor
    last_edge_index: Tensor
    last_edge_type: Tensor

    def __init__(
        self,
        num_nodes: Mapping[str, int],
        edge_index: Mapping[EdgeType, Tensor],
        embedding_dim: int = 64,
        num_layers: int = 2,
        num_bases: int | None = None,
        num_blocks: int | None = None,
        activation: str = "relu",
        dropout: float = 0.0,
        combine: str = "mean",
        alpha: Sequence[float] | None = None,
        init_std: float = 0.1,
    ) -> None:
        super().__init__()
        self.act = _check_common(embedding_dim, num_layers, activation, dropout)
        _require_more_than_interactions("rgcn", list(edge_index))
        if num_bases is not None and num_blocks is not None:
            raise ValueError("num_bases and num_blocks exclude each other; set one to null")
        if num_bases is not None:
            check_int("num_bases", num_bases)
        if num_blocks is not None:
            check_int("num_blocks", num_blocks)
            if embedding_dim % num_blocks:
                raise ValueError(
                    f"num_blocks {num_blocks} must divide embedding_dim {embedding_dim}"
                )
        self.num_users, self.num_items = num_nodes[USER], num_nodes[ITEM]
        self.num_layers, self.init_std = num_layers, init_std
        self.node_types = [USER, ITEM] + [t for t in num_nodes if t not in (USER, ITEM)]
        self.edge_types = list(edge_index)
        offsets, total = {}, 0
        for t in self.node_types:
            offsets[t], total = total, total + num_nodes[t]
        self.node_offsets = offsets
        pieces = [
            e + torch.tensor([[offsets[s]], [offsets[d]]], device=e.device)
            for (s, _, d), e in edge_index.items()
        ]
        types = [torch.full((e.size(1),), r, dtype=torch.long) for r, e in enumerate(pieces)]
        self.register_buffer("edge_index", torch.cat(pieces, dim=1), persistent=False)
        self.register_buffer("edge_type", torch.cat(types).to(pieces[0].device), persistent=False)
        into_users_items = self.edge_index[1] < self.num_users + self.num_items
        self.register_buffer("last_edge_index", self.edge_index[:, into_users_items], False)
        self.register_buffer("last_edge_type", self.edge_type[into_users_items], False)
        self.embedding = nn.Embedding(total, embedding_dim)
        self.convs = nn.ModuleList(
            RGCNConv(
                embedding_dim,
                embedding_dim,
                num_relations=len(self.edge_types),
                num_bases=num_bases,
                num_blocks=num_blocks,
                aggr="mean",
                is_sorted=True,
                bias=False,
            )
            for _ in range(num_layers)
        )
        self.dropout = nn.Dropout(dropout)
        self.combine = layer_combination(combine, num_layers, embedding_dim, alpha)
        self.reset_parameters()

    @classmethod
    def from_graph(cls, graph: RecGraph, **hparams) -> RGCNRec:
        """Build over ``graph.hetero`` filtered by :func:`hetero_relations`
        with ``graph.include_categories``."""
        num_nodes, edge_index = hetero_relations(graph.hetero, graph.include_categories)
        return cls(num_nodes, edge_index, **hparams)

    def reset_parameters(self) -> None:
        nn.init.normal_(self.embedding.weight, std=self.init_std)
        for conv in self.convs:
            cast(RGCNConv, conv).reset_parameters()
        self.combine.reset_parameters()

    def layers(self) -> list[Tensor]:
        """Layer outputs of the user and item rows, ``[num_users + num_items, d]`` each."""
        n = self.num_users + self.num_items
        x = self.embedding.weight
        layers = [x[:n]]
        for i, conv in enumerate(self.convs):
            if i < self.num_layers - 1:
                x = conv(x, self.edge_index, self.edge_type)
            else:  # only user and item rows reach the scores
                x = conv((x, x[:n]), self.last_edge_index, self.last_edge_type)
            if i < self.num_layers - 1:
                x = self.act(x)
            layers.append(x[:n])
            if i < self.num_layers - 1:
                x = self.dropout(x)
        return layers

    def extra_repr_items(self) -> list[str]:
        return [f"relations={len(self.edge_types)}"]


class HGTRec(Recommender):
    r"""Heterogeneous Graph Transformer over the typed graph, LightGCN-style layer mean.

    For a target node :math:`t`, a source :math:`s` and the edge type
    :math:`\phi(e)` between them (types :math:`\tau(\cdot)`), head :math:`i`
    of layer :math:`l` computes

    .. math::
        \alpha^i(s, e, t) = \operatorname{softmax}_{(s, e) \in \mathcal{N}(t)}\Big(
            \mathbf{K}^i_{\tau(s)}(\mathbf{h}_s) \mathbf{W}^{ATT}_{\phi(e),i}
            \mathbf{Q}^i_{\tau(t)}(\mathbf{h}_t)^\top
            \frac{\mu_{\phi(e),i}}{\sqrt{d/H}}\Big),
        \qquad
        \tilde{\mathbf{h}}_t = \big\Vert_{i=1}^{H} \sum_{(s,e) \in \mathcal{N}(t)}
            \alpha^i(s, e, t)\, \mathbf{V}^i_{\tau(s)}(\mathbf{h}_s)
            \mathbf{W}^{MSG}_{\phi(e),i},

    .. math::
        \mathbf{h}_t^{(l+1)} = \sigma\big(\beta_{\tau(t)}
            \mathbf{A}_{\tau(t)}(\operatorname{GELU}(\tilde{\mathbf{h}}_t))
            + (1 - \beta_{\tau(t)})\, \mathbf{h}_t^{(l)}\big),
        \qquad
        \mathbf{e}_v = \operatorname{combine}\big(\mathbf{h}_v^{(0)}, \dots,
            \mathbf{h}_v^{(L)}\big),

    with :math:`\beta_\tau = \operatorname{sigmoid}(\text{skip}_\tau)` and
    :math:`\hat y_{ui} = \mathbf{e}_u^\top \mathbf{e}_i`. :math:`\mathbf{K},
    \mathbf{Q}, \mathbf{V}, \mathbf{A}` are per node type, :math:`\mathbf{W}`
    and the prior :math:`\mu` per edge type; :math:`\sigma` is ``activation``
    between layers (default none: the layer has its own GELU) and the identity
    after the last. Implemented with PyG's ``HGTConv``.

    Hu et al., "Heterogeneous Graph Transformer", WWW 2020. The gated
    residual :math:`\beta` follows the authors' code (pyHGT). Deviations:
    layer 0 are free ID embeddings of every node of every node type (no
    input features, so no type-specific input projection); no relative
    temporal encoding and no layer norm (PyG's ``HGTConv`` has neither);
    scores use the layer combination (``combine``, default the LightGCN mean
    :math:`\frac{1}{L+1}\sum_l \mathbf{h}^{(l)}`) of user and item rows
    instead of the last layer alone; dropout is on node features between
    layers. Only what can reach users and items is computed: layer
    :math:`l` updates only node types within :math:`L - l` hops of users or
    items (the last layer only users and items) and node types farther than
    :math:`L` hops are left out; this changes no score and leaves no
    parameter without a gradient.

    Args:
        num_nodes: node type → number of nodes; must hold ``user`` and ``item``.
        edge_index: edge type ``(src, rel, dst)`` → ``[2, E]`` edges (local
            ids); every node type must receive edges (see :func:`hetero_relations`).
        embedding_dim: size :math:`d` of every layer.
        num_layers: number of HGT layers :math:`L`.
        heads: attention heads :math:`H` (must divide ``embedding_dim``).
        activation: :math:`\sigma` between layers (relu, elu, gelu, tanh, none).
        dropout: dropout on node features between layers (training only).
        combine: layer combination (mean, weighted, learned, last, concat,
            attention; see :func:`~gnnrec.models.layers.combine.layer_combination`).
        alpha: fixed layer weights for ``combine="weighted"``.
        init_std: standard deviation of the normal initialisation of the embeddings.
    """

    def __init__(
        self,
        num_nodes: Mapping[str, int],
        edge_index: Mapping[EdgeType, Tensor],
        embedding_dim: int = 64,
        num_layers: int = 2,
        heads: int = 2,
        activation: str = "none",
        dropout: float = 0.0,
        combine: str = "mean",
        alpha: Sequence[float] | None = None,
        init_std: float = 0.1,
    ) -> None:
        super().__init__()
        self.act = _check_common(embedding_dim, num_layers, activation, dropout)
        _require_more_than_interactions("hgt", list(edge_index))
        check_int("heads", heads)
        check_heads(embedding_dim, heads)
        self.num_users, self.num_items = num_nodes[USER], num_nodes[ITEM]
        self.num_layers, self.init_std = num_layers, init_std
        order = [USER, ITEM] + [t for t in num_nodes if t not in (USER, ITEM)]
        all_edge_types = list(edge_index)
        # Plan the layers backwards from what the scores need: layer l's
        # outputs are needed for `needed`; its inputs are those and the
        # sources of edges into them.
        plans: list[tuple[list[str], list[EdgeType]]] = []
        needed = {USER, ITEM}
        for _ in range(num_layers):
            layer_edges = [et for et in all_edge_types if et[2] in needed]
            needed = needed | {et[0] for et in layer_edges}
            plans.append(([t for t in order if t in needed], layer_edges))
        plans.reverse()
        self.node_types = plans[0][0]
        self.edge_types = sorted({et for _, ets in plans for et in ets}, key=all_edge_types.index)
        self.layer_inputs = [inputs for inputs, _ in plans]
        self.layer_edges = [ets for _, ets in plans]
        for r, et in enumerate(self.edge_types):
            self.register_buffer(f"edge_index_{r}", edge_index[et], persistent=False)
        self.embedding = nn.ModuleDict(
            {t: nn.Embedding(num_nodes[t], embedding_dim) for t in self.node_types}
        )
        outputs = [*self.layer_inputs[1:], [USER, ITEM]]
        self.convs = nn.ModuleList(
            HGTConv(
                {t: embedding_dim for t in inputs},
                embedding_dim,
                metadata=(outs, ets),
                heads=heads,
            )
            for inputs, outs, ets in zip(self.layer_inputs, outputs, self.layer_edges, strict=True)
        )
        self.dropout = nn.Dropout(dropout)
        self.combine = layer_combination(combine, num_layers, embedding_dim, alpha)
        self.reset_parameters()

    @classmethod
    def from_graph(cls, graph: RecGraph, **hparams) -> HGTRec:
        """Build over ``graph.hetero`` filtered by :func:`hetero_relations`
        with ``graph.include_categories``."""
        num_nodes, edge_index = hetero_relations(graph.hetero, graph.include_categories)
        return cls(num_nodes, edge_index, **hparams)

    def reset_parameters(self) -> None:
        for emb in self.embedding.values():
            nn.init.normal_(cast(nn.Embedding, emb).weight, std=self.init_std)
        for conv in self.convs:
            cast(HGTConv, conv).reset_parameters()
        self.combine.reset_parameters()

    def edge_index_dict(self) -> dict[EdgeType, Tensor]:
        """Edge type → ``[2, E]`` edges of every edge type the layers use."""
        return {et: getattr(self, f"edge_index_{r}") for r, et in enumerate(self.edge_types)}

    def propagate(self) -> Tensor:
        """Combined user and item rows ``[num_users + num_items, d']``."""
        edges = self.edge_index_dict()
        x: dict[str, Tensor] = {
            t: cast(nn.Embedding, emb).weight for t, emb in self.embedding.items()
        }
        layers = [torch.cat([x[USER], x[ITEM]])]
        for i, conv in enumerate(self.convs):
            x = conv(
                {t: x[t] for t in self.layer_inputs[i]},
                {et: edges[et] for et in self.layer_edges[i]},
            )
            if i < self.num_layers - 1:
                x = {t: self.act(h) for t, h in x.items()}
            layers.append(torch.cat([x[USER], x[ITEM]]))
            if i < self.num_layers - 1:
                x = {t: self.dropout(h) for t, h in x.items()}
        return self.combine(layers)

    def forward(self) -> tuple[Tensor, Tensor]:
        out = self.propagate()
        return out[: self.num_users], out[self.num_users :]

    def regularization(self, users: Tensor, pos: Tensor, neg: Tensor) -> Tensor:
        return squared_norm(cast(nn.Embedding, self.embedding[USER]).weight, users) + squared_norm(
            cast(nn.Embedding, self.embedding[ITEM]).weight, pos, neg
        )

    def __repr__(self) -> str:
        return (
            f"HGTRec(node_types={len(self.node_types)}, relations={len(self.edge_types)}, "
            f"dim={self.embedding[USER].embedding_dim}, layers={self.num_layers})"
        )
