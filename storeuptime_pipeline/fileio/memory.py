"""Giving freed memory back to the system between the steps of a long read.

Why: glibc's malloc raises its mmap threshold after large frees, so the many mid-sized buffers of
a validated chunk (tens of MB) come from the heap, and the heap is only shrunk from its top: after
a 100 MB status file was read in chunks, ~200 MB stayed resident although nothing used it, and
the computation's own peak came on top. ``malloc_trim`` returns those pages; it is called between
chunks and before the computation. On a C library without it (musl, macOS) this does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
from collections.abc import Callable
from functools import cache


@cache
def _malloc_trim() -> Callable[[int], int] | None:
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return libc.malloc_trim
    except (OSError, AttributeError):
        return None


def release_freed_memory() -> None:
    """Return the C heap's free pages to the system (a no-op where malloc_trim does not exist)."""
    trim = _malloc_trim()
    if trim is not None:
        trim(0)
