"""Dataset cache: generic round trip, hits, invalidation by option, file and code."""

from __future__ import annotations

import dataclasses
import logging
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import scipy.sparse as sp
from omegaconf import OmegaConf

from gnnrec.data import cache as cache_module
from gnnrec.data import load as load_module
from gnnrec.data.cache import (
    cache_key,
    cache_path,
    default_cache_dir,
    load_cached,
    raw_files,
    read_dataset,
    save_dataset,
)
from gnnrec.data.dataset import InteractionDataset
from gnnrec.errors import DataError

REPO = Path(__file__).resolve().parents[1]
BUNDLED = REPO / "gnnrec" / "data" / "bundled" / "ml-100k"


def ml100k_config(root: Path) -> dict[str, Any]:
    cfg = OmegaConf.to_container(OmegaConf.load(REPO / "conf" / "dataset" / "ml-100k.yaml"))
    cfg.pop("_target_")
    cfg["root"] = str(root)
    return cfg


@pytest.fixture
def raw(tmp_path: Path) -> Path:
    """A private copy of the bundled ml-100k files (tests modify them)."""
    folder = tmp_path / "raw"
    folder.mkdir()
    for name in ("ml-100k.inter", "ml-100k.item"):
        shutil.copy(BUNDLED / name, folder / name)
    return folder


