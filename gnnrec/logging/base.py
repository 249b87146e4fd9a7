"""The logger interface the runner talks to."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


class RunLogger:
    """Receives a run's config, per-epoch rows and final results.

    Implementations must never stop a run: failures are reported as warnings
    and the logger turns itself off.
    """

    def start(self, config: Mapping[str, Any], default_group: str | None = None) -> None:
        """Called once with the resolved configuration.

        ``default_group`` groups related runs (all jobs of one multirun) when
        the logger was not given a group of its own.
        """

    def log_epoch(self, epoch: int, row: Mapping[str, float]) -> None:
        """Called after every epoch with its losses and validation metrics."""

    def log_results(self, results: Mapping[str, Any]) -> None:
        """Called once with the final validation and test metrics."""

    def finish(self, failed: bool = False) -> None:
        """Called once at the end of the run, also after an error."""


class NullLogger(RunLogger):
    """Logs nothing (``logger=none``); the results files are still written."""
