"""Divergence checks: a run whose loss or gradients blow up stops at once with
a message naming the epoch and the likely cause, instead of "succeeding" with
a loss of 10^11 and a table of noise."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

import torch

HIGH_LR = 0.1
"""Adam learning rates at or above this are named as the likely cause."""


def gradient_norm(params: Iterable[torch.nn.Parameter]) -> float:
    """The L2 norm over every gradient of ``params`` (0 when there is none):
    :math:`\\sqrt{\\sum_p \\lVert \\nabla_p \\rVert_2^2}`; non-finite when any
    gradient entry is."""
    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        return 0.0
    norms = torch._foreach_norm(grads)  # one fused pass over every gradient
    return float(torch.linalg.vector_norm(torch.stack([n.float() for n in norms])))


@dataclass
class DivergenceGuard:
    """Decides after each optimisation step whether training has diverged.

    A step diverges when its loss is NaN or infinite, when a gradient is
    non-finite (checked before the optimiser applies it), or — with ``ratio``
    — when the loss exceeds ``ratio`` times :math:`\\max(1, |\\ell_1|)`, the
    first step's loss. Losses start near their value at initialisation
    (BPR: ln 2; a softmax over m negatives: ln(m+1)) and decrease, so a
    1000-fold rise means the weights ran away (typically a learning rate far
    too high).

    Args:
        ratio: the explosion factor; None: only non-finite values count.
        reference: :math:`\\max(1, |\\ell_1|)` once known (restored on resume).
    """

    ratio: float | None = 1000.0
    reference: float | None = None

    def loss_problem(self, loss: float) -> str | None:
        """Why ``loss`` (one step's total) means divergence, or None."""
        if not math.isfinite(loss):
            return f"the loss became {loss}"
        if self.reference is None:
            self.reference = max(1.0, abs(loss))
            return None
        if self.ratio is not None and loss > self.ratio * self.reference:
            return (
                f"the loss reached {loss:.4g}, over {self.ratio:g} times "
                f"max(1, |first step's loss|) = {self.reference:.4g} (train.divergence_ratio)"
            )
        return None

    @staticmethod
    def gradient_problem(norm: float) -> str | None:
        """Why a gradient norm means divergence (non-finite), or None."""
        return None if math.isfinite(norm) else f"a gradient became {norm} (the loss was finite)"


def likely_cause(lr: float, problem: str) -> str:
    """A hint at what to change, from the learning rate and the kind of problem."""
    if lr >= HIGH_LR:
        return (
            f"the learning rate train.lr={lr:g} is far above the usual 1e-4 to 1e-2 for "
            "Adam; lower it"
        )
    if problem.startswith("a gradient"):
        return (
            "a non-finite gradient with a finite loss (a norm or square root at zero, or a "
            "temperature too small for the loss); lower train.lr or raise the temperature"
        )
    return (
        f"a learning rate too high for this model (train.lr={lr:g}) or a loss temperature "
        "too small; lower train.lr, raise train.reg_weight or the temperature"
    )
