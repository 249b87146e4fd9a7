"""Uniform negative sampling, vectorised on the device."""

from __future__ import annotations

import torch
from torch import Tensor


class UniformNegativeSampler:
    """Draws for each user an item uniformly among the items it has not interacted with.

    Positives are rejected by a binary search of ``user * num_items + item``
    in the sorted training keys; rejected draws are redrawn for the affected
    rows only, so a batch needs a handful of vectorised passes and no
    per-user Python loop.

    Args:
        train_users: ``[E]`` user of each training interaction.
        train_items: ``[E]`` item of each training interaction.
        num_items: size of the catalogue.
        max_rounds: redraw rounds before giving up (a user who has
            interacted with every item has no negative).
    """

    def __init__(
        self, train_users: Tensor, train_items: Tensor, num_items: int, max_rounds: int = 100
    ) -> None:
        self.num_items = num_items
        self.max_rounds = max_rounds
        self.keys = torch.unique(train_users.long() * num_items + train_items.long())

    def is_positive(self, users: Tensor, items: Tensor) -> Tensor:
        query = users.long() * self.num_items + items
        pos = torch.searchsorted(self.keys, query).clamp_(max=len(self.keys) - 1)
        return self.keys[pos] == query

    def sample(self, users: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """``[B]`` negative items for ``[B]`` users."""
        device = self.keys.device
        neg = torch.randint(self.num_items, users.shape, device=device, generator=generator)
        bad = self.is_positive(users, neg)
        for _ in range(self.max_rounds):
            if not bad.any():
                return neg
            idx = bad.nonzero().squeeze(1)
            neg[idx] = torch.randint(self.num_items, idx.shape, device=device, generator=generator)
            bad[idx] = self.is_positive(users[idx], neg[idx])
        if bad.any():
            raise RuntimeError(
                f"{int(bad.sum())} users have no negative item after {self.max_rounds} draws "
                "(they interacted with almost every item)"
            )
        return neg
