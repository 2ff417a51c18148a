"""The single database writer: passages + reads + outbox rows in one transaction.

Every write goes through one thread named ``recorder``, fed by a queue (passages, lone
reads, maintenance jobs such as retention) plus two small batches the publisher fills
without blocking its network thread (delivery marks, attempt counts). The queue
(:mod:`daemon.store.writequeue`) is bounded in bytes: in a long outage (disk full) frames
are spilled first (``frames_spilled``) and passages kept; only when passages alone fill it
does a submit wait ``put_timeout_s`` and drop (``items_dropped``). An unexpected error on
one item is logged and counted (``items_failed``) and the writer goes on; it beats on every
retry, so an outage reads as alive in daemon.ops.health; if the thread dies anyway,
submits are refused (and published through ``fallback``). Decision, snapshot and messages
are made just before the commit (:mod:`daemon.store.prepare`); failures are handled by
:class:`daemon.store.health.StorageHealth`: transient errors retried with backoff, permanent
ones dropped, gate events published around the outbox while the store fails.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy.exc import DataError, IntegrityError, StatementError

from daemon import contract
from daemon.domain import Frame, Passage, PlateRead
from daemon.store.db import Store
from daemon.store.health import Fallback, StorageHealth
from daemon.store.prepare import Decide, PassagePreparer
from daemon.store.records import OutboxMessage
from daemon.store.snapshots import SnapshotWriter
from daemon.store.writequeue import (
    STOP,
    WAKE,
    JobItem,
    PassageItem,
    ReadItem,
    WriteQueue,
    passage_bytes,
)

log = logging.getLogger(__name__)

BURST = 64
"""Passages committed together at most when they queue up (group commit)."""


class Recorder:
    """Single writer thread over a :class:`Store`; ``on_committed(passage)`` runs in it after
    each passage commit, with the passage as committed (snapshot path filled in)."""

    def __init__(
        self,
        store: Store,
        snapshots_dir: Path | None,
        topics: contract.Topics,
        on_committed: Callable[[Passage], None],
        *,
        max_bytes: int = 64 << 20,
        jpeg_quality: int = 90,
        put_timeout_s: float = 2.0,
        retry_min_s: float = 0.05,
        retry_max_s: float = 5.0,
        decide: Decide | None = None,
        gate_ttl_s: float | None = None,
        fallback: Fallback | None = None,
        on_storage_status: Callable[[dict[str, object]], None] | None = None,
        snapshot_base_url: str | None = None,
        webhook_targets: Sequence[str] = (),
    ) -> None:
        """Nothing runs until :meth:`start`. ``decide``: the access decision; ``gate_ttl_s``
        (not None) adds a gate command to every ``allow`` passage's outbox; ``max_bytes``
        bounds the queue (frames at most half of it)."""
        self._store = store
        self._snapshots = (
            SnapshotWriter(Path(snapshots_dir), jpeg_quality) if snapshots_dir is not None else None
        )
        self.health = StorageHealth(
            topics, gate_ttl_s=gate_ttl_s, fallback=fallback, on_status=on_storage_status,
            snapshots=self._snapshots, queue_stats=self._queue_stats,
            retry_min_s=retry_min_s, retry_max_s=retry_max_s, beat=self._beat,
            recovery=store.recovery,
        )
        self._preparer = PassagePreparer(
            decide, self._snapshots, self.health, snapshot_base_url, webhook_targets
        )
        self._on_committed = on_committed
        self._put_timeout = put_timeout_s
        self._queue = WriteQueue(max_bytes)
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
        """Items refused or given up: queue full, stopped, writer dead, refused by the DB."""
        self.items_failed = 0
        """Items lost to an unexpected error in the writer (a bug: see the log)."""
        self.last_beat = time.monotonic()
        """Monotonic time the writer loop last turned (it wakes at least every 0.5 s)."""

    # -- producer side (any thread) --
    def start(self) -> None:
        """Start the writer thread."""
        self._thread.start()

    def submit_passage(
        self, passage: Passage, reads: Sequence[PlateRead], snapshot: Frame | None = None
    ) -> bool:
        """Queue a confirmed passage; False (logged) if the queue stayed full or we are stopped.

        While the store is failing the event is first published through ``fallback``.
        """
        sent = False
        if self.health.can_fall_back or self._dead:
            sent = self.health.send_fallback(self._preparer.decided(passage))
        size = passage_bytes(len(reads), snapshot)
        return self._put(PassageItem(passage, tuple(reads), snapshot, sent, size),
                         passage.event_id)

    def submit_job(self, what: str, job: Callable[[], object]) -> bool:
        """Run ``job`` in the writer thread (retention: deletes are writes too)."""
        return self._put(JobItem(what, job), what)

    def submit_read(self, read: PlateRead, event_id: str) -> bool:
        """Queue one OCR read recorded on its own."""
        return self._put(ReadItem(read, event_id), event_id)

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
        self._queue.nudge()

    def bump_attempts(self, outbox_ids: Sequence[int]) -> None:
        """Count a publish attempt for these outbox rows (best effort, never blocks)."""
        with self._cond:
            if self._stopped:
                return
            self._attempts.extend(outbox_ids)
        self._queue.nudge()

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
        self._queue.put_token(STOP)
        self._thread.join(max(0.0, deadline - time.monotonic()))
        if self._thread.is_alive():
            log.error("recorder did not drain within %.1f s; abandoning queued writes", timeout)
            self._abandon.set()
            self._thread.join(1.0)
            return False
        return True

    @property
    def storage_error(self) -> str | None:
        """The last storage failure while it lasts (None when writes succeed)."""
        return self.health.error

    def status(self) -> dict[str, object]:
        """Storage health for the status topic, /metrics and /healthz."""
        return self.health.status()

    @property
    def backlog(self) -> int:
        """Items waiting in the queue."""
        return self._queue.backlog

    def _queue_stats(self) -> dict[str, object]:
        """The queue's part of :meth:`status`."""
        return {"backlog": self.backlog, "queue_bytes": self._queue.bytes,
                "frames_spilled": self._queue.frames_spilled, "items_dropped": self.items_dropped,
                "items_failed": self.items_failed, "writer_alive": not self._dead}

    @property
    def _dead(self) -> bool:
        """The writer thread was started and is gone (not merely not started yet)."""
        return self._thread.ident is not None and not self._thread.is_alive()

    @property
    def frames_spilled(self) -> int:
        """Snapshot frames not queued (the queue's frame budget was full); passages kept."""
        return self._queue.frames_spilled

    def _put(self, item: PassageItem | ReadItem | JobItem, event_id: str) -> bool:
        with self._cond:
            self._q_submitted += 1
        why, spilled = self._queue.put(item, self._put_timeout, self._refuse_reason)
        if spilled:
            log.warning("recorder queue holds %d bytes: snapshot of %s dropped, passage kept",
                        self._queue.bytes, event_id)
        if why is None:
            return True
        with self._cond:
            self._q_submitted -= 1
            self.items_dropped += 1
        if why == "full":
            log.error("recorder queue full (%d bytes) for %.1f s: dropping %s",
                      self._queue.bytes, self._put_timeout, event_id)
        else:
            log.error("recorder %s: dropping %s", why, event_id)
        return False

    def _refuse_reason(self) -> str | None:
        """Why nothing may be queued now (None: it may)."""
        return "stopped" if self._stopped else "writer thread dead" if self._dead else None

    def _beat(self) -> None:
        self.last_beat = time.monotonic()

    # -- writer thread --
    @property
    def alive(self) -> bool:
        """True while the writer thread runs."""
        return self._thread.is_alive()

    def _run(self) -> None:
        item: object | None = None
        while True:
            self._beat()
            if item is None:
                item = self._queue.get(timeout=0.5)
            if item is STOP:
                self._guarded("delivery batches", self._write_batches)
                return
            nxt: object | None = None
            if item is not WAKE:
                items, nxt = self._take_burst(item)
                try:
                    self._guarded(f"{len(items)} queued item(s)", self._write, items)
                finally:
                    self._queue.release(items)
                    with self._cond:
                        self._q_done += len(items)
                        self._cond.notify_all()
                del items  # do not pin the last snapshot image while waiting on the queue
            self._guarded("delivery batches", self._write_batches)
            item = nxt

    def _write(self, items: list[object]) -> None:
        if len(items) > 1:
            self._write_burst(items)  # type: ignore[arg-type]
        else:
            self._write_item(items[0])

    def _guarded(self, what: str, step: Callable[..., object], *args: object) -> None:
        """Run one writer step; an unexpected error is logged and counted, never fatal."""
        try:
            step(*args)
        except Exception:
            log.exception("recorder: unexpected error writing %s; dropped, writer goes on", what)
            with self._cond:
                self.items_failed += 1

    def _take_burst(self, first: object) -> tuple[list[object], object | None]:
        """``first`` plus the passages queued right behind it (up to ``BURST``), and the next
        item already taken that is not part of the burst (None: nothing taken)."""
        items = [first]
        if not isinstance(first, PassageItem):
            return items, None
        while len(items) < BURST:
            nxt = self._queue.get_nowait()
            if nxt is None:
                return items, None
            if not isinstance(nxt, PassageItem):
                return items, nxt
            items.append(nxt)
        return items, None

    def _write_burst(self, items: list[PassageItem]) -> None:
        """Several passages in one transaction; if the database refuses one, each on its own.

        A passage whose preparation fails (a bug) is counted and left out; the rest go on.
        """
        prepared, kept = [], []
        for i in items:
            try:
                prepared.append(self._preparer.prepared(i))
                kept.append(i)
            except Exception:
                log.exception("recorder: passage %s could not be prepared; dropped",
                              i.passage.event_id)
                with self._cond:
                    self.items_failed += 1
        items = kept
        if not items:
            return
        batch = [(p, i.reads, m) for (p, m), i in zip(prepared, items, strict=True)]

        def fallback_all() -> None:
            for (p, _), i in zip(prepared, items, strict=True):
                if not i.fallback_sent:
                    self.health.send_fallback(p)

        try:
            ok = self._retry(f"{len(batch)} passages", lambda: self._store.record_passages(batch),
                             fallback_all, permanent_raises=True)
        except (IntegrityError, DataError, StatementError):
            for (p, m), i in zip(prepared, items, strict=True):
                self._commit_one(p, i, m)
            return
        if ok:
            for p, _ in prepared:
                self._done(p)

    def _commit_one(
        self, passage: Passage, item: PassageItem, messages: list[OutboxMessage]
    ) -> None:
        first_failure = None if item.fallback_sent else (lambda: self.health.send_fallback(passage))
        if self._retry(
            f"passage {passage.event_id}",
            lambda: self._store.record_passage(passage, item.reads, messages),
            first_failure,
        ):
            self._done(passage)

    def _done(self, passage: Passage) -> None:
        self.passages_committed += 1
        log.debug("passage %s committed (%s)", passage.event_id, passage.plate)
        try:
            self._on_committed(passage)
        except Exception:
            log.exception("on_committed callback failed")

    def _write_item(self, item: object) -> None:
        if isinstance(item, PassageItem):
            passage, messages = self._preparer.prepared(item)
            self._commit_one(passage, item, messages)
        elif isinstance(item, ReadItem):
            read_item = item
            self._retry(
                f"read of {read_item.event_id}",
                lambda: self._store.record_read(read_item.read, read_item.event_id),
            )
        elif isinstance(item, JobItem):
            self._retry(item.what, item.job)

    def _write_batches(self) -> None:
        with self._cond:
            marks, self._marks = self._marks, []
            attempts, self._attempts = self._attempts, []
        if attempts or marks:
            self._retry(
                f"{len(marks)} delivery mark(s), {len(attempts)} attempt(s)",
                lambda: self._store.apply_delivery(attempts, marks, datetime.now(UTC)),
            )
        if marks:
            with self._cond:
                self._m_done += len(marks)
                self._cond.notify_all()

    def _retry(
        self, what: str, write: Callable[[], object],
        on_first_failure: Callable[[], object] | None = None, *, permanent_raises: bool = False,
    ) -> bool:
        """:meth:`StorageHealth.retry`, counting what it drops."""
        if self.health.retry(what, write, self._abandon, on_first_failure,
                             permanent_raises=permanent_raises):
            return True
        with self._cond:
            self.items_dropped += 1
        return False
