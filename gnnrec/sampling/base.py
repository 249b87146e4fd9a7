"""The training pairs samplers draw against, and the rejection-sampling base class."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from gnnrec.data.split import Split
from gnnrec.errors import ConfigError


@dataclass
class TrainingPairs:
    """The TRAIN interactions and item categories, on the training device.

    Attributes:
        users: ``[E]`` user of each training interaction.
        items: ``[E]`` item of each training interaction.
        num_users: number of users.
        num_items: size of the catalogue.
        category_indptr: ``[num_items + 1]`` CSR row pointer of the item →
            category multi-hot matrix (None: no categories).
        category_indices: ``[nnz]`` category ids of that matrix.
        num_categories: number of categories.
        dataset: the dataset's name (for messages).
    """

    users: Tensor
    items: Tensor
    num_users: int
    num_items: int
    category_indptr: Tensor | None = None
    category_indices: Tensor | None = None
    num_categories: int = 0
    dataset: str = "the dataset"

    @classmethod
    def from_split(cls, split: Split, device: torch.device | str = "cpu") -> TrainingPairs:
        ds = split.dataset
        idx = split.train
        cats = ds.item_categories.tocsr()
        cats.sort_indices()
        return cls(
            users=torch.from_numpy(ds.users[idx]).to(device),
            items=torch.from_numpy(ds.items[idx]).to(device),
            num_users=ds.num_users,
            num_items=ds.num_items,
            category_indptr=torch.from_numpy(cats.indptr.astype(np.int64)).to(device),
            category_indices=torch.from_numpy(cats.indices.astype(np.int64)).to(device),
            num_categories=ds.num_categories,
            dataset=ds.name,
        )

    @property
    def has_categories(self) -> bool:
        """Whether at least one item carries a category."""
        return self.category_indices is not None and len(self.category_indices) > 0

    def item_popularity(self) -> Tensor:
        """``[num_items]`` training interactions per item."""
        return torch.bincount(self.items, minlength=self.num_items)


UNIFORM_ROUNDS = 100
"""Redraw rounds of :meth:`NegativeSampler.uniform_valid`."""


class NegativeSampler:
    """Draws ``num_negatives`` items per (user, positive) that the user has not
    interacted with in training.

    Subclasses propose candidates (:meth:`draw`, uniform by default) and may
    add acceptance conditions (:meth:`acceptable`); this class rejects training positives
    by a binary search of ``user * num_items + item`` in the sorted training
    keys and redraws only the rejected rows, so a batch needs a handful of
    vectorised passes and no per-user Python loop. Rows still rejected after
    ``max_rounds`` go to :meth:`fallback`.

    Args:
        data: the training pairs.
        num_negatives: negatives per positive (``n``; 0 for losses without
            sampled negatives).
        max_rounds: redraw rounds before :meth:`fallback`.
    """

    name = "sampler"
    uses_scores = False
    """Whether :meth:`sample` needs the current embeddings (hard negatives)."""

    def __init__(self, data: TrainingPairs, num_negatives: int = 1, max_rounds: int = 100) -> None:
        if isinstance(num_negatives, bool) or not isinstance(num_negatives, int):
            raise ConfigError(f"sampler.num_negatives must be an integer, got {num_negatives!r}")
        if num_negatives < 0:
            raise ConfigError(f"sampler.num_negatives must be >= 0, got {num_negatives}")
        self.num_items = data.num_items
        self.num_negatives = num_negatives
        self.max_rounds = max_rounds
        self.keys = torch.unique(data.users.long() * data.num_items + data.items.long())

    def is_positive(self, users: Tensor, items: Tensor) -> Tensor:
        """Whether each (user, item) is a training interaction (same shapes)."""
        query = users.long() * self.num_items + items
        pos = torch.searchsorted(self.keys, query).clamp_(max=len(self.keys) - 1)
        return self.keys[pos] == query

    def draw(self, users: Tensor, pos: Tensor, generator: torch.Generator | None) -> Tensor:
        """One candidate negative per row (``[M]`` users and positives); uniform here."""
        return self._uniform(users, pos, generator)

    def _uniform(self, users: Tensor, pos: Tensor, generator: torch.Generator | None) -> Tensor:
        return uniform_items(len(users), self.num_items, users, generator)

    def acceptable(self, users: Tensor, pos: Tensor, neg: Tensor) -> Tensor:
        """Extra acceptance test beyond "not a training positive" (default: none)."""
        return torch.ones_like(neg, dtype=torch.bool)

    def fallback(self, users: Tensor, pos: Tensor, generator: torch.Generator | None) -> Tensor:
        """Rows still rejected after ``max_rounds``: an error by default; biased
        samplers override it with :meth:`uniform_valid`."""
        raise RuntimeError(
            f"{len(users)} users have no negative item after {self.max_rounds} draws "
            "(they interacted with almost every item)"
        )

    def _rejected(self, users: Tensor, pos: Tensor, neg: Tensor) -> Tensor:
        return self.is_positive(users, neg) | ~self.acceptable(users, pos, neg)

    def _redraw(
        self,
        users: Tensor,
        pos: Tensor,
        generator: torch.Generator | None,
        draw: Callable[[Tensor, Tensor, torch.Generator | None], Tensor],
        rejected: Callable[[Tensor, Tensor, Tensor], Tensor],
        rounds: int,
    ) -> tuple[Tensor, Tensor]:
        """``draw`` once per row, then redraw the ``rejected`` rows only, up to
        ``rounds`` times; returns the negatives and the rows still rejected."""
        neg = draw(users, pos, generator)
        bad = rejected(users, pos, neg)
        for _ in range(rounds):
            if not bad.any():
                break
            idx = bad.nonzero().squeeze(1)
            neg[idx] = draw(users[idx], pos[idx], generator)
            bad[idx] = rejected(users[idx], pos[idx], neg[idx])
        return neg, bad

    def draw_valid(self, users: Tensor, pos: Tensor, generator: torch.Generator | None) -> Tensor:
        """``[M]`` accepted negatives for ``[M]`` users and positives."""
        neg, bad = self._redraw(users, pos, generator, self.draw, self._rejected, self.max_rounds)
        if bad.any():
            idx = bad.nonzero().squeeze(1)
            neg[idx] = self.fallback(users[idx], pos[idx], generator)
        return neg

    def uniform_valid(
        self, users: Tensor, pos: Tensor, generator: torch.Generator | None
    ) -> Tensor:
        """``[M]`` uniform negatives that are not training positives (the fallback
        of biased samplers), after at most :data:`UNIFORM_ROUNDS` redraws."""
        neg, bad = self._redraw(
            users,
            pos,
            generator,
            self._uniform,
            lambda u, _p, n: self.is_positive(u, n),
            UNIFORM_ROUNDS,
        )
        if bad.any():
            raise RuntimeError(
                f"{int(bad.sum())} users have no negative item after {UNIFORM_ROUNDS} draws "
                "(they interacted with almost every item)"
            )
        return neg

    def sample(
        self,
        users: Tensor,
        pos: Tensor,
        generator: torch.Generator | None = None,
        user_emb: Tensor | None = None,
        item_emb: Tensor | None = None,
    ) -> Tensor:
        """``[B, n]`` negatives for ``[B]`` users and their ``[B]`` positives.

        ``user_emb`` / ``item_emb`` (all users' and items' current
        representations, detached) are used only by samplers with
        ``uses_scores``.
        """
        n = self.num_negatives
        if n == 0:
            return users.new_empty((len(users), 0))
        if n > 1:
            users, pos = users.repeat_interleave(n), pos.repeat_interleave(n)
        return self.draw_valid(users, pos, generator).view(-1, n)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(num_negatives={self.num_negatives})"


def uniform_items(count: int, num_items: int, like: Tensor, generator: torch.Generator | None):
    """``[count]`` item ids drawn uniformly (on ``like``'s device)."""
    return torch.randint(num_items, (count,), device=like.device, generator=generator)
