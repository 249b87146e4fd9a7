"""What a training loss sees of one batch, and the interface every loss follows."""

from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor


@dataclass
class LossInput:
    """One batch as the trainer hands it to a loss.

    Attributes:
        users: ``[B]`` user ids.
        pos: ``[B]`` positive item ids.
        neg: ``[B, n]`` sampled negative item ids (``n`` may be 0).
        user_emb: ``[B, d]`` representations of ``users``.
        pos_emb: ``[B, d]`` representations of ``pos``.
        neg_emb: ``[B, n, d]`` representations of ``neg``.
        weight: optional ``[B]`` weight of each (user, positive) pair, from
            the model's :meth:`~gnnrec.models.base.Recommender.pair_weights`
            (e.g. DGRec's category rebalancing); None: every pair weighs 1.
            Losses take :func:`weighted_mean` over pairs, so weights that
            average 1 over the training pairs keep the loss's scale.
    """

    users: Tensor
    pos: Tensor
    neg: Tensor
    user_emb: Tensor
    pos_emb: Tensor
    neg_emb: Tensor
    weight: Tensor | None = None


def weighted_mean(values: Tensor, weight: Tensor | None) -> Tensor:
    r"""Mean of per-pair values ``[B]`` or ``[B, n]`` with pair weights ``w`` ``[B]``:
    :math:`\frac{1}{|B|\,n}\sum_b w_b \sum_j v_{bj}` (plain mean when ``w`` is None)."""
    if weight is None:
        return values.mean()
    if values.dim() == 2:
        values = values.mean(1)
    return (weight * values).mean()


class Loss:
    """A recommendation objective over one batch.

    ``__call__`` returns named terms (each a scalar tensor); the trainer adds
    them up with the model's L2 and auxiliary terms and logs each as
    ``train/<name>``. Scores are dot products of the representations unless
    a loss states otherwise.

    Attributes:
        min_negatives: sampled negatives per positive the loss needs
            (the sampler's ``num_negatives`` must be at least this).
    """

    name = "loss"
    min_negatives = 1

    def __call__(self, batch: LossInput) -> dict[str, Tensor]:
        raise NotImplementedError

    def __repr__(self) -> str:
        fields = ", ".join(f"{k}={v!r}" for k, v in vars(self).items())
        return f"{type(self).__name__}({fields})"
