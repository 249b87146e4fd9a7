"""Readers: interaction, item and side-relation files as columns, with located errors.

Every format is parsed by pyarrow (vectorised, multi-threaded) into a
:class:`Table` of columns; the ``to_*`` converters turn a column into numpy
arrays and, when a value does not parse, raise a :class:`DataError` naming the
file, the 1-based physical line (header included; Parquet: the 1-based row),
the column and what was expected. Locating a bad value re-reads the file, so
only error paths pay for it.

Formats (``format`` in a file entry of the dataset config):

- ``csv``: delimited text with any one-character separator (``sep``), a
  header line or column ``names``; ``.gz`` files are decompressed on the fly.
- ``tsv``: ``csv`` with ``sep: "\\t"``.
- ``atomic``: a RecBole atomic file (``.inter``, ``.item``, ``.user``,
  ``.kg``, ``.link``): tab separated, header of ``name:type`` fields; the
  ``:type`` suffix is dropped from column names.
- ``parquet``: typed columns; ids may be integers or strings.
- ``jsonl``: one JSON object per line (JSON-lines), optionally ``.gz``.
- ``lightgcn``: the LightGCN ``train.txt`` / ``test.txt`` layout, one line
  per user ``user item item ...`` (whitespace separated), read as the two
  columns ``user`` and ``item``.
"""

from __future__ import annotations

import contextlib
import gzip
import io
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.json as pajson
import pyarrow.parquet as pq

from gnnrec.errors import DataError

FORMATS = ("csv", "tsv", "atomic", "parquet", "jsonl", "lightgcn")
"""File formats understood by :func:`read_table`."""

_OTHER_SEPARATORS = (",", "\t", ";", "|", " ")
_EXAMPLE_DATE = "2024-01-31T12:00:00"


@dataclass(frozen=True)
class Table:
    """Columns read from one file, with what is needed to locate a row.

    Attributes:
        path: the file read.
        columns: column name → ``pyarrow`` array (text for delimited files,
            typed for Parquet and JSON-lines).
        header_lines: non-empty lines before the first record (1 with a
            header line, else 0).
        records: for formats where one line holds several rows (LightGCN),
            ``[num_rows]`` 0-based record (non-empty line) of each row; None
            when row ``r`` is record ``r``.
        binary: the file has no lines (Parquet): errors name the row.
    """

    path: Path
    columns: dict[str, pa.Array]
    header_lines: int = 0
    records: np.ndarray | None = None
    binary: bool = False

    @property
    def num_rows(self) -> int:
        return len(next(iter(self.columns.values()))) if self.columns else 0

    def error(self, message: str, row: int | None = None, column: str | None = None) -> DataError:
        """A :class:`DataError` located at ``row`` (0-based) and ``column``."""
        if row is None:
            return DataError(message, self.path, column=column)
        if self.binary:
            return DataError(message, self.path, row=row + 1, column=column)
        record = int(self.records[row]) if self.records is not None else row
        line = _record_line(self.path, record + self.header_lines)
        return DataError(message, self.path, line=line, column=column)

    def where(self, row: int) -> str:
        """``"line N"`` (text formats) or ``"row N"`` (Parquet) of a 0-based row."""
        error = self.error("", row)
        return f"row {error.row}" if self.binary else f"line {error.line}"

    def column(self, name: str) -> pa.Array:
        """The column ``name``; a missing one is an error listing those present."""
        if name not in self.columns:
            raise missing_column(self.path, name, list(self.columns), self.binary)
        return self.columns[name]


def missing_column(path: Path, name: str, found: list[str], binary: bool = False) -> DataError:
    """The error for a column the configuration maps but the file lacks."""
    listed = ", ".join(found) or "(none)"
    hint = ""
    if len(found) == 1:
        other = [s for s in _OTHER_SEPARATORS if s in found[0]]
        if other:
            hint = f"; the header looks separated by {other[0]!r} (set sep)"
    where = {} if binary else {"line": 1}
    return DataError(f"missing column '{name}'; the file has: {listed}{hint}", path, **where)


# --------------------------------------------------------------------------- locating


def _read_bytes(path: Path) -> bytes:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as fh:
        return fh.read()


