"""Training: the loop and early stopping."""

from gnnrec.train.early_stopping import EarlyStopping
from gnnrec.train.loop import FitResult, Trainer

__all__ = ["EarlyStopping", "FitResult", "Trainer"]
