"""Bayesian personalised ranking loss."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor


class BPRLoss:
    r"""BPR loss with L2 regularisation of the embeddings a batch touches.

    .. math::
        \mathcal{L} = \frac{1}{|B|}\sum_{(u,i,j)\in B}
            -\log \sigma(\hat y_{ui} - \hat y_{uj})
            + \frac{\lambda}{2|B|} \big(\lVert\mathbf{e}^{(0)}_u\rVert^2
            + \lVert\mathbf{e}^{(0)}_i\rVert^2 + \lVert\mathbf{e}^{(0)}_j\rVert^2\big)

    (Rendle et al., UAI 2009; the regulariser on the layer-0 embeddings of the
    batch is LightGCN's). :math:`-\log\sigma(x)` is computed as
    ``softplus(-x)`` for numerical stability.

    Args:
        reg_weight: :math:`\lambda`.
    """

    def __init__(self, reg_weight: float = 1e-4) -> None:
        self.reg_weight = reg_weight

    def __call__(self, pos_scores: Tensor, neg_scores: Tensor, reg: Tensor) -> dict[str, Tensor]:
        """Named loss terms; ``loss`` is the total to minimise."""
        batch = pos_scores.shape[0]
        bpr = F.softplus(neg_scores - pos_scores).mean()
        l2 = self.reg_weight * 0.5 * reg / batch
        return {"loss": bpr + l2, "bpr": bpr, "reg": l2}
