"""LightGCN (He et al., SIGIR 2020)."""

from __future__ import annotations

from collections.abc import Sequence

import torch.nn.functional as F
from torch import Tensor, nn

from gnnrec.graph.build import RecGraph, adjacency
from gnnrec.models.base import GraphRecommender, check_int
from gnnrec.models.layers.combine import layer_combination
from gnnrec.models.layers.dropout import check_probability, sparse_value_dropout
from gnnrec.models.layers.propagate import propagate_layers, spmm, transpose_csr


class LightGCN(GraphRecommender):
    r"""LightGCN: linear propagation over the normalised interaction graph.

    .. math::
        \mathbf{E}^{(k+1)} = \hat{\mathbf{A}} \mathbf{E}^{(k)}, \qquad
        \mathbf{E} = \sum_{k=0}^{K} \alpha_k \mathbf{E}^{(k)},

    with :math:`\hat{\mathbf{A}} = \mathbf{D}^{-1/2}\mathbf{A}\mathbf{D}^{-1/2}`
    the symmetric-normalised adjacency of the training graph (users, items
    and, when the graph includes them, categories as nodes), and scores
    :math:`\hat y_{ui} = \mathbf{e}_u^\top \mathbf{e}_i`.

    He et al., "LightGCN: Simplifying and Powering Graph Convolution Network
    for Recommendation", SIGIR 2020. The defaults are the paper's model:
    :math:`\alpha_k = 1/(K+1)`, symmetric normalisation, no self-loops, no
    dropout. Deviation: with category nodes in the graph (an option, off by
    default) categories get embeddings and exchange messages with items.

    Switches (all off by default; each departs from the paper when set):

    * ``combine``: how the layers become :math:`\mathbf{E}`
      (:func:`~gnnrec.models.layers.combine.layer_combination`: ``mean``,
      ``weighted`` with ``alpha``, ``learned``, ``last``, ``concat``,
      ``attention``); giving ``alpha`` with ``mean`` means ``weighted``.
    * ``norm`` / ``self_loops`` (in :meth:`from_graph`): :math:`\hat{\mathbf{A}}`
      is :math:`\mathbf{D}^{-1/2}\mathbf{A}\mathbf{D}^{-1/2}` (``sym``),
      :math:`\mathbf{D}^{-1}\mathbf{A}` (``left``) or :math:`\mathbf{A}`
      (``none``), of :math:`\mathbf{A} + \mathbf{I}` with ``self_loops``.
    * ``edge_dropout``: in training, each non-zero of :math:`\hat{\mathbf{A}}`
      is dropped with this probability for the step (one mask shared by all
      layers) and the survivors are scaled by :math:`1/(1-p)`.
    * ``message_dropout``: in training, dropout on every layer's output
      :math:`\mathbf{E}^{(k)}`, :math:`k \ge 1` (the dropped matrix feeds the
      next layer and the combination).

    Args:
        adjacency: ``[N, N]`` sparse normalised adjacency, nodes ordered users,
            items(, categories).
        num_users: number of users.
        num_items: number of items.
        embedding_dim: size :math:`d` of the embeddings.
        num_layers: number of propagation layers :math:`K`.
        alpha: layer-combination weights (length ``K + 1``); None gives
            :math:`1/(K+1)` each.
        init_std: standard deviation of the normal initialisation.
        combine: layer combination (see above); ``concat`` gives
            ``[*, (K+1) d]`` representations.
        edge_dropout: drop probability of each adjacency non-zero (training).
        message_dropout: dropout probability on layer outputs (training).
        symmetric: whether ``adjacency`` is symmetric (symmetric
            normalisation); otherwise its transpose is kept for the backward.
    """

    adjacency: Tensor
    adjacency_t: Tensor | None

    def __init__(
        self,
        adjacency: Tensor,
        num_users: int,
        num_items: int,
        embedding_dim: int = 64,
        num_layers: int = 3,
        alpha: Sequence[float] | None = None,
        init_std: float = 0.1,
        combine: str = "mean",
        edge_dropout: float = 0.0,
        message_dropout: float = 0.0,
        symmetric: bool = True,
    ) -> None:
        super().__init__()
        check_int("embedding_dim", embedding_dim)
        check_int("num_layers", num_layers, minimum=0)
        self.edge_dropout = check_probability("edge_dropout", edge_dropout)
        self.message_dropout = check_probability("message_dropout", message_dropout)
        self.num_users, self.num_items = num_users, num_items
        self.num_layers = num_layers
        self.init_std = init_std
        self.register_buffer("adjacency", adjacency, persistent=False)
        # the transpose for the backward pass; None when the adjacency is symmetric
        self.register_buffer(
            "adjacency_t", None if symmetric else transpose_csr(adjacency), persistent=False
        )
        self.embedding = nn.Embedding(adjacency.shape[0], embedding_dim)
        if alpha is not None and combine == "mean":
            combine = "weighted"
        self.combine = layer_combination(combine, num_layers, embedding_dim, alpha)
        self.reset_parameters()

    @classmethod
    def from_graph(
        cls, graph: RecGraph, norm: str = "sym", self_loops: bool = False, **hparams
    ) -> LightGCN:
        """Build over a training graph; ``norm`` / ``self_loops`` choose :math:`\\hat{A}`.

        ``norm="sym"`` without self-loops reuses the graph's adjacency; any
        other choice builds its own once, over the same nodes.
        """
        if not isinstance(self_loops, bool):
            raise ValueError(f"self_loops must be true or false, got {self_loops!r}")
        if norm == "sym" and not self_loops:
            a = graph.adjacency
            return cls(a, graph.num_users, graph.num_items, **hparams)
        else:
            a = adjacency(graph.edge_index, graph.num_nodes, norm, self_loops)
        symmetric = norm != "left"
        return cls(a, graph.num_users, graph.num_items, symmetric=symmetric, **hparams)

    def reset_parameters(self) -> None:
        nn.init.normal_(self.embedding.weight, std=self.init_std)
        self.combine.reset_parameters()

    def layers(self) -> list[Tensor]:
        r"""The ``K + 1`` layer outputs :math:`\mathbf{E}^{(0)}, \dots, \mathbf{E}^{(K)}`
        (``[N, d]`` each), with dropout applied in training mode."""
        x = self.embedding.weight
        if not self.training or (self.edge_dropout == 0 and self.message_dropout == 0):
            return propagate_layers(self.adjacency, x, self.num_layers, self.adjacency_t)
        a = sparse_value_dropout(self.adjacency, self.edge_dropout)
        # dropping non-zeros independently breaks symmetry: the backward needs a's transpose
        a_t = transpose_csr(a) if self.edge_dropout > 0 else self.adjacency_t
        out = [x]
        for _ in range(self.num_layers):
            x = F.dropout(spmm(a, x, a_t), self.message_dropout, training=True)
            out.append(x)
        return out
