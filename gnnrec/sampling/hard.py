"""Hard negatives by the current model's scores (dynamic negative sampling)."""

from __future__ import annotations

import torch
from torch import Tensor

from gnnrec.sampling.base import NegativeSampler, TrainingPairs


class HardNegativeSampler(NegativeSampler):
    r"""Dynamic negative sampling (DNS; Zhang et al., SIGIR 2013).

    For each negative slot, ``num_candidates`` items are drawn uniformly
    among the user's non-interacted items and the one the current model
    scores highest is kept:
    :math:`j = \arg\max_{j' \in C_u} \mathbf{e}_u^\top \mathbf{e}_{j'}`,
    with the representations of the same optimisation step (detached: the
    choice is not differentiated). ``num_candidates=1`` is uniform sampling.

    Args:
        num_candidates: candidates per negative (:math:`|C_u|`).
    """

    name = "hard"
    uses_scores = True

    def __init__(
        self,
        data: TrainingPairs,
        num_negatives: int = 1,
        num_candidates: int = 10,
        max_rounds: int = 100,
    ) -> None:
        super().__init__(data, num_negatives, max_rounds)
        if isinstance(num_candidates, bool) or not isinstance(num_candidates, int):
            raise ValueError(f"sampler.num_candidates must be an integer, got {num_candidates!r}")
        if num_candidates < 1:
            raise ValueError(f"sampler.num_candidates must be >= 1, got {num_candidates}")
        self.num_candidates = num_candidates

    def sample(
        self,
        users: Tensor,
        pos: Tensor,
        generator: torch.Generator | None = None,
        user_emb: Tensor | None = None,
        item_emb: Tensor | None = None,
    ) -> Tensor:
        if user_emb is None or item_emb is None:
            raise ValueError("sampler=hard needs the current user and item embeddings")
        n, m = self.num_negatives, self.num_candidates
        if n == 0:
            return users.new_empty((len(users), 0))
        flat_u = users.repeat_interleave(n * m)
        flat_p = pos.repeat_interleave(n * m)
        cand = self.draw_valid(flat_u, flat_p, generator).view(len(users), n, m)
        with torch.no_grad():
            u = user_emb.index_select(0, users)  # [B, d]
            e = item_emb.index_select(0, cand.reshape(-1)).view(len(users), n, m, -1)
            scores = (e * u[:, None, None, :]).sum(-1)  # [B, n, m]
        best = scores.argmax(-1, keepdim=True)
        return cand.gather(-1, best).squeeze(-1)

    def __repr__(self) -> str:
        return (
            f"HardNegativeSampler(num_negatives={self.num_negatives}, "
            f"num_candidates={self.num_candidates})"
        )
