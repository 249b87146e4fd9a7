"""Weights & Biases logger: offline by default, never blocks a run."""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from gnnrec.logging.base import RunLogger

log = logging.getLogger(__name__)


class WandbLogger(RunLogger):
    """Logs a run to W&B.

    ``mode="offline"`` (the default) needs no account and no network: the run
    is written under ``<save_dir>/wandb/`` and can be uploaded later with
    ``wandb sync``. ``mode="online"`` uploads live (needs ``wandb login``);
    ``mode="disabled"`` turns W&B off. If W&B cannot start or fails while
    logging, a warning is printed and the run goes on without it.

    Args:
        project: W&B project.
        save_dir: folder for W&B's files (the run directory).
        mode: ``offline``, ``online`` or ``disabled``.
        entity: W&B entity (team/user), optional.
        group: groups runs, e.g. all jobs of one Hydra multirun.
        name: run name.
        tags: run tags.
        job_type: W&B job type.
    """

    def __init__(
        self,
        project: str = "gnnrec",
        save_dir: str | Path = ".",
        mode: str = "offline",
        entity: str | None = None,
        group: str | None = None,
        name: str | None = None,
        tags: list[str] | None = None,
        job_type: str = "train",
    ) -> None:
        if mode not in ("offline", "online", "disabled"):
            raise ValueError(f"logger.mode must be offline, online or disabled, got {mode!r}")
        self.kwargs: dict[str, Any] = {
            "project": project,
            "dir": str(save_dir),
            "mode": mode,
            "entity": entity,
            "group": group,
            "name": name,
            "tags": list(tags or []),
            "job_type": job_type,
        }
        self.run: Any = None

    def _guard(self, what: str, fn, *args) -> None:
        if self.run is None:
            return
        try:
            fn(*args)
        except Exception as err:  # a logger must never stop training
            log.warning("W&B %s failed (%s); continuing without W&B", what, err)
            self.run = None

    def start(self, config: Mapping[str, Any], default_group: str | None = None) -> None:
        if self.kwargs["group"] is None:
            self.kwargs["group"] = default_group
        self.kwargs["tags"] = [*self.kwargs["tags"], *run_tags(config, self.kwargs["group"])]
        try:
            if self.kwargs["mode"] == "offline":
                os.environ.setdefault("WANDB_MODE", "offline")
            os.environ.setdefault("WANDB_SILENT", "true")
            os.environ.setdefault("WANDB_DISABLE_GIT", "true")
            import wandb

            Path(self.kwargs["dir"]).mkdir(parents=True, exist_ok=True)
            self.run = wandb.init(config=dict(config), reinit="finish_previous", **self.kwargs)
        except Exception as err:
            log.warning("W&B could not start (%s); the run continues without it", err)
            self.run = None

    def log_epoch(self, epoch: int, row: Mapping[str, float]) -> None:
        clean = {k: v for k, v in row.items() if isinstance(v, int | float) and math.isfinite(v)}
        self._guard("log", lambda: self.run.log(clean, step=epoch))

    def log_results(self, results: Mapping[str, Any]) -> None:
        def write() -> None:
            for key, value in results.items():
                if isinstance(value, int | float | str) and not (
                    isinstance(value, float) and not math.isfinite(value)
                ):
                    self.run.summary[key] = value

        self._guard("summary", write)

    def finish(self, failed: bool = False) -> None:
        self._guard("finish", lambda: self.run.finish(exit_code=1 if failed else 0))
        self.run = None

    @property
    def run_dir(self) -> str | None:
        return None if self.run is None else self.run.dir


def run_tags(config: Mapping[str, Any], group: str | None) -> list[str]:
    """``model:<name>``, ``dataset:<name>`` and the sweep's group, for filtering in W&B."""
    tags = []
    for key in ("model", "dataset"):
        node = config.get(key)
        name = node.get("name") if isinstance(node, Mapping) else None
        if name:
            tags.append(f"{key}:{name}")
    if group:
        tags.append(group)
    return tags
