"""Early stopping on a validation metric, keeping the best weights."""

from __future__ import annotations

import copy
import math

from torch import nn


class EarlyStopping:
    """Tracks the best value of a metric (higher is better) and its weights.

    Args:
        patience: evaluations without improvement before stopping.
        min_delta: the smallest increase that counts as an improvement.
    """

    def __init__(self, patience: int = 10, min_delta: float = 0.0) -> None:
        self.patience = patience
        self.min_delta = min_delta
        self.best = -math.inf
        self.best_epoch = 0
        self.best_state: dict | None = None
        self.bad_rounds = 0

    def step(self, value: float, epoch: int, model: nn.Module) -> bool:
        """Record one evaluation; returns True when training should stop."""
        if value > self.best + self.min_delta:
            self.best, self.best_epoch, self.bad_rounds = value, epoch, 0
            self.best_state = copy.deepcopy(model.state_dict())
        else:
            self.bad_rounds += 1
        return self.bad_rounds >= self.patience

    def restore(self, model: nn.Module) -> None:
        """Load the best weights seen (no-op if none were recorded)."""
        if self.best_state is not None:
            model.load_state_dict(self.best_state)
