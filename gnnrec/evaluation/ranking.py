"""Full ranking: masking of seen items, top-K with a documented tie rule, chunk sizing.

The ranking rule used everywhere in gnnrec: **higher score first; among
equal scores, the smaller item id first**. Masked items (score ``-inf``)
never enter a list; a row with fewer than K rankable items is padded with
``-1`` at the end. The rule fixes both which items enter the list (ties at
the K-th score) and their order inside it, so lists do not depend on the
device or on the top-k kernel.
"""

from __future__ import annotations

import torch
from torch import Tensor

NEG_INF = float("-inf")


def csr_offsets(crow: Tensor, rows: Tensor) -> tuple[Tensor, Tensor]:
    """``(local_row, offset)`` of every stored entry of the selected CSR rows.

    ``local_row`` indexes into ``rows`` (0..len(rows)-1); ``offset`` indexes
    the CSR's column and value arrays.
    """
    starts = crow[rows]
    lengths = crow[rows + 1] - starts
    local = torch.repeat_interleave(torch.arange(len(rows), device=rows.device), lengths)
    if local.numel() == 0:
        return local, local
    first = torch.cumsum(lengths, 0) - lengths
    offsets = torch.arange(local.numel(), device=rows.device) - first[local] + starts[local]
    return local, offsets


def csr_rows(crow: Tensor, col: Tensor, rows: Tensor) -> tuple[Tensor, Tensor]:
    """Entries of selected CSR rows as ``(local_row, column)`` pairs.

    ``local_row`` indexes into ``rows`` (0..len(rows)-1), so the result can
    address a ``[len(rows), num_cols]`` block directly.
    """
    local, offsets = csr_offsets(crow, rows)
    return local, col[offsets]


def dense_rows(
    crow: Tensor,
    col: Tensor,
    values: Tensor | None,
    rows: Tensor,
    num_cols: int,
    dtype: torch.dtype = torch.float32,
) -> Tensor:
    """``[len(rows), num_cols]`` dense block of selected CSR rows (1 where
    ``values`` is None)."""
    out = torch.zeros(len(rows), num_cols, dtype=dtype, device=rows.device)
    local, offsets = csr_offsets(crow, rows)
    if offsets.numel():
        out[local, col[offsets]] = 1 if values is None else values[offsets].to(dtype)
    return out


def membership(sorted_keys: Tensor, rows: Tensor, items: Tensor, num_items: int) -> Tensor:
    """``[B, K]`` bool: whether ``(rows[b], items[b, j])`` is a stored pair.

    ``sorted_keys`` holds ``row * num_items + item`` of every stored pair in
    increasing order (a CSR with sorted column indices, read row by row);
    entries of ``items`` equal to ``-1`` (padding) give False. Costs one
    binary search per entry, so no ``[B, num_items]`` ground-truth block is
    ever built.
    """
    if sorted_keys.numel() == 0:
        return torch.zeros_like(items, dtype=torch.bool)
    query = rows.unsqueeze(1) * num_items + items.clamp(min=0)
    pos = torch.searchsorted(sorted_keys, query).clamp(max=sorted_keys.numel() - 1)
    return (sorted_keys[pos] == query) & (items >= 0)


def mask_items(scores: Tensor, crow: Tensor, col: Tensor, rows: Tensor) -> None:
    """Set ``scores[r, i] = -inf`` in place for every item ``i`` in CSR row ``rows[r]``."""
    local, cols = csr_rows(crow, col, rows)
    scores[local, cols] = NEG_INF


def _resolve_boundary_ties(scores: Tensor, kth: Tensor, k: int) -> Tensor:
    """Top-``k`` ids of rows whose K-th score is tied beyond position K.

    Takes every item scoring above the K-th value and then the smallest ids
    among the items scoring exactly the K-th value. Returns ``[B, k]`` ids in
    increasing id order.
    """
    above = scores > kth
    equal = scores == kth
    need = (k - above.sum(1, dtype=torch.int32)).unsqueeze(1)
    chosen = above | (equal & (torch.cumsum(equal, 1, dtype=torch.int32) <= need))
    return chosen.nonzero()[:, 1].view(-1, k)


def _top_candidates(scores: Tensor, n: int, block: int = 64) -> tuple[Tensor, Tensor]:
    """The ``n`` largest scores of each row and their ids (unsorted), exactly.

    Block filter: with the columns cut into blocks of ``block``, the ``n``
    largest scores lie in the ``n`` blocks with the largest maxima (each of
    those blocks holds an item at least as large as anything outside them),
    provided the n-th and (n+1)-th largest block maxima differ, so no block
    outside is tied with them. One max-reduction over ``scores`` and a top-k
    over ``n * block`` candidates then replace a top-k over the full row,
    about twice as fast on CPU. Rows where the proviso fails (ties between
    block maxima, or fewer than n finite blocks) take a full ``torch.topk``.
    """
    rows, num_items = scores.shape
    num_blocks = num_items // block
    if rows == 0 or num_blocks < n + 1 or scores.stride(1) != 1:
        return torch.topk(scores, n, dim=1, sorted=False)
    blocks = scores.as_strided((rows, num_blocks, block), (scores.stride(0), block, 1))
    best = torch.topk(blocks.amax(-1), n + 1, dim=1, sorted=True)
    exact = (best.values[:, n - 1] > best.values[:, n]) & (best.values[:, n - 1] > NEG_INF)
    offsets = torch.arange(block, device=scores.device)
    cols = (best.indices[:, :n].unsqueeze(2) * block + offsets).reshape(rows, -1)
    if num_blocks * block < num_items:  # the last partial block is always a candidate
        tail = torch.arange(num_blocks * block, num_items, device=scores.device)
        cols = torch.cat([cols, tail.expand(rows, -1)], dim=1)
    values, pos = torch.topk(scores.gather(1, cols), n, dim=1, sorted=False)
    index = cols.gather(1, pos)
    fallback = (~exact).nonzero().squeeze(1)
    if fallback.numel():
        values[fallback], index[fallback] = torch.topk(scores[fallback], n, dim=1, sorted=False)
    return values, index


