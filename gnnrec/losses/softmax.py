"""Sampled softmax / InfoNCE over sampled and in-batch negatives."""

from __future__ import annotations

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
            in_batch = u @ p[:m].T  # [B, m]
            rows, cols = same_item_pairs(batch.pos, m)
            if self.logq:
                counts = torch.bincount(cols, minlength=m).to(in_batch.dtype)
                in_batch = in_batch - counts.log().unsqueeze(0)
            # the lowest finite value, not -inf: a row whose every column is its own
            # item then adds exp(min) = 0 exactly, and its gradient stays finite
            in_batch.index_put_((rows, cols), in_batch.new_tensor(torch.finfo(u.dtype).min))
            lse = torch.logaddexp(lse, torch.logsumexp(in_batch, dim=1))
        return {"softmax": weighted_mean(lse - pos.squeeze(1), batch.weight)}


def same_item_pairs(pos: Tensor, m: int) -> tuple[Tensor, Tensor]:
    """Every ``(i, j)``, ``j < m``, with ``pos[i] == pos[j]`` (row ``i`` included).

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
    return rows, cols
