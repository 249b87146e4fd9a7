"""Sampled softmax / InfoNCE over sampled and in-batch negatives."""

from __future__ import annotations

from typing import cast

import torch
import torch.nn.functional as F
from torch import Tensor

from gnnrec.losses.base import Loss, LossInput, weighted_mean


class SoftmaxLoss(Loss):
    r"""Sampled softmax (InfoNCE) of the positive against a set of negatives.

    .. math::
        \mathcal{L} = -\frac{1}{|B|}\sum_{(u,i)\in B}
            \log \frac{\exp(s_{ui}/\tau)}{\exp(s_{ui}/\tau)
                + \sum_{j \in \mathcal{N}_u} \exp(s_{uj}/\tau)}

    with :math:`s_{ui} = \cos(\mathbf{e}_u, \mathbf{e}_i)` (``cosine=True``,
    the form of SSM, Wu et al. 2022, and of the contrastive losses of
    SimGCL) or :math:`\mathbf{e}_u^\top\mathbf{e}_i`. The negatives
    :math:`\mathcal{N}_u` are the sampler's ``n`` items for ``u`` and, with
    ``in_batch=True``, the other positives of the batch (every column of the
    ``[B, B]`` user × positive-item matrix except the user's own; an in-batch
    item that is the same item as ``u``'s positive is masked out, so a
    popular item is never its own negative).

    ``in_batch_negatives=m`` uses only the first ``m`` positives of the batch
    as shared negatives (the batch is a random draw of training pairs, so
    they are a random draw too, popularity-distributed like all in-batch
    negatives): the ``[B, m]`` matrix instead of ``[B, B]`` lets the batch
    grow — and the propagations per epoch shrink — without the quadratic
    cost. On Gowalla, 16,384 pairs with 2,048 shared negatives take a third
    of the time per pair of 2,048 pairs with all in-batch negatives
    (``benchmarks/README.md``).

    Args:
        temperature: :math:`\tau > 0`.
        in_batch: also use the batch's other positives as negatives.
        cosine: score by cosine similarity (else dot product).
        in_batch_negatives: use only this many of the batch's positives
            (null: all of them).
        logq: correct the in-batch columns for their sampling frequency
            (Yi et al., RecSys 2019): column :math:`j`'s logit becomes
            :math:`s_{uj}/\tau - \log c_j`, with :math:`c_j` the number of
            the batch's pairs whose positive is item :math:`j` (an in-batch
            estimate of its popularity), so popular items are not
            over-penalised for being drawn often.
    """

    name = "softmax"

    def __init__(
        self,
        temperature: float = 0.2,
        in_batch: bool = True,
        cosine: bool = True,
        in_batch_negatives: int | None = None,
        logq: bool = False,
    ):
        if not isinstance(temperature, int | float) or temperature <= 0:
            raise ValueError(f"loss.temperature must be > 0, got {temperature!r}")
        if in_batch_negatives is not None and (
            isinstance(in_batch_negatives, bool)
            or not isinstance(in_batch_negatives, int)
            or in_batch_negatives <= 0
        ):
            raise ValueError(
                f"loss.in_batch_negatives must be a positive integer or null, "
                f"got {in_batch_negatives!r}"
            )
        self.in_batch_negatives = in_batch_negatives
        self.logq = bool(logq)
        self.temperature = float(temperature)
        self.in_batch = bool(in_batch)
        self.cosine = bool(cosine)
        self.min_negatives = 0 if self.in_batch else 1

    def __call__(self, batch: LossInput) -> dict[str, Tensor]:
        u, p, n = batch.user_emb, batch.pos_emb, batch.neg_emb
        if self.cosine:
            u, p, n = F.normalize(u, dim=-1), F.normalize(p, dim=-1), F.normalize(n, dim=-1)
        u = u / self.temperature  # [B, d]: cheaper than dividing [B, m] logits
        pos = (u * p).sum(-1, keepdim=True)  # [B, 1]
        small = torch.cat([pos, (u.unsqueeze(1) * n).sum(-1)], dim=1)  # [B, 1 + n]
        lse = torch.logsumexp(small, dim=1)
        if self.in_batch:
            m = min(self.in_batch_negatives or len(p), len(p))
            rows, cols, counts = same_item_pairs(batch.pos, m)
            bias = counts.to(u.dtype).log() if self.logq else None
            lse = torch.logaddexp(lse, masked_logsumexp(u, p[:m], rows, cols, bias))
        return {"softmax": weighted_mean(lse - pos.squeeze(1), batch.weight)}


class _MaskedLogSumExp(torch.autograd.Function):
    """Row-wise log-sum-exp of ``u @ v.T - bias`` without the masked entries,
    keeping one ``[B, m]`` block: the forward turns the logits into the
    shifted exponentials in place and the backward into the gradient weights
    in place (autograd's own path allocates and sweeps the block ~4 more
    times). Backward once only (the saved block is consumed)."""

    @staticmethod
    def forward(ctx, u, v, rows, cols, bias):
        x = u @ v.T
        if bias is not None:
            x.sub_(bias)
        # lowest finite value: a fully masked row stays finite (its weight in the
        # caller's log-add is exp(min - total) = 0, so its gradient is 0 too)
        x.index_put_((rows, cols), x.new_tensor(torch.finfo(x.dtype).min))
        top = x.amax(dim=1, keepdim=True)
        x.sub_(top).exp_()
        total = x.sum(dim=1)
        ctx.save_for_backward(u, v, x, total)
        return total.log() + top.squeeze(1)

    @staticmethod
    def backward(ctx, grad):
        u, v, x, total = ctx.saved_tensors
        weights = x.mul_((grad / total).unsqueeze(1))  # softmax * incoming gradient
        return weights @ v, weights.T @ u, None, None, None


def masked_logsumexp(
    u: Tensor, v: Tensor, rows: Tensor, cols: Tensor, bias: Tensor | None = None
) -> Tensor:
    r""":math:`\log \sum_{j \notin M_i} \exp(u_i \cdot v_j - b_j)` for every row ``i``.

    Args:
        u: ``[B, d]``.
        v: ``[m, d]``.
        rows, cols: the masked entries ``M`` (e.g. from :func:`same_item_pairs`).
        bias: ``[m]`` subtracted from every column (no gradient), or None.
    """
    return cast(Tensor, _MaskedLogSumExp.apply(u, v, rows, cols, bias))


def same_item_pairs(pos: Tensor, m: int) -> tuple[Tensor, Tensor, Tensor]:
    """Every ``(i, j)``, ``j < m``, with ``pos[i] == pos[j]`` (row ``i`` included),
    and per column ``j`` how many rows share its item (``[m]``, at least 1).

    The in-batch columns to mask, found by one sort and two binary searches
    instead of a dense ``[B, m]`` comparison.
    """
    sorted_pos, order = torch.sort(pos)
    left = torch.searchsorted(sorted_pos, pos[:m])
    counts = torch.searchsorted(sorted_pos, pos[:m], right=True) - left
    cols = torch.repeat_interleave(torch.arange(m, device=pos.device), counts)
    first = torch.repeat_interleave(torch.cumsum(counts, 0) - counts, counts)
    rows = order[
        torch.repeat_interleave(left, counts) + torch.arange(len(cols), device=pos.device) - first
    ]
    return rows, cols, counts
