"""On-disk cache of processed datasets, keyed by the raw files and the data config.

``load_cached(**config)`` takes the arguments of
:func:`gnnrec.data.load_dataset` and returns the same dataset; the first call
builds it and stores it in ``<cache dir>/datasets/<name>-<key>.npz``, later
calls with the same key read that file instead. The key is the sha256 of

- the data config as canonical JSON (sorted keys),
- the sha256 of every raw file the config reads,
- :data:`CACHE_FORMAT` and the source of the ``gnnrec.data`` modules, so
  that a new loader never serves a dataset built by an old one.

Changing any option, any byte of a raw file or the loader therefore gives a
new key. File hashes are remembered by (path, size, mtime) in
``<cache dir>/file-hashes.json`` so that a warm start does not re-read the
raw files.

The dataset is serialised generically: every field of
:class:`InteractionDataset` that is a numpy array, a scipy sparse matrix, a
JSON value (str, number, bool, None, list) or a dict of those; text arrays
(ids, names, ``item_text``) are stored as fixed-width unicode arrays, never
pickled. A field of another type makes the dataset uncacheable (it is then
built each time, with a warning) rather than cached wrongly.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import re
import time
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any, cast

import numpy as np
import scipy.sparse as sp

import gnnrec
from gnnrec.data import load as _load
from gnnrec.data.dataset import InteractionDataset
from gnnrec.data.files import atomic_path, sha256_file, write_bytes_atomic
from gnnrec.errors import GnnrecError

log = logging.getLogger(__name__)

CACHE_FORMAT = 1
"""Version of the cache file layout; bump it when the layout changes."""

CACHE_ENV = "GNNREC_CACHE"
"""Environment variable that overrides the cache root (default ``~/.cache/gnnrec``)."""

_META_KEY = "__meta__"


class Uncacheable(TypeError):
    """A dataset field has a type the cache cannot store."""


def default_cache_dir() -> Path:
    """``$GNNREC_CACHE``, else ``~/.cache/gnnrec``."""
    return Path(os.environ.get(CACHE_ENV) or "~/.cache/gnnrec").expanduser()


# --------------------------------------------------------------------------- key


def raw_files(config: Mapping[str, Any]) -> list[Path]:
    """The raw files a dataset config reads.

    Uses ``gnnrec.data.load.dataset_files`` when the loader provides it;
    otherwise every ``file`` / ``files`` entry anywhere in the config, under
    ``root`` (the bundled copy of ``name`` when ``root`` is null).
    """
    listed = getattr(_load, "dataset_files", None)
    if listed is not None:
        return sorted({Path(p) for p in listed(**config)})
    root = config.get("root")
    folder = _load.bundled_root(config["name"]) if root is None else Path(root).expanduser()
    found: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, Mapping):
            for key, value in node.items():
                if key in ("file", "files"):
                    found.extend(_strings(value))
                else:
                    walk(value)
        elif isinstance(node, list | tuple):
            for value in node:
                walk(value)

    walk({k: v for k, v in config.items() if k != "root"})
    return sorted({folder / f for f in found})


def _strings(value: Any) -> list[str]:
    if isinstance(value, str | Path):
        return [str(value)]
    if isinstance(value, Mapping):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list | tuple):
        return [s for v in value for s in _strings(v)]
    return []


def _code_fingerprint() -> str:
    """sha256 over the sources of the ``gnnrec.data`` modules."""
    digest = hashlib.sha256(str(getattr(gnnrec, "__version__", "")).encode())
    for source in sorted(Path(_load.__file__).parent.glob("*.py")):
        digest.update(source.name.encode())
        digest.update(source.read_bytes())
    return digest.hexdigest()


def _canonical(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _canonical(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_canonical(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    return value


class _HashMemo:
    """Remembers file hashes by (path, size, mtime) across runs."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            self.entries: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            self.entries = {}
        self.changed = False

    def sha256(self, file: Path) -> str:
        stat = file.stat()
        key = str(file.resolve())
        stamp = [stat.st_size, stat.st_mtime_ns]
        entry = self.entries.get(key)
        if isinstance(entry, dict) and entry.get("stamp") == stamp:
            return str(entry["sha256"])
        digest = sha256_file(file)
        self.entries[key] = {"stamp": stamp, "sha256": digest}
        self.changed = True
        return digest

    def save(self) -> None:
        if self.changed:
            text = json.dumps(self.entries, indent=1, sort_keys=True)
            write_bytes_atomic(self.path, text.encode())