def _record_lines(path: Path) -> np.ndarray:
    """1-based physical line of every non-empty line (pyarrow skips empty lines)."""
    lines = _read_bytes(path).split(b"\n")
    return np.flatnonzero([len(raw.strip(b"\r")) > 0 for raw in lines]) + 1


def _record_line(path: Path, record: int) -> int:
    lines = _record_lines(path)
    return int(lines[record]) if record < len(lines) else int(lines[-1]) if len(lines) else 1


def _not_utf8(path: Path, sep: str | None = None, names: Sequence[str] = ()) -> DataError:
    """Locate the first bytes that are not UTF-8 (line, and column when known)."""
    for number, raw in enumerate(_read_bytes(path).split(b"\n"), start=1):
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError as err:
            column: str | None = None
            if sep is not None:
                fields = raw.split(sep.encode())
                at = raw[: err.start].count(sep.encode())
                if at < len(names) and at < len(fields):
                    column = names[at]
            bad = raw[err.start : err.end]
            return DataError(
                f"bytes that are not UTF-8 ({bad!r} at byte {err.start + 1} of the line); "
                "expected UTF-8 text (re-encode the file, e.g. iconv -f latin1 -t utf-8)",
                path,
                line=number,
                column=column,
            )
    return DataError("the file is not valid UTF-8 text", path)


def _first_failure(array: pa.Array, ok: Callable[[pa.Array], bool]) -> int:
    """Index of the first element for which ``ok`` fails on the prefix up to it.

    Binary search over prefixes, so a whole-array conversion (a cast) can be
    used to find its first bad value in ``O(n log n)`` vectorised work.
    """
    lo, hi = 0, len(array)  # ok(array[:lo]) holds, ok(array[:hi]) fails
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if ok(array.slice(0, mid)):
            lo = mid
        else:
            hi = mid
    return lo


def _casts(target: pa.DataType) -> Callable[[pa.Array], bool]:
    def ok(part: pa.Array) -> bool:
        try:
            pc.cast(part, target)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            return False
        return True

    return ok


# --------------------------------------------------------------------------- formats


def _check_file(path: Path, what: str) -> None:
    if not path.is_file():
        raise DataError(f"file not found (expected {what})", path)


def _first_line(path: Path) -> bytes:
    """The first non-empty line (empty when the file holds no text)."""
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as fh:
            for raw in fh:
                if raw.strip(b"\r\n"):
                    return raw.rstrip(b"\r\n")
    except (OSError, EOFError) as err:
        message = f"cannot decompress the file ({err}); expected gzip-compressed text"
        raise DataError(message, path) from None
    return b""


