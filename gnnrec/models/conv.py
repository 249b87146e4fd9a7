r"""Message-passing recommenders built from PyG convolutions, as one switchable stack.

:class:`ConvStackRec` stacks ``num_layers`` PyG convolutions over the
homogeneous training graph (users, items and, with
``graph.include_categories=true``, category hubs), starting from free ID
embeddings, and combines the layer outputs with a
:mod:`~gnnrec.models.layers.combine` module, in the manner of PyG's
``BasicGNN`` (``torch_geometric/nn/models/basic_gnn.py``). The models differ
only in the convolution each builds: :class:`GCNRec`, :class:`SAGERec`,
:class:`TransformerRec` here and :class:`~gnnrec.models.gat.GATRec` (GATv2).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, cast

from torch import Tensor, nn
from torch_geometric.nn import GCNConv, MessagePassing, SAGEConv, TransformerConv
from torch_geometric.utils import dropout_edge

from gnnrec.graph.build import RecGraph
from gnnrec.models.base import GraphRecommender, check_heads, check_int
from gnnrec.models.layers.activation import resolve_activation
from gnnrec.models.layers.combine import layer_combination
from gnnrec.models.layers.dropout import check_probability

STACK_ACTIVATIONS = ("elu", "relu", "none")
"""Activations the stack offers between layers (see :mod:`gnnrec.models.layers.activation`)."""

ConvFactory = Callable[[int], MessagePassing]
"""Builds one ``[N, d] -> [N, d]`` convolution for layers of width ``d``."""


class ConvStackRec(GraphRecommender):
    r"""A stack of PyG convolutions over the user–item(–category) graph.

    .. math::
        \mathbf{H}^{(0)} = \mathbf{E}, \qquad
        \mathbf{H}^{(l+1)} = \operatorname{drop}\big(\sigma\big(
            \operatorname{conv}^{(l)}(\mathbf{H}^{(l)}, \tilde{\mathcal{E}})\big)\big),
        \qquad \mathbf{H} = \operatorname{combine}(\mathbf{H}^{(0)}, \dots, \mathbf{H}^{(L)}),

    with :math:`\mathbf{E}` free ID embeddings of every node, :math:`\sigma`
    the activation and :math:`\operatorname{drop}` feature dropout between
    layers (neither after the last layer), :math:`\tilde{\mathcal{E}}` the
    training edges (during training, with ``edge_dropout``, a random subset
    redrawn every forward pass) and scores
    :math:`\hat y_{ui} = \mathbf{h}_u^\top \mathbf{h}_i`.

    ``combine`` picks the layer combination
    (:func:`~gnnrec.models.layers.combine.layer_combination`): ``mean``
    (default) is LightGCN's layer mean (He et al., SIGIR 2020); ``last`` is
    the plain stacked network of the convolution's paper; ``attention`` is
    learned per-node attention over layers
    (:class:`~gnnrec.models.layers.combine.LayerAttention`); ``concat``
    widens the output to :math:`(L+1)d`. Subclasses only build their
    convolution; deviations common to all of them: the layer mean instead of
    the last layer (without it, stacked nonlinear layers over-smooth and
    train far worse on implicit feedback), free ID embeddings as input
    features and, with category nodes in the graph, categories as
    message-passing hubs between items.

    Args:
        edge_index: ``[2, E]`` training edges (both directions), nodes ordered
            users, items(, categories).
        num_nodes: number of nodes ``N``.
        num_users: number of users.
        num_items: number of items.
        conv: builds one layer's convolution for width ``embedding_dim``.
        embedding_dim: size :math:`d` of the embeddings (every layer keeps it).
        num_layers: number of convolutions :math:`L`.
        combine: layer combination, one of ``mean``, ``weighted``,
            ``learned``, ``last``, ``concat``, ``attention``.
        alpha: fixed layer weights (length ``L + 1``), only with
            ``combine="weighted"``.
        activation: :math:`\sigma` between layers: ``elu``, ``relu`` or ``none``.
        dropout: feature dropout rate between layers (training only).
        edge_dropout: fraction of undirected edges dropped in each training
            forward pass (PyG ``dropout_edge``; both directions of an edge go
            together; never in evaluation).
        init_std: standard deviation of the normal initialisation of
            :math:`\mathbf{E}`.
    """

    edge_index: Tensor

    def __init__(
        self,
        edge_index: Tensor,
        num_nodes: int,
        num_users: int,
        num_items: int,
        conv: ConvFactory,
        embedding_dim: int = 64,
        num_layers: int = 2,
        combine: str = "mean",
        alpha: Sequence[float] | None = None,
        activation: str = "elu",
        dropout: float = 0.0,
        edge_dropout: float = 0.0,
        init_std: float = 0.1,
    ) -> None:
        super().__init__()
        check_int("embedding_dim", embedding_dim)
        check_int("num_layers", num_layers)
        self.act = resolve_activation(activation, STACK_ACTIVATIONS)
        self.num_users, self.num_items = num_users, num_items
        self.num_layers = num_layers
        self.activation = activation
        self.dropout = check_probability("dropout", dropout)
        self.edge_dropout = check_probability("edge_dropout", edge_dropout)
        self.init_std = init_std
        self.register_buffer("edge_index", edge_index, persistent=False)
        # Construction order (embedding, convs, combination) fixes the RNG draws,
        # so a seeded GATRec starts from the same weights as before the refactor.
        self.embedding = nn.Embedding(num_nodes, embedding_dim)
        self.convs = nn.ModuleList(conv(embedding_dim) for _ in range(num_layers))
        self.combine = layer_combination(combine, num_layers, embedding_dim, alpha)
        self.reset_parameters()

    @classmethod
    def from_graph(cls, graph: RecGraph, **hparams: Any) -> ConvStackRec:
        """Build over a training graph's homogeneous edge list."""
        return cls(graph.edge_index, graph.num_nodes, graph.num_users, graph.num_items, **hparams)

    def reset_parameters(self) -> None:
        nn.init.normal_(self.embedding.weight, std=self.init_std)
        for conv in self.convs:
            cast(MessagePassing, conv).reset_parameters()
        self.combine.reset_parameters()

    def message_edges(self) -> Tensor:
        """``[2, E']`` edges of this forward pass (a random subset while training)."""
        if not (self.training and self.edge_dropout > 0):
            return self.edge_index
        edge_index, _ = dropout_edge(self.edge_index, p=self.edge_dropout, force_undirected=True)
        return edge_index

    def extra_repr_items(self) -> list[str]:
        return [f"conv={type(self.convs[0]).__name__}"]

    def layers(self) -> list[Tensor]:
        r"""Layer outputs :math:`[\mathbf{H}^{(0)}, \dots, \mathbf{H}^{(L)}]`, ``[N, d]`` each."""
        edge_index = self.message_edges()
        x = self.embedding.weight
        out = [x]
        for i, conv in enumerate(self.convs):
            x = conv(x, edge_index)
            if i < self.num_layers - 1:
                x = self.act(x)
                x = nn.functional.dropout(x, p=self.dropout, training=self.training)
            out.append(x)
        return out


