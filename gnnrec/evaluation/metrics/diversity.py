r"""Intra-list diversity (ILD): mean pairwise distance of the items of a list.

.. math::
    \mathrm{ILD}_u = \frac{2}{n(n-1)} \sum_{a<b} d(i_a, i_b)

over the :math:`n` non-padding items :math:`i_1..i_n` of :math:`L_u^K`
(Ziegler et al., WWW 2005; Smyth & McClave 2001). NaN for a list with fewer
than two items. The distance matrices are computed once at the largest K;
the ILD at a smaller K is :func:`mean_pairwise` of their leading block. The
embedding ILD needs no distance matrix (see :func:`intra_list_diversity_cosine`).
"""

from __future__ import annotations

import torch
from torch import Tensor

FLOAT = torch.float64
NAN = float("nan")


def jaccard_distances(cats: Tensor) -> Tensor:
    r"""``[U, K, K]`` category Jaccard distances of listed items,
    :math:`d(a, b) = 1 - |C(a) \cap C(b)| / |C(a) \cup C(b)|`.

    Two items that both have no category are at distance 0 (identical empty
    sets); an uncategorised item is at distance 1 from a categorised one.

    Args:
        cats: ``[U, K, C]`` 0/1 list categories (zeros for padding).
    """
    # Intersections, unions and their difference are integers, exact in float32;
    # only the division is float64. An empty union (two uncategorised items) gives 0/1.
    inter = torch.bmm(cats, cats.transpose(1, 2))
    sizes = cats.sum(-1)
    union = sizes.unsqueeze(2) + sizes.unsqueeze(1) - inter
    return (union - inter).to(FLOAT) / union.clamp(min=1).to(FLOAT)


def unit_rows(emb: Tensor) -> Tensor:
    """Rows scaled to unit L2 norm in float64 (zero rows stay zero)."""
    e = emb.to(FLOAT)
    return e / e.norm(dim=-1, keepdim=True).clamp(min=1e-12)


def mean_pairwise(distances: Tensor, valid: Tensor) -> Tensor:
    r"""``[U]`` mean of ``distances[u, a, b]`` over pairs :math:`a < b` of valid
    (non-padding) positions; NaN with fewer than two valid items.

    Computed as :math:`(v^\top D v - \sum_a v_a D_{aa}) / 2` with the 0/1
    validity vector :math:`v` (two batched products, no ``[U, K, K]`` mask).

    Args:
        distances: ``[U, K, K]`` symmetric distances.
        valid: ``[U, K]`` bool, ``topk >= 0``.
    """
    d = distances.to(FLOAT)
    v = valid.to(FLOAT).unsqueeze(2)
    quadratic = torch.bmm(torch.bmm(v.transpose(1, 2), d), v).reshape(-1)
    diagonal = (d.diagonal(dim1=1, dim2=2) * v.squeeze(2)).sum(1)
    n = v.sum((1, 2))
    n_pairs = n * (n - 1) / 2
    mean = (quadratic - diagonal) / 2 / n_pairs.clamp(min=1)
    return mean.masked_fill(n_pairs == 0, NAN)


def intra_list_diversity(cats: Tensor, valid: Tensor) -> Tensor:
    """ILD@K by category Jaccard distance (:func:`jaccard_distances`)."""
    return mean_pairwise(jaccard_distances(cats), valid)


def intra_list_diversity_cosine(emb: Tensor, valid: Tensor, normalized: bool = False) -> Tensor:
    r"""ILD@K by embedding cosine distance :math:`d(a, b) = 1 - \cos(e_a, e_b)`
    (in :math:`[0, 2]`; a zero embedding has cosine 0 to every item), without
    a ``[U, K, K]`` matrix.

    With unit (or zero) rows :math:`\hat e_a` and :math:`s = \sum_a \hat e_a`
    over the valid items, :math:`\sum_{a<b} \cos(e_a, e_b) = (\|s\|^2 -
    \sum_a \|\hat e_a\|^2)/2`, so the mean distance is :math:`1 -` that sum
    over the :math:`n(n-1)/2` pairs (a zero embedding has cosine 0 to all).

    Args:
        emb: ``[U, K, d]`` embeddings of the listed items (any values for padding).
        valid: ``[U, K]`` bool.
        normalized: the rows are already :func:`unit_rows`.
    """
    e = emb if normalized else unit_rows(emb)
    if not valid.all():  # most lists are full: skip a pass over [U, K, d] then
        e = e * valid.unsqueeze(2)
    total = e.sum(1)
    squares = (e * e).sum((1, 2))
    cos_sum = ((total * total).sum(1) - squares) / 2
    n = valid.sum(1, dtype=FLOAT)
    n_pairs = n * (n - 1) / 2
    return (1.0 - cos_sum / n_pairs.clamp(min=1)).masked_fill(n_pairs == 0, NAN)
