"""Accuracy metrics of top-K lists (per user).

Shared conventions: ``hits`` is a ``[U, K]`` bool tensor, ``hits[u, r]`` true
when the item ranked ``r + 1`` for user ``u`` is relevant (padding ``-1``
entries are never hits); K is ``hits.shape[1]``, so ``metric(hits[:, :k])``
is the metric at ``k``. ``num_relevant`` is ``[U]``, the size of each user's
ground-truth set :math:`R_u` (relevant items that are masked from the ranking,
e.g. a test item the user also had in training, still count: they can never
be hit). :math:`L_u^K` is the user's list of length K. Functions return
``[U]`` float64 tensors, NaN where the metric is undefined
(:math:`|R_u| = 0`).

The formulas are those of RecBole's ``recbole/evaluator/metrics.py`` and of
PyG's ``torch_geometric.metrics`` (both cross-checked in the tests); the
denominators at a list shorter than K (padding) are stated per metric.
"""

from __future__ import annotations

import torch
from torch import Tensor

FLOAT = torch.float64


def _undefined_where_empty(values: Tensor, num_relevant: Tensor) -> Tensor:
    return values.masked_fill(num_relevant == 0, float("nan"))


def _found(hits: Tensor) -> Tensor:
    return hits.sum(1, dtype=FLOAT)


def recall(hits: Tensor, num_relevant: Tensor) -> Tensor:
    r"""Recall@K :math:`= |L_u^K \cap R_u| \,/\, |R_u|`.

    The denominator is the full size of the user's ground truth, also when
    it exceeds K (a perfect list then scores :math:`K/|R_u| < 1`), as in
    RecBole's ``Recall`` and PyG's ``LinkPredRecall``. NaN when :math:`R_u`
    is empty.
    """
    return _undefined_where_empty(_found(hits) / num_relevant.clamp(min=1), num_relevant)


def precision(hits: Tensor, num_relevant: Tensor) -> Tensor:
    r"""Precision@K :math:`= |L_u^K \cap R_u| \,/\, K`.

    The denominator is K even when fewer than K items could be ranked
    (RecBole, PyG). NaN when :math:`R_u` is empty.
    """
    return _undefined_where_empty(_found(hits) / hits.shape[1], num_relevant)


def f1(hits: Tensor, num_relevant: Tensor) -> Tensor:
    r"""Item-level F1@K :math:`= 2PR/(P+R)` of :func:`precision` P and :func:`recall` R.

    Equivalently :math:`2|L_u^K \cap R_u| / (K + |R_u|)`; 0 when no item is
    found (PyG's ``LinkPredF1``). NaN when :math:`R_u` is empty.
    """
    found = _found(hits)
    return _undefined_where_empty(2.0 * found / (hits.shape[1] + num_relevant), num_relevant)


def hit_rate(hits: Tensor, num_relevant: Tensor) -> Tensor:
    r"""Hit@K :math:`= \mathbb{1}[|L_u^K \cap R_u| > 0]`. NaN when :math:`R_u` is empty."""
    return _undefined_where_empty(hits.any(1).to(FLOAT), num_relevant)


def _ranks(k: int, device: torch.device) -> Tensor:
    return torch.arange(1, k + 1, device=device, dtype=FLOAT)


def mrr(hits: Tensor, num_relevant: Tensor) -> Tensor:
    r"""MRR@K :math:`= 1/\mathrm{rank}_u`, the reciprocal rank of the first relevant
    item in :math:`L_u^K`, 0 when there is none (RecBole ``MRR``, PyG
    ``LinkPredMRR``). NaN when :math:`R_u` is empty.
    """
    rr = (hits.to(FLOAT) / _ranks(hits.shape[1], hits.device)).amax(1)
    return _undefined_where_empty(rr, num_relevant)


def average_precision(hits: Tensor, num_relevant: Tensor) -> Tensor:
    r"""AP@K (averaged over users: MAP@K).

    .. math::
        \mathrm{AP}_u = \frac{1}{\min(K, |R_u|)} \sum_{r=1}^{K}
        \mathrm{P}_u@r \cdot \mathbb{1}[L_u^K(r) \in R_u]

    The normaliser :math:`\min(K, |R_u|)` makes a perfect list score 1, as in
    RecBole's ``MAP`` and PyG's ``LinkPredMAP``. NaN when :math:`R_u` is empty.
    """
    rel = hits.to(FLOAT)
    prec_at = rel.cumsum(1) / _ranks(hits.shape[1], hits.device)
    norm = num_relevant.clamp(min=1, max=hits.shape[1]).to(FLOAT)
    return _undefined_where_empty((prec_at * rel).sum(1) / norm, num_relevant)


def _discounts(k: int, device: torch.device) -> Tensor:
    return 1.0 / torch.log2(torch.arange(2, k + 2, device=device, dtype=FLOAT))


def ndcg(hits: Tensor, num_relevant: Tensor) -> Tensor:
    r"""NDCG@K with binary relevance.

    .. math::
        \mathrm{DCG}_u = \sum_{r=1}^{K} \frac{\mathbb{1}[L_u^K(r) \in R_u]}{\log_2(r+1)},\quad
        \mathrm{IDCG}_u = \sum_{r=1}^{\min(K, |R_u|)} \frac{1}{\log_2(r+1)},\quad
        \mathrm{NDCG}_u = \mathrm{DCG}_u / \mathrm{IDCG}_u .

    (Järvelin & Kekäläinen 2002; RecBole ``NDCG``, PyG ``LinkPredNDCG``.)
    NaN when :math:`R_u` is empty.
    """
    k = hits.shape[1]
    disc = _discounts(k, hits.device)
    dcg = (hits.to(FLOAT) * disc).sum(1)
    cum = torch.cat([torch.zeros(1, device=hits.device, dtype=FLOAT), torch.cumsum(disc, 0)])
    idcg = cum[num_relevant.clamp(min=1, max=k)]
    return _undefined_where_empty(dcg / idcg, num_relevant)