def read_delimited(
    path: str | Path,
    sep: str = ",",
    header: bool = True,
    names: Sequence[str] | None = None,
    atomic: bool = False,
    columns: Sequence[str] | None = None,
    what: str = "rows",
    quote: str | None = None,
    encoding: str = "utf-8",
) -> Table:
    """Read a delimited text file (optionally gzip-compressed) as text columns.

    Args:
        path: file to read; ``.gz`` files are decompressed on the fly.
        sep: field separator (``"\\t"`` for TSV); several characters (``"::"``
            as in MovieLens-1M) are allowed without quoting.
        header: whether the first non-empty line names the columns.
        names: column names when ``header`` is false (overrides the header
            when both are given).
        atomic: RecBole atomic-file header (``name:type``); the ``:type``
            suffix is dropped from column names.
        columns: the columns to keep (all when None); each must exist.
        what: what the rows hold, for messages ("interactions", "items").
        quote: quote character of fields that contain the separator (None:
            no quoting).
        encoding: text encoding (``latin-1`` for MovieLens-1M); bytes that
            do not decode are an error for UTF-8.

    Raises:
        DataError: missing or empty file, a missing column, a row with the
            wrong number of fields (with a hint when the line looks split by
            another separator), bytes that are not UTF-8.
    """
    path = Path(path)
    _check_file(path, f"a delimited text file of {what}")
    if not sep:
        raise DataError("the separator is empty", path)
    if len(sep) > 1 and quote:
        raise DataError(f"quoting needs a one-character separator, got {sep!r}", path)
    first = _first_line(path)
    if not first.strip():
        raise DataError(f"the file is empty (expected a header line and rows of {what})", path)
    if header:
        try:
            header_text = first.decode(encoding).lstrip("\ufeff")
        except UnicodeDecodeError:
            raise _not_utf8(path) from None
        except LookupError:
            raise DataError(f"unknown text encoding {encoding!r}", path) from None
        file_names = [n.strip() for n in header_text.split(sep)]
    elif names:
        file_names = list(names)
    else:
        raise DataError("a file without header needs column names (set names)", path)
    if names and header:
        if len(names) != len(file_names):
            raise DataError(
                f"names lists {len(names)} columns but the header has {len(file_names)}",
                path,
                line=1,
            )
        file_names = list(names)
    keys = [n.split(":", 1)[0].strip() if atomic else n for n in file_names]
    seen: set[str] = set()
    for key in keys:
        if key in seen or key == "":
            problem = "an empty column name" if key == "" else f"the column name '{key}' twice"
            raise DataError(f"the header has {problem} (expected unique names)", path, line=1)
        seen.add(key)
    wanted = list(keys) if columns is None else list(dict.fromkeys(columns))
    for name in wanted:
        if name not in keys:
            raise missing_column(path, name, keys)
    if len(sep) > 1:
        return _read_multichar(path, sep, header, keys, wanted, what, encoding)
    invalid: list[pacsv.InvalidRow] = []

    def on_invalid(row: pacsv.InvalidRow) -> str:
        invalid.append(row)
        return "error"

    def read(threads: bool) -> pa.Table:
        # Generated names keep pyarrow away from the header's own spelling.
        generated = [f"f{i}" for i in range(len(keys))]
        read_options = pacsv.ReadOptions(
            use_threads=threads,
            column_names=generated,
            skip_rows=1 if header else 0,
            encoding=encoding,
        )
        parse_options = pacsv.ParseOptions(
            delimiter=sep,
            quote_char=quote or False,
            invalid_row_handler=None if threads else on_invalid,
        )
        # Every column as text: ids stay exact ("007"), numbers are converted with checks.
        convert = pacsv.ConvertOptions(
            column_types={g: pa.string() for g in generated},
            include_columns=[generated[keys.index(n)] for n in wanted],
            strings_can_be_null=False,
            quoted_strings_can_be_null=False,
        )
        return pacsv.read_csv(path, read_options, parse_options, convert)

    try:
        table = read(threads=True)
    except pa.ArrowInvalid as err:
        if "utf8" in str(err).lower():
            raise _not_utf8(path, sep, keys) from None
        with contextlib.suppress(pa.ArrowInvalid):  # serial parsing reports the bad row
            read(threads=False)
        if invalid:
            raise _bad_row(path, invalid[0], sep, header, len(keys)) from None
        raise DataError(str(err).replace("CSV parse error: ", ""), path) from None
    if table.num_rows == 0:
        raise DataError(f"the file has a header but no rows (expected {what})", path)
    cols = {n: table.column(i).combine_chunks() for i, n in enumerate(wanted)}
    return Table(path, cols, header_lines=1 if header else 0)


def _lines(path: Path, encoding: str = "utf-8") -> pa.Array:
    """The non-empty lines of a text file as one text array."""
    try:
        table = pacsv.read_csv(
            path,
            pacsv.ReadOptions(column_names=["line"], encoding=encoding),
            pacsv.ParseOptions(delimiter="\x1f", quote_char=False),
            pacsv.ConvertOptions(column_types={"line": pa.string()}),
        )
    except pa.ArrowInvalid as err:
        if "utf8" in str(err).lower():
            raise _not_utf8(path) from None
        raise DataError(str(err).replace("CSV parse error: ", ""), path) from None
    return table.column("line").combine_chunks()


