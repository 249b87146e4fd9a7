r"""Gradient reversal (Ganin & Lempitsky, "Unsupervised Domain Adaptation by
Backpropagation", ICML 2015).

.. math::
    R_\gamma(\mathbf{x}) = \mathbf{x}, \qquad
    \frac{\partial R_\gamma}{\partial \mathbf{x}} = -\gamma \mathbf{I}.

Placed between an encoder and a classifier, the classifier learns to predict
its target while the encoder is pushed to make that prediction harder
(adversarial learning in one backward pass).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


class _GradientReversal(torch.autograd.Function):
    """Identity forward; the incoming gradient times ``-gamma`` backward."""

    @staticmethod
    def forward(ctx, x: Tensor, gamma: float) -> Tensor:
        ctx.gamma = gamma
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad: Tensor) -> tuple[Tensor, None]:
        return -ctx.gamma * grad, None


def gradient_reversal(x: Tensor, gamma: float = 1.0) -> Tensor:
    r""":math:`R_\gamma(\mathbf{x})`: ``x`` unchanged, its gradient multiplied by ``-gamma``."""
    return _GradientReversal.apply(x, gamma)


class GradientReversal(nn.Module):
    r"""Module form of :func:`gradient_reversal`.

    Args:
        gamma: :math:`\gamma \ge 0`, the scale of the reversed gradient.
    """

    def __init__(self, gamma: float = 1.0) -> None:
        super().__init__()
        ok = isinstance(gamma, int | float) and not isinstance(gamma, bool)
        if not ok or gamma < 0:
            raise ValueError(f"gamma must be a number >= 0, got {gamma!r}")
        self.gamma = float(gamma)

    def forward(self, x: Tensor) -> Tensor:
        return gradient_reversal(x, self.gamma)

    def extra_repr(self) -> str:
        return f"gamma={self.gamma}"
