"""Errors raised at the boundaries of gnnrec (files, configuration, CLI).

Every error a user can cause by bad input is a :class:`GnnrecError`; the
command-line entry points print its message (no traceback) and exit with
status 2.
"""

from __future__ import annotations

from pathlib import Path


class GnnrecError(Exception):
    """Base class for errors caused by user input (files, config, arguments)."""


class ConfigError(GnnrecError):
    """A configuration value is missing, unknown or out of range."""


class DataError(GnnrecError):
    """An input file is missing or malformed.

    The message names the file and, where known, the 1-based line and column
    (or column name) and what was expected there.
    """

    def __init__(
        self,
        message: str,
        path: str | Path | None = None,
        line: int | None = None,
        column: int | str | None = None,
    ) -> None:
        self.path = None if path is None else Path(path)
        self.line = line
        self.column = column
        self.reason = message
        where = []
        if path is not None:
            where.append(str(path))
        if line is not None:
            where.append(f"line {line}")
        if column is not None:
            where.append(f"column {column}" if isinstance(column, int) else f"column '{column}'")
        prefix = ", ".join(where)
        super().__init__(f"{prefix}: {message}" if prefix else message)
