"""Bayesian personalised ranking loss."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor

from gnnrec.losses.base import Loss, LossInput, weighted_mean


class BPRLoss(Loss):
    r"""BPR: every sampled negative ranked below the positive.

    .. math::
        \mathcal{L}_{BPR} = \frac{1}{|B|\,n}\sum_{(u,i)\in B}\sum_{j=1}^{n}
            -\log \sigma(\hat y_{ui} - \hat y_{uj}),
        \qquad \hat y_{ui} = \mathbf{e}_u^\top \mathbf{e}_i

    (Rendle et al., UAI 2009); with one negative per positive this is the
    loss of BPR-MF, NGCF and LightGCN. :math:`-\log\sigma(x)` is computed as
    ``softplus(-x)`` for numerical stability. The L2 term on the batch's
    layer-0 embeddings is added by the trainer (``train.reg_weight``). With
    pair weights :math:`w_{ui}` (``LossInput.weight``) each pair's term is
    multiplied by its weight.
    """

    name = "bpr"
    min_negatives = 1

    def __call__(self, batch: LossInput) -> dict[str, Tensor]:
        pos_scores = (batch.user_emb * batch.pos_emb).sum(-1)  # [B]
        neg_scores = (batch.user_emb.unsqueeze(1) * batch.neg_emb).sum(-1)  # [B, n]
        losses = F.softplus(neg_scores - pos_scores.unsqueeze(1))  # [B, n]
        return {"bpr": weighted_mean(losses, batch.weight)}
