"""What every gnnrec model provides to the trainer and the evaluator."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn

from gnnrec.errors import ConfigError
from gnnrec.graph.build import RecGraph
from gnnrec.models.layers.combine import LayerCombination
from gnnrec.models.scorers import EmbeddingScorer

Scorer = Callable[[Tensor], Tensor]
"""Maps ``[B]`` user ids to ``[B, num_items]`` scores (higher ranks first)."""


class Recommender(nn.Module):
    """Base class of gnnrec models.

    A model computes all user and item representations in one call of
    :meth:`forward` (for graph models: one propagation over the whole
    training graph), which the trainer does once per optimisation step.
    The default scores are dot products of those representations.

    Subclasses implement :meth:`forward` and :meth:`regularization`; models
    that do not score by dot product (e.g. :class:`MostPop`) override
    :meth:`scorer` instead.
    """

    num_users: int
    num_items: int

    def forward(self) -> tuple[Tensor, Tensor]:
        """Return ``(user_emb [num_users, d], item_emb [num_items, d])``."""
        raise NotImplementedError

    def regularization(self, users: Tensor, pos: Tensor, neg: Tensor) -> Tensor:
        """Squared L2 norm of the free parameters a batch touches (summed)."""
        raise NotImplementedError

    def start_epoch(self, generator: torch.Generator) -> None:
        """Hook called by the trainer once at the start of every training epoch.

        Models with random graph views (SGL) build them here, once per epoch,
        drawing from ``generator`` (the run's seeded generator, on the
        model's device) so that runs stay reproducible. Default: nothing.
        """

    def auxiliary_losses(
        self, users: Tensor, pos: Tensor, neg: Tensor, generator: torch.Generator
    ) -> dict[str, Tensor]:
        """Model-declared auxiliary objective terms for one batch, already weighted.

        Called by the trainer after :meth:`forward` in the same optimisation
        step, with the batch's ``[B]`` users and positives and ``[B, n]``
        negatives. Each term is added to the training loss and logged as
        ``train/<name>`` (e.g. SGL's ``{"cl": weight * InfoNCE}``). A model
        may reuse what its last training-mode :meth:`forward` computed.
        Default: no terms.
        """
        return {}

    def pair_weights(self, users: Tensor, pos: Tensor) -> Tensor | None:
        """Optional ``[B]`` weight of each training (user, positive) pair in the loss.

        Losses take a weighted mean over pairs (``LossInput.weight``); models
        that rebalance the objective (DGRec's per-category weights) return
        weights averaging 1 over the training pairs. Default: None (all 1).
        """
        return None

    @property
    def trainable(self) -> bool:
        return any(p.requires_grad for p in self.parameters())

    @torch.no_grad()
    def scorer(self) -> Scorer:
        """Dot-product scores over all items from one forward pass (for evaluation).

        The returned :class:`~gnnrec.models.scorers.EmbeddingScorer` also
        carries the item embeddings (used by embedding-based diversity).
        """
        user_emb, item_emb = self()
        return EmbeddingScorer(user_emb, item_emb, "dot")


class GraphRecommender(Recommender):
    """A model with one embedding table over its nodes (users, items, then any
    other node types: categories, side nodes) as layer 0, layers computed by :meth:`layers`,
    and a :class:`~gnnrec.models.layers.combine.LayerCombination` ``combine``
    of them; scores are dot products of the combined user and item rows.

    Subclasses set ``embedding``, ``combine`` and ``num_layers`` and implement
    :meth:`layers`.
    """

    embedding: nn.Embedding
    combine: LayerCombination
    num_layers: int

    def layers(self) -> list[Tensor]:
        """The ``K + 1`` layer outputs ``[N, d]`` (layer 0 first)."""
        raise NotImplementedError

    def propagate(self) -> Tensor:
        """All node representations ``[N, d']`` after layer combination."""
        return self.combine(self.layers())

    def forward(self) -> tuple[Tensor, Tensor]:
        return split_nodes(self.propagate(), self.num_users, self.num_items)

    def regularization(self, users: Tensor, pos: Tensor, neg: Tensor) -> Tensor:
        offset = self.num_users
        return squared_norm(self.embedding.weight, users, pos + offset, neg + offset)

    def extra_repr_items(self) -> list[str]:
        """Extra ``key=value`` parts of the model's one-line summary."""
        return []

    def __repr__(self) -> str:
        parts = [
            f"nodes={self.embedding.num_embeddings}",
            f"dim={self.embedding.embedding_dim}",
            f"layers={self.num_layers}",
            *self.extra_repr_items(),
            f"combine={type(self.combine).__name__}",
        ]
        return f"{type(self).__name__}({', '.join(parts)})"


def require_user_item_graph(graph: RecGraph, name: str, what: str = "user–item edges only") -> None:
    """Stop with a config error when a model that propagates over user–item edges
    only is given a graph with category hubs (``model.graph.include_categories``)."""
    if graph.include_categories:
        raise ConfigError(
            f"model={name} propagates over {what}; set model.graph.include_categories=false"
        )


def check_int(name: str, value: object, minimum: int = 1) -> int:
    """Validate an integer hyper-parameter (configs may pass strings by mistake)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return value


def check_heads(embedding_dim: int, heads: int) -> None:
    """Heads are concatenated back to ``embedding_dim``, so they must divide it."""
    if embedding_dim % heads:
        raise ValueError(
            f"embedding_dim {embedding_dim} is not divisible by heads {heads}; "
            "pick heads among the divisors of embedding_dim"
        )


def squared_norm(weight: Tensor, *rows: Tensor) -> Tensor:
    """:math:`\\sum_r \\lVert w_r \\rVert^2` over the given rows of ``weight`` (repeats count).

    Gathers with ``index_select``, whose backward (``index_add``) is
    deterministic on multi-threaded CPUs; advanced indexing (``w[rows]``) is
    not, and made same-seed runs differ in the last bits.
    """
    return torch.stack([weight.index_select(0, r).pow(2).sum() for r in rows]).sum()


def split_nodes(x: Tensor, num_users: int, num_items: int) -> tuple[Tensor, Tensor]:
    """Users and items of a node matrix ordered users, items(, categories)."""
    return x[:num_users], x[num_users : num_users + num_items]
