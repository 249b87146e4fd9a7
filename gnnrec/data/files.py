"""File helpers shared by the data layer: atomic writes, delimited text, content hashes."""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv

_CHUNK = 1 << 20


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; on success it replaces ``path``.

    A reader never sees a half-written file: the content appears under its
    final name only through ``os.replace``. On an exception the temporary
    file is removed and ``path`` is left as it was. The file gets the usual
    permissions (``0o666`` less the umask), not ``mkstemp``'s private ``0o600``.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        yield Path(tmp)
        umask = os.umask(0o022)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_bytes_atomic(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def sha256_file(path: str | Path) -> str:
    """Hex sha256 of a file's bytes, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def write_delimited(
    path: str | Path, table: pa.Table, sep: str = ",", header: str | None = None
) -> Path:
    """Write ``table`` as delimited text without quotes, atomically.

    Args:
        path: the file to write.
        table: the columns; a value containing ``sep``, a quote or a line
            break is an error (``pyarrow.ArrowInvalid``) rather than a quoted
            field, since gnnrec's readers take fields as they are.
        sep: one-character separator.
        header: the header line; None joins the column names with ``sep``.
    """
    options = pacsv.WriteOptions(include_header=False, delimiter=sep, quoting_style="none")
    line = sep.join(table.column_names) if header is None else header
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        fh.write((line + "\n").encode())
        if table.num_rows:
            pacsv.write_csv(table, fh, options)
    return Path(path)
