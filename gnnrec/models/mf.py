"""Matrix factorisation trained with BPR (BPR-MF)."""

from __future__ import annotations

from torch import Tensor, nn

from gnnrec.graph.build import RecGraph
from gnnrec.models.base import Recommender, check_int, squared_norm


class MF(Recommender):
    r"""Matrix factorisation: :math:`\hat y_{ui} = \mathbf{e}_u^\top \mathbf{e}_i`.

    Trained with the BPR loss it is BPR-MF (Rendle et al., "BPR: Bayesian
    Personalized Ranking from Implicit Feedback", UAI 2009).

    Args:
        num_users: number of users.
        num_items: number of items.
        embedding_dim: size :math:`d` of the embeddings.
        init_std: standard deviation of the normal initialisation.
    """

    def __init__(
        self, num_users: int, num_items: int, embedding_dim: int = 64, init_std: float = 0.1
    ) -> None:
        super().__init__()
        check_int("embedding_dim", embedding_dim)
        self.num_users, self.num_items = num_users, num_items
        self.init_std = init_std
        self.user_emb = nn.Embedding(num_users, embedding_dim)
        self.item_emb = nn.Embedding(num_items, embedding_dim)
        self.reset_parameters()

    @classmethod
    def from_graph(cls, graph: RecGraph, **hparams) -> MF:
        """Build for a training graph (only its sizes are used)."""
        return cls(graph.num_users, graph.num_items, **hparams)

    def reset_parameters(self) -> None:
        nn.init.normal_(self.user_emb.weight, std=self.init_std)
        nn.init.normal_(self.item_emb.weight, std=self.init_std)

    def forward(self) -> tuple[Tensor, Tensor]:
        return self.user_emb.weight, self.item_emb.weight

    def regularization(self, users: Tensor, pos: Tensor, neg: Tensor) -> Tensor:
        return squared_norm(self.user_emb.weight, users) + squared_norm(
            self.item_emb.weight, pos, neg
        )

    def __repr__(self) -> str:
        d = self.user_emb.embedding_dim
        return f"MF(users={self.num_users}, items={self.num_items}, dim={d})"
