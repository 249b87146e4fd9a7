"""Catalogue and popularity metrics.

Two kinds of function live here:

- per-user list metrics (``[U]`` float64, NaN for a list with no item):
  :func:`average_popularity`, :func:`tail_percentage`, :func:`novelty`;
- catalogue metrics of all users' lists at once, computed from the
  ``[num_items]`` exposure vector (how many lists each item appears in,
  :func:`item_exposure`): :func:`item_coverage`, :func:`gini_index`,
  :func:`exposure_entropy`; they return 0-dim float64 tensors.

``popularity`` is the ``[num_items]`` number of training users of each item
(:math:`\\mathrm{pop}(i)`); ``topk`` is ``[U, K]`` item ids with ``-1`` for
padding, and a list metric at K is the function applied to ``topk[:, :K]``.
Padding is left out of every mean (RecBole never pads, so its denominators
are K; they agree whenever lists are full).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

FLOAT = torch.float64
NAN = float("nan")


def item_exposure(topk: Tensor, num_items: int) -> Tensor:
    """``[num_items]`` float64: the number of lists in ``topk`` each item appears in."""
    # Shift by one so padding (-1) lands in bin 0, which is dropped.
    return torch.bincount((topk + 1).flatten(), minlength=num_items + 1)[1:].to(FLOAT)


def item_coverage(exposure: Tensor) -> Tensor:
    r"""Item coverage@K :math:`= |\bigcup_u L_u^K| / |I|`.

    :math:`|I|` is the catalogue size ``len(exposure)``. RecBole's
    ``ItemCoverage`` divides by its item count, which includes the padding
    id 0, i.e. by :math:`|I| + 1`. PyG's ``LinkPredCoverage`` agrees with ours.
    """
    return (exposure > 0).to(FLOAT).mean()


def gini_index(values: Tensor) -> Tensor:
    r"""Gini index over the last dimension (of exposure counts, category counts, …).

    .. math::
        G = \frac{\sum_{j=1}^{n} (2j - n - 1)\, x_{(j)}}{n \sum_{j} x_j}

    with :math:`x_{(1)} \le \dots \le x_{(n)}` sorted ascending. 0 when all
    :math:`x_j` are equal, :math:`(n-1)/n` when one entry holds everything;
    NaN when :math:`\sum_j x_j = 0`. On item exposure this is RecBole's
    ``GiniIndex`` (Gini diversity of recommendations; Fleder & Hosanagar
    2009), with :math:`n = |I|` where RecBole uses :math:`|I| + 1`.
    """
    x = values.to(FLOAT).sort(dim=-1).values
    n = x.shape[-1]
    weights = 2.0 * torch.arange(1, n + 1, device=x.device, dtype=FLOAT) - n - 1
    total = x.sum(-1)
    g = (x * weights).sum(-1) / (n * total.clamp(min=1e-300))
    return g.masked_fill(total == 0, NAN)


def exposure_entropy(exposure: Tensor) -> Tensor:
    r"""Shannon entropy of item exposure :math:`= -\sum_i p_i \ln p_i`,
    :math:`p_i = x_i / \sum_j x_j` (nats).

    RecBole's ``ShannonEntropy`` divides this sum by the number of distinct
    recommended items; ours is the plain entropy (:math:`\ln |I|` at most).
    NaN when nothing was recommended.
    """
    x = exposure.to(FLOAT)
    total = x.sum()
    p = x / total.clamp(min=1e-300)
    ent = -torch.special.xlogy(p, p).sum()
    return ent.masked_fill(total == 0, NAN)


def _list_mean(topk: Tensor, item_values: Tensor) -> Tensor:
    valid = topk >= 0
    values = item_values.to(FLOAT)[topk.clamp(min=0)] * valid
    n = valid.sum(1, dtype=FLOAT)
    return (values.sum(1) / n.clamp(min=1)).masked_fill(n == 0, NAN)


def average_popularity(topk: Tensor, popularity: Tensor) -> Tensor:
    r"""Average recommendation popularity@K
    :math:`= \frac{1}{|L_u^K|} \sum_{i \in L_u^K} \mathrm{pop}(i)`.

    (Abdollahpouri et al. 2019, ARP; RecBole ``AveragePopularity``, PyG
    ``LinkPredAveragePopularity``.) NaN for an empty list.
    """
    return _list_mean(topk, popularity)


def tail_percentage(topk: Tensor, is_tail: Tensor) -> Tensor:
    r"""Tail percentage@K :math:`= |L_u^K \cap T| / |L_u^K|`, the share of listed
    items in the long tail :math:`T` (see :func:`tail_items`; RecBole
    ``TailPercentage``). NaN for an empty list.
    """
    return _list_mean(topk, is_tail)


def novelty(topk: Tensor, popularity: Tensor, num_users: int) -> Tensor:
    r"""Novelty@K, the mean self-information of the listed items.

    .. math::
        \mathrm{Nov}_u = \frac{1}{|L_u^K|} \sum_{i \in L_u^K}
        -\log_2 \frac{\max(\mathrm{pop}(i), 1)}{|U|}

    (Zhou et al., PNAS 2010; bits.) An item no training user saw is counted
    as seen once, so its self-information is :math:`\log_2 |U|`, the
    largest possible. NaN for an empty list.

    Args:
        num_users: :math:`|U|`, all users of the dataset.
    """
    info = -torch.log2(popularity.to(FLOAT).clamp(min=1) / num_users)
    return _list_mean(topk, info)


def popularity_order(popularity: Tensor) -> Tensor:
    """``[num_items]`` position of each item when items are sorted by
    increasing popularity, ties by increasing id (0 = least popular)."""
    n = popularity.numel()
    ids = torch.arange(n, device=popularity.device)
    # A stable sort keeps equal popularities in id order.
    order = torch.sort(popularity, stable=True).indices
    position = torch.empty_like(ids)
    position[order] = ids
    return position


def tail_items(popularity: Tensor, tail_ratio: float) -> Tensor:
    r"""``[num_items]`` bool long-tail mask: the :math:`\max(1, \lfloor r\,|I|
    \rfloor)` least popular items, ties by smaller id (RecBole's
    ``TailPercentage`` rule for ``tail_ratio`` :math:`r \le 1`).

    RecBole ranks only items that occur in training; here every catalogue
    item is ranked, so never-seen items are the first tail items.
    """
    if not 0.0 < tail_ratio <= 1.0:
        raise ValueError(f"tail_ratio must be in (0, 1], got {tail_ratio}")
    n = popularity.numel()
    cut = max(int(n * tail_ratio), 1)
    return popularity_order(popularity) < cut


def popularity_buckets(popularity: Tensor, quantiles: Sequence[float]) -> Tensor:
    r"""``[num_items]`` bucket of each item by popularity quantile.

    Items are ordered by :func:`popularity_order`; with sorted quantiles
    :math:`0 < q_1 < \dots < q_m < 1`, bucket :math:`b` holds the items at
    positions :math:`[\lfloor q_b |I| \rfloor, \lfloor q_{b+1} |I| \rfloor)`
    (:math:`q_0 = 0, q_{m+1} = 1`), so bucket 0 is the least popular.
    """
    qs = sorted(float(q) for q in quantiles)
    if any(not 0.0 < q < 1.0 for q in qs):
        raise ValueError(f"popularity quantiles must lie in (0, 1), got {list(quantiles)}")
    n = popularity.numel()
    edges = torch.tensor([int(n * q) for q in qs], device=popularity.device)
    return torch.bucketize(popularity_order(popularity), edges, right=True)


def category_spread(item_categories: Tensor) -> Tensor:
    r"""``[num_items, C]`` float64 :math:`\mathbb{1}[c \in C(i)] / |C(i)|`: each
    item's weight spread evenly over its categories (rows of uncategorised
    items are zero). Its transpose is the ``spread_t`` of :func:`category_share`."""
    ic = item_categories.to(FLOAT)
    return ic / ic.sum(1, keepdim=True).clamp(min=1)


def category_share(item_weights: Tensor, spread_t: Tensor) -> Tensor:
    r"""``[C]`` share of a weight per category,
    :math:`s_c = \frac{1}{Z} \sum_i w_i \, \mathbb{1}[c \in C(i)] / |C(i)|`
    (a multi-label item spreads its weight evenly; uncategorised items are
    left out). With ``item_weights`` the exposure this is the exposure share
    of each category; with the training popularity, its interaction share.
    All zeros when no weight falls on a categorised item.

    Args:
        item_weights: ``[num_items]``.
        spread_t: ``[C, num_items]`` float64, ``category_spread(...).T`` or the
            same as a sparse CSR tensor (what the evaluator keeps).
    """
    mass = spread_t @ item_weights.to(FLOAT)
    return mass / mass.sum().clamp(min=1e-300)
