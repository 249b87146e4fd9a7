"""Readers for delimited interaction and item files, with located error messages.

Files are parsed by pyarrow (vectorised and multi-threaded); every column is
read as text and converted by the caller through :func:`to_float` /
:func:`to_ids`, which name the file, line and column of the first value that
does not parse. Line numbers are 1-based physical lines of the file, the
header included.
"""

from __future__ import annotations

import gzip
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from gnnrec.errors import DataError

_NUMBER = r"^\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*$"


@dataclass(frozen=True)
class Table:
    """Text columns read from one file, with what is needed to locate a row.

    Attributes:
        path: the file read.
        columns: column name → ``pyarrow`` string array.
        header: whether the file's first line is a header.
    """

    path: Path
    columns: dict[str, pa.Array]
    header: bool

    @property
    def num_rows(self) -> int:
        return len(next(iter(self.columns.values())))

    def line(self, row: int) -> int:
        """1-based physical line of a row (computed on demand: only errors need it)."""
        return int(_row_lines(self.path, self.header, self.num_rows)[row])

    def column(self, name: str) -> pa.Array:
        if name not in self.columns:
            found = ", ".join(self.columns) or "(none)"
            raise DataError(f"missing column '{name}'; the header has: {found}", self.path, line=1)
        return self.columns[name]

    def column_index(self, name: str) -> int:
        """1-based position of a column, for messages."""
        return list(self.columns).index(name) + 1


def _open_text_head(path: Path) -> bytes:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as fh:
        return fh.read(1 << 16)


def _physical_lines(path: Path) -> list[bytes]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as fh:
        return fh.read().split(b"\n")


def _locate_bad_bytes(path: Path) -> DataError:
    for number, raw in enumerate(_physical_lines(path), start=1):
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError as err:
            return DataError(
                f"bytes that are not UTF-8 at byte {err.start + 1} of the line "
                "(expected UTF-8 text; re-encode the file)",
                path,
                line=number,
            )
    return DataError("the file is not valid UTF-8 text", path)


def _row_lines(path: Path, header: bool, num_rows: int) -> np.ndarray:
    """Physical line of each parsed row (pyarrow skips empty lines)."""
    lines = _physical_lines(path)
    nonempty = np.flatnonzero([len(raw.strip(b"\r")) > 0 for raw in lines]) + 1
    rows = nonempty[1:] if header else nonempty
    return rows[:num_rows].astype(np.int64)


def read_delimited(
    path: str | Path,
    sep: str = ",",
    header: bool = True,
    names: list[str] | None = None,
    atomic: bool = False,
) -> Table:
    """Read a delimited text file (optionally gzip-compressed) as text columns.

    Args:
        path: file to read; ``.gz`` files are decompressed on the fly.
        sep: one-character field separator (``"\\t"`` for TSV).
        header: whether the first line names the columns.
        names: column names when ``header`` is false.
        atomic: RecBole atomic-file header (``name:type``); the ``:type``
            suffix is dropped from column names.

    Raises:
        DataError: missing or empty file, a row with the wrong number of
            fields, non-UTF-8 bytes; the message names file and line.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError("file not found (expected a delimited text file)", path)
    if len(sep) != 1:
        raise DataError(f"the separator must be one character, got {sep!r}", path)
    head = _open_text_head(path)
    if not head.strip():
        raise DataError("the file is empty (expected a header and interaction rows)", path)
    if not header and not names:
        raise DataError("a file without header needs column names", path)

    def on_invalid(row: pacsv.InvalidRow) -> str:
        raise DataError(
            f"expected {row.expected_columns} fields separated by {sep!r}, "
            f"found {row.actual_columns}: {row.text[:80]!r}",
            path,
            line=row.number,
        )

    def read(threads: bool) -> pa.Table:
        read_options = pacsv.ReadOptions(
            use_threads=threads,
            autogenerate_column_names=False,
            column_names=None if header else list(names or []),
        )
        parse_options = pacsv.ParseOptions(
            delimiter=sep, quote_char=False, invalid_row_handler=None if threads else on_invalid
        )
        # Every column as text: ids stay exact, numbers are converted with checks.
        convert = pacsv.ConvertOptions(
            column_types=None, strings_can_be_null=False, quoted_strings_can_be_null=False
        )
        table = pacsv.read_csv(path, read_options, parse_options, convert)
        return table.cast(pa.schema([(f.name, pa.string()) for f in table.schema]))

    try:
        table = read(threads=True)
    except pa.ArrowInvalid as err:
        if "UTF8" in str(err) or "utf8" in str(err).lower():
            raise _locate_bad_bytes(path) from None
        try:  # Single-threaded parsing reports the row number of the bad line.
            read(threads=False)
        except pa.ArrowInvalid as err2:
            raise DataError(str(err2).replace("CSV parse error: ", ""), path) from None
        raise DataError(str(err), path) from None
    except pa.ArrowTypeError:
        raise _locate_bad_bytes(path) from None

    columns = {}
    for name, col in zip(table.column_names, table.columns, strict=True):
        key = name.split(":", 1)[0] if atomic else name
        columns[key.strip()] = col.combine_chunks()
    if table.num_rows == 0:
        raise DataError("the file has a header but no rows (expected interactions)", path)
    return Table(path, columns, header)


def to_float(table: Table, column: str, what: str = "a number") -> np.ndarray:
    """Parse a text column as float64, naming the first value that does not parse."""
    col = table.column(column)
    ok = np.asarray(pc.match_substring_regex(col, _NUMBER))
    if not ok.all():
        row = int(np.flatnonzero(~ok)[0])
        raise DataError(
            f"expected {what}, found {col[row].as_py()!r}",
            table.path,
            line=table.line(row),
            column=column,
        )
    return np.asarray(pc.cast(pc.utf8_trim_whitespace(col), pa.float64()))


def to_ids(table: Table, column: str) -> np.ndarray:
    """A text column of ids as a numpy array of ``str``; empty ids are an error."""
    col = pc.utf8_trim_whitespace(table.column(column))
    empty = np.asarray(pc.equal(pc.utf8_length(col), 0))
    if empty.any():
        row = int(np.flatnonzero(empty)[0])
        raise DataError(
            "expected an id, found an empty value",
            table.path,
            line=table.line(row),
            column=column,
        )
    return np.asarray(col.to_numpy(zero_copy_only=False), dtype=object).astype(str)
