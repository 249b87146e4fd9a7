"""Most-popular baseline."""

from __future__ import annotations

import torch
from torch import Tensor

from gnnrec.graph.build import RecGraph
from gnnrec.models.base import Recommender, Scorer


class MostPop(Recommender):
    r"""Recommends the items with the most training interactions to everyone.

    :math:`\hat y_{ui} = |\{v : (v, i) \in \mathcal{D}_{train}\}|`; ties are
    broken by the evaluator's rule (smaller item id first). Nothing is
    trained.

    Args:
        item_popularity: ``[num_items]`` training interaction counts.
        num_users: number of users.
    """

    popularity: Tensor

    def __init__(self, item_popularity: Tensor, num_users: int) -> None:
        super().__init__()
        self.num_users, self.num_items = num_users, len(item_popularity)
        self.register_buffer("popularity", item_popularity.float())

    @classmethod
    def from_graph(cls, graph: RecGraph) -> MostPop:
        """Popularity = number of training interactions of each item."""
        items = graph.edge_index[1][graph.edge_index[0] < graph.num_users] - graph.num_users
        return cls(torch.bincount(items, minlength=graph.num_items), graph.num_users)

    def forward(self) -> tuple[Tensor, Tensor]:
        raise NotImplementedError("MostPop has no embeddings; use scorer()")

    def regularization(self, users: Tensor, pos: Tensor, neg: Tensor) -> Tensor:
        return torch.zeros((), device=self.popularity.device)

    @torch.no_grad()
    def scorer(self) -> Scorer:
        pop = self.popularity

        def score(users: Tensor) -> Tensor:
            return pop.expand(len(users), -1)

        return score
