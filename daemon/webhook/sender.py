"""Webhook delivery: per target, a few worker threads drain that target's outbox rows.

At-least-once from the same transactional outbox as MQTT: the recorder commits one row
per target with the passage (``target = webhook:<name>``), so a passage committed is a
passage delivered, whatever crashes in between (a SIGKILL included: the row is sent
again after the restart, with the same ``event_id``, which receivers deduplicate on).

Per target, ``concurrency`` worker threads share one keep-alive connection pool; which
row each sends next, and when the target pauses, is :mod:`daemon.webhook.flow` (oldest
first, at most ``concurrency`` in flight, so a receiver may get events out of order
unless ``concurrency`` is 1). A failure (no whole answer within ``timeout_s`` (a total
deadline, :mod:`daemon.ocr.deadline`: a server dripping bytes cannot hold it), a refused
connection, 408, 429, 5xx) pauses the target for a backoff that doubles from
``retry_min_s`` to ``retry_max_s``, then one request at a time retries, oldest row first,
until one succeeds; any other answer but 2xx is final (logged, counted, the row leaves
the outbox). Each target has its own threads, client and backoff: a dead target holds
back neither MQTT nor the other targets. A start-up probe (:func:`target.probe`, on its
own thread) reports an unreachable target without delaying anything.
Delivery marks and attempt counts go through the recorder (the single writer).

While the store cannot commit, the recorder's fallback hands each passage to
:meth:`WebhookSender.send_direct` as well as to MQTT: the event waits in memory (at most
``DIRECT_MAX`` per target, the oldest dropped) and goes out before any outbox row, under
the same backoff; it is not in the outbox, so a restart loses it, but the passage itself
stays in the recorder's queue and its outbox row, once committed, sends the event again
with the same ``event_id`` (receivers deduplicate, as MQTT subscribers do).
"""

from __future__ import annotations

import itertools
import json
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from daemon import contract
from daemon.domain import Passage
from daemon.ocr.deadline import CallDeadline, install
from daemon.store.db import Store
from daemon.store.recorder import Recorder
from daemon.store.records import PendingMessage
from daemon.webhook import request
from daemon.webhook.flow import Flow
from daemon.webhook.request import Verdict
from daemon.webhook.target import WebhookTarget, probe, resolve_targets

__all__ = ["WebhookSender", "WebhookStats", "WebhookTarget", "resolve_targets"]
"""The sender, and the target values app.py builds it from (defined in target.py)."""

log = logging.getLogger(__name__)

MAX_RESPONSE_BYTES = 64 * 1024
"""A receiver's answer is read up to this much, then the connection is closed."""
PROBE_S = 3.0
"""The start-up probe's connect timeout (at most the target's ``timeout_s``)."""
_NO_CONNECTION = (httpx.ConnectError, httpx.ConnectTimeout)
"""Failures that say the target cannot be reached at all (not: it answered badly)."""
DIRECT_MAX = 256
"""Events held in memory per target while the store cannot commit (the oldest dropped)."""


@dataclass
class WebhookStats:
    """Counters for /healthz and /metrics (changed under the sender's lock)."""

    delivered: int = 0
    rejected: int = 0
    failures: int = 0
    last_error: str | None = None
    statuses: dict[str, int] = field(default_factory=dict)
    direct: int = 0
    """Events delivered straight from the fallback (the store failing), outside the outbox."""
    direct_dropped: int = 0
    reachable: bool | None = None
    """False after the probe or an attempt could not connect; True once anything answered."""
    unreachable_error: str | None = None