def _read_multichar(
    path: Path,
    sep: str,
    header: bool,
    keys: list[str],
    wanted: list[str],
    what: str,
    encoding: str,
) -> Table:
    """Delimited text with a separator of several characters (split per line, vectorised)."""
    lines = _lines(path, encoding)
    if header:
        lines = lines.slice(1)
    if len(lines) == 0:
        raise DataError(f"the file has a header but no rows (expected {what})", path)
    fields = pc.split_pattern(lines, sep)
    counts = np.asarray(pc.list_value_length(fields))
    bad = np.flatnonzero(counts != len(keys))
    if len(bad):
        row = int(bad[0])
        text = str(lines[row].as_py())
        raise _field_count(path, row + int(header), text, sep, header, len(keys), int(counts[row]))
    cols = {n: pc.list_element(fields, keys.index(n)) for n in wanted}
    return Table(path, cols, header_lines=1 if header else 0)


def _bad_row(path: Path, row: pacsv.InvalidRow, sep: str, header: bool, expected: int) -> DataError:
    """A wrong field count reported by pyarrow's parser."""
    return _field_count(path, row.number - 1, row.text, sep, header, expected, row.actual_columns)


def _field_count(
    path: Path, record: int, text: str, sep: str, header: bool, expected: int, found: int
) -> DataError:
    """A wrong field count, with a hint when another separator would fit."""
    line = _record_line(path, record) if record >= 0 else None
    plural = "field" if expected == 1 else "fields"
    message = f"expected {expected} {plural} separated by {sep!r}, found {found}: {text[:80]!r}"
    if expected > 1:
        for other in _OTHER_SEPARATORS:
            if other != sep and other in text and len(text.split(other)) == expected:
                message += f"; this line looks separated by {other!r} (mixed separators)"
                break
    elif header:
        head = _first_line(path).decode("utf-8", "replace")
        for other in _OTHER_SEPARATORS:
            if other != sep and other in head:
                message += f"; the header looks separated by {other!r} (set sep)"
                break
    return DataError(message, path, line=line)


def read_parquet(
    path: str | Path, columns: Sequence[str] | None = None, what: str = "rows"
) -> Table:
    """Read a Parquet file (typed columns; dictionary columns are decoded)."""
    path = Path(path)
    _check_file(path, f"a Parquet file of {what}")
    try:
        schema = pq.read_schema(path)
    except (pa.ArrowInvalid, OSError) as err:
        raise DataError(f"not a Parquet file ({err}); expected Parquet", path) from None
    wanted = list(schema.names) if columns is None else list(dict.fromkeys(columns))
    for name in wanted:
        if name not in schema.names:
            raise missing_column(path, name, list(schema.names), binary=True)
    table = pq.read_table(path, columns=wanted)
    if table.num_rows == 0:
        raise DataError(f"the file has no rows (expected {what})", path)
    cols = {}
    for name in wanted:
        col = table.column(name).combine_chunks()
        if pa.types.is_dictionary(col.type):
            col = col.dictionary_decode()
        if pa.types.is_large_string(col.type):
            col = col.cast(pa.string())
        cols[name] = col
    return Table(path, cols, binary=True)


_JSON_ROW = re.compile(r"in row (\d+)")
_JSON_TYPE = re.compile(r"Column\(/(.*?)\) changed from (\w+) to (\w+)")


