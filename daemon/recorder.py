"""The single database writer: snapshots to disk, passages + reads + outbox rows in one transaction.

Every write to the store goes through one thread named ``recorder``, fed by a
bounded queue (passages, lone reads) plus two small batches the publisher fills
without ever blocking its network thread (delivery marks, attempt counts).

A transient database error (locked, disk I/O, connection lost) never kills the
thread and never loses the item: it is logged and retried with capped
exponential backoff. A permanent error (constraint violation, a value the
database refuses) is logged and the item dropped, or it would wedge every later
write behind it.
"""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import cv2
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError, StatementError

from daemon import topics
from daemon.domain import Image, Passage, PlateRead
from daemon.store import Store

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True, eq=False)
class _PassageItem:
    passage: Passage
    reads: tuple[PlateRead, ...]
    snapshot: Image | None


@dataclass(frozen=True, slots=True)
class _ReadItem:
    read: PlateRead
    event_id: str


_WAKE = object()
_STOP = object()


class Recorder:
    """Single writer thread over a :class:`Store`.

    ``on_committed(passage)`` runs (in the writer thread) after each passage commit, with the
    passage as committed (snapshot path filled in).
    """

    def __init__(
        self,
        store: Store,
        snapshots_dir: Path | None,
        topic_prefix: str,
        on_committed: Callable[[Passage], None],
        *,
        maxsize: int = 256,
        jpeg_quality: int = 90,
        put_timeout_s: float = 2.0,
        retry_min_s: float = 0.05,
        retry_max_s: float = 5.0,
    ) -> None:
        """Nothing runs until :meth:`start`."""
        self._store = store
        self._snapshots = Path(snapshots_dir) if snapshots_dir is not None else None
        self._prefix = topic_prefix
        self._on_committed = on_committed
        self._jpeg_quality = jpeg_quality
        self._put_timeout = put_timeout_s
        self._retry_min = retry_min_s
        self._retry_max = retry_max_s
        self._queue: queue.Queue[object] = queue.Queue(maxsize=maxsize)
        self._cond = threading.Condition()
        # Sequence counters per lane, so flush() waits for exactly what came before it.
        self._q_submitted = self._q_done = 0
        self._m_submitted = self._m_done = 0
        self._marks: list[int] = []
        self._attempts: list[int] = []
        self._abandon = threading.Event()
        self._stopped = False
        self._thread = threading.Thread(target=self._run, name="recorder", daemon=True)
        self.passages_committed = 0
        self.items_dropped = 0

    # -- producer side (any thread) --
    def start(self) -> None:
        """Start the writer thread."""
        self._thread.start()

    def submit_passage(
        self, passage: Passage, reads: Sequence[PlateRead], snapshot: Image | None = None
    ) -> bool:
        """Queue a confirmed passage; False (logged) if the queue stayed full or we are stopped."""
        return self._put(_PassageItem(passage, tuple(reads), snapshot), passage.event_id)

    def submit_read(self, read: PlateRead, event_id: str) -> bool:
        """Queue one OCR read recorded on its own."""
        return self._put(_ReadItem(read, event_id), event_id)

    def mark_delivered(self, outbox_id: int) -> None:
        """Stamp an outbox row delivered (called on PUBACK; never blocks)."""
        with self._cond:
            if self._stopped:
                stopped = True
            else:
                stopped = False
                self._marks.append(outbox_id)
                self._m_submitted += 1
        if stopped:  # late PUBACK during shutdown: write it here, the writer is gone
            try:
                self._store.mark_delivered([outbox_id], datetime.now(UTC))
            except Exception:
                log.exception("could not mark outbox row %s delivered after stop", outbox_id)
            return
        self._nudge()

    def bump_attempts(self, outbox_ids: Sequence[int]) -> None:
        """Count a publish attempt for these outbox rows (best effort, never blocks)."""
        with self._cond:
            if self._stopped:
                return
            self._attempts.extend(outbox_ids)
        self._nudge()

    def flush(self, timeout: float) -> bool:
        """Wait until everything submitted before this call is committed (or dropped)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            q_target, m_target = self._q_submitted, self._m_submitted
            while self._q_done < q_target or self._m_done < m_target:
                left = deadline - time.monotonic()
                if left <= 0 or not self._thread.is_alive():
                    return False
                self._cond.wait(min(left, 0.5))
        return True

    def stop(self, timeout: float) -> bool:
        """Drain the queue and stop; True when everything was written within ``timeout``."""
        if not self._thread.is_alive():
            with self._cond:
                self._stopped = True
            return True
        deadline = time.monotonic() + timeout
        with self._cond:
            self._stopped = True
        try:
            self._queue.put(_STOP, timeout=max(0.0, deadline - time.monotonic()))
        except queue.Full:
            self._abandon.set()
        self._thread.join(max(0.0, deadline - time.monotonic()))
        if self._thread.is_alive():
            log.error("recorder did not drain within %.1f s; abandoning queued writes", timeout)
            self._abandon.set()
            self._thread.join(1.0)
            return False
        return True

    @property
    def backlog(self) -> int:
        """Items waiting in the queue."""
        return self._queue.qsize()

    def _put(self, item: object, event_id: str) -> bool:
        with self._cond:
            if self._stopped:
                log.error("recorder stopped: dropping %s", event_id)
                return False
            self._q_submitted += 1
        try:
            self._queue.put(item, timeout=self._put_timeout)
        except queue.Full:
            log.error("recorder queue full for %.1f s: dropping %s", self._put_timeout, event_id)
            with self._cond:
                self._q_submitted -= 1
                self.items_dropped += 1
            return False
        return True

    def _nudge(self) -> None:
        # A full queue means the writer is busy; it takes the batches after its current item.
        with contextlib.suppress(queue.Full):
            self._queue.put_nowait(_WAKE)

    # -- writer thread --
    def _run(self) -> None:
        while True:
            try:
                item = self._queue.get(timeout=0.5)
            except queue.Empty:
                item = _WAKE
            if item is _STOP:
                self._write_batches()
                return
            if item is not _WAKE:
                try:
                    self._write_item(item)
                finally:
                    with self._cond:
                        self._q_done += 1
                        self._cond.notify_all()
            self._write_batches()

    def _write_item(self, item: object) -> None:
        if isinstance(item, _PassageItem):
            passage = item.passage
            if item.snapshot is not None and self._snapshots is not None:
                rel = self._write_snapshot(self._snapshots, passage, item.snapshot)
                passage = passage.replace(snapshot=rel)
            messages = topics.passage_messages(self._prefix, passage)
            if self._retry(
                f"passage {passage.event_id}",
                lambda: self._store.record_passage(passage, item.reads, messages),
            ):
                self.passages_committed += 1
                log.debug("passage %s committed (%s)", passage.event_id, passage.plate)
                try:
                    self._on_committed(passage)
                except Exception:
                    log.exception("on_committed callback failed")
        elif isinstance(item, _ReadItem):
            read_item = item
            self._retry(
                f"read of {read_item.event_id}",
                lambda: self._store.record_read(read_item.read, read_item.event_id),
            )

    def _write_batches(self) -> None:
        with self._cond:
            marks, self._marks = self._marks, []
            attempts, self._attempts = self._attempts, []
        if attempts:
            self._retry("attempt counts", lambda: self._store.bump_attempts(attempts))
        if marks:
            self._retry(
                f"{len(marks)} delivery mark(s)",
                lambda: self._store.mark_delivered(marks, datetime.now(UTC)),
            )
            with self._cond:
                self._m_done += len(marks)
                self._cond.notify_all()

    def _retry(self, what: str, write: Callable[[], object]) -> bool:
        """Run ``write`` until it succeeds; back off on transient errors, drop on permanent ones."""
        delay = self._retry_min
        attempt = 0
        while True:
            attempt += 1
            try:
                write()
                if attempt > 1:
                    log.info("%s written after %d attempts", what, attempt)
                return True
            except (IntegrityError, DataError) as exc:
                log.error("%s refused by the database, dropped: %s", what, exc.orig)
            except DBAPIError as exc:
                log.warning("database error writing %s (attempt %d, retry in %.2f s): %s",
                            what, attempt, delay, exc.orig)
                if not self._abandon.wait(delay):
                    delay = min(delay * 2, self._retry_max)
                    continue
                log.error("recorder stopping: %s abandoned", what)
            except StatementError as exc:  # a value SQLAlchemy could not bind: a bug, not transient
                log.error("%s could not be written, dropped: %s", what, exc)
            except Exception:
                log.exception("unexpected error writing %s, dropped", what)
            with self._cond:
                self.items_dropped += 1
            return False

    def _write_snapshot(self, root: Path, passage: Passage, image: Image) -> str | None:
        """Write the JPEG under <root>/<camera>/<YYYY-MM-DD>/<event_id>.jpg; the relative path."""
        day = passage.captured_at.astimezone(UTC).strftime("%Y-%m-%d")
        rel = Path(passage.camera) / day / f"{passage.event_id}.jpg"
        target = root / rel
        tmp = target.with_name(target.name + ".tmp")
        try:
            ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, self._jpeg_quality])
            if not ok:
                raise ValueError("JPEG encoder refused the image")
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp.write_bytes(buf.tobytes())
            os.replace(tmp, target)
        except (OSError, ValueError, cv2.error) as exc:
            log.error("snapshot for %s not written (%s); recording without it",
                      passage.event_id, exc)
            with contextlib.suppress(OSError):
                tmp.unlink(missing_ok=True)
            return None
        return rel.as_posix()
