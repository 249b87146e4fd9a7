"""LightGCN (He et al., SIGIR 2020)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from gnnrec.graph.build import RecGraph
from gnnrec.models.base import Recommender, check_int, split_nodes, squared_norm


class LightGCN(Recommender):
    r"""LightGCN: linear propagation over the normalised interaction graph.

    .. math::
        \mathbf{E}^{(k+1)} = \hat{\mathbf{A}} \mathbf{E}^{(k)}, \qquad
        \mathbf{E} = \sum_{k=0}^{K} \alpha_k \mathbf{E}^{(k)},

    with :math:`\hat{\mathbf{A}} = \mathbf{D}^{-1/2}\mathbf{A}\mathbf{D}^{-1/2}`
    the symmetric-normalised adjacency of the training graph (users, items
    and, when the graph includes them, categories as nodes), and scores
    :math:`\hat y_{ui} = \mathbf{e}_u^\top \mathbf{e}_i`.

    He et al., "LightGCN: Simplifying and Powering Graph Convolution Network
    for Recommendation", SIGIR 2020. Default :math:`\alpha_k = 1/(K+1)` as in
    the paper. Deviation: with category nodes in the graph (an option, off by
    default) categories get embeddings and exchange messages with items.

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
    """

    def __init__(
        self,
        adjacency: Tensor,
        num_users: int,
        num_items: int,
        embedding_dim: int = 64,
        num_layers: int = 3,
        alpha: Sequence[float] | None = None,
        init_std: float = 0.1,
    ) -> None:
        super().__init__()
        check_int("embedding_dim", embedding_dim)
        check_int("num_layers", num_layers, minimum=0)
        self.num_users, self.num_items = num_users, num_items
        self.num_layers = num_layers
        self.init_std = init_std
        if alpha is None:
            alpha = [1.0 / (num_layers + 1)] * (num_layers + 1)
        if len(alpha) != num_layers + 1:
            raise ValueError(f"alpha needs {num_layers + 1} weights, got {len(alpha)}")
        self.register_buffer("alpha", torch.tensor(list(alpha), dtype=torch.float32))
        self.register_buffer("adjacency", adjacency, persistent=False)
        self.embedding = nn.Embedding(adjacency.shape[0], embedding_dim)
        self.reset_parameters()

    @classmethod
    def from_graph(cls, graph: RecGraph, **hparams) -> LightGCN:
        """Build over a training graph's normalised adjacency."""
        return cls(graph.adjacency, graph.num_users, graph.num_items, **hparams)

    def reset_parameters(self) -> None:
        nn.init.normal_(self.embedding.weight, std=self.init_std)

    def propagate(self) -> Tensor:
        """All node embeddings ``[N, d]`` after layer combination."""
        x = self.embedding.weight
        out = self.alpha[0] * x
        for k in range(1, self.num_layers + 1):
            x = torch.sparse.mm(self.adjacency, x)
            out = out + self.alpha[k] * x
        return out

    def forward(self) -> tuple[Tensor, Tensor]:
        return split_nodes(self.propagate(), self.num_users, self.num_items)

    def regularization(self, users: Tensor, pos: Tensor, neg: Tensor) -> Tensor:
        w = self.embedding.weight
        offset = self.num_users
        return squared_norm(w, users, pos + offset, neg + offset)

    def __repr__(self) -> str:
        return (
            f"LightGCN(nodes={self.embedding.num_embeddings}, "
            f"dim={self.embedding.embedding_dim}, layers={self.num_layers})"
        )