class GCNRec(ConvStackRec):
    r"""Stacked graph convolutions (GCN) with LightGCN-style layer combination.

    .. math::
        \mathbf{H}^{(l+1)} = \sigma\big(\hat{\mathbf{D}}^{-1/2}\hat{\mathbf{A}}
            \hat{\mathbf{D}}^{-1/2}\mathbf{H}^{(l)}\mathbf{W}^{(l)} + \mathbf{b}^{(l)}\big),
        \qquad \hat{\mathbf{A}} = \mathbf{A} + \mathbf{I},

    :math:`\hat{\mathbf{D}}` the degree matrix of :math:`\hat{\mathbf{A}}`
    (PyG ``GCNConv(normalize=True)``, renormalisation recomputed on the
    dropped graph when ``edge_dropout`` is on).

    Kipf & Welling, "Semi-Supervised Classification with Graph Convolutional
    Networks", ICLR 2017. Deviations: the layer outputs are combined by
    ``combine`` (default: the LightGCN layer mean, He et al. SIGIR 2020; the
    paper uses the last layer, ``combine=last``), inputs are free ID
    embeddings, and ``self_loops=False`` drops the :math:`+\mathbf{I}`.

    Args:
        edge_index, num_nodes, num_users, num_items: as :class:`ConvStackRec`.
        self_loops: add :math:`\mathbf{I}` to the adjacency before normalising.
        **stack: the switches of :class:`ConvStackRec` (``embedding_dim``,
            ``num_layers``, ``combine``, ``alpha``, ``activation``, ``dropout``,
            ``edge_dropout``, ``init_std``).
    """

    def __init__(
        self,
        edge_index: Tensor,
        num_nodes: int,
        num_users: int,
        num_items: int,
        self_loops: bool = True,
        **stack: Any,
    ) -> None:
        self_loops = bool(self_loops)

        def conv(dim: int) -> MessagePassing:
            return GCNConv(dim, dim, add_self_loops=self_loops, normalize=True)

        super().__init__(edge_index, num_nodes, num_users, num_items, conv, **stack)
        self.self_loops = self_loops


