"""NGCF: Neural Graph Collaborative Filtering (Wang et al., SIGIR 2019)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import cast

import torch.nn.functional as F
from torch import Tensor, nn

from gnnrec.graph.build import RecGraph
from gnnrec.models.base import GraphRecommender, check_int
from gnnrec.models.layers.combine import layer_combination
from gnnrec.models.layers.dropout import check_probability, sparse_value_dropout
from gnnrec.models.layers.propagate import spmm, transpose_csr


class NGCFConv(nn.Module):
    r"""One NGCF embedding-propagation layer (before message dropout).

    .. math::
        \mathbf{E}^{(l+1)} = \operatorname{LeakyReLU}\Big(
            (\mathcal{L} + \mathbf{I})\,\mathbf{E}^{(l)} \mathbf{W}_1 + \mathbf{b}_1
            + \big(\mathcal{L}\mathbf{E}^{(l)} \odot \mathbf{E}^{(l)}\big) \mathbf{W}_2
            + \mathbf{b}_2\Big)

    Args:
        dim: input and output width :math:`d`.
        negative_slope: LeakyReLU slope.
    """

    def __init__(self, dim: int, negative_slope: float = 0.2) -> None:
        super().__init__()
        self.negative_slope = negative_slope
        self.lin_sum = nn.Linear(dim, dim)  # W1, b1: the (L + I) E term
        self.lin_bi = nn.Linear(dim, dim)  # W2, b2: the L E ⊙ E term
        self.reset_parameters()

    def reset_parameters(self) -> None:
        for lin in (self.lin_sum, self.lin_bi):
            nn.init.xavier_uniform_(lin.weight)
            nn.init.zeros_(lin.bias)

    def forward(self, laplacian: Tensor, x: Tensor, laplacian_t: Tensor | None = None) -> Tensor:
        """``laplacian`` ``[N, N]`` sparse (``laplacian_t`` its transpose, None
        when symmetric), ``x`` ``[N, d]`` → ``[N, d]``."""
        side = spmm(laplacian, x, laplacian_t)  # L E
        out = self.lin_sum(side + x) + self.lin_bi(side * x)
        return F.leaky_relu(out, self.negative_slope)


class NGCF(GraphRecommender):
    r"""NGCF: stacked non-linear propagation with feature interaction.

    .. math::
        \mathbf{E}^{(l+1)} = \operatorname{LeakyReLU}\Big(
            (\mathcal{L} + \mathbf{I})\,\mathbf{E}^{(l)} \mathbf{W}^{(l)}_1
            + \big(\mathcal{L}\mathbf{E}^{(l)} \odot \mathbf{E}^{(l)}\big)
              \mathbf{W}^{(l)}_2 + \mathbf{b}^{(l)}\Big),
        \qquad
        \mathbf{e}_v = \mathbf{e}^{(0)}_v \,\Vert\,
            \frac{\mathbf{e}^{(1)}_v}{\lVert \mathbf{e}^{(1)}_v \rVert} \,\Vert \cdots \Vert\,
            \frac{\mathbf{e}^{(L)}_v}{\lVert \mathbf{e}^{(L)}_v \rVert},

    with :math:`\mathcal{L} = \mathbf{D}^{-1/2}\mathbf{A}\mathbf{D}^{-1/2}`
    (so :math:`p_{ui} = 1/\sqrt{|\mathcal{N}_u||\mathcal{N}_i|}`), LeakyReLU
    slope 0.2, :math:`\mathbf{b}^{(l)} = \mathbf{b}^{(l)}_1 + \mathbf{b}^{(l)}_2`
    and scores :math:`\hat y_{ui} = \mathbf{e}_u^\top \mathbf{e}_i`. In
    training, message dropout is applied to every :math:`\mathbf{E}^{(l+1)}`
    (the dropped matrix feeds the next layer) and node dropout drops each
    non-zero of :math:`\mathcal{L}` for the step (one mask for all layers,
    survivors scaled by :math:`1/(1-p)`).

    Wang et al., "Neural Graph Collaborative Filtering", SIGIR 2019; reference
    code github.com/xiangwang1223/neural_graph_collaborative_filtering.
    Deviations:

    * node dropout is, as in the reference code, dropout of the Laplacian's
      non-zeros (edges), not of whole nodes; default 0 (the reference's
      ``node_dropout_flag`` is off by default);
    * the propagation follows the paper's equation (one LeakyReLU over the sum,
      :math:`\mathcal{L}` symmetric-normalised); the reference code applies a
      LeakyReLU to each of the two terms and uses the row-normalised
      :math:`\mathbf{D}^{-1}(\mathbf{A} + \mathbf{I})` for both;
    * biases start at zero (the reference Xavier-initialises them);
    * :meth:`regularization` covers the layer-0 embeddings only; the paper also
      decays :math:`\mathbf{W}_1, \mathbf{W}_2` (left to an optimiser's
      weight decay);
    * with category nodes in the graph (an option) categories get embeddings
      and take part in propagation; scores use users' and items' rows only;
    * ``combine`` can replace the concatenation by another layer combination.

    Args:
        adjacency: ``[N, N]`` sparse :math:`\mathcal{L}`, nodes ordered users,
            items(, categories).
        num_users: number of users.
        num_items: number of items.
        embedding_dim: width :math:`d` of the embeddings and of every layer.
        num_layers: number of propagation layers :math:`L`.
        message_dropout: dropout probability on each layer's output (training).
        node_dropout: drop probability of each non-zero of :math:`\mathcal{L}`
            (training).
        negative_slope: LeakyReLU slope.
        combine: layer combination
            (:func:`~gnnrec.models.layers.combine.layer_combination`); ``concat``
            gives ``[*, (L+1) d]`` representations.
        alpha: fixed weights for ``combine="weighted"``.
    """

    adjacency: Tensor

    def __init__(
        self,
        adjacency: Tensor,
        num_users: int,
        num_items: int,
        embedding_dim: int = 64,
        num_layers: int = 3,
        message_dropout: float = 0.1,
        node_dropout: float = 0.0,
        negative_slope: float = 0.2,
        combine: str = "concat",
        alpha: Sequence[float] | None = None,
    ) -> None:
        super().__init__()
        check_int("embedding_dim", embedding_dim)
        check_int("num_layers", num_layers)
        self.message_dropout = check_probability("message_dropout", message_dropout)
        self.node_dropout = check_probability("node_dropout", node_dropout)
        self.num_users, self.num_items = num_users, num_items
        self.num_layers = num_layers
        self.register_buffer("adjacency", adjacency, persistent=False)
        self.embedding = nn.Embedding(adjacency.shape[0], embedding_dim)
        self.convs = nn.ModuleList(
            NGCFConv(embedding_dim, negative_slope) for _ in range(num_layers)
        )
        self.combine = layer_combination(combine, num_layers, embedding_dim, alpha)
        self.reset_parameters()

    @classmethod
    def from_graph(cls, graph: RecGraph, **hparams) -> NGCF:
        """Build over a training graph's symmetric-normalised adjacency."""
        return cls(graph.adjacency, graph.num_users, graph.num_items, **hparams)

    def reset_parameters(self) -> None:
        nn.init.xavier_uniform_(self.embedding.weight)
        for conv in self.convs:
            cast(NGCFConv, conv).reset_parameters()
        self.combine.reset_parameters()

    def layers(self) -> list[Tensor]:
        r"""Layer 0 and the L2-normalised outputs of layers ``1..L`` (``[N, d]`` each)."""
        laplacian = sparse_value_dropout(self.adjacency, self.node_dropout, self.training)
        dropped = self.training and self.node_dropout > 0
        laplacian_t = transpose_csr(laplacian) if dropped else None
        x = self.embedding.weight
        out = [x]
        for conv in self.convs:
            x = F.dropout(conv(laplacian, x, laplacian_t), self.message_dropout, self.training)
            out.append(F.normalize(x, dim=1))
        return out
