"""glibc heap settings for the service workers.

``limit_arenas``: glibc gives each thread its own malloc arena (up to 8 per core); two are plenty
for a CPU-bound worker and keep resident memory from creeping up under load. Set with
``mallopt`` in the serve process before the model is loaded, so forked workers inherit it (the
``MALLOC_ARENA_MAX`` variable is only read when a process starts, which forked workers don't).

``release_after``: a 1,000-item batch allocates tens of megabytes of short-lived arrays and strings. glibc keeps
freed memory in its arenas for reuse, so a worker's resident size stays at its high-water
mark. ``malloc_trim(0)`` returns the free pages at the top of each arena and the unused pages
inside them; it costs about a millisecond, so it runs only after large batches.
"""

from __future__ import annotations

import ctypes
import ctypes.util

try:  # glibc only; elsewhere both are no-ops
    _libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    _trim, _mallopt = _libc.malloc_trim, _libc.mallopt
    _trim.argtypes, _trim.restype = [ctypes.c_size_t], ctypes.c_int
    _mallopt.argtypes, _mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
except (OSError, AttributeError):  # pragma: no cover - non-glibc platforms
    _trim = _mallopt = None

M_ARENA_MAX = -8  # glibc's mallopt parameter number

TRIM_AFTER_ITEMS = 100


def release_after(n_items: int) -> bool:
    """Trim the heap when a request handled at least ``TRIM_AFTER_ITEMS`` items. True if trimmed."""
    if _trim is None or n_items < TRIM_AFTER_ITEMS:
        return False
    _trim(0)
    return True


def limit_arenas(n: int = 2) -> bool:
    """At most ``n`` malloc arenas in this process and in processes forked from it. True if set."""
    return bool(_mallopt is not None and _mallopt(M_ARENA_MAX, n) == 1)
