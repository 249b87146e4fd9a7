r"""Intra-list diversity (ILD): mean pairwise distance of the items of a list.

.. math::
    \mathrm{ILD}_u = \frac{2}{n(n-1)} \sum_{a<b} d(i_a, i_b)

over the :math:`n` non-padding items :math:`i_1..i_n` of :math:`L_u^K`
(Ziegler et al., WWW 2005; Smyth & McClave 2001). NaN for a list with fewer
than two items. The distance matrices are computed once at the largest K;
the ILD at a smaller K is :func:`mean_pairwise` of their leading block.
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
    # Intersections and sizes are integers, exact in float32; the division is float64.
    inter = torch.bmm(cats, cats.transpose(1, 2)).to(FLOAT)
    sizes = cats.sum(-1).to(FLOAT)
    union = sizes.unsqueeze(2) + sizes.unsqueeze(1) - inter
    return torch.where(union > 0, 1.0 - inter / union.clamp(min=1), torch.zeros_like(union))


def cosine_distances(emb: Tensor) -> Tensor:
    r"""``[U, K, K]`` embedding cosine distances,
    :math:`d(a, b) = 1 - \frac{e_a \cdot e_b}{\|e_a\| \|e_b\|}` (in :math:`[0, 2]`).

    A zero embedding is at distance 1 from every item (cosine taken as 0).

    Args:
        emb: ``[U, K, d]`` embeddings of the listed items (any values for padding).
    """
    e = emb.to(FLOAT)
    e = e / e.norm(dim=-1, keepdim=True).clamp(min=1e-12)
    return 1.0 - torch.bmm(e, e.transpose(1, 2))


def mean_pairwise(distances: Tensor, valid: Tensor) -> Tensor:
    r"""``[U]`` mean of ``distances[u, a, b]`` over pairs :math:`a < b` of valid
    (non-padding) positions; NaN with fewer than two valid items.

    Args:
        distances: ``[U, K, K]`` symmetric distances.
        valid: ``[U, K]`` bool, ``topk >= 0``.
    """
    k = valid.shape[1]
    upper = torch.ones(k, k, dtype=torch.bool, device=valid.device).triu(1)
    pairs = valid.unsqueeze(2) & valid.unsqueeze(1) & upper
    n_pairs = pairs.sum((1, 2), dtype=FLOAT)
    total = (distances.to(FLOAT) * pairs).sum((1, 2))
    return (total / n_pairs.clamp(min=1)).masked_fill(n_pairs == 0, NAN)


def intra_list_diversity(cats: Tensor, valid: Tensor) -> Tensor:
    """ILD@K by category Jaccard distance (:func:`jaccard_distances`)."""
    return mean_pairwise(jaccard_distances(cats), valid)


def intra_list_diversity_cosine(emb: Tensor, valid: Tensor) -> Tensor:
    """ILD@K by embedding cosine distance (:func:`cosine_distances`)."""
    return mean_pairwise(cosine_distances(emb), valid)
