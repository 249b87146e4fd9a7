r"""Accuracy–diversity re-ranking of a model's scores at evaluation time.

A trained model's scores give one ranked list per user. Re-ranking its top
candidates with a weight :math:`\lambda \in [0, 1]` on a diversity (or
calibration) objective gives one list per :math:`\lambda`, so one trained
model yields an accuracy–diversity curve. Both re-rankers are greedy: they
fill the K positions one at a time, each time taking the candidate with the
largest marginal objective. They are vectorised over users; only the K
positions are a Python loop.

Shared inputs and conventions:

- ``candidates``: ``[U, N]`` item ids in the model's ranking order (the
  candidate pool, :func:`candidate_pool`), ``-1`` for padding when a user
  has fewer than N rankable items; ``scores``: ``[U, N]`` their scores
  (``-inf`` for padding). Padding is never picked; a user with fewer than K
  candidates gets a list padded with ``-1`` at the end.
- Relevance :math:`r_i` (:func:`relevance`) is the score min-max normalised
  per user over its candidates, :math:`r_i = (s_i - \min_j s_j) /
  (\max_j s_j - \min_j s_j) \in [0, 1]` (1 for every candidate when all
  scores are equal), so that :math:`\lambda` weighs two terms of the same
  scale whatever the model's score range.
- Ties of the objective go to the candidate ranked higher by the model
  (``argmax`` returns the first maximum). Hence :math:`\lambda = 0` returns
  exactly the model's order: the objective is then :math:`r_i`, a
  non-decreasing function of the score, and equal values resolve to the
  earlier candidate.
- ``item_categories``: ``[num_items, C]`` 0/1 multi-hot, dense or sparse
  (COO or CSR); an item may carry several categories, or none.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from gnnrec.evaluation.metrics._rows import take_rows
from gnnrec.evaluation.ranking import NEG_INF, topk_with_ties

FLOAT = torch.float64

METHODS = ("mmr", "calibrated")
"""Names of the re-rankers, as in ``eval.rerank``."""


@dataclass(frozen=True)
class Rerank:
    """One re-ranking setting: the method, its :math:`\\lambda` and the pool size.

    Attributes:
        method: ``mmr`` (:func:`mmr`) or ``calibrated`` (:func:`calibrated`).
        lam: weight of the diversity (calibration) term, in ``[0, 1]``.
        pool: number of top-scored unseen items re-ranked per user.
    """

    method: str
    lam: float
    pool: int = 100

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ValueError(
                f"unknown re-ranking method {self.method!r}; expected one of {', '.join(METHODS)}"
            )
        _check_lambda(self.lam)
        if self.pool < 1:
            raise ValueError(f"the candidate pool must hold at least 1 item, got {self.pool}")

    @property
    def name(self) -> str:
        """``<method>@<lambda>``, e.g. ``mmr@0.5`` (the prefix of its result keys)."""
        return f"{self.method}@{self.lam:g}"


def _check_lambda(lam: float) -> None:
    if not 0.0 <= lam <= 1.0:
        raise ValueError(f"lambda must lie in [0, 1], got {lam}")


def _check_inputs(candidates: Tensor, scores: Tensor, lam: float, k: int) -> None:
    _check_lambda(lam)
    if k < 1:
        raise ValueError(f"k must be a positive list length, got {k}")
    if candidates.dim() != 2 or candidates.shape != scores.shape:
        raise ValueError(
            f"candidates and scores must be [U, N] of one shape, got "
            f"{tuple(candidates.shape)} and {tuple(scores.shape)}"
        )


def candidate_pool(scores: Tensor, pool: int) -> tuple[Tensor, Tensor]:
    """The ``pool`` best items of each row of masked scores, in ranking order.

    Args:
        scores: ``[U, I]`` scores with the user's seen items at ``-inf``.
        pool: candidates per user (at most ``I`` are returned).

    Returns:
        ``[U, N]`` item ids ranked by :func:`~gnnrec.evaluation.ranking.topk_with_ties`
        (``-1`` padding where fewer items are rankable, so seen items never
        appear) and ``[U, N]`` their scores (``-inf`` for padding).
    """
    candidates = topk_with_ties(scores, pool)
    values = scores.gather(1, candidates.clamp(min=0)).masked_fill(candidates < 0, NEG_INF)
    return candidates, values


def relevance(scores: Tensor) -> Tensor:
    r"""``[U, N]`` float64 min-max normalised scores,
    :math:`r_i = (s_i - \min_j s_j) / (\max_j s_j - \min_j s_j)` over each
    row's finite entries; 1 where a row's finite scores are all equal, 0 at
    padding (``-inf``).
    """
    s = scores.to(FLOAT)
    finite = torch.isfinite(s)
    low = s.masked_fill(~finite, float("inf")).amin(1, keepdim=True)
    high = s.masked_fill(~finite, NEG_INF).amax(1, keepdim=True)
    span = high - low
    rel = torch.where(span > 0, (s - low) / span.clamp(min=1e-300), 1.0)
    return rel.masked_fill(~finite, 0.0)


def _dense_categories(item_categories: Tensor) -> Tensor:
    if item_categories.layout != torch.strided:
        item_categories = item_categories.to_dense()
    return item_categories.to(FLOAT)


def _candidate_categories(candidates: Tensor, item_categories: Tensor) -> Tensor:
    """``[U, N, C]`` float32 multi-hot of the candidates (zeros for padding); sums
    and products of 0/1 values stay exact integers in float32."""
    cats = take_rows(_dense_categories(item_categories).float(), candidates.clamp(min=0))
    return cats.masked_fill((candidates < 0).unsqueeze(2), 0.0)


def _candidate_labels(candidates: Tensor, item_categories: Tensor) -> tuple[Tensor, Tensor]:
    """Each candidate's categories as a padded list: ``[U, N, L]`` ids (``C``
    marks an unused slot, and every slot of padding) and ``[U, N, L]`` float64
    weights :math:`1/|C(i)|` (0 in unused slots), L the most labels of an item."""
    dense = _dense_categories(item_categories) > 0
    num_categories = dense.shape[1]
    sizes = dense.sum(1)
    width = max(int(sizes.max()) if sizes.numel() else 0, 1)
    # A stable descending sort of the 0/1 rows puts each item's categories first, in id order.
    order = torch.sort(dense.to(torch.int8), dim=1, descending=True, stable=True).indices
    used = torch.arange(width, device=dense.device) < sizes.unsqueeze(1)
    labels = torch.where(used, order[:, :width], num_categories)
    weights = torch.where(used, 1.0 / sizes.clamp(min=1).to(FLOAT).unsqueeze(1), 0.0)
    index = candidates.clamp(min=0)
    padding = (candidates < 0).unsqueeze(2)
    return (
        labels[index].masked_fill(padding, num_categories),
        weights[index].masked_fill(padding, 0.0),
    )


def _cross_entropy_term(p: Tensor, mass: Tensor, size: Tensor, alpha: float) -> Tensor:
    """``[U, 1]`` :math:`\\sum_c p_c \\ln \\tilde q_c` of a list with category mass
    ``mass`` over ``size`` categorised items (:math:`\\tilde q_c = 0` counts as 1e-300)."""
    q = mass * ((1.0 - alpha) / size) + alpha * p
    return (p * q.clamp(min=1e-300).log()).sum(1, keepdim=True)


def mmr(
    candidates: Tensor,
    scores: Tensor,
    item_categories: Tensor,
    lam: float,
    k: int,
) -> Tensor:
    r"""Maximal Marginal Relevance over category similarity.

    Greedy (Carbonell & Goldstein, *The Use of MMR, Diversity-Based
    Reranking for Reordering Documents and Producing Summaries*, SIGIR 1998):
    with :math:`S` the items picked so far, the next item is

    .. math::
        \arg\max_{i \notin S} \; (1-\lambda)\, r_i
            - \lambda \max_{j \in S} \mathrm{sim}(i, j),

    the max being 0 for :math:`S = \emptyset`. :math:`\mathrm{sim}` is the
    Jaccard similarity of the category sets,
    :math:`|C(i) \cap C(j)| / |C(i) \cup C(j)|` (one minus the distance of
    the ``ild`` metric, so MMR trades relevance against exactly that
    diversity); an item without a category has similarity 0 to every item.
    :math:`\lambda = 0` returns the model's order, :math:`\lambda = 1` the
    most diverse list (each pick minimises the largest similarity to the
    picked items; ties, and the first pick, go to the higher-scored item).

    Args:
        candidates: ``[U, N]`` item ids in ranking order, ``-1`` for padding.
        scores: ``[U, N]`` their scores (``-inf`` for padding).
        item_categories: ``[num_items, C]`` 0/1 multi-hot (dense or sparse).
        lam: :math:`\lambda \in [0, 1]`.
        k: list length.

    Returns:
        ``[U, k]`` item ids, ``-1`` padding when a user has fewer than k candidates.
    """
    _check_inputs(candidates, scores, lam, k)
    num_users, n = candidates.shape
    out = candidates.new_full((num_users, k), -1)
    if n == 0 or num_users == 0:
        return out
    rel = relevance(scores)
    cats = _candidate_categories(candidates, item_categories)
    sizes = cats.sum(-1)
    max_sim = torch.zeros_like(rel)  # float64
    available = candidates >= 0
    rows = torch.arange(num_users, device=candidates.device)
    for pos in range(min(k, n)):
        gain = ((1.0 - lam) * rel - lam * max_sim).masked_fill(~available, NEG_INF)
        best = gain.argmax(1)
        picked = available[rows, best]
        out[:, pos] = torch.where(picked, candidates[rows, best], -1)
        available[rows, best] = False
        # Jaccard similarity of every candidate to the item just picked; an empty
        # union (two uncategorised items) gives 0 / 1.
        inter = torch.bmm(cats, cats[rows, best].unsqueeze(2)).squeeze(2)
        union = sizes + sizes[rows, best].unsqueeze(1) - inter
        max_sim = torch.maximum(max_sim, inter.to(FLOAT) / union.clamp(min=1.0).to(FLOAT))
    return out


def calibrated(
    candidates: Tensor,
    scores: Tensor,
    item_categories: Tensor,
    history: Tensor,
    lam: float,
    k: int,
    alpha: float = 0.01,
) -> Tensor:
    r"""Calibrated re-ranking (Steck, *Calibrated Recommendations*, RecSys 2018).

    Greedy maximisation of

    .. math::
        (1-\lambda) \sum_{i \in S} r_i - \lambda\, \mathrm{KL}(p_u \,\|\, \tilde q(S)),

    adding at each position the candidate :math:`i` that maximises the
    objective of :math:`S \cup \{i\}`. Since :math:`\sum_{j \in S} r_j` is the
    same for every candidate, the step compares
    :math:`(1-\lambda)\, r_i - \lambda\, \mathrm{KL}(p_u \| \tilde q(S \cup
    \{i\}))`. :math:`p_u` is the category distribution of the user's
    training items, :math:`q(S)` that of the list (each item spreads weight
    1 evenly over its categories, :math:`p(c|i) = 1/|C(i)|`), and
    :math:`\tilde q = (1-\alpha)\, q + \alpha\, p_u` — exactly the
    ``miscalibration`` metric
    (:func:`~gnnrec.evaluation.metrics.category.kl_divergence`), so a larger
    :math:`\lambda` lowers that metric.

    Deviations from the paper: relevance is the min-max normalised score
    (Steck sums the raw predicted scores), and every list item weighs the
    same in :math:`q` (Steck allows rank weights :math:`w_r`; the metric uses
    none). A user whose :math:`p_u` is empty (no categorised training item)
    gets the model's order. With :math:`\alpha = 0` an empty
    :math:`\tilde q_c` where :math:`p_{u,c} > 0` counts as
    :math:`10^{-300}` (as in the metric), so the KL stays finite.

    Args:
        candidates: ``[U, N]`` item ids in ranking order, ``-1`` for padding.
        scores: ``[U, N]`` their scores (``-inf`` for padding).
        item_categories: ``[num_items, C]`` 0/1 multi-hot (dense or sparse).
        history: ``[U, C]`` :math:`p_u` (rows sum to 1, or 0 without history).
        lam: :math:`\lambda \in [0, 1]`.
        k: list length.
        alpha: smoothing of :math:`\tilde q`, in ``[0, 1]`` (``eval.calibration_alpha``).

    Returns:
        ``[U, k]`` item ids, ``-1`` padding when a user has fewer than k candidates.
    """
    _check_inputs(candidates, scores, lam, k)
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must lie in [0, 1], got {alpha}")
    num_users, n = candidates.shape
    if history.shape[0] != num_users:
        raise ValueError(f"history has {history.shape[0]} rows, expected {num_users}")
    out = candidates.new_full((num_users, k), -1)
    if n == 0 or num_users == 0:
        return out
    rel = relevance(scores)
    labels, weights = _candidate_labels(candidates, item_categories)
    categorised = weights[:, :, 0] > 0
    # Column C is the slot of unused labels: p = 0 there, so it adds nothing.
    p = torch.nn.functional.pad(history.to(FLOAT), (0, 1))
    flat = labels.view(num_users, -1)
    p_label = p.gather(1, flat).view_as(weights)
    mass = torch.zeros_like(p)
    count = torch.zeros(num_users, 1, dtype=FLOAT, device=p.device)
    available = candidates >= 0
    rows = torch.arange(num_users, device=candidates.device)
    for pos in range(min(k, n)):
        # KL(p || q~) = sum_c p_c ln p_c - sum_c p_c ln q~_c: the first sum is the same for
        # every candidate, so the step maximises (1 - lam) r_i + lam sum_c p_c ln q~_c(S + i),
        # with q~_c(S + i) = (1 - alpha) (mass_c + w_ic) / n_i + alpha p_c, n_i the number of
        # categorised items of S + i. Over the categories i lacks this is the same for every
        # candidate of one n_i; only i's own categories (at most L) change.
        size = (count + categorised).clamp(min=1.0)
        cross = torch.where(
            categorised,
            _cross_entropy_term(p, mass, count + 1.0, alpha),
            _cross_entropy_term(p, mass, count.clamp(min=1.0), alpha),
        )
        m_label = mass.gather(1, flat).view_as(weights)
        scale = ((1.0 - alpha) / size).unsqueeze(2)
        before = (m_label * scale + alpha * p_label).clamp(min=1e-300).log()
        after = ((m_label + weights) * scale + alpha * p_label).clamp(min=1e-300).log()
        cross = cross + (p_label * (after - before)).sum(-1)
        gain = ((1.0 - lam) * rel + lam * cross).masked_fill(~available, NEG_INF)
        best = gain.argmax(1)
        picked = available[rows, best]
        out[:, pos] = torch.where(picked, candidates[rows, best], -1)
        available[rows, best] = False
        # A user without a candidate left adds nothing (best is then an old pick).
        mass.scatter_add_(1, labels[rows, best], weights[rows, best] * picked.unsqueeze(1))
        count = count + (categorised[rows, best] & picked).unsqueeze(1)
    return out


def rerank(
    setting: Rerank,
    candidates: Tensor,
    scores: Tensor,
    item_categories: Tensor,
    k: int,
    history: Tensor | None = None,
    alpha: float = 0.01,
) -> Tensor:
    """``[U, k]`` lists of ``setting``'s method over the first ``setting.pool`` candidates.

    ``history`` (:math:`p_u`, ``[U, C]``) and ``alpha`` are used by
    ``calibrated`` only.
    """
    candidates, scores = candidates[:, : setting.pool], scores[:, : setting.pool]
    if setting.method == "mmr":
        return mmr(candidates, scores, item_categories, setting.lam, k)
    if history is None:
        raise ValueError("calibrated re-ranking needs the users' category history")
    return calibrated(candidates, scores, item_categories, history, setting.lam, k, alpha)
