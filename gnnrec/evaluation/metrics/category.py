"""Category-aware metrics of top-K lists (per user).

Shared conventions:

- ``cats`` is the ``[U, K, C]`` 0/1 float multi-hot of the listed items'
  categories from :func:`list_categories` (an item may carry several
  categories, or none; padding ``-1`` entries give zero rows). Each metric at
  K is the function applied to ``cats[:, :K]``.
- :math:`C(i)` is the category set of item :math:`i`, :math:`C_u^{train}`
  the categories of the user's training items, :math:`C_u^{test}` those of
  the user's ground-truth items, :math:`C(L) = \\bigcup_{i \\in L} C(i)`.
- Functions return ``[U]`` float64 tensors, NaN where undefined.

"Far" categories (a hierarchy is present) use the same functions on the
top-level multi-hot instead: ``cats`` becomes the ``[U, K, T]`` multi-hot of
each listed item's top-level ancestors and ``user_categories`` the user's
top-level ancestors; see :func:`novel_items`.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from gnnrec.evaluation.metrics._rows import take_rows
from gnnrec.evaluation.metrics.catalog import gini_index

FLOAT = torch.float64
NAN = float("nan")


def list_categories(topk: Tensor, item_categories: Tensor) -> Tensor:
    """``[U, K, C]`` multi-hot categories of each listed item (zeros for padding).

    Args:
        topk: ``[U, K]`` item ids, ``-1`` for padding.
        item_categories: ``[num_items, C]`` dense 0/1 multi-hot.
    """
    cats = take_rows(item_categories, topk.clamp(min=0))
    padding = topk < 0
    if padding.any():  # most lists are full: skip a pass over [U, K, C] then
        cats[padding] = 0
    return cats


def category_counts(cats: Tensor) -> Tensor:
    """``[U, C]``: :math:`n_{u,c}` = number of listed items that carry category c."""
    return cats.sum(1)


def category_coverage(counts: Tensor) -> Tensor:
    r"""Category coverage@K :math:`= |C(L_u^K)|`, the number of distinct categories
    in the list (divide by the number of categories for the fraction). Items
    without a category add nothing; 0 for a list of uncategorised items.

    Args:
        counts: ``[U, C]`` from :func:`category_counts`.
    """
    return (counts > 0).sum(1).to(FLOAT)


def category_entropy(counts: Tensor) -> Tensor:
    r"""Category entropy@K :math:`= -\sum_c p_{u,c} \ln p_{u,c}`,
    :math:`p_{u,c} = n_{u,c} / \sum_{c'} n_{u,c'}`.

    A multi-label item counts once for each of its categories. Natural
    logarithm (nats), :math:`0 \ln 0 = 0`; 0 for a list of one category, NaN
    for a list with no categorised item (Shannon 1948; the list-level version
    of RecBole's ``ShannonEntropy``, which is over items).

    Args:
        counts: ``[U, C]`` from :func:`category_counts`.
    """
    counts = counts.to(FLOAT)
    total = counts.sum(1, keepdim=True)
    p = counts / total.clamp(min=1)
    ent = -torch.special.xlogy(p, p).sum(1)
    return ent.masked_fill(total.squeeze(1) == 0, NAN)


def category_gini(counts: Tensor) -> Tensor:
    r"""Category Gini@K: the Gini index of the list's category counts over all C
    categories (see :func:`~gnnrec.evaluation.metrics.catalog.gini_index`).

    .. math::
        G_u = \frac{\sum_{j=1}^{C} (2j - C - 1)\, n_{u,(j)}}{C \sum_c n_{u,c}}

    with :math:`n_{u,(1)} \le \dots \le n_{u,(C)}`. 0 when every category
    appears equally often, :math:`(C-1)/C` when one category takes the whole
    list. NaN for a list with no categorised item.

    Args:
        counts: ``[U, C]`` from :func:`category_counts`.
    """
    return gini_index(counts)


def novel_items(cats: Tensor, user_categories: Tensor) -> Tensor:
    r"""Whether each listed item carries a category new to its user.

    Item :math:`i` is *new-category* for user :math:`u` when
    :math:`C(i) \not\subseteq C_u^{train}`, i.e. it carries at least one
    category the user never interacted with in training. Items without a
    category, and padding, are never new-category.

    With a hierarchy, pass top-level multi-hots (each item's set of top-level
    ancestors and the user's) to get *far* items: an item is far for u when
    one of its categories has a top-level ancestor that none of the user's
    training categories has. Far items are a subset of new-category items.

    Args:
        cats: ``[U, K, C]`` list categories.
        user_categories: ``[U, C]`` 0/1, categories of each user's training items.

    Returns:
        ``[U, K]`` bool.
    """
    unseen = (1.0 - user_categories.to(cats.dtype)).unsqueeze(2)
    return torch.bmm(cats, unseen).squeeze(2) > 0


def category_precision(cats: Tensor, user_categories: Tensor) -> Tensor:
    r"""Category precision@K: share of the (categorised) listed items that carry a
    category the user already likes (from training).

    .. math::
        \mathrm{CP}_u = \frac{|\{i \in L_u^K : C(i) \cap C_u^{train} \neq \emptyset\}|}
                             {|\{i \in L_u^K : C(i) \neq \emptyset\}|}

    Uncategorised items and padding are left out of both counts; NaN when the
    list holds no categorised item. (gnnrec's definition: the category-level
    analogue of precision, measured against the training history.)
    """
    liked = torch.bmm(cats, user_categories.to(cats.dtype).unsqueeze(2)).squeeze(2) > 0
    categorised = cats.sum(-1) > 0
    n = categorised.sum(1, dtype=FLOAT)
    return (liked.sum(1, dtype=FLOAT) / n.clamp(min=1)).masked_fill(n == 0, NAN)


def category_recall(counts: Tensor, truth_categories: Tensor) -> Tensor:
    r"""Category recall@K: share of the user's test categories that the list covers.

    .. math::
        \mathrm{CR}_u = \frac{|C(L_u^K) \cap C_u^{test}|}{|C_u^{test}|}

    NaN when :math:`C_u^{test}` is empty (no categorised ground-truth item).

    Args:
        counts: ``[U, C]`` from :func:`category_counts`.
        truth_categories: ``[U, C]`` nonzero where a ground-truth item of u
            carries c.
    """
    truth = truth_categories > 0
    n = truth.sum(1, dtype=FLOAT)
    covered = ((counts > 0) & truth).sum(1, dtype=FLOAT)
    return (covered / n.clamp(min=1)).masked_fill(n == 0, NAN)


def category_f1(cat_precision: Tensor, cat_recall: Tensor) -> Tensor:
    r"""Category F1@K :math:`= 2\,\mathrm{CP}\,\mathrm{CR} / (\mathrm{CP} + \mathrm{CR})`.

    0 when both are 0; NaN when either is NaN.
    """
    total = cat_precision + cat_recall
    f = 2.0 * cat_precision * cat_recall / total.clamp(min=1e-300)
    return f.masked_fill(total == 0, 0.0)


def category_distribution(cats: Tensor) -> Tensor:
    r"""``[U, C]`` category distribution of a list: each item spreads weight 1
    evenly over its categories, :math:`q_{u,c} = \frac{1}{Z}\sum_{i \in L}
    \mathbb{1}[c \in C(i)] / |C(i)|` (Steck 2018, :math:`p(g|i)`); rows
    without a categorised item are all zero.
    """
    # Exact without a float64 copy of cats: weight item i by L / |C(i)| with L the
    # least common multiple of the label-set sizes, an integer, so one float32
    # product is exact while the sums stay below 2**24; then divide by L in float64.
    sizes = cats.sum(-1)
    largest = int(sizes.max()) if sizes.numel() else 0
    lcm = math.lcm(*range(1, largest + 1)) if largest else 1
    if lcm * cats.shape[1] < 2**24:
        weights = torch.where(sizes > 0, lcm / sizes.clamp(min=1), 0.0).unsqueeze(1)
        mass = torch.bmm(weights.to(cats.dtype), cats).squeeze(1).to(FLOAT) / lcm
    else:
        weights = torch.where(sizes > 0, 1.0 / sizes.to(FLOAT).clamp(min=1), 0.0).unsqueeze(1)
        mass = torch.bmm(weights, cats.to(FLOAT)).squeeze(1)
    return mass / mass.sum(1, keepdim=True).clamp(min=1e-300)


def kl_divergence(p: Tensor, q: Tensor, alpha: float = 0.01) -> Tensor:
    r"""Smoothed KL divergence :math:`\mathrm{KL}(p \,\|\, \tilde q) = \sum_c p_c
    \ln(p_c / \tilde q_c)` with :math:`\tilde q = (1-\alpha)\, q + \alpha\, p`,
    over the last dimension (Steck 2018, eq. 4; :math:`0 \ln 0 = 0`).

    NaN where ``p`` has no mass. Where ``q`` is empty the value is
    :math:`\ln(1/\alpha)`.
    """
    p = p.to(FLOAT)
    q_tilde = (1.0 - alpha) * q.to(FLOAT) + alpha * p
    kl = (torch.special.xlogy(p, p) - torch.special.xlogy(p, q_tilde.clamp(min=1e-300))).sum(-1)
    return kl.masked_fill(p.sum(-1) == 0, NAN)


def miscalibration(cats: Tensor, history_distribution: Tensor, alpha: float = 0.01) -> Tensor:
    r"""Miscalibration@K :math:`C_{KL}(p_u, q_u)` of calibrated recommendation.

    :math:`p_u` is the category distribution of the user's training items and
    :math:`q_u` that of the list (:func:`category_distribution`, every item
    weighted equally); the value is :func:`kl_divergence` with smoothing
    :math:`\alpha` (Steck, *Calibrated Recommendations*, RecSys 2018). 0 for
    a perfectly calibrated list; NaN when the user has no categorised
    training item.

    Args:
        cats: ``[U, K, C]`` list categories.
        history_distribution: ``[U, C]`` :math:`p_u` (rows sum to 1 or 0).
        alpha: smoothing weight of :math:`p_u` in :math:`\tilde q_u`.
    """
    return kl_divergence(history_distribution, category_distribution(cats), alpha)


def recall_per_category(hits: Tensor, cats: Tensor, truth_category_counts: Tensor) -> Tensor:
    r"""``[U, C]`` Recall@K of each user restricted to the ground-truth items of
    each category: :math:`|L_u^K \cap R_u \cap I_c| / |R_u \cap I_c|`, with
    :math:`I_c` the items carrying c (a multi-label item counts in each of its
    categories). NaN where the user has no ground-truth item in c.

    The per-category breakdown is the mean over users of each column
    (NaN-skipping): how well each category's items are recommended.

    Args:
        hits: ``[U, K]`` bool.
        cats: ``[U, K, C]`` list categories.
        truth_category_counts: ``[U, C]`` :math:`|R_u \cap I_c|`.
    """
    found = torch.bmm(hits.to(cats.dtype).unsqueeze(1), cats).squeeze(1).to(FLOAT)
    n = truth_category_counts.to(FLOAT)
    return (found / n.clamp(min=1)).masked_fill(n == 0, NAN)
