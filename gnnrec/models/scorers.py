"""Scoring functions for the evaluator.

A scorer is any callable mapping ``[B]`` user ids to ``[B, num_items]``
scores (:data:`gnnrec.models.base.Scorer`); a model with a custom scoring
rule passes its own. :class:`EmbeddingScorer` covers every model that
exposes user and item embeddings and also hands the item embeddings to the
evaluator for the embedding-based intra-list diversity.

Optional protocol: a scorer with ``accepts_out = True`` takes ``out=``, a
``[B, num_items]`` float32 tensor to write the scores into; the evaluator
then reuses one buffer for all chunks. On CPU this matters: a fresh
``[chunk, num_items]`` block per chunk costs page faults that take longer
than the matrix product itself (about 23 ms of 39 ms per 500 x 40k block on
the 2-core benchmark machine).
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor

Similarity = Literal["dot", "cosine"]


class EmbeddingScorer:
    r"""Scores :math:`s_{ui} = e_u \cdot e_i` (``dot``) or
    :math:`e_u \cdot e_i / (\|e_u\| \|e_i\|)` (``cosine``).

    Embeddings are normalised once here for ``cosine``, so each chunk costs
    one matrix product.

    Args:
        user_embeddings: ``[num_users, d]``.
        item_embeddings: ``[num_items, d]`` on the same device.
        similarity: ``dot`` or ``cosine``.
    """

    def __init__(
        self, user_embeddings: Tensor, item_embeddings: Tensor, similarity: Similarity = "dot"
    ) -> None:
        if similarity not in ("dot", "cosine"):
            raise ValueError(f"similarity must be 'dot' or 'cosine', got {similarity!r}")
        if user_embeddings.shape[1] != item_embeddings.shape[1]:
            raise ValueError(
                f"user and item embeddings differ in width: {user_embeddings.shape[1]} "
                f"vs {item_embeddings.shape[1]}"
            )
        self.item_embeddings = item_embeddings.detach()
        self.similarity = similarity
        users, items = user_embeddings.detach(), self.item_embeddings
        if similarity == "cosine":
            users = torch.nn.functional.normalize(users, dim=1)
            items = torch.nn.functional.normalize(items, dim=1)
        self._users = users
        self._items_t = items.T

    @property
    def num_items(self) -> int:
        return self.item_embeddings.shape[0]

    accepts_out = True

    def __call__(self, users: Tensor, out: Tensor | None = None) -> Tensor:
        return torch.mm(self._users[users], self._items_t, out=out)