def topk_with_ties(scores: Tensor, k: int, tie_block_rows: int | None = None) -> Tensor:
    """Top-``k`` item ids per row, ties broken by the smaller item id.

    Ranking rule: higher score first; among equal scores, smaller item id
    first. Entries whose score is ``-inf`` (masked items) are returned as
    ``-1``; a row with fewer than ``k`` unmasked items is padded with ``-1``
    at the end.

    Cost: the K+1 largest scores (one block-max pass and a top-k over the
    best blocks, see :func:`_top_candidates`); the last of them tells whether
    the K-th score is shared by items beyond position K (a boundary tie, rare
    with learnt float scores, common with count-based scores). Only such
    rows are re-selected exactly, ``tie_block_rows`` rows at a time (default:
    a quarter of the rows), which bounds the extra memory to about 3 bytes
    per score.

    Args:
        scores: ``[B, I]`` float scores; a NaN outside the masked entries
            raises :class:`FloatingPointError`.
        k: list length (at most ``I``).
        tie_block_rows: rows re-selected at once on the tie path.

    Returns:
        ``[B, k]`` int64 item ids, ``-1`` for padding.
    """
    num_items = scores.shape[1]
    k = min(k, num_items)
    # One extra entry tells whether the K-th score is shared beyond position K. An
    # unsorted top-k plus a sort of the K+1 winners is faster than a sorted top-k.
    values, index = _top_candidates(scores, min(k + 1, num_items))
    values, order = values.sort(dim=1, descending=True)
    index = index.gather(1, order)
    # torch.topk and sort rank NaN above every number, so one look at column 0 finds any.
    if values.numel() and torch.isnan(values[:, 0]).any():
        raise FloatingPointError("the model produced NaN scores")
    kth = values[:, k - 1 : k]
    if values.shape[1] > k:
        # A boundary tie at -inf needs no resolution: masked entries all become padding.
        tied = (values[:, k] == kth[:, 0]) & (kth[:, 0] > NEG_INF)
        ambiguous = tied.nonzero().squeeze(1)
    else:
        ambiguous = values.new_zeros(0, dtype=torch.long)
    values, index = values[:, :k], index[:, :k]
    if ambiguous.numel():
        block = tie_block_rows or max(1, scores.shape[0] // 4)
        for start in range(0, ambiguous.numel(), block):
            rows = ambiguous[start : start + block]
            sub = scores[rows]
            ids = _resolve_boundary_ties(sub, kth[rows], k)
            index[rows] = ids
            values[rows] = sub.gather(1, ids)
    # Order inside the list: by score, ties by id (a stable sort of id-sorted lists).
    index, perm = index.sort(dim=1)
    values = values.gather(1, perm)
    values, perm = values.sort(dim=1, descending=True, stable=True)
    index = index.gather(1, perm)
    return index.masked_fill(values == NEG_INF, -1)


def bytes_per_user(
    num_items: int,
    k: int,
    num_categories: int,
    num_top_levels: int = 0,
    emb_dim: int = 0,
    num_groups: int = 0,
) -> int:
    """Peak bytes one user of a chunk costs during evaluation (an upper bound).

    Terms (float32 = 4 bytes, float64 = 8, int64 = 8, bool = 1):

    - ``[B, I]``: the score row (4), the ``scores >= kth`` tie check (1), the
      tie path on at most a quarter of the rows (``>``, ``==``, int32 cumsum
      and the selection: 11/4 ≈ 3), and 4 of slack for a scorer that
      returns another dtype (the float32 copy): 12 per item;
    - ``[B, K, C]``: list categories, their share-normalised copy and the
      new-category product (3 float32): 12 per (K, C); plus top-level
      categories ``[B, K, T]`` likewise;
    - ``[B, K, K]``: category intersections, unions and their difference
      (float32) and the float64 distances: 21 per K² (a rounded-up count);
    - ``[B, K, d]``: the gathered unit item embeddings, their masked copy and
      squares (float64): 24 per (K, d);
    - ``[B, C]``: about 12 float64 user-by-category blocks (train and test
      categories, calibration distributions, per-category recall): 96 per C;
    - ``[B, K]`` and ``[B]``: hits, masks, discounts and per-user metric
      values for every K and slice: a generous 256 per K plus 64 per group.
    """
    return (
        12 * num_items
        + 12 * k * num_categories
        + 12 * k * num_top_levels
        + 21 * k * k
        + 24 * k * emb_dim
        + 96 * (num_categories + num_top_levels)
        + 256 * k
        + 64 * num_groups
        + 1024
    )


def chunk_size(memory_budget_mb: float, per_user_bytes: int) -> int:
    """Users per chunk so that one chunk's intermediates fit the budget (at least 1)."""
    return max(1, int(memory_budget_mb * 2**20) // max(1, per_user_bytes))
