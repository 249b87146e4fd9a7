"""Run outputs: atomic results files and experiment loggers (W&B)."""

from gnnrec.logging.base import NullLogger, RunLogger
from gnnrec.logging.files import append_jsonl, write_json_atomic, write_text_atomic

__all__ = ["NullLogger", "RunLogger", "append_jsonl", "write_json_atomic", "write_text_atomic"]
