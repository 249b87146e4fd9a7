"""Training losses."""

from gnnrec.losses.bpr import BPRLoss

__all__ = ["BPRLoss"]