class WebhookSender:
    """Delivers one target's outbox rows on ``target.concurrency`` threads until ``stop``."""

    def __init__(
        self, target: WebhookTarget, store: Store, recorder: Recorder, stop: threading.Event,
        *, snapshots_dir: Path | None = None, late_after_s: float = 10.0,
        poll_s: float = 1.0, clock: Callable[[], float] = time.monotonic,
        transport: httpx.BaseTransport | None = None, probe_at_start: bool = True,
    ) -> None:
        self.target = target
        self.stats = WebhookStats()
        self._store = store
        self._recorder = recorder
        self._halt = stop
        self._snapshots = snapshots_dir
        self._late_after = timedelta(seconds=late_after_s)
        self._poll_s = poll_s
        self._clock = clock
        self._cond = threading.Condition()
        self._flow: Flow[PendingMessage] = Flow(target.concurrency, target.retry_min_s,
                                                target.retry_max_s)
        self._dirty = True
        """New rows may be in the outbox (a commit, a retry, a poll): read it next time."""
        self._direct: deque[PendingMessage] = deque()
        """Fallback events (negative ids: never outbox rows), sent before outbox rows."""
        self._direct_ids = itertools.count(-1, -1)
        self._deadline = CallDeadline()  # per thread: each worker's request has its own
        n = target.concurrency
        if transport is None:  # each request as a whole within timeout_s, not each read
            transport = httpx.HTTPTransport(
                trust_env=False, limits=httpx.Limits(max_connections=n,
                                                     max_keepalive_connections=n))
            install(transport, self._deadline)
        self._client = httpx.Client(
            timeout=httpx.Timeout(target.timeout_s), follow_redirects=False,
            transport=transport, trust_env=False,
        )
        self._threads = [threading.Thread(target=self._work, name=f"webhook-{target.name}-{i}",
                                          daemon=True) for i in range(n)]
        if probe_at_start:
            self._threads.append(threading.Thread(
                target=self._probe, name=f"webhook-{target.name}-probe", daemon=True))

    def status(self) -> dict[str, object]:
        """For /healthz and /metrics: counters, the failure streak, reachability."""
        with self._cond:
            s = self.stats
            return {"delivered": s.delivered, "rejected": s.rejected, "failures": s.failures,
                    "failing": self._flow.streak, "last_error": s.last_error,
                    "in_flight": len(self._flow.busy), "concurrency": self.target.concurrency,
                    "direct": s.direct, "direct_dropped": s.direct_dropped,
                    "reachable": s.reachable, "unreachable_error": s.unreachable_error}

    def start(self) -> None:
        """Start the worker threads (and the probe); returns at once."""
        for t in self._threads:
            t.start()

    def started(self) -> WebhookSender:
        """Start; returns self."""
        self.start()
        return self

    def is_alive(self) -> bool:
        """True while any worker thread runs."""
        return any(t.is_alive() for t in self._threads)

    def wake(self) -> None:
        """A passage was committed: look at the outbox now (one idle worker is woken, and
        none during a backoff or while all are busy: the next to be free looks)."""
        with self._cond:
            self._dirty = True
            if self._flow.wait_s(self._clock()) == 0:
                self._cond.notify()

    def send_direct(self, passage: Passage, messages: Sequence[contract.Message]) -> None:
        """The store is failing: send ``passage``'s event without waiting for its outbox row
        (the recorder's fallback; never blocks)."""
        now = datetime.now(UTC)
        with self._cond:
            if len(self._direct) >= DIRECT_MAX:
                dropped = self._direct.popleft()
                self.stats.direct_dropped += 1
                log.warning("webhook %s: more than %d events waiting outside the outbox; %s "
                            "left to its outbox row", self.target.name, DIRECT_MAX,
                            dropped.event_id)
            topic, payload = messages[0][0], messages[0][1]
            self._direct.append(PendingMessage(next(self._direct_ids), passage.event_id, topic,
                                               payload, False, now, 0, passage.captured_at))
            self._cond.notify()

    def close(self, timeout: float) -> None:
        """Wait for the threads (``stop`` must be set); an attempt in flight ends by timeout_s."""
        with self._cond:
            self._cond.notify_all()
        end = time.monotonic() + timeout
        for t in self._threads:
            if t.is_alive() or t.ident is not None:
                t.join(max(0.0, end - time.monotonic()))
        if not self.is_alive():
            self._client.close()

    # -- worker threads --
    def _work(self) -> None:
        while not self._halt.is_set():
            row = self._next_row()
            if row is not None:
                self._attempt(row)

    def _next_row(self) -> PendingMessage | None:
        """The next row to send, or None after waiting (backoff, nothing new, all busy)."""
        with self._cond:
            if self._halt.is_set():
                return None
            wait = self._flow.wait_s(self._clock())
            if wait > 0:
                self._cond.wait(min(wait, self._poll_s))
                return None
            row = self._take_direct() or self._flow.take()
            if row is None and self._dirty:
                self._dirty = False
                asked = self._flow.needs_rows()
                self._flow.offer(self._read(asked), asked)
                row = self._flow.take()
            if row is None:
                if not self._cond.wait(self._poll_s):
                    self._dirty = True  # nothing said in poll_s: look anyway
            elif (self._flow.ready or self._direct) and not self._flow.wait_s(self._clock()):
                self._cond.notify()  # more to send and room for it: one more worker
            return row

    def _take_direct(self) -> PendingMessage | None:
        """A fallback event, now in flight (the lock is held)."""
        if not self._direct:
            return None
        return self._flow.begin(self._direct.popleft())

    def _read(self, limit: int) -> list[PendingMessage]:
        try:
            return self._store.pending_outbox(limit, self.target.outbox_target)
        except Exception as exc:  # a failing store: the recorder reports it; try again later
            log.debug("webhook %s: outbox unreadable: %s", self.target.name, exc)
            return []

    def _attempt(self, row: PendingMessage) -> None:
        """One request for one row; the verdict goes to the flow and the recorder."""
        status, error, connected = self._post(row)
        outcome = request.verdict(status)
        with self._cond:
            was_failing = self._flow.streak
            pause = self._flow.finish(row, outcome, self._clock())
            self._count(status, error, connected, outcome)
            if pause is not None and row.id < 0:
                self._direct.appendleft(row)  # a fallback event: first in line again
            elif pause is not None:
                self._dirty = True  # the failed row is read again, first in line
            elif row.id < 0:
                self.stats.direct += 1
            streak = self._flow.streak
            self._cond.notify()  # a free slot (or the backoff's end) for one waiting worker
        if row.id > 0:
            self._recorder.bump_attempts([row.id])
        if pause is not None:
            if streak == 1 or streak % 10 == 0:
                log.warning("webhook %s: %s for event %s (attempt %d in a row); retrying in "
                            "%.1f s", self.target.name, self.stats.last_error, row.event_id,
                            streak, pause)
            return
        if was_failing:
            log.info("webhook %s: delivering again after %d failed attempt(s)",
                     self.target.name, was_failing)
        if outcome is Verdict.REJECTED:
            log.error("webhook %s: HTTP %s for event %s: the receiver refuses it; not retried",
                      self.target.name, status, row.event_id)
        if row.id > 0:
            self._recorder.mark_delivered(row.id)

    def _count(self, status: int | None, error: str | None, connected: bool,
               outcome: Verdict) -> None:
        """Counters of one attempt (the lock is held)."""
        s = self.stats
        key = str(status) if status is not None else "none"
        s.statuses[key] = s.statuses.get(key, 0) + 1
        if outcome is Verdict.RETRY:
            s.failures += 1
            s.last_error = error or f"HTTP {status}"
        elif outcome is Verdict.REJECTED:
            s.rejected += 1
        else:
            s.delivered += 1
        if connected and s.reachable is not True:
            if s.reachable is False:
                log.info("webhook %s: reachable again", self.target.name)
            s.reachable, s.unreachable_error = True, None
        elif not connected:
            s.reachable, s.unreachable_error = False, error

    def _post(self, row: PendingMessage) -> tuple[int | None, str | None, bool]:
        """(status, None, True) for an answer; (None, why, connected) for none."""
        payload = row.payload
        if datetime.now(UTC) - row.captured_at > self._late_after:
            payload = contract.mark_late(payload)
        data = request.body(payload, self._image(payload) if self.target.image else None)
        hdrs = request.headers(row.event_id, data, self.target.secret, time.time())
        deadline = self._clock() + self.target.timeout_s
        try:
            with (self._deadline.until(deadline),
                  self._client.stream("POST", self.target.url, content=data,
                                      headers=hdrs) as resp):
                got = 0
                for chunk in resp.iter_raw():  # drain a little for keep-alive, then stop
                    got += len(chunk)
                    if got >= MAX_RESPONSE_BYTES or self._clock() > deadline:
                        break
                return resp.status_code, None, True
        except httpx.HTTPError as exc:
            why = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            return None, why, not isinstance(exc, _NO_CONNECTION)

    def _image(self, payload: str) -> bytes | None:
        """The passage's snapshot file, None without one (the event goes without image)."""
        try:
            rel = json.loads(payload).get("snapshot")
            if isinstance(rel, str) and rel and self._snapshots is not None:
                return (self._snapshots / rel).read_bytes()
        except (OSError, ValueError, AttributeError) as exc:
            log.warning("webhook %s: snapshot not attached: %s", self.target.name, exc)
        return None

    def _probe(self) -> None:
        """Can the target be reached at all? Said once at start; never delays delivery."""
        error = probe(self.target, min(PROBE_S, self.target.timeout_s))
        with self._cond:
            if self.stats.reachable is not None:  # an attempt already found out
                return
            self.stats.reachable, self.stats.unreachable_error = error is None, error
        if error is not None:
            log.warning("webhook %s: unreachable at start (%s): events wait in the outbox "
                        "and go out once it answers", self.target.name, error)
