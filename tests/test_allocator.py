"""The CPU allocator tuning: applied on glibc Linux, harmless elsewhere."""

from __future__ import annotations

import ctypes.util
import sys

import torch

from gnnrec.train.allocator import tune_cpu_allocator


def test_malloc_thresholds_are_raised_on_glibc_linux():
    glibc = sys.platform.startswith("linux") and "libc.so" in (ctypes.util.find_library("c") or "")
    assert tune_cpu_allocator(mmap_threshold_mb=256) is glibc
    # large blocks still allocate, free and compute correctly afterwards
    a = torch.ones(4096, 4096)
    del a
    b = torch.full((4096, 4096), 2.0)
    assert float(b.sum()) == 2.0 * 4096 * 4096
