"""Item text as features: pretrained sentence encoders, encodings cached on disk."""

from gnnrec.text.encoder import (
    DEFAULT_ENCODER,
    PACKAGED_ENCODERS,
    SentenceEncoder,
    TextEncoder,
    encode_texts,
    text_cache_key,
    text_cache_path,
)

__all__ = [
    "DEFAULT_ENCODER",
    "PACKAGED_ENCODERS",
    "SentenceEncoder",
    "TextEncoder",
    "encode_texts",
    "text_cache_key",
    "text_cache_path",
]
