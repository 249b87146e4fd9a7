"""Category-aware metrics of top-K lists (per user).

Shared conventions: ``topk`` is ``[U, K]`` int64 item ids with ``-1`` for
padding; ``item_categories`` is a dense ``[num_items, C]`` 0/1 float
multi-hot matrix (an item may carry several categories, or none). Each list
metric at K is the function applied to ``topk[:, :K]``.
"""

from __future__ import annotations

import torch
from torch import Tensor


def list_categories(topk: Tensor, item_categories: Tensor) -> Tensor:
    """``[U, K, C]`` multi-hot categories of each listed item (zeros for padding)."""
    valid = (topk >= 0).unsqueeze(-1)
    return item_categories[topk.clamp(min=0)] * valid


def category_counts(topk: Tensor, item_categories: Tensor) -> Tensor:
    """``[U, C]``: :math:`n_{u,c}` = number of listed items that carry category c."""
    return list_categories(topk, item_categories).sum(1)


def category_coverage(counts: Tensor) -> Tensor:
    r"""Category coverage@K :math:`= |\bigcup_{i \in L_u^K} C(i)|`, the distinct
    categories in the list (divide by the number of categories for the
    fraction). Items without a category add nothing.

    Args:
        counts: ``[U, C]`` from :func:`category_counts`.
    """
    return (counts > 0).sum(1).float()


def category_entropy(counts: Tensor) -> Tensor:
    r"""Category entropy@K :math:`= -\sum_c p_{u,c} \ln p_{u,c}`,
    :math:`p_{u,c} = n_{u,c} / \sum_{c'} n_{u,c'}`.

    A multi-label item counts once for each of its categories. Natural
    logarithm (nats); 0 for a list of one category, NaN for a list with no
    categorised item.

    Args:
        counts: ``[U, C]`` from :func:`category_counts`.
    """
    total = counts.sum(1, keepdim=True)
    p = counts / total.clamp(min=1e-12)
    ent = -(p * torch.log(p.clamp(min=1e-30))).sum(1)
    return ent.masked_fill(total.squeeze(1) == 0, float("nan"))


def intra_list_diversity(topk: Tensor, item_categories: Tensor) -> Tensor:
    r"""Intra-list diversity@K by category Jaccard distance.

    .. math::
        \mathrm{ILD}_u = \frac{2}{n(n-1)} \sum_{a<b}
        \Big(1 - \frac{|C(i_a)\cap C(i_b)|}{|C(i_a)\cup C(i_b)|}\Big)

    over the :math:`n` (non-padding) items of the list. The distance of two
    items that both have no category is 0 (identical empty sets). NaN for a
    list with fewer than two items.
    """
    cats = list_categories(topk, item_categories)
    inter = cats @ cats.transpose(1, 2)
    sizes = cats.sum(-1)
    union = sizes.unsqueeze(2) + sizes.unsqueeze(1) - inter
    dist = torch.where(union > 0, 1.0 - inter / union.clamp(min=1e-12), torch.zeros_like(union))
    valid = topk >= 0
    k = topk.shape[1]
    upper = torch.ones(k, k, dtype=torch.bool, device=topk.device).triu(1)
    pairs = valid.unsqueeze(2) & valid.unsqueeze(1) & upper
    n_pairs = pairs.sum((1, 2)).float()
    total = (dist * pairs).sum((1, 2))
    return (total / n_pairs.clamp(min=1)).masked_fill(n_pairs == 0, float("nan"))


def novel_items(items: Tensor, user_categories: Tensor, item_categories: Tensor) -> Tensor:
    r"""Whether each item carries a category new to its user.

    Item :math:`i` is *new-category* for user :math:`u` when
    :math:`C(i) \not\subseteq C_u^{train}`, i.e. it carries at least one
    category the user never interacted with in training. Items without a
    category are never new-category. Padding (``-1``) gives False.

    Args:
        items: ``[U, K]`` item ids (``-1`` padding).
        user_categories: ``[U, C]`` 0/1, categories of each user's training items.
        item_categories: ``[num_items, C]`` 0/1 multi-hot.

    Returns:
        ``[U, K]`` bool.
    """
    cats = list_categories(items, item_categories)
    unseen = 1.0 - user_categories
    return (cats * unseen.unsqueeze(1)).sum(-1) > 0
