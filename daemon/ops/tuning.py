"""Process-wide tuning for a long-running daemon on a small board (:func:`apply` at start).

- :func:`single_thread_opencv`: OpenCV's own thread pool splits even a 160x90 blur across
  cores already busy decoding video; the hand-offs doubled the detector's p95 cost
  (scripts/bench_motion.py: 1.1-1.6 ms with 2 threads, 0.5-0.6 ms with 1) and bought
  nothing: every picture gatecam works on is small, cameras run in their own threads.

The malloc calls are no-ops returning False where the C library is not glibc (musl):

- :func:`cap_mmap_threshold` (once, at start): glibc serves blocks of 128 KiB and more
  with their own ``mmap`` and unmaps them on ``free`` — until the first such free, after
  which it raises the threshold to that block's size (up to 32 MiB) and serves later ones
  from the heap, which it keeps. gatecam's big short-lived buffers (a 6 MB BGR picture and
  its crop for each OCR call, JPEG and base64 copies) then stay resident for nothing, 7-10 MB
  above the steady state on a 1080p camera (scripts/bench_resources.py). A fixed threshold
  keeps them on ``mmap``: each is returned when freed. The decoder's frame pool and the
  detector's buffers are allocated once, so the extra ``mmap`` calls are a few per OCR call.
- :func:`trim_heap` (each health pass): returns what the heap still holds free (small
  blocks freed in bulk).
"""

from __future__ import annotations

import ctypes

import cv2

MMAP_THRESHOLD = 256 * 1024
"""Blocks of this size and more are mmap'ed (glibc's default starts at 128 KiB, then grows)."""

_M_MMAP_THRESHOLD = -3
"""mallopt parameter number (malloc.h)."""

_LIBC: list[ctypes.CDLL | None] = []


def _glibc() -> ctypes.CDLL | None:
    if not _LIBC:
        try:
            libc: ctypes.CDLL | None = ctypes.CDLL("libc.so.6")
            if libc is not None and not (hasattr(libc, "malloc_trim") and hasattr(libc, "mallopt")):
                libc = None
        except OSError:
            libc = None
        _LIBC.append(libc)
    return _LIBC[0]


def apply() -> None:
    """All of the start-time tuning (idempotent)."""
    single_thread_opencv()
    cap_mmap_threshold()


def single_thread_opencv() -> None:
    """OpenCV calls run on the calling thread only."""
    cv2.setNumThreads(1)


def cap_mmap_threshold(size: int = MMAP_THRESHOLD) -> bool:
    """Fix malloc's mmap threshold at ``size`` bytes (no dynamic growth); True if applied."""
    libc = _glibc()
    return libc is not None and bool(libc.mallopt(_M_MMAP_THRESHOLD, size))


def trim_heap() -> bool:
    """Give the pages glibc's malloc holds free back to the system (``malloc_trim(0)``)."""
    libc = _glibc()
    if libc is None:
        return False
    libc.malloc_trim(0)
    return True
