"""Give freed heap memory back to the operating system after a large load or close.

Measured in the real server at 100K x 384 (RSS growth from idle to loaded with the graph):

- glibc raises its mmap threshold after the first big numpy temporary is freed, so later
  chunk-sized temporaries land on the heap, and long-lived buffers allocated in between keep
  the heap from shrinking: RSS stayed ~58 MB above the live data until ``malloc_trim(0)``.
- The trim threshold rises with it (to twice the mmap threshold), and ``malloc_trim`` trims
  only the main arena's top: the arenas of the other threads (decode, search, graph build)
  kept their free tops, ~15 MiB in all. Pinning the trim threshold (this also stops the mmap
  threshold moving) keeps them at most :data:`TRIM_THRESHOLD` each; loads measured no slower.
  The server calls :func:`pin_trim_threshold` at start; :func:`release_free_heap` pins it
  too, for other embedders.
- Reference cycles (ctypes and msgspec types, closed sockets) wait long for the server's
  raised GC thresholds and keep mostly empty pymalloc arenas alive: collecting them before
  trimming returned 2-5 MiB more.

Other C libraries lack ``mallopt`` and ``malloc_trim``; there only the collection happens.
"""

from __future__ import annotations

import ctypes
import gc

TRIM_THRESHOLD = 128 * 1024
"""Free bytes a malloc arena may keep at its top (glibc's initial default)."""

_M_TRIM_THRESHOLD = -1  # mallopt parameter number, from glibc's malloc.h


def _load_glibc() -> ctypes.CDLL | None:
    """The C library when it is glibc (loaded once: a new handle per call is a GC cycle)."""
    try:
        libc = ctypes.CDLL(None)
        libc.malloc_trim.argtypes = [ctypes.c_size_t]
        libc.mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    except (OSError, AttributeError):
        return None
    return libc


_GLIBC = _load_glibc()


def pin_trim_threshold() -> None:
    """Fix glibc's trim threshold at :data:`TRIM_THRESHOLD`; a no-op elsewhere."""
    libc = _GLIBC
    if libc is not None:
        libc.mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD)


def release_free_heap(*, collect: bool = True) -> None:
    """Collect reference cycles (unless ``collect`` is false), pin the trim threshold, and
    return free heap pages to the OS."""
    if collect:
        gc.collect()
    pin_trim_threshold()
    libc = _GLIBC
    if libc is not None:
        libc.malloc_trim(0)
