"""Downloading raw files (checked by sha256) and extracting archives safely.

Any URL that :mod:`urllib` opens works (``https://``, ``http://``,
``file://``); the file is streamed to a temporary name, hashed on the way and
renamed into place only when its size and sha256 match. Archives (zip, tar,
tar.gz/bz2/xz) are checked member by member before anything is written: a
member whose path or link would land outside the target folder, or a device
or FIFO, refuses the whole archive.
"""

from __future__ import annotations

import hashlib
import logging
import os
import stat
import tarfile
import urllib.error
import urllib.request
import zipfile
from pathlib import Path, PurePosixPath

from gnnrec.data.files import atomic_path
from gnnrec.errors import DataError

log = logging.getLogger(__name__)

_CHUNK = 1 << 20
ARCHIVE_SUFFIXES = (".zip", ".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tar.xz")


class DownloadError(DataError):
    """A file could not be fetched (no network, HTTP error, unknown host)."""


def download_file(
    url: str,
    dest: str | Path,
    sha256: str | None = None,
    size: int | None = None,
    timeout: float = 60.0,
) -> str:
    """Fetch ``url`` into ``dest`` and return the file's sha256.

    Args:
        url: any URL :func:`urllib.request.urlopen` accepts.
        dest: where the file goes; written atomically, so an interrupted or
            rejected download leaves nothing behind.
        sha256: expected hex digest; None accepts any content (the digest is
            returned so that it can be pinned).
        size: expected size in bytes; None skips the check.
        timeout: seconds to wait for the server.

    Raises:
        DownloadError: the URL could not be read.
        DataError: size or sha256 differ from the expected ones.
    """
    dest = Path(dest)
    request = urllib.request.Request(url, headers={"User-Agent": "gnnrec"})
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except (urllib.error.URLError, OSError, ValueError) as err:
        reason = getattr(err, "reason", None) or err
        raise DownloadError(f"could not download {url} ({reason})") from None
    digest = hashlib.sha256()
    received = 0
    log.info("downloading %s", url)
    try:
        with response, atomic_path(dest) as tmp, open(tmp, "wb") as out:
            while chunk := response.read(_CHUNK):
                out.write(chunk)
                digest.update(chunk)
                received += len(chunk)
            out.flush()
            os.fsync(out.fileno())
            _check_content(url, dest, received, digest.hexdigest(), size, sha256)
    except OSError as err:
        raise DownloadError(f"download of {url} failed after {received} bytes ({err})") from None
    log.info("downloaded %s (%d bytes, sha256 %s)", dest, received, digest.hexdigest())
    return digest.hexdigest()


def _check_content(
    url: str, dest: Path, received: int, got: str, size: int | None, sha256: str | None
) -> None:
    if size is not None and received != size:
        raise DataError(
            f"downloaded {received} bytes from {url}, expected {size}; "
            "the transfer was cut or the file changed upstream",
            dest,
        )
    if sha256 is not None and got != sha256.lower():
        raise DataError(
            f"sha256 of the download from {url} is {got}, expected {sha256}; "
            "the file is corrupt or changed upstream (nothing was kept)",
            dest,
        )


def is_archive(path: str | Path) -> bool:
    """Whether ``path`` names an archive :func:`extract_archive` unpacks."""
    return str(path).lower().endswith(ARCHIVE_SUFFIXES)


def _inside(target: Path, name: str) -> bool:
    """Whether the member path ``name`` stays inside ``target`` once joined."""
    pure = PurePosixPath(name.replace("\\", "/"))
    if pure.is_absolute() or (pure.parts and pure.parts[0].endswith(":")):
        return False
    resolved = (target / pure).resolve()
    return resolved == target or target in resolved.parents


def _refuse(archive: Path, member: str, why: str) -> DataError:
    return DataError(f"refusing to extract the archive: member {member!r} {why}", archive)


def extract_archive(archive: str | Path, target: str | Path) -> list[Path]:
    """Unpack a zip or tar archive into ``target`` and return the files written.

    Every member is checked before anything is written: absolute paths,
    ``..`` components that climb out of ``target``, links that point outside
    it, and devices or FIFOs make the whole archive refused.

    Raises:
        DataError: an unsafe member, or a file that is not a readable archive.
    """
    archive = Path(archive)
    target = Path(target)
    target.mkdir(parents=True, exist_ok=True)
    target = target.resolve()
    try:
        if zipfile.is_zipfile(archive):
            return _extract_zip(archive, target)
        if tarfile.is_tarfile(archive):
            return _extract_tar(archive, target)
    except (zipfile.BadZipFile, tarfile.TarError, EOFError) as err:
        raise DataError(
            f"the archive is damaged ({err}); delete it and download again", archive
        ) from None
    raise DataError("not a zip or tar archive", archive)


def _extract_zip(archive: Path, target: Path) -> list[Path]:
    with zipfile.ZipFile(archive) as zf:
        members = zf.infolist()
        for info in members:
            if not _inside(target, info.filename):
                raise _refuse(archive, info.filename, f"would be written outside {target}")
            if stat.S_ISLNK(info.external_attr >> 16):
                raise _refuse(archive, info.filename, "is a symbolic link")
        zf.extractall(target)
    return [target / m.filename for m in members if not m.is_dir()]


def _extract_tar(archive: Path, target: Path) -> list[Path]:
    with tarfile.open(archive) as tf:
        members = tf.getmembers()
        for m in members:
            if not _inside(target, m.name):
                raise _refuse(archive, m.name, f"would be written outside {target}")
            if m.issym():
                link = str(PurePosixPath(m.name).parent / m.linkname)
                if PurePosixPath(m.linkname).is_absolute() or not _inside(target, link):
                    raise _refuse(archive, m.name, f"links to {m.linkname!r} outside {target}")
            elif m.islnk() and not _inside(target, m.linkname):
                raise _refuse(archive, m.name, f"links to {m.linkname!r} outside {target}")
            elif not (m.isfile() or m.isdir() or m.issym() or m.islnk()):
                raise _refuse(archive, m.name, "is a device or FIFO")
        if hasattr(tarfile, "data_filter"):
            tf.extractall(target, filter="data")
        else:  # Python < 3.11.4: the checks above are the filter
            tf.extractall(target)
    return [target / m.name for m in members if m.isfile()]
