"""Negative samplers: one small class per strategy behind :class:`NegativeSampler`,
chosen by ``sampler=``."""

from gnnrec.sampling.base import NegativeSampler, TrainingPairs
from gnnrec.sampling.category import (
    CategoryBoostedSampler,
    CrossCategorySampler,
    InCategorySampler,
)
from gnnrec.sampling.hard import HardNegativeSampler
from gnnrec.sampling.uniform import PopularitySampler, UniformNegativeSampler, UniformSampler

__all__ = [
    "CategoryBoostedSampler",
    "CrossCategorySampler",
    "HardNegativeSampler",
    "InCategorySampler",
    "NegativeSampler",
    "PopularitySampler",
    "TrainingPairs",
    "UniformNegativeSampler",
    "UniformSampler",
]
