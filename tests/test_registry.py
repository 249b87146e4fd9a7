"""Registry: entries well formed, fetch from local URLs, offline message, prepare_dataset."""

from __future__ import annotations

import hashlib
import re
import zipfile
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from gnnrec.data import registry
from gnnrec.data.download import DownloadError
from gnnrec.data.registry import (
    REGISTRY,
    DatasetSource,
    RemoteFile,
    fetch,
    is_fetched,
    prepare_dataset,
    source,
)
from gnnrec.errors import ConfigError, DataError

REPO = Path(__file__).resolve().parents[1]
BUNDLED = REPO / "gnnrec" / "data" / "bundled" / "ml-100k"


def test_entries_are_well_formed() -> None:
    assert {"ml-100k", "ml-1m", "ml-20m", "gowalla", "yelp2018", "amazon-book"} <= set(REGISTRY)
    assert any(name.startswith("amazon-") and name != "amazon-book" for name in REGISTRY)
    for name, src in REGISTRY.items():
        assert src.name == name
        assert src.files, name
        assert src.bundled or src.downloads, name
        for remote in src.downloads:
            assert remote.url.startswith("https://"), name
            assert remote.sha256 is None or re.fullmatch(r"[0-9a-f]{64}", remote.sha256)
        if src.config is not None:
            assert (REPO / "conf" / "dataset" / f"{src.config}.yaml").is_file(), name


def test_movielens_archives_are_pinned() -> None:
    for name in ("ml-1m", "ml-20m", "ml-25m"):
        (remote,) = source(name).downloads
        assert remote.sha256 is not None and remote.size is not None


def test_unknown_name_lists_the_registered_ones() -> None:
    with pytest.raises(ConfigError, match="no registered dataset 'nope'; registered: ml-100k"):
        source("nope")


def test_bundled_dataset_needs_no_download(tmp_path: Path) -> None:
    assert fetch("ml-100k", cache_dir=tmp_path, download=False) == BUNDLED


@pytest.fixture
def zipped_ml100k(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> DatasetSource:
    """A registered 'ml-zip' whose archive (the bundled ml-100k files) is at a file:// URL."""
    archive = tmp_path / "www" / "ml-zip.zip"
    archive.parent.mkdir()
    with zipfile.ZipFile(archive, "w") as zf:
        for name in ("ml-100k.inter", "ml-100k.item"):
            zf.write(BUNDLED / name, f"ml-zip/{name}")
    digest = hashlib.sha256(archive.read_bytes()).hexdigest()
    src = DatasetSource(
        name="ml-zip",
        description="test",
        homepage="-",
        terms="-",
        downloads=(RemoteFile(archive.as_uri(), "ml-zip.zip", digest, archive.stat().st_size),),
        subdir="ml-zip",
        files=("ml-100k.inter", "ml-100k.item"),
    )
    monkeypatch.setattr(registry, "REGISTRY", {**REGISTRY, "ml-zip": src})
    return src


def test_fetch_downloads_verifies_and_extracts(
    zipped_ml100k: DatasetSource, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = tmp_path / "cache"
    assert not is_fetched("ml-zip", cache)
    folder = fetch("ml-zip", cache_dir=cache)
    assert folder == cache / "raw" / "ml-zip" / "ml-zip"
    assert (folder / "ml-100k.inter").read_bytes() == (BUNDLED / "ml-100k.inter").read_bytes()
    assert is_fetched("ml-zip", cache)

    def no_network(*args, **kwargs):
        raise AssertionError("fetched twice")

    monkeypatch.setattr(registry, "download_file", no_network)
    assert fetch("ml-zip", cache_dir=cache) == folder


def test_archive_put_by_hand_is_checked(zipped_ml100k: DatasetSource, tmp_path: Path) -> None:
    folder = tmp_path / "cache" / "raw" / "ml-zip"
    folder.mkdir(parents=True)
    (folder / "ml-zip.zip").write_bytes(b"something else")
    with pytest.raises(DataError, match=r"sha256 is .* expected"):
        fetch("ml-zip", cache_dir=tmp_path / "cache", download=False)


def test_offline_message_says_where_to_put_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    src = DatasetSource(
        name="far",
        description="-",
        homepage="-",
        terms="-",
        # Port 9 on 127.0.0.1 (discard) has no listener here: the connection is refused.
        downloads=(RemoteFile("http://127.0.0.1:9/far.zip", "far.zip", "ab" * 32, 1234),),
        files=("ratings.csv",),
    )
    monkeypatch.setattr(registry, "REGISTRY", {"far": src})
    cache = tmp_path / "cache"
    with pytest.raises(DownloadError) as err:
        fetch("far", cache_dir=cache, timeout=5)
    message = str(err.value)
    assert "could not download http://127.0.0.1:9/far.zip" in message
    assert f"put it in {cache / 'raw' / 'far'}/far.zip (1,234 bytes, sha256 {'ab' * 32})" in message
    assert "dataset.root" in message and "ratings.csv" in message
    with pytest.raises(DownloadError, match="downloads are off"):
        fetch("far", cache_dir=cache, download=False)


def test_prepare_dataset_fetches_then_caches(zipped_ml100k: DatasetSource, tmp_path: Path) -> None:
    cfg = OmegaConf.to_container(OmegaConf.load(REPO / "conf" / "dataset" / "ml-100k.yaml"))
    cfg["name"] = "ml-zip"
    ds = prepare_dataset(cfg, cache_dir=tmp_path / "cache")
    assert ds.name == "ml-zip" and ds.num_interactions == 55375
    assert len(list((tmp_path / "cache" / "datasets").glob("ml-zip-*.npz"))) == 1


def test_prepare_dataset_refuses_other_loaders() -> None:
    with pytest.raises(ConfigError, match="prepare_dataset builds datasets"):
        prepare_dataset({"_target_": "my.loader", "name": "x"})
