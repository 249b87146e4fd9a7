"""DirectAU: alignment and uniformity of normalised representations."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from gnnrec.losses.base import Loss, LossInput, weighted_mean


def alignment(x: Tensor, y: Tensor, weight: Tensor | None = None) -> Tensor:
    r""":math:`\frac{1}{B}\sum_b \lVert \tilde{\mathbf{x}}_b - \tilde{\mathbf{y}}_b \rVert^2`
    with :math:`\tilde{\mathbf{x}} = \mathbf{x}/\lVert\mathbf{x}\rVert`."""
    return weighted_mean((F.normalize(x, dim=-1) - F.normalize(y, dim=-1)).pow(2).sum(-1), weight)


def uniformity(x: Tensor, t: float = 2.0) -> Tensor:
    r"""Uniformity (Wang & Isola, ICML 2020) of the rows of ``x`` (0 for one row).

    .. math::
        \log \frac{2}{B(B-1)}\sum_{a<b}
            e^{-t\lVert\tilde{\mathbf{x}}_a-\tilde{\mathbf{x}}_b\rVert^2}
    """
    if x.shape[0] < 2:  # no pair: the term is constant, contributes nothing
        return x.new_zeros(())
    z = F.normalize(x, dim=-1)
    return torch.pdist(z, p=2).pow(2).mul(-t).exp().mean().log()


class DirectAULoss(Loss):
    r"""DirectAU (Wang et al., KDD 2022): optimise alignment and uniformity directly.

    .. math::
        \mathcal{L} = \ell_{align} + \gamma\,\frac{\ell_{uniform}(U) + \ell_{uniform}(I)}{2},
        \quad \ell_{align} = \frac{1}{|B|}\sum_{(u,i)\in B}
            \lVert\tilde{\mathbf{e}}_u - \tilde{\mathbf{e}}_i\rVert^2,
        \quad \ell_{uniform}(X) = \log \operatorname*{mean}_{x \ne x'}
            e^{-2\lVert\tilde{\mathbf{e}}_x-\tilde{\mathbf{e}}_{x'}\rVert^2}

    where :math:`U` and :math:`I` are the batch's distinct users and
    distinct positive items (as in the authors' code, which deduplicates
    before the uniformity term). Needs no sampled negatives. The paper
    scores by dot product at test time; so does gnnrec.

    Args:
        gamma: weight :math:`\gamma` of the uniformity term (paper: 0.5–10
            depending on the dataset; 1 by default).
    """

    name = "directau"
    min_negatives = 0

    def __init__(self, gamma: float = 1.0) -> None:
        if not isinstance(gamma, int | float) or gamma < 0:
            raise ValueError(f"loss.gamma must be >= 0, got {gamma!r}")
        self.gamma = float(gamma)

    def __call__(self, batch: LossInput) -> dict[str, Tensor]:
        align = alignment(batch.user_emb, batch.pos_emb, batch.weight)
        users = _first_rows(batch.users, batch.user_emb)
        items = _first_rows(batch.pos, batch.pos_emb)
        uniform = (uniformity(users) + uniformity(items)) / 2
        return {"align": align, "uniform": self.gamma * uniform}


def _first_rows(ids: Tensor, rows: Tensor) -> Tensor:
    """Rows of ``rows`` for the distinct values of ``ids`` (first occurrence each)."""
    _, inverse = torch.unique(ids, return_inverse=True)
    first = torch.full((int(inverse.max()) + 1,), len(ids), device=ids.device)
    first = first.scatter_reduce(0, inverse, torch.arange(len(ids), device=ids.device), "amin")
    return rows.index_select(0, first)
