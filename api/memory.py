"""Give freed heap back to the operating system after large requests.

A 1,000-item batch allocates tens of megabytes of short-lived arrays and strings. glibc keeps
freed memory in its arenas for reuse, so a worker's resident size stays at its high-water
mark. ``malloc_trim(0)`` returns the free pages at the top of each arena and the unused pages
inside them; it costs about a millisecond, so it runs only after large batches.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging

log = logging.getLogger("triage.api")

try:  # glibc only; elsewhere this is a no-op
    _trim = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim
    _trim.argtypes = [ctypes.c_size_t]
    _trim.restype = ctypes.c_int
except (OSError, AttributeError):  # pragma: no cover - non-glibc platforms
    _trim = None

TRIM_AFTER_ITEMS = 100


def release_after(n_items: int) -> bool:
    """Trim the heap when a request handled at least ``TRIM_AFTER_ITEMS`` items. True if trimmed."""
    if _trim is None or n_items < TRIM_AFTER_ITEMS:
        return False
    _trim(0)
    return True
