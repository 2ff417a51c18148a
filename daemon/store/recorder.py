"""The single database writer: snapshots to disk, passages + reads + outbox rows in one transaction.

Every write to the store goes through one thread named ``recorder``, fed by a
bounded queue (passages, lone reads, maintenance jobs such as retention) plus two
small batches the publisher fills without ever blocking its network thread
(delivery marks, attempt counts).

The access decision (daemon/access.py) is made here, in the writer thread, just
before the commit: the recorder has the store, and the decision must be in the
committed event and outbox payload.

Storage failure (disk full, read-only, database unreachable) and write errors are
handled by :class:`daemon.store.health.StorageHealth` (``self.health``): transient
errors are retried with backoff and never kill the thread or lose the item, permanent
ones drop it, and while the store fails the gate events are published around the
outbox (``fallback``) and the change is reported through ``on_storage_status``.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy.exc import DataError, IntegrityError, StatementError

from daemon.config.integrations import image_url
from daemon.domain import Frame, Passage, PlateRead
from daemon.store.db import OutboxMessage, Store
from daemon.store.health import Fallback, StorageHealth
from daemon.store.snapshots import SnapshotWriter

Decide = Callable[[Passage], Passage]
"""Sets ``access`` / ``access_reason`` on a passage (daemon.access.AccessControl.apply)."""

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True, eq=False)
class _PassageItem:
    passage: Passage
    reads: tuple[PlateRead, ...]
    snapshot: Frame | None
    fallback_sent: bool = False


@dataclass(frozen=True, slots=True, eq=False)
class _JobItem:
    what: str
    job: Callable[[], object]


@dataclass(frozen=True, slots=True)
class _ReadItem:
    read: PlateRead
    event_id: str


BURST = 64
"""Passages committed together at most when they queue up (group commit)."""

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
        decide: Decide | None = None,
        gate_ttl_s: float | None = None,
        fallback: Fallback | None = None,
        on_storage_status: Callable[[dict[str, object]], None] | None = None,
        snapshot_base_url: str | None = None,
        webhook_targets: Sequence[str] = (),
    ) -> None:
        """Nothing runs until :meth:`start`.

        ``decide`` makes the access decision before the commit; ``gate_ttl_s`` (not None)
        adds a gate command to the outbox of every ``allow`` passage.
        """
        self._store = store
        self._decide = decide
        self._snapshot_url = snapshot_base_url
        self._webhooks = tuple(webhook_targets)
        """Outbox targets (``webhook:<name>``) that get a copy of every event, one row each."""
        self._snapshots = (
            SnapshotWriter(Path(snapshots_dir), jpeg_quality) if snapshots_dir is not None else None
        )
        self.health = StorageHealth(
            topic_prefix, gate_ttl_s=gate_ttl_s, fallback=fallback, on_status=on_storage_status,
            snapshots=self._snapshots, backlog=lambda: self.backlog,
            retry_min_s=retry_min_s, retry_max_s=retry_max_s,
        )
        self._on_committed = on_committed
        self._put_timeout = put_timeout_s
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
        if self.health.can_fall_back:
            sent = self.health.send_fallback(self._prepare(passage))
        return self._put(_PassageItem(passage, tuple(reads), snapshot, sent), passage.event_id)

    def submit_job(self, what: str, job: Callable[[], object]) -> bool:
        """Run ``job`` in the writer thread (retention: deletes are writes too)."""
        return self._put(_JobItem(what, job), what)

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
    def storage_error(self) -> str | None:
        """The last storage failure while it lasts (None when writes succeed)."""
        return self.health.error

    def status(self) -> dict[str, object]:
        """Storage health for the status topic, /metrics and /healthz."""
        return self.health.status()

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
    @property
    def alive(self) -> bool:
        """True while the writer thread runs."""
        return self._thread.is_alive()

    def _run(self) -> None:
        item: object | None = None
        while True:
            self.last_beat = time.monotonic()
            if item is None:
                try:
                    item = self._queue.get(timeout=0.5)
                except queue.Empty:
                    item = _WAKE
            if item is _STOP:
                self._write_batches()
                return
            nxt: object | None = None
            if item is not _WAKE:
                items, nxt = self._take_burst(item)
                try:
                    if len(items) > 1:
                        self._write_burst(items)  # type: ignore[arg-type]
                    else:
                        self._write_item(items[0])
                finally:
                    with self._cond:
                        self._q_done += len(items)
                        self._cond.notify_all()
                del items  # do not pin the last snapshot image while waiting on the queue
            self._write_batches()
            item = nxt

    def _take_burst(self, first: object) -> tuple[list[object], object | None]:
        """``first`` plus the passages queued right behind it (up to ``BURST``), and the next
        item already taken that is not part of the burst (None: nothing taken)."""
        items = [first]
        if not isinstance(first, _PassageItem):
            return items, None
        while len(items) < BURST:
            try:
                nxt = self._queue.get_nowait()
            except queue.Empty:
                return items, None
            if not isinstance(nxt, _PassageItem):
                return items, nxt
            items.append(nxt)
        return items, None

    def _write_burst(self, items: list[_PassageItem]) -> None:
        """Several passages in one transaction; if the database refuses one, each on its own."""
        prepared = [self._prepared(i) for i in items]
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

    def _prepare(self, passage: Passage) -> Passage:
        """The passage with its access decision (made once, before anything is written)."""
        if self._decide is None:
            return passage
        try:
            return self._decide(passage)
        except Exception:
            log.exception("access decision failed for %s; access stays unknown", passage.event_id)
            return passage.replace(access="unknown", access_reason="not_evaluated")

    def _prepared(self, item: _PassageItem) -> tuple[Passage, list[OutboxMessage]]:
        """Decision, snapshot, outbox messages: everything before the commit."""
        passage = self._prepare(item.passage)
        if item.snapshot is not None and self._snapshots is not None:
            rel = self._snapshots.write(passage, item.snapshot.bgr())
            passage = passage.replace(snapshot=rel, image_url=image_url(self._snapshot_url, rel))
        messages: list[OutboxMessage] = list(self.health.messages(passage))
        if self._webhooks:  # the event (first message) once more per target
            topic, payload = messages[0][0], messages[0][1]
            messages += [(topic, payload, False, target) for target in self._webhooks]
        return passage, messages

    def _commit_one(
        self, passage: Passage, item: _PassageItem, messages: list[OutboxMessage]
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
        if isinstance(item, _PassageItem):
            passage, messages = self._prepared(item)
            self._commit_one(passage, item, messages)
        elif isinstance(item, _ReadItem):
            read_item = item
            self._retry(
                f"read of {read_item.event_id}",
                lambda: self._store.record_read(read_item.read, read_item.event_id),
            )
        elif isinstance(item, _JobItem):
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
