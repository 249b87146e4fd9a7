"""Keep large CPU tensors in the heap instead of fresh pages on every step.

glibc serves a ``malloc`` above its mmap threshold (dynamic, 128 KiB at
start) from fresh ``mmap`` pages and gives them back on ``free``. A training
step allocates and frees the same large temporaries every time — the
``[B, m]`` logits of a sampled softmax, the ``[N, d]`` layer outputs — so
each step pays the kernel's zero-filled page faults again, one per 4 KiB.
Raising the mmap and trim thresholds lets freed blocks be reused by the
next step: on Gowalla's softmax (16,384 x 2,048 logits) the loss's forward
and backward ran 1.8x faster (0.98 s -> 0.53 s, one thread;
``docs/speed.md``). Memory is the same peak, only returned to the system
later.

Applied by ``gnnrec-train`` on CPU runs (``tune_malloc: true`` in
``conf/train.yaml``); a no-op where the C library has no ``mallopt``
(not glibc) and on other systems.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import sys

log = logging.getLogger(__name__)

M_TRIM_THRESHOLD = -1
M_TOP_PAD = -2
M_MMAP_THRESHOLD = -3
_MB = 1 << 20


def tune_cpu_allocator(mmap_threshold_mb: int = 1024, top_pad_mb: int = 64) -> bool:
    """Raise glibc's mmap/trim thresholds for this process; True when applied.

    Args:
        mmap_threshold_mb: allocations below this come from the heap (and are
            reused after ``free``) instead of fresh ``mmap`` pages.
        top_pad_mb: extra memory kept at the top of the heap after a trim.
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    settings = (
        (M_MMAP_THRESHOLD, mmap_threshold_mb * _MB),
        (M_TRIM_THRESHOLD, 2 * mmap_threshold_mb * _MB),
        (M_TOP_PAD, top_pad_mb * _MB),
    )
    applied = all(mallopt(option, value) == 1 for option, value in settings)
    log.debug("malloc thresholds %s", "raised" if applied else "not accepted")
    return applied
