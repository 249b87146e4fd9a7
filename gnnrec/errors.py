"""Errors raised at the boundaries of gnnrec (files, configuration, CLI).

Every error a user can cause by bad input is a :class:`GnnrecError`; the
command-line entry points print its message (no traceback) and exit with
status 2.
"""

from __future__ import annotations

import math
from pathlib import Path


class GnnrecError(Exception):
    """Base class for errors caused by user input (files, config, arguments)."""


class ConfigError(GnnrecError):
    """A configuration value is missing, unknown or out of range."""


class DataError(GnnrecError):
    """An input file is missing or malformed.

    The message names the file and, where known, the 1-based line and column
    (or column name) and what was expected there. Binary formats without lines
    (Parquet) give the 1-based ``row`` instead of ``line``.
    """

    def __init__(
        self,
        message: str,
        path: str | Path | None = None,
        line: int | None = None,
        column: int | str | None = None,
        row: int | None = None,
    ) -> None:
        self.path = None if path is None else Path(path)
        self.line = line
        self.column = column
        self.row = row
        self.reason = message
        where = []
        if path is not None:
            where.append(str(path))
        if line is not None:
            where.append(f"line {line}")
        if row is not None:
            where.append(f"row {row}")
        if column is not None:
            where.append(f"column {column}" if isinstance(column, int) else f"column '{column}'")
        prefix = ", ".join(where)
        super().__init__(f"{prefix}: {message}" if prefix else message)


class SplitError(DataError):
    """A split breaks an invariant of the data: a user left with no training
    interactions, an interaction in two parts, a predefined split file naming
    users or items the dataset does not have."""


def users_without_training(method: str, raw_user_ids: list[str], count: int) -> SplitError:
    """The error for a split that leaves ``count`` users (examples ``raw_user_ids``)
    with validation or test interactions but none in train."""
    shown = ", ".join(repr(str(u)) for u in raw_user_ids[:5])
    more = f" and {count - 5} more" if count > 5 else ""
    return SplitError(
        f"split '{method}' leaves {count} user(s) with no training interactions "
        f"({shown}{more}); expected every user with validation or test interactions "
        "to keep at least one in train (raise dataset.kcore or change the split)"
    )


class RunDirError(GnnrecError):
    """A run directory cannot be used as asked: another process is writing it,
    or it holds a run of another configuration that ``train.resume`` would mix
    with this one. Nothing is written into it."""


class TrainingDiverged(GnnrecError):
    """Training produced a non-finite or exploding loss or a non-finite gradient.

    Attributes:
        epoch: the epoch in which it happened (1-based).
        step: the optimisation step within that epoch (1-based).
        best_epoch: the epoch of the best weights kept (0: none were validated).
        best_value: their validation value (NaN when none).
    """

    def __init__(
        self, message: str, epoch: int, step: int, best_epoch: int = 0, best_value: float = math.nan
    ) -> None:
        self.epoch = epoch
        self.step = step
        self.best_epoch = best_epoch
        self.best_value = best_value
        super().__init__(message)
