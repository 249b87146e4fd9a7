"""Find finished runs and turn them into one row per run.

A run directory is one that holds ``results.json`` (written last by
``gnnrec-train``) and no ``error.txt``; a directory with ``error.txt`` is a
failed run (a diverged one also has a ``results.json`` with ``status:
diverged``) and is counted, not read. A row holds ``run_dir``, every scalar of
``results.json`` and ``override/<key>`` for every Hydra override
(``.hydra/overrides.yaml``) whose value differs across the collected runs.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import yaml

from gnnrec.errors import DataError

OVERRIDE_PREFIX = "override/"
IGNORED_OVERRIDES = ("hydra.", "hydra/")
"""Overrides that never identify a configuration (output folders, launchers)."""

Scalar = str | int | float | bool | None


@dataclass
class RunCollection:
    """The collected runs: ``rows`` (one dict per finished run) and failed run dirs."""

    rows: list[dict[str, Scalar]]
    failed: list[Path] = field(default_factory=list)


def find_run_dirs(paths: list[str | Path]) -> tuple[list[Path], list[Path]]:
    """Return ``(finished, failed)`` run directories under ``paths`` (any depth), sorted."""
    finished: set[Path] = set()
    failed: set[Path] = set()
    for root in map(Path, paths):
        if not root.exists():
            raise DataError("no such file or directory", path=root)
        finished.update(p.parent for p in root.rglob("results.json"))
        failed.update(p.parent for p in root.rglob("error.txt"))
    # a diverged run has both: its results.json records how it ended, not metrics
    return sorted(finished - failed), sorted(failed)


def read_overrides(run_dir: Path) -> dict[str, str]:
    """Parse ``.hydra/overrides.yaml`` (a list of ``key=value``) into a dict; ``{}`` if absent.

    Leading ``+``/``++``/``~`` markers are dropped; ``hydra.*`` overrides are ignored.
    """
    path = run_dir / ".hydra" / "overrides.yaml"
    if not path.is_file():
        return {}
    try:
        items = yaml.safe_load(path.read_text(encoding="utf-8")) or []
    except yaml.YAMLError as err:
        raise DataError(f"not valid YAML ({err})", path=path) from err
    overrides: dict[str, str] = {}
    for item in items:
        key, _, value = str(item).partition("=")
        key = key.lstrip("+~")
        if not key.startswith(IGNORED_OVERRIDES):
            overrides[key] = value
    return overrides


def read_results(run_dir: Path) -> dict[str, Scalar]:
    """The scalar entries of ``run_dir/results.json`` (nested values such as ``versions``
    dropped)."""
    path = run_dir / "results.json"
    try:
        results = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise DataError(f"not valid JSON ({err.msg})", path=path, line=err.lineno) from err
    if not isinstance(results, dict):
        raise DataError("expected a JSON object", path=path)
    return {k: v for k, v in results.items() if v is None or isinstance(v, str | int | float)}


def collect_runs(paths: list[str | Path]) -> RunCollection:
    """Collect every finished run under ``paths`` into one row per run.

    Overrides that take the same value in every run (or ``hydra.*``) are not
    columns; a run without an override that others have gets ``""`` there.
    Raises :class:`DataError` when no finished run is found.
    """
    finished, failed = find_run_dirs(paths)
    if not finished:
        names = ", ".join(map(str, paths))
        raise DataError(f"no finished runs (results.json) under {names}")
    overrides = [read_overrides(d) for d in finished]
    keys = sorted({k for o in overrides for k in o})
    varying = [k for k in keys if len({o.get(k, "") for o in overrides}) > 1]
    rows: list[dict[str, Scalar]] = []
    for run_dir, over in zip(finished, overrides, strict=True):
        row: dict[str, Scalar] = {"run_dir": str(run_dir)}
        row.update(read_results(run_dir))
        row.update({OVERRIDE_PREFIX + k: over.get(k, "") for k in varying})
        rows.append(row)
    return RunCollection(rows=rows, failed=failed)


def to_arrow(rows: list[dict[str, Scalar]]) -> pa.Table:
    """Rows → an Arrow table; a column whose values mix types becomes strings."""
    columns: dict[str, list[Scalar]] = {}
    for row in rows:
        for key in row:
            columns.setdefault(key, [])
    for key, values in columns.items():
        values.extend(row.get(key) for row in rows)
    arrays = {}
    for key, values in columns.items():
        try:
            arrays[key] = pa.array(values)
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            arrays[key] = pa.array([None if v is None else str(v) for v in values])
    return pa.table(arrays)


def write_runs(rows: list[dict[str, Scalar]], out_dir: Path) -> list[Path]:
    """Write ``runs.csv`` and ``runs.parquet`` into ``out_dir``; return their paths."""
    table = to_arrow(rows)
    csv_path, parquet_path = out_dir / "runs.csv", out_dir / "runs.parquet"
    pacsv.write_csv(table, csv_path)
    pq.write_table(table, parquet_path)
    return [csv_path, parquet_path]


def read_monitor(run_dir: Path, default: str) -> str:
    """The validation monitor (``train.monitor`` of ``config.yaml``), or ``default``."""
    path = run_dir / "config.yaml"
    if not path.is_file():
        return default
    try:
        cfg: Any = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError:
        return default
    train = cfg.get("train") if isinstance(cfg, dict) else None
    return str(train.get("monitor", default)) if isinstance(train, dict) else default
