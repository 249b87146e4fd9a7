"""Negative samplers."""

from gnnrec.sampling.uniform import UniformNegativeSampler

__all__ = ["UniformNegativeSampler"]
