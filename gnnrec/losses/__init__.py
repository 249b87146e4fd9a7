"""Training losses: one small class per objective behind :class:`Loss`, chosen by ``loss=``."""

from gnnrec.losses.base import Loss, LossInput
from gnnrec.losses.bpr import BPRLoss
from gnnrec.losses.directau import DirectAULoss
from gnnrec.losses.softmax import SoftmaxLoss

__all__ = ["BPRLoss", "DirectAULoss", "Loss", "LossInput", "SoftmaxLoss"]
