"""Storage health for the recorder: classify write errors, retry with backoff, publish around a
failing store, and report each change of health once.

Used only by the writer thread (daemon/recorder.py), except :meth:`StorageHealth.status`
and :attr:`StorageHealth.error`, which any thread may read (plain attribute snapshots).

- A transient database error (locked, disk I/O, read-only, connection lost: any
  ``DBAPIError`` that is not an integrity/data error) is logged and retried with capped
  exponential backoff until it succeeds or the recorder abandons its queue at stop.
- A permanent error (constraint violation, a value the database refuses, a value
  SQLAlchemy cannot bind) is logged and the item dropped, or it would wedge every later
  write behind it; a burst may ask for it to be raised instead, to retry item by item.
- The gate must not wait for the disk: on the first transient failure of a passage, and
  for every passage submitted while the store is failing, its messages go to ``fallback``
  (the publisher sends them at once, outside the outbox). Once the commit succeeds the
  outbox sends the events again with the same ``event_id`` (subscribers de-duplicate);
  a gate command already sent goes out once only (the publisher's ledger, mqtt/gate.py).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime

from sqlalchemy.exc import DataError, DBAPIError, IntegrityError, StatementError

from daemon import contract
from daemon.domain import Passage, utc_iso
from daemon.store.snapshots import SnapshotWriter

Fallback = Callable[[Passage, list[contract.Message]], None]
"""Publishes a passage's messages without the outbox (storage failing)."""
StatusListener = Callable[[dict[str, object]], None]
"""Called with :meth:`StorageHealth.status` on each change ok <-> failing."""

log = logging.getLogger(__name__)


class StorageHealth:
    """Whether writes succeed, the retry loop that finds out, and the fallback publish."""

    def __init__(
        self,
        topics: contract.Topics,
        *,
        gate_ttl_s: float | None = None,
        fallback: Fallback | None = None,
        on_status: StatusListener | None = None,
        snapshots: SnapshotWriter | None = None,
        queue_stats: Callable[[], dict[str, object]] = dict,
        retry_min_s: float = 0.05,
        retry_max_s: float = 5.0,
        beat: Callable[[], None] = lambda: None,
        recovery: dict[str, str] | None = None,
    ) -> None:
        """``queue_stats`` adds the writer's queue counters to :meth:`status`; ``beat`` runs on
        every attempt of :meth:`retry` (retrying is alive: daemon.ops.health must not call the
        writer stuck while the disk is full). ``recovery`` is :attr:`daemon.store.db.Store.recovery`
        (a corrupt database moved aside at start), reported in every status."""
        self._topics = topics
        self._gate_ttl = gate_ttl_s
        self._fallback = fallback
        self.on_status = on_status
        self._snapshots = snapshots
        self._queue_stats = queue_stats
        self._beat = beat
        self.recovery = recovery
        self._retry_min = retry_min_s
        self._retry_max = retry_max_s
        self.error: str | None = None
        """The last storage failure while it lasts (None when writes succeed)."""
        self.fallback_published = 0
        self.changed_at = datetime.now(UTC)
        """When the store last went from ok to failing or back."""

    @property
    def can_fall_back(self) -> bool:
        """True when the store is failing and a fallback publisher is configured."""
        return self.error is not None and self._fallback is not None

    def messages(self, passage: Passage) -> list[contract.Message]:
        """The outbox rows of ``passage`` (event, gate command for ``allow``, retained last)."""
        return self._topics.passage_messages(passage, self._gate_ttl)

    def send_fallback(self, passage: Passage) -> bool:
        """Publish ``passage`` outside the outbox; True if handed to the publisher."""
        if self._fallback is None:
            return False
        try:
            self._fallback(passage, self.messages(passage))
        except Exception:
            log.exception("fallback publish of %s failed", passage.event_id)
            return False
        self.fallback_published += 1
        log.warning("store failing: passage %s published without the outbox", passage.event_id)
        return True

    def update(self, error: str | None) -> None:
        """Record the outcome of a write; report each change (ok <-> failing) once."""
        if (error is None) == (self.error is None):
            self.error = error
            return
        self.error = error
        self.changed_at = datetime.now(UTC)
        if error is None:
            log.info("store: writes succeed again")
        else:
            log.error("store failing: %s; gate events are published without the outbox", error)
        if self.on_status is not None:
            try:
                self.on_status(self.status())
            except Exception:
                log.exception("storage status callback failed")

    def status(self) -> dict[str, object]:
        """Storage health for the status topic, /metrics and /healthz."""
        snaps = self._snapshots
        return {
            "ok": self.error is None,
            "error": self.error,
            "since": utc_iso(self.changed_at),
            "snapshot_error": snaps.error if snaps else None,
            "snapshot_failures": snaps.failures if snaps else 0,
            "fallback_published": self.fallback_published,
            "recovered": self.recovery,
            **self._queue_stats(),
            "at": utc_iso(datetime.now(UTC)),
        }

    def retry(
        self,
        what: str,
        write: Callable[[], object],
        abandon: threading.Event,
        on_first_failure: Callable[[], object] | None = None,
        *,
        permanent_raises: bool = False,
    ) -> bool:
        """Run ``write`` until it succeeds (True); False when dropped or abandoned.

        Transient errors back off (``retry_min_s`` doubling to ``retry_max_s``) until
        ``abandon`` is set; permanent ones drop the item, or are re-raised with
        ``permanent_raises``. ``on_first_failure`` runs once, after the first transient
        failure (the fallback publish).
        """
        delay = self._retry_min
        attempt = 0
        while True:
            attempt += 1
            self._beat()
            try:
                write()
                if attempt > 1:
                    log.info("%s written after %d attempts", what, attempt)
                self.update(None)
                return True
            except (IntegrityError, DataError) as exc:
                if permanent_raises:
                    raise
                log.error("%s refused by the database, dropped: %s", what, exc.orig)
            except DBAPIError as exc:
                log.warning("database error writing %s (attempt %d, retry in %.2f s): %s",
                            what, attempt, delay, exc.orig)
                self.update(str(exc.orig))
                if on_first_failure is not None:
                    on_first_failure()
                    on_first_failure = None
                if not abandon.wait(delay):
                    delay = min(delay * 2, self._retry_max)
                    continue
                log.error("recorder stopping: %s abandoned", what)
            except StatementError as exc:  # a value SQLAlchemy could not bind: a bug, not transient
                if permanent_raises:
                    raise
                log.error("%s could not be written, dropped: %s", what, exc)
            except Exception:
                log.exception("unexpected error writing %s, dropped", what)
            return False
