"""Atomic writes: a reader never sees a half-written results file."""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from gnnrec.data.files import atomic_path


def _clean(value: Any) -> Any:
    """JSON has no NaN: write undefined metrics as null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Mapping):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    return value


def write_text_atomic(path: str | Path, text: str) -> Path:
    """Write ``text`` to ``path`` via a temporary file (flushed to disk) and ``os.replace``."""
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    return Path(path)


def write_lines_atomic(path: str | Path, lines: Iterable[str]) -> Path:
    """Write lines (each without its newline) atomically."""
    return write_text_atomic(path, "".join(f"{line}\n" for line in lines))


def write_json_atomic(path: str | Path, data: Mapping[str, Any]) -> Path:
    """Write a JSON object atomically (NaN/inf become null)."""
    return write_text_atomic(path, json.dumps(_clean(dict(data)), indent=2, sort_keys=True) + "\n")


def append_jsonl(path: str | Path, row: Mapping[str, Any]) -> None:
    """Append one JSON line; each line is written with a single ``write``.

    A crash can at worst lose the last line, never leave a partial line
    followed by valid ones.
    """
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(json.dumps(_clean(dict(row)), sort_keys=True) + "\n")
        fh.flush()


def write_jsonl_atomic(path: str | Path, rows: Iterable[Mapping[str, Any]]) -> Path:
    """Replace ``path`` with one JSON line per row, formatted as :func:`append_jsonl` does
    (a resumed run rewrites its per-epoch log up to the checkpoint this way)."""
    return write_lines_atomic(path, [json.dumps(_clean(dict(r)), sort_keys=True) for r in rows])
