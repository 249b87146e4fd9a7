"""Accuracy metrics of top-K lists (per user).

Shared conventions: ``hits`` is a ``[U, K]`` bool tensor, ``hits[u, r]`` true
when the item ranked ``r + 1`` for user ``u`` is relevant (padding ``-1``
entries are never hits); K is ``hits.shape[1]``, so ``metric(hits[:, :k])``
is the metric at ``k``. ``num_relevant`` is ``[U]``, the size of each user's
ground-truth set :math:`R_u`. Functions return ``[U]`` float tensors, NaN
where the metric is undefined (:math:`|R_u| = 0`).
"""

from __future__ import annotations

import torch
from torch import Tensor


def _undefined_where_empty(values: Tensor, num_relevant: Tensor) -> Tensor:
    return values.masked_fill(num_relevant == 0, float("nan"))


def recall(hits: Tensor, num_relevant: Tensor) -> Tensor:
    r"""Recall@K :math:`= |L_u^K \cap R_u| \,/\, |R_u|`.

    The denominator is the full size of the user's ground truth, also when
    it exceeds K (so a perfect list scores K/|R_u| < 1 then), as in RecBole
    and PyG's ``LinkPredRecall``. NaN when :math:`R_u` is empty.
    """
    found = hits.sum(1, dtype=torch.float32)
    return _undefined_where_empty(found / num_relevant.clamp(min=1), num_relevant)


def precision(hits: Tensor, num_relevant: Tensor) -> Tensor:
    r"""Precision@K :math:`= |L_u^K \cap R_u| \,/\, K`.

    The denominator is K even when fewer than K items could be ranked.
    NaN when :math:`R_u` is empty.
    """
    found = hits.sum(1, dtype=torch.float32)
    return _undefined_where_empty(found / hits.shape[1], num_relevant)


def hit_rate(hits: Tensor, num_relevant: Tensor) -> Tensor:
    r"""Hit@K :math:`= \mathbb{1}[|L_u^K \cap R_u| > 0]`. NaN when :math:`R_u` is empty."""
    return _undefined_where_empty(hits.any(1).float(), num_relevant)


def _discounts(k: int, device: torch.device) -> Tensor:
    return 1.0 / torch.log2(torch.arange(2, k + 2, device=device, dtype=torch.float32))


def ndcg(hits: Tensor, num_relevant: Tensor) -> Tensor:
    r"""NDCG@K with binary relevance.

    .. math::
        \mathrm{DCG}_u = \sum_{r=1}^{K} \frac{\mathbb{1}[L_u^K(r) \in R_u]}{\log_2(r+1)},\quad
        \mathrm{IDCG}_u = \sum_{r=1}^{\min(K, |R_u|)} \frac{1}{\log_2(r+1)},\quad
        \mathrm{NDCG}_u = \mathrm{DCG}_u / \mathrm{IDCG}_u .

    NaN when :math:`R_u` is empty.
    """
    k = hits.shape[1]
    disc = _discounts(k, hits.device)
    dcg = (hits.float() * disc).sum(1)
    ideal_len = num_relevant.clamp(max=k)
    cum = torch.cat([torch.zeros(1, device=hits.device), torch.cumsum(disc, 0)])
    idcg = cum[ideal_len]
    return _undefined_where_empty(dcg / idcg.clamp(min=1e-12), num_relevant)
