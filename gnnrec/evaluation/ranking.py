"""Full ranking: masking of seen items and top-K with a documented tie rule."""

from __future__ import annotations

import torch
from torch import Tensor


def csr_rows(crow: Tensor, col: Tensor, rows: Tensor) -> tuple[Tensor, Tensor]:
    """Entries of selected CSR rows as ``(local_row, column)`` pairs.

    ``local_row`` indexes into ``rows`` (0..len(rows)-1), so the result can
    address a ``[len(rows), num_cols]`` block directly.
    """
    starts = crow[rows]
    lengths = crow[rows + 1] - starts
    local = torch.repeat_interleave(torch.arange(len(rows), device=rows.device), lengths)
    if local.numel() == 0:
        return local, local
    first = torch.cumsum(lengths, 0) - lengths
    offsets = torch.arange(local.numel(), device=rows.device) - first[local] + starts[local]
    return local, col[offsets]


def topk_with_ties(scores: Tensor, k: int) -> Tensor:
    """Top-``k`` item ids per row, ties broken by the smaller item id.

    The ranking is: higher score first; among equal scores, smaller item id
    first. This holds both for which items enter the list (ties at the
    K-th score) and for their order inside it, so results do not depend on
    the device or the top-k kernel. Entries whose score is ``-inf`` (masked
    items) are returned as ``-1``; a row with fewer than ``k`` unmasked
    items is padded with ``-1`` at the end.

    Args:
        scores: ``[B, I]`` float scores; must not contain NaN.
        k: list length (at most ``I``).

    Returns:
        ``[B, k]`` int64 item ids, ``-1`` for padding.
    """
    k = min(k, scores.shape[1])
    values, index = torch.topk(scores, k, dim=1, sorted=True)
    kth = values[:, -1:]
    n_greater = (scores > kth).sum(1)
    n_equal = (scores == kth).sum(1)
    ambiguous = (n_greater + n_equal > k).nonzero().squeeze(1)
    if ambiguous.numel():
        # Boundary ties: take the smallest ids among the items scoring the K-th value.
        sub = scores[ambiguous]
        sub_kth = kth[ambiguous]
        equal = sub == sub_kth
        need = (k - n_greater[ambiguous]).unsqueeze(1)
        chosen = (sub > sub_kth) | (equal & (torch.cumsum(equal, 1) <= need))
        index[ambiguous] = chosen.nonzero()[:, 1].view(-1, k)
        values[ambiguous] = sub.gather(1, index[ambiguous])
    # Order inside the list: by score, ties by id (stable sort over id-sorted lists).
    index, perm = index.sort(dim=1)
    values = values.gather(1, perm)
    values, perm = values.sort(dim=1, descending=True, stable=True)
    index = index.gather(1, perm)
    return index.masked_fill(values == float("-inf"), -1)