def _jsonl_schema(path: Path, columns: Sequence[str]) -> pa.Schema | None:
    """Types of ``columns`` inferred from the file's first MiB, so the full read
    parses only those fields; None when the sample does not settle every type."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as fh:
        head = fh.read(1 << 20)
    head = head[: head.rfind(b"\n") + 1] or head
    try:
        sample = pajson.read_json(io.BytesIO(head))
    except pa.ArrowInvalid:
        return None
    fields = []
    for name in columns:
        if name not in sample.column_names or pa.types.is_null(sample.schema.field(name).type):
            return None
        fields.append(sample.schema.field(name))
    return pa.schema(fields)


def read_jsonl(path: str | Path, columns: Sequence[str] | None = None, what: str = "rows") -> Table:
    """Read a JSON-lines file (one object per line; ``.gz`` decompressed).

    With ``columns``, only those fields are parsed (their types come from
    the first MiB), which keeps wide metadata files (titles, descriptions,
    images) out of memory.
    """
    path = Path(path)
    _check_file(path, f"a JSON-lines file of {what}")
    if not _first_line(path).strip():
        raise DataError(f"the file is empty (expected one JSON object per line of {what})", path)
    schema = None if columns is None else _jsonl_schema(path, list(dict.fromkeys(columns)))
    parse = (
        pajson.ParseOptions()
        if schema is None
        else pajson.ParseOptions(explicit_schema=schema, unexpected_field_behavior="ignore")
    )
    try:
        table = pajson.read_json(path, parse_options=parse)
    except pa.ArrowInvalid as err:
        text = str(err)
        if "utf8" in text.lower() or "utf-8" in text.lower():
            raise _not_utf8(path) from None
        # The threaded reader numbers rows within a block; re-read serially for the line.
        try:
            pajson.read_json(path, pajson.ReadOptions(use_threads=False, block_size=1 << 30), parse)
        except pa.ArrowInvalid as serial:
            text = str(serial)
        found = _JSON_ROW.search(text)
        line = _record_line(path, int(found.group(1))) if found else None
        kind = _JSON_TYPE.search(text)
        if kind:
            message = (
                f"field '{kind.group(1)}' holds a {kind.group(3)} here but a {kind.group(2)} on "
                "earlier lines; expected one JSON type per field (quote every id)"
            )
            raise DataError(message, path, line=line, column=kind.group(1)) from None
        reason = _JSON_ROW.sub("", text.replace("JSON parse error: ", "")).strip()
        raise DataError(f"expected one JSON object per line ({reason})", path, line=line) from None
    names = list(table.column_names)
    wanted = names if columns is None else list(dict.fromkeys(columns))
    for name in wanted:
        if name not in names:
            raise DataError(f"missing field '{name}'; the objects have: {', '.join(names)}", path)
    cols = {n: table.column(n).combine_chunks() for n in wanted}
    return Table(path, cols)


def read_lightgcn(path: str | Path, what: str = "interactions") -> Table:
    """Read the LightGCN ``user item item ...`` layout as columns ``user`` and ``item``.

    A line with a user and no item holds no interaction (LightGCN writes such
    lines for users without test items).
    """
    path = Path(path)
    _check_file(path, f"a LightGCN file of {what} ('user item item ...' per line)")
    if not _first_line(path).strip():
        raise DataError(f"the file is empty (expected 'user item item ...' lines of {what})", path)
    tokens = pc.utf8_split_whitespace(_lines(path))
    counts = np.asarray(pc.list_value_length(tokens), dtype=np.int64)
    users = pc.list_element(tokens, 0)
    items = pc.list_flatten(pc.list_slice(tokens, 1))
    records = np.repeat(np.arange(len(counts), dtype=np.int64), np.maximum(counts - 1, 0))
    if len(records) == 0:
        raise DataError(
            f"no line holds an item (expected 'user item item ...' lines of {what})", path
        )
    return Table(
        path,
        {"user": users.take(pa.array(records)), "item": items},
        header_lines=0,
        records=records,
    )


def _default_quote(format: str, sep: str | None) -> str | None:
    """CSV quotes fields with ``"`` (RFC 4180); TSV, atomic files and
    several-character separators do not quote."""
    return '"' if format == "csv" and (sep is None or len(sep) == 1) else None


def read_table(
    path: str | Path,
    format: str = "csv",
    sep: str | None = None,
    header: bool = True,
    names: Sequence[str] | None = None,
    columns: Sequence[str] | None = None,
    what: str = "rows",
    quote: str | None = None,
    encoding: str = "utf-8",
) -> Table:
    """Read ``path`` in ``format`` (one of :data:`FORMATS`), keeping ``columns``.

    ``sep``, ``header``, ``names``, ``quote`` and ``encoding`` apply to the
    delimited formats; ``csv`` with a one-character separator quotes with
    ``"`` unless ``quote`` says otherwise (``quote: ""`` turns it off).
    """
    if format == "lightgcn":
        return read_lightgcn(path, what)
    if format == "parquet":
        return read_parquet(path, columns, what)
    if format == "jsonl":
        return read_jsonl(path, columns, what)
    if format in ("csv", "tsv", "atomic"):
        default = "," if format == "csv" else "\t"
        return read_delimited(
            path,
            sep=default if sep is None else sep,
            header=True if format == "atomic" else header,
            names=names,
            atomic=format == "atomic",
            columns=columns,
            what=what,
            quote=_default_quote(format, sep) if quote is None else (quote or None),
            encoding=encoding,
        )
    raise DataError(f"unknown format {format!r}; expected one of {', '.join(FORMATS)}", path)


# --------------------------------------------------------------------------- converters


def _first_null(col: pa.Array) -> int | None:
    if col.null_count == 0:
        return None
    return int(np.flatnonzero(np.asarray(col.is_null()))[0])


def _text(col: pa.Array) -> pa.Array:
    if pa.types.is_large_string(col.type):
        col = col.cast(pa.string())
    return pc.utf8_trim_whitespace(col)


def to_float(table: Table, column: str, what: str = "a number") -> np.ndarray:
    """A column as float64, naming the first value that is not a finite number."""
    col = table.column(column)
    null = _first_null(col)
    if null is not None:
        raise table.error(f"expected {what}, found no value", null, column)
    if pa.types.is_string(col.type) or pa.types.is_large_string(col.type):
        text = _text(col)
        try:
            values = np.asarray(pc.cast(text, pa.float64()))
        except pa.ArrowInvalid:
            row = _first_failure(text, _casts(pa.float64()))
            raise table.error(f"expected {what}, found {col[row].as_py()!r}", row, column) from None
    elif pa.types.is_integer(col.type) or pa.types.is_floating(col.type):
        values = np.asarray(pc.cast(col, pa.float64()))
    else:
        raise table.error(f"expected {what}, found values of type {col.type}", 0, column)
    bad = ~np.isfinite(values)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise table.error(f"expected {what}, found {col[row].as_py()!r}", row, column)
    return values


def _iso_micros(text: pa.Array) -> np.ndarray:
    """ISO-8601 dates as microseconds since the epoch; no zone offset means UTC."""
    zoned = np.asarray(pc.match_substring_regex(text, r"(Z|[+-]\d\d:?\d\d)$"))
    micros = np.empty(len(text), dtype=np.int64)
    for mask, zone in ((zoned, "UTC"), (~zoned, None)):
        if mask.any():
            part = pc.cast(text.filter(pa.array(mask)), pa.timestamp("us", tz=zone))
            micros[mask] = np.asarray(pc.cast(part, pa.int64()))
    return micros


def _parses_iso(part: pa.Array) -> bool:
    try:
        _iso_micros(part)
    except pa.ArrowInvalid:
        return False
    return True


def to_timestamps(table: Table, column: str, fmt: str | None = None) -> np.ndarray:
    """A timestamp column as float64 seconds.

    Numbers are taken as they are (any monotone unit); text that is not a
    number must be an ISO-8601 date (``2024-01-31``, ``2024-01-31 12:00``,
    with or without a zone offset) or follow ``fmt`` (``strptime`` codes,
    e.g. ``"%d/%m/%Y %H:%M"``). Timestamp and date columns (Parquet) are
    converted to seconds since the epoch.
    """
    col = table.column(column)
    if pa.types.is_timestamp(col.type) or pa.types.is_date(col.type):
        null = _first_null(col)
        if null is not None:
            raise table.error("expected a timestamp, found no value", null, column)
        micros = pc.cast(pc.cast(col, pa.timestamp("us")), pa.int64())
        return np.asarray(micros, dtype=np.float64) / 1e6
    if fmt is None and not (pa.types.is_string(col.type) or pa.types.is_large_string(col.type)):
        return to_float(table, column, "a timestamp")
    null = _first_null(col)
    if null is not None:
        raise table.error("expected a timestamp, found no value", null, column)
    text = _text(col)
    if fmt is not None:
        parsed = pc.strptime(text, format=fmt, unit="s", error_is_null=True)
        null = _first_null(parsed)
        if null is not None:
            raise table.error(
                f"expected a timestamp in the format {fmt!r}, found {col[null].as_py()!r}",
                null,
                column,
            )
        return np.asarray(pc.cast(parsed, pa.int64()), dtype=np.float64)
    try:
        return np.asarray(pc.cast(text, pa.float64()))
    except pa.ArrowInvalid:
        pass
    try:
        return _iso_micros(text).astype(np.float64) / 1e6
    except pa.ArrowInvalid:
        pass
    if _casts(pa.float64())(text.slice(0, 1)):  # a numeric column: report the first non-number
        row = _first_failure(text, _casts(pa.float64()))
    else:
        row = _first_failure(text, _parses_iso)
    raise table.error(
        f"expected a timestamp (a number or an ISO-8601 date such as {_EXAMPLE_DATE}; "
        f"set timestamp_format for other layouts), found {col[row].as_py()!r}",
        row,
        column,
    )


def id_text(table: Table, column: str) -> pa.Array:
    """An id column as trimmed text; a missing or empty id is an error."""
    col = table.column(column)
    null = _first_null(col)
    if null is not None:
        raise table.error("expected an id, found no value", null, column)
    if pa.types.is_floating(col.type):
        raise table.error(f"expected an id (text or integer), found {col[0].as_py()!r}", 0, column)
    if not (pa.types.is_string(col.type) or pa.types.is_large_string(col.type)):
        col = pc.cast(col, pa.string())
    text = _text(col)
    _reject_nul(table, text, column, "an id")
    empty = np.asarray(pc.equal(pc.utf8_length(text), 0))
    if empty.any():
        raise table.error(
            "expected an id, found an empty value", int(np.flatnonzero(empty)[0]), column
        )
    return text


def factorise(text: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """``(codes, values)``: sorted distinct ``values`` with ``values[codes] == text``.

    Hash-based (pyarrow dictionary encoding); only the distinct values are sorted.
    """
    encoded = pc.dictionary_encode(text)
    distinct = np.asarray(encoded.dictionary.to_numpy(zero_copy_only=False)).astype(str)
    order = np.argsort(distinct, kind="stable")
    rank = np.empty(len(order), dtype=np.int64)
    rank[order] = np.arange(len(order), dtype=np.int64)
    return rank[np.asarray(encoded.indices, dtype=np.int64)], distinct[order]


def to_codes(table: Table, column: str) -> tuple[np.ndarray, np.ndarray]:
    """Factorise an id column: ``(codes, ids)`` with ``ids[codes] == column``.

    ``ids`` is sorted (``np.unique`` order of the ids as strings); the work is
    a hash-based dictionary encoding, so only the distinct ids are sorted.
    """
    return factorise(id_text(table, column))


def label_text(table: Table, column: str) -> pa.Array:
    """A text column (behaviour, domain, attribute values) trimmed; nulls are errors."""
    col = table.column(column)
    null = _first_null(col)
    if null is not None:
        raise table.error("expected a value, found nothing", null, column)
    if not (pa.types.is_string(col.type) or pa.types.is_large_string(col.type)):
        col = pc.cast(col, pa.string())
    text = _text(col)
    _reject_nul(table, text, column, "a value")
    return text


def _reject_nul(table: Table, text: pa.Array, column: str, expected: str) -> None:
    """A NUL byte inside a field is corruption, not part of an id or label: some
    consumers cut the text at it and two different values would become one."""
    nul = np.asarray(pc.match_substring(text, "\x00"))
    if nul.any():
        raise table.error(
            f"expected {expected}, found a NUL byte (\\x00) inside the field",
            int(np.flatnonzero(nul)[0]),
            column,
        )


def lookup_codes(table: Table, column: str, ids: np.ndarray) -> np.ndarray:
    """Positions of a column's ids in ``ids`` (-1 where absent), hash-based."""
    found = pc.index_in(id_text(table, column), value_set=pa.array(ids, type=pa.string()))
    return np.asarray(found.fill_null(-1), dtype=np.int64)


def to_labels(table: Table, column: str) -> np.ndarray:
    """A text column (behaviour, domain, attribute values) as trimmed ``str`` values."""
    codes, values = factorise(label_text(table, column))
    return values[codes]


def to_ids(table: Table, column: str) -> np.ndarray:
    """A column of ids as a numpy array of ``str``; empty ids are an error."""
    codes, ids = to_codes(table, column)
    return ids[codes]
