"""Hydra callbacks of ``gnnrec-train`` (configured under ``hydra.callbacks``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from gnnrec.report.collect import find_run_dirs


class SweepReport(Callback):
    """After a multirun: how many jobs finished and which failed, with their errors.

    A failing job writes ``error.txt`` (a diverged one next to a
    ``results.json`` whose ``status`` is ``diverged``) and the sweep goes on
    with the next job; this report lists the failures at the
    end and makes the command exit with status 2 when there was one.
    """

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        sweep = Path(config.hydra.sweep.dir)
        # the rule gnnrec-report counts by: a diverged run (results.json and error.txt) failed
        finished, failed = find_run_dirs([sweep]) if sweep.is_dir() else ([], [])
        print(f"\nsweep {sweep}: {len(finished)} job(s) finished, {len(failed)} failed")
        for job in failed:
            lines = (job / "error.txt").read_text(encoding="utf-8").strip().splitlines()
            print(f"  failed {job.name}: {lines[0] if lines else '(no message)'}")
        if failed:
            raise SystemExit(2)
