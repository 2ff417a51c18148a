"""The recorder's queue: what waits for the single writer, bounded in bytes, frames spilled first.

Bounded in bytes, not in items, so that a long storage outage (disk full) keeps every
passage in memory until the store takes writes again. Snapshot frames, the big part,
may fill at most half of ``max_bytes``: a frame that does not fit is spilled (its
passage is queued without it, counted in ``frames_spilled``). Only when passages
alone fill the budget does :meth:`WriteQueue.put` wait, then refuse. Bytes are
released by :meth:`WriteQueue.release` once the writer is done with an item (until
then it still holds its frame).
"""

from __future__ import annotations

import dataclasses
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from daemon.domain import Frame, Passage, PlateRead

PASSAGE_BYTES = 2048
"""What a queued passage without its frame holds, about (the object, its strings)."""
READ_BYTES = 512


def passage_bytes(n_reads: int, frame: Frame | None) -> int:
    """Estimated memory of a queued passage: the frame as the BGR picture the snapshot needs."""
    size = PASSAGE_BYTES + READ_BYTES * n_reads
    if frame is not None:
        size += frame.height * frame.width * 3
    return size


@dataclass(frozen=True, slots=True, eq=False)
class PassageItem:
    """A confirmed passage waiting for its commit."""

    passage: Passage
    reads: tuple[PlateRead, ...]
    snapshot: Frame | None
    fallback_sent: bool = False
    size: int = 0
    """Bytes this item holds in the queue (:func:`passage_bytes`)."""


@dataclass(frozen=True, slots=True, eq=False)
class JobItem:
    """A maintenance write (retention) run in the writer thread."""

    what: str
    job: Callable[[], object]
    size: int = 256


@dataclass(frozen=True, slots=True)
class ReadItem:
    """One OCR read recorded on its own."""

    read: PlateRead
    event_id: str
    size: int = READ_BYTES


Item = PassageItem | JobItem | ReadItem

WAKE = object()
"""Token: take the delivery batches (never more than one queued at a time)."""
STOP = object()
"""Token: drain and stop."""


class WriteQueue:
    """FIFO of items and tokens, bounded by the bytes the items hold."""

    def __init__(self, max_bytes: int) -> None:
        """``max_bytes`` for every queued item; frames get at most half of it."""
        self.max_bytes = max_bytes
        self.bytes = 0
        self.frames_spilled = 0
        self._queue: queue.Queue[object] = queue.Queue()
        self._cond = threading.Condition()
        self._nudged = False

    @property
    def backlog(self) -> int:
        """Items and tokens waiting."""
        return self._queue.qsize()

    def put(
        self, item: Item, timeout: float, refuse: Callable[[], str | None]
    ) -> tuple[str | None, bool]:
        """Queue ``item`` (waiting up to ``timeout`` for room); (why refused or None, spilled).

        ``refuse`` says why nothing may be queued at all now (stopped, writer dead).
        """
        deadline = time.monotonic() + timeout
        spilled = False
        with self._cond:
            if (isinstance(item, PassageItem) and item.snapshot is not None
                    and self.bytes + item.size > self.max_bytes // 2):
                item = dataclasses.replace(item, snapshot=None,
                                           size=passage_bytes(len(item.reads), None))
                self.frames_spilled += 1
                spilled = True
            while True:
                why = refuse()
                if why is None and self.bytes > 0 and self.bytes + item.size > self.max_bytes:
                    why = "full"
                if why is None:
                    self.bytes += item.size
                    self._queue.put_nowait(item)
                    return None, spilled
                left = deadline - time.monotonic()
                if why != "full" or left <= 0:
                    return why, spilled
                self._cond.wait(min(left, 0.5))

    def put_token(self, token: object) -> None:
        """Queue :data:`STOP` (or any token) behind every item."""
        self._queue.put_nowait(token)

    def nudge(self) -> None:
        """Queue :data:`WAKE` unless one is waiting already."""
        with self._cond:
            if self._nudged:
                return
            self._nudged = True
        self._queue.put_nowait(WAKE)

    def get(self, timeout: float) -> object:
        """The next item or token; :data:`WAKE` when nothing came within ``timeout``."""
        try:
            got = self._queue.get(timeout=timeout)
        except queue.Empty:
            return WAKE
        if got is WAKE:
            with self._cond:
                self._nudged = False
        return got

    def get_nowait(self) -> object | None:
        """The next item or token if one waits, else None."""
        try:
            got = self._queue.get_nowait()
        except queue.Empty:
            return None
        if got is WAKE:
            with self._cond:
                self._nudged = False
        return got

    def release(self, items: list[object]) -> None:
        """The writer is done with ``items``: their bytes make room for waiting puts."""
        freed = sum(i.size for i in items if isinstance(i, PassageItem | JobItem | ReadItem))
        with self._cond:
            self.bytes -= freed
            self._cond.notify_all()