@pytest.fixture
def loads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Counts calls of the real loader behind the cache."""
    calls: list[str] = []
    real = load_module.load_dataset

    def counting(**config: Any) -> InteractionDataset:
        calls.append(config["name"])
        return real(**config)

    monkeypatch.setattr(load_module, "load_dataset", counting)
    return calls


def assert_same(a: InteractionDataset, b: InteractionDataset) -> None:
    for f in dataclasses.fields(a):
        x, y = getattr(a, f.name), getattr(b, f.name)
        if sp.issparse(x):
            assert type(x) is type(y) and x.shape == y.shape and (x != y).nnz == 0, f.name
        elif isinstance(x, np.ndarray):
            assert x.dtype == y.dtype and np.array_equal(x, y), f.name
        elif isinstance(x, dict):
            assert x.keys() == y.keys(), f.name
            for k in x:
                xv, yv = x[k], y[k]
                if sp.issparse(xv):
                    assert (xv != yv).nnz == 0, (f.name, k)
                else:
                    assert np.array_equal(np.asarray(xv), np.asarray(yv)), (f.name, k)
        else:
            assert x == y, f.name


def test_round_trip_keeps_every_field(tmp_path: Path) -> None:
    ds = InteractionDataset(
        name="tiny",
        user_ids=np.array(["u0", "u1"]),
        item_ids=np.array(["007", "i1", "i2"]),
        category_names=np.array(["Sci-Fi", "Children's"]),
        users=np.array([0, 0, 1], dtype=np.int64),
        items=np.array([0, 2, 1], dtype=np.int64),
        timestamps=np.array([1.5, 2.0, 0.25]),
        weights=np.array([1, 2, 1], dtype=np.float32),
        item_categories=sp.csr_matrix(np.array([[1, 0], [0, 1], [1, 1]], dtype=np.float32)),
        extras={"domain": np.array(["a", "b", "a"]), "rating": np.array([4.0, 5.0, 3.0])},
        category_top_level=np.array([0, 0], dtype=np.int64),
    )
    path = save_dataset(ds, tmp_path / "d.npz")
    assert_same(ds, read_dataset(path))
    assert not list(tmp_path.glob(".*.tmp"))


def test_second_load_is_a_cache_hit(raw: Path, tmp_path: Path, loads: list[str]) -> None:
    cfg = ml100k_config(raw)
    first = load_cached(cache_dir=tmp_path / "c", **cfg)
    second = load_cached(cache_dir=tmp_path / "c", **cfg)
    assert loads == ["ml-100k"]
    assert_same(first, second)
    assert cache_path(cfg, tmp_path / "c").is_file()
    assert first.num_interactions == 55375


@pytest.mark.parametrize(
    ("option", "value"),
    [("min_rating", 3.0), ("dedup", "last"), ("name", "ml-100k-b")],
)
def test_changing_an_option_invalidates(
    raw: Path, tmp_path: Path, loads: list[str], option: str, value: Any
) -> None:
    cfg = ml100k_config(raw)
    load_cached(cache_dir=tmp_path, **cfg)
    changed = {**cfg, option: value}
    assert cache_key(changed, tmp_path) != cache_key(cfg, tmp_path)
    load_cached(cache_dir=tmp_path, **changed)
    assert len(loads) == 2
    load_cached(cache_dir=tmp_path, **cfg)
    assert len(loads) == 2


def test_changing_a_nested_option_invalidates(raw: Path, tmp_path: Path) -> None:
    cfg = ml100k_config(raw)
    nested = {**cfg, "categories": {**cfg["categories"], "missing": "keep"}}
    assert cache_key(nested, tmp_path) != cache_key(cfg, tmp_path)


def test_changing_a_raw_file_invalidates(raw: Path, tmp_path: Path, loads: list[str]) -> None:
    cfg = ml100k_config(raw)
    before = load_cached(cache_dir=tmp_path, **cfg)
    lines = (raw / "ml-100k.inter").read_text().splitlines()
    # Drop the last rating; the file changes size and content.
    (raw / "ml-100k.inter").write_text("\n".join(lines[:-1]) + "\n")
    after = load_cached(cache_dir=tmp_path, **cfg)
    assert len(loads) == 2
    assert after.num_interactions <= before.num_interactions


def test_key_follows_the_loader_code(
    raw: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = ml100k_config(raw)
    key = cache_key(cfg, tmp_path)
    monkeypatch.setattr(cache_module, "_code_fingerprint", lambda: "another loader")
    assert cache_key(cfg, tmp_path) != key


def test_file_hashes_are_remembered(
    raw: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = ml100k_config(raw)
    hashed: list[Path] = []
    real = cache_module.sha256_file

    def counting(path: Path) -> str:
        hashed.append(Path(path))
        return real(path)

    monkeypatch.setattr(cache_module, "sha256_file", counting)
    cache_key(cfg, tmp_path)
    assert len(hashed) == 2
    cache_key(cfg, tmp_path)
    assert len(hashed) == 2


def test_cache_false_neither_reads_nor_writes(raw: Path, tmp_path: Path, loads: list[str]) -> None:
    cfg = ml100k_config(raw)
    load_cached(cache=False, cache_dir=tmp_path / "c", **cfg)
    load_cached(cache=False, cache_dir=tmp_path / "c", **cfg)
    assert len(loads) == 2
    assert not (tmp_path / "c").exists()


def test_unreadable_cache_is_rebuilt(
    raw: Path, tmp_path: Path, loads: list[str], caplog: pytest.LogCaptureFixture
) -> None:
    cfg = ml100k_config(raw)
    load_cached(cache_dir=tmp_path, **cfg)
    cache_path(cfg, tmp_path).write_bytes(b"not a zip file")
    with caplog.at_level(logging.WARNING):
        ds = load_cached(cache_dir=tmp_path, **cfg)
    assert len(loads) == 2 and ds.num_interactions == 55375
    assert "unreadable dataset cache" in caplog.text
    load_cached(cache_dir=tmp_path, **cfg)
    assert len(loads) == 2


def test_missing_file_is_the_loaders_error(tmp_path: Path) -> None:
    cfg = ml100k_config(tmp_path)
    with pytest.raises(DataError, match=r"ml-100k\.inter"):
        load_cached(cache_dir=tmp_path / "c", **cfg)


def test_default_dir_honours_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GNNREC_CACHE", str(tmp_path / "elsewhere"))
    assert default_cache_dir() == tmp_path / "elsewhere"
    monkeypatch.delenv("GNNREC_CACHE")
    assert default_cache_dir() == Path("~/.cache/gnnrec").expanduser()


def test_raw_files_of_the_bundled_config() -> None:
    cfg = ml100k_config(BUNDLED)
    cfg["root"] = None
    assert [p.name for p in raw_files(cfg)] == ["ml-100k.inter", "ml-100k.item"]