class SAGERec(ConvStackRec):
    r"""Stacked GraphSAGE mean-aggregator layers with LightGCN-style layer combination.

    .. math::
        \mathbf{h}_v^{(l+1)} = \sigma\Big(\mathbf{W}_1^{(l)}\mathbf{h}_v^{(l)}
            + \mathbf{W}_2^{(l)} \frac{1}{|\mathcal{N}(v)|}
            \sum_{u \in \mathcal{N}(v)} \mathbf{h}_u^{(l)} + \mathbf{b}^{(l)}\Big)

    (PyG ``SAGEConv(aggr="mean")``; :math:`\mathbf{W}_1, \mathbf{W}_2` are
    the two halves of the paper's :math:`\mathbf{W}` acting on
    :math:`[\mathbf{h}_v \Vert \operatorname{mean}]`; a node without
    neighbours aggregates zeros).

    Hamilton, Ying & Leskovec, "Inductive Representation Learning on Large
    Graphs", NeurIPS 2017 (GraphSAGE-mean). Deviations: full neighbourhoods
    instead of sampled ones, no :math:`\ell_2` normalisation of
    :math:`\mathbf{h}^{(l+1)}`, free ID embeddings as input features, and the
    layer outputs combined by ``combine`` (default: the LightGCN layer mean;
    the paper uses the last layer, ``combine=last``).

    Args:
        edge_index, num_nodes, num_users, num_items: as :class:`ConvStackRec`.
        **stack: the switches of :class:`ConvStackRec`.
    """

    def __init__(
        self, edge_index: Tensor, num_nodes: int, num_users: int, num_items: int, **stack: Any
    ) -> None:
        def conv(dim: int) -> MessagePassing:
            return SAGEConv(dim, dim, aggr="mean")

        super().__init__(edge_index, num_nodes, num_users, num_items, conv, **stack)


class TransformerRec(ConvStackRec):
    r"""Stacked graph-transformer layers with LightGCN-style layer combination.

    .. math::
        \mathbf{h}_v^{(l+1)} = \sigma\Big(\mathbf{W}_1\mathbf{h}_v
            + \sum_{u \in \mathcal{N}(v)} \alpha_{vu} \mathbf{W}_2 \mathbf{h}_u\Big),
        \qquad \alpha_{vu} = \operatorname{softmax}_u\Big(
            \frac{(\mathbf{W}_3\mathbf{h}_v)^\top(\mathbf{W}_4\mathbf{h}_u)}{\sqrt{d_h}}\Big)

    per head (layer index dropped on the right), the ``heads`` outputs of
    width :math:`d_h = d/\text{heads}` concatenated back to :math:`d`. With
    ``beta`` the skip connection is gated:
    :math:`\mathbf{h}_v' = \beta_v \mathbf{W}_1\mathbf{h}_v + (1-\beta_v)\mathbf{m}_v`,
    :math:`\beta_v = \operatorname{sigmoid}(\mathbf{w}_5^\top
    [\mathbf{W}_1\mathbf{h}_v \Vert \mathbf{m}_v \Vert \mathbf{W}_1\mathbf{h}_v - \mathbf{m}_v])`
    with :math:`\mathbf{m}_v` the attention sum (PyG ``TransformerConv``).

    Shi et al., "Masked Label Prediction: Unified Message Passing Model for
    Semi-Supervised Classification", IJCAI 2021. Deviations: free ID
    embeddings as input features (no label embedding or masking), the layer
    outputs combined by ``combine`` (default: the LightGCN layer mean; the
    paper uses the last layer, ``combine=last``).

    Args:
        edge_index, num_nodes, num_users, num_items: as :class:`ConvStackRec`.
        heads: attention heads per layer (must divide ``embedding_dim``).
        beta: gate the skip connection as above.
        attention_dropout: dropout on the attention coefficients (training only).
        **stack: the switches of :class:`ConvStackRec`.
    """

    def __init__(
        self,
        edge_index: Tensor,
        num_nodes: int,
        num_users: int,
        num_items: int,
        heads: int = 2,
        beta: bool = False,
        attention_dropout: float = 0.0,
        **stack: Any,
    ) -> None:
        heads = check_int("heads", heads)
        attention_dropout = check_probability("attention_dropout", attention_dropout)
        beta = bool(beta)

        def conv(dim: int) -> MessagePassing:
            check_heads(dim, heads)
            return TransformerConv(
                dim, dim // heads, heads=heads, concat=True, beta=beta, dropout=attention_dropout
            )

        super().__init__(edge_index, num_nodes, num_users, num_items, conv, **stack)
        self.heads, self.beta = heads, beta
