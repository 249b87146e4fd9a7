"""Loss functions on tensors, shared by the trainer's losses and models' auxiliary terms."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def info_nce(anchor: Tensor, positive: Tensor, temperature: float) -> Tensor:
    r"""InfoNCE with in-batch negatives, averaged over the batch.

    .. math::
        \mathcal{L} = -\frac{1}{B}\sum_{b=1}^{B} \log
            \frac{\exp(\mathbf{z}'_b \cdot \mathbf{z}''_b / \tau)}
                 {\sum_{c=1}^{B} \exp(\mathbf{z}'_b \cdot \mathbf{z}''_c / \tau)},
        \qquad \mathbf{z} = \mathbf{x} / \lVert \mathbf{x} \rVert,

    (van den Oord et al. 2018; the contrastive term of SGL, SimGCL and
    XSimGCL), computed as a cross-entropy over the ``[B, B]`` cosine-logit
    matrix.

    Args:
        anchor: ``[B, d]`` first view.
        positive: ``[B, d]`` second view; row ``b`` is the positive of
            ``anchor[b]``, every other row a negative.
        temperature: :math:`\tau > 0`.
    """
    a = F.normalize(anchor, dim=1)
    p = F.normalize(positive, dim=1)
    logits = a @ p.T / temperature
    target = torch.arange(a.shape[0], device=a.device)
    return F.cross_entropy(logits, target)
