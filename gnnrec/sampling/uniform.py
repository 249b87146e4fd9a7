"""Uniform and popularity-biased negative sampling."""

from __future__ import annotations

import torch
from torch import Tensor

from gnnrec.sampling.base import NegativeSampler, TrainingPairs


class UniformSampler(NegativeSampler):
    """Negatives drawn uniformly among the items the user has not interacted with
    (the sampler of BPR-MF, NGCF and LightGCN)."""

    name = "uniform"


class PopularitySampler(NegativeSampler):
    r"""Negatives drawn with probability proportional to training popularity to the power α.

    :math:`P(j) \propto \mathrm{pop}(j)^{\alpha}` over the items the user has
    not interacted with (word2vec's unigram^0.75 negatives; Mikolov et al.
    2013, used for recommendation by e.g. Chen et al. 2017). ``alpha=0`` is
    uniform over the catalogue; items never seen in training are never drawn
    for ``alpha > 0``. Drawn by inverse CDF (binary search in the cumulative
    weights) on the device.

    Args:
        alpha: exponent :math:`\alpha \ge 0`.
    """

    name = "popularity"

    def __init__(
        self,
        data: TrainingPairs,
        num_negatives: int = 1,
        alpha: float = 0.75,
        max_rounds: int = 100,
    ) -> None:
        super().__init__(data, num_negatives, max_rounds)
        if not isinstance(alpha, int | float) or alpha < 0:
            raise ValueError(f"sampler.alpha must be >= 0, got {alpha!r}")
        self.alpha = float(alpha)
        weights = data.item_popularity().double().pow(self.alpha)
        if alpha > 0:
            weights[data.item_popularity() == 0] = 0.0
        self.cdf = torch.cumsum(weights, 0)

    def draw(self, users: Tensor, pos: Tensor, generator: torch.Generator | None) -> Tensor:
        u = torch.rand(len(users), device=users.device, generator=generator, dtype=torch.float64)
        idx = torch.searchsorted(self.cdf, u * self.cdf[-1], right=True)
        return idx.clamp_(max=self.num_items - 1)

    def fallback(self, users: Tensor, pos: Tensor, generator: torch.Generator | None) -> Tensor:
        """Users who interacted with nearly all popular items get uniform negatives."""
        return self.uniform_valid(users, pos, generator)

    def __repr__(self) -> str:
        return f"PopularitySampler(num_negatives={self.num_negatives}, alpha={self.alpha})"


UniformNegativeSampler = UniformSampler
"""The name used before samplers became switchable."""
