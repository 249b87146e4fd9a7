"""Downloads (file:// and a local HTTP server) and archive extraction safety."""

from __future__ import annotations

import hashlib
import http.server
import io
import tarfile
import threading
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from gnnrec.data.download import DownloadError, download_file, extract_archive, is_archive
from gnnrec.errors import DataError

PAYLOAD = b"user_id,item_id\nu1,i1\n"
PAYLOAD_SHA = hashlib.sha256(PAYLOAD).hexdigest()


@pytest.fixture
def served(tmp_path: Path) -> Iterator[str]:
    """A local HTTP server on 127.0.0.1 serving tmp_path/www; yields its base URL."""
    www = tmp_path / "www"
    www.mkdir()
    (www / "log.csv").write_bytes(PAYLOAD)

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args, **kwargs) -> None:
            super().__init__(*args, directory=str(www), **kwargs)

        def log_message(self, *args) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_download_from_local_http_server(served: str, tmp_path: Path) -> None:
    dest = tmp_path / "out" / "log.csv"
    digest = download_file(f"{served}/log.csv", dest, sha256=PAYLOAD_SHA, size=len(PAYLOAD))
    assert digest == PAYLOAD_SHA
    assert dest.read_bytes() == PAYLOAD


def test_http_404_is_a_download_error(served: str, tmp_path: Path) -> None:
    with pytest.raises(DownloadError, match=r"could not download .*missing\.csv"):
        download_file(f"{served}/missing.csv", tmp_path / "x.csv")
    assert not (tmp_path / "x.csv").exists()


def test_download_from_file_url(tmp_path: Path) -> None:
    src = tmp_path / "src.csv"
    src.write_bytes(PAYLOAD)
    dest = tmp_path / "dest.csv"
    assert download_file(src.as_uri(), dest) == PAYLOAD_SHA
    assert dest.read_bytes() == PAYLOAD


def test_checksum_mismatch_keeps_nothing(tmp_path: Path) -> None:
    src = tmp_path / "src.csv"
    src.write_bytes(PAYLOAD)
    dest = tmp_path / "dl" / "dest.csv"
    with pytest.raises(DataError, match=f"sha256 of the download .* is {PAYLOAD_SHA}"):
        download_file(src.as_uri(), dest, sha256="0" * 64)
    assert not dest.exists()
    assert list(dest.parent.iterdir()) == []


def test_size_mismatch_is_refused(tmp_path: Path) -> None:
    src = tmp_path / "src.csv"
    src.write_bytes(PAYLOAD)
    with pytest.raises(DataError, match=f"downloaded {len(PAYLOAD)} bytes .* expected 3"):
        download_file(src.as_uri(), tmp_path / "dest.csv", size=3)


def test_unreachable_url_is_a_download_error(tmp_path: Path) -> None:
    with pytest.raises(DownloadError):
        download_file((tmp_path / "nowhere.zip").as_uri(), tmp_path / "x.zip")


# --------------------------------------------------------------------------- archives


def make_zip(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


def make_tar(path: Path, members: dict[str, bytes], mode: str = "w:gz") -> Path:
    with tarfile.open(path, mode) as tf:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return path


def test_zip_and_tar_extract(tmp_path: Path) -> None:
    z = make_zip(tmp_path / "a.zip", {"ml/ratings.csv": PAYLOAD, "ml/movies.csv": b"x\n"})
    written = extract_archive(z, tmp_path / "z")
    assert sorted(p.name for p in written) == ["movies.csv", "ratings.csv"]
    assert (tmp_path / "z" / "ml" / "ratings.csv").read_bytes() == PAYLOAD
    t = make_tar(tmp_path / "a.tar.gz", {"d/train.txt": b"0 1 2\n"})
    extract_archive(t, tmp_path / "t")
    assert (tmp_path / "t" / "d" / "train.txt").read_bytes() == b"0 1 2\n"
    assert is_archive(z) and is_archive(t) and not is_archive(tmp_path / "x.csv.gz")


@pytest.mark.parametrize("name", ["../evil", "ok/../../evil", "/tmp/evil-abs"])
def test_zip_member_escaping_target_is_refused(tmp_path: Path, name: str) -> None:
    z = make_zip(tmp_path / "bad.zip", {"fine.txt": b"fine", name: b"evil"})
    target = tmp_path / "target"
    with pytest.raises(DataError, match="refusing to extract"):
        extract_archive(z, target)
    assert list(target.iterdir()) == []  # checked before anything is written
    assert not (tmp_path / "evil").exists()


@pytest.mark.parametrize("name", ["../evil", "a/../../evil", "/tmp/evil-abs"])
def test_tar_member_escaping_target_is_refused(tmp_path: Path, name: str) -> None:
    t = make_tar(tmp_path / "bad.tar", {"fine.txt": b"fine", name: b"evil"}, mode="w")
    target = tmp_path / "target"
    with pytest.raises(DataError, match="would be written outside"):
        extract_archive(t, target)
    assert list(target.iterdir()) == []
    assert not (tmp_path / "evil").exists()


def test_tar_links_out_of_target_are_refused(tmp_path: Path) -> None:
    for kind, linkname in ((tarfile.SYMTYPE, "../../etc/passwd"), (tarfile.LNKTYPE, "/etc/x")):
        path = tmp_path / f"link{kind!r}.tar"
        with tarfile.open(path, "w") as tf:
            info = tarfile.TarInfo("data/link")
            info.type = kind
            info.linkname = linkname
            tf.addfile(info)
        with pytest.raises(DataError, match="links to"):
            extract_archive(path, tmp_path / "target")


def test_not_an_archive(tmp_path: Path) -> None:
    path = tmp_path / "x.zip"
    path.write_bytes(b"plain text")
    with pytest.raises(DataError, match="not a zip or tar archive"):
        extract_archive(path, tmp_path / "t")