def cache_key(config: Mapping[str, Any], cache_dir: str | Path | None = None) -> str:
    """Hex sha256 identifying the dataset that ``config`` builds from its files today."""
    root = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    memo = _HashMemo(root / "file-hashes.json")
    files = raw_files(config)
    content = {
        "format": CACHE_FORMAT,
        "code": _code_fingerprint(),
        "config": _canonical(config),
        "files": [[str(f), memo.sha256(f)] for f in files],
    }
    memo.save()
    text = json.dumps(content, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


# --------------------------------------------------------------------------- store


def _encode(value: Any, arrays: dict[str, np.ndarray]) -> dict[str, Any]:
    """A JSON description of ``value``; its arrays go to ``arrays``."""

    def put(array: np.ndarray) -> str:
        if array.dtype == object:
            raise Uncacheable("object arrays need pickling")
        key = f"a{len(arrays)}"
        arrays[key] = array
        return key

    if value is None or isinstance(value, str | bool | int | float):
        return {"kind": "json", "value": value}
    if isinstance(value, np.ndarray):
        return {"kind": "array", "key": put(value)}
    if sp.issparse(value):
        csr = value.tocsr()
        return {
            "kind": "sparse",
            "format": value.format,
            "array_api": isinstance(value, getattr(sp, "sparray", ())),
            "shape": list(csr.shape),
            "data": put(csr.data),
            "indices": put(csr.indices),
            "indptr": put(csr.indptr),
        }
    if isinstance(value, Mapping):
        if not all(isinstance(k, str) for k in value):
            raise Uncacheable("dict keys must be strings")
        return {"kind": "dict", "items": {k: _encode(v, arrays) for k, v in value.items()}}
    if isinstance(value, list | tuple):
        try:
            json.dumps(value)
        except TypeError as err:
            raise Uncacheable(str(err)) from None
        return {"kind": "json", "value": list(value)}
    raise Uncacheable(f"values of type {type(value).__name__}")


def _decode(spec: Mapping[str, Any], arrays: Mapping[str, np.ndarray]) -> Any:
    kind = spec["kind"]
    if kind == "json":
        return spec["value"]
    if kind == "array":
        return arrays[spec["key"]]
    if kind == "sparse":
        parts = (arrays[spec["data"]], arrays[spec["indices"]], arrays[spec["indptr"]])
        kind_cls = sp.csr_array if spec["array_api"] else sp.csr_matrix
        return kind_cls(parts, shape=tuple(spec["shape"])).asformat(spec["format"])
    if kind == "dict":
        return {k: _decode(v, arrays) for k, v in spec["items"].items()}
    raise ValueError(f"unknown cache entry kind {kind!r}")


def save_dataset(dataset: InteractionDataset, path: str | Path) -> Path:
    """Write ``dataset`` to one uncompressed ``.npz`` file, atomically.

    Raises:
        Uncacheable: a field of a type the cache cannot store.
    """
    arrays: dict[str, np.ndarray] = {}
    fields = {
        f.name: _encode(getattr(dataset, f.name), arrays) for f in dataclasses.fields(dataset)
    }
    meta = json.dumps({"format": CACHE_FORMAT, "fields": fields}).encode()
    arrays[_META_KEY] = np.frombuffer(meta, dtype=np.uint8)
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        np.savez(fh, **cast("dict[str, Any]", arrays))
    return Path(path)


def read_dataset(path: str | Path) -> InteractionDataset:
    """Read a dataset written by :func:`save_dataset`.

    Raises:
        ValueError: the file is not a dataset cache of this format.
    """
    with np.load(path, allow_pickle=False) as npz:
        meta = json.loads(npz[_META_KEY].tobytes().decode())
        if meta.get("format") != CACHE_FORMAT:
            raise ValueError(f"cache format {meta.get('format')}, expected {CACHE_FORMAT}")
        arrays = {k: npz[k] for k in npz.files if k != _META_KEY}
    fields = {name: _decode(spec, arrays) for name, spec in meta["fields"].items()}
    return InteractionDataset(**fields)


def cache_path(config: Mapping[str, Any], cache_dir: str | Path | None = None) -> Path:
    """Where the dataset of ``config`` is (or would be) cached."""
    root = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", str(config.get("name", "dataset")))
    return root / "datasets" / f"{name}-{cache_key(config, root)[:24]}.npz"


def load_cached(
    *, cache: bool = True, cache_dir: str | Path | None = None, **config: Any
) -> InteractionDataset:
    """:func:`gnnrec.data.load_dataset` through the on-disk cache.

    Args:
        cache: False builds the dataset without reading or writing the cache.
        cache_dir: cache root; None uses :func:`default_cache_dir`.
        **config: the arguments of :func:`gnnrec.data.load_dataset`.

    Raises:
        DataError, ConfigError: as :func:`gnnrec.data.load_dataset`.
    """
    if not cache:
        return _load.load_dataset(**config)
    try:
        files = raw_files(config)
    except (GnnrecError, KeyError, TypeError):
        files = None
    if files is None or not all(f.is_file() for f in files):
        # The loader reports a missing file or a bad option with its own message.
        return _load.load_dataset(**config)
    path = cache_path(config, cache_dir)
    started = time.perf_counter()
    if path.is_file():
        try:
            dataset = read_dataset(path)
        except (OSError, ValueError, KeyError, TypeError, zipfile.BadZipFile, EOFError) as err:
            log.warning("ignoring unreadable dataset cache %s (%s); rebuilding", path, err)
        else:
            log.info("dataset cache hit: %s (%.2f s)", path, time.perf_counter() - started)
            return dataset
    dataset = _load.load_dataset(**config)
    built = time.perf_counter() - started
    try:
        save_dataset(dataset, path)
    except Uncacheable as err:
        log.warning("dataset %s is not cached: %s", dataset.name, err)
    except OSError as err:
        log.warning("could not write the dataset cache %s (%s)", path, err)
    else:
        log.info("dataset built in %.2f s and cached: %s", built, path)
    return dataset
