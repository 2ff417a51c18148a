"""Webhook delivery: one thread per target drains that target's outbox rows, oldest first.

At-least-once from the same transactional outbox as MQTT: the recorder commits one row
per target with the passage (``target = webhook:<name>``), so a passage committed is a
passage delivered, whatever crashes in between (a SIGKILL included: the row is sent
again after the restart, with the same ``event_id``, which receivers deduplicate on).
Rows go out one at a time in commit order; a failure (no whole answer within ``timeout_s``
(a total deadline, :mod:`daemon.ocr.deadline`: a server dripping bytes cannot hold it),
a refused connection, 408, 429, 5xx) pauses the target for a backoff that doubles from
``retry_min_s`` to ``retry_max_s`` and retries the same row; any other answer but 2xx
is final (logged, counted, the row leaves the outbox). Each target has its own thread,
client and backoff: a dead target holds back neither MQTT nor the other targets.
Delivery marks and attempt counts go through the recorder (the single writer).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from daemon import contract
from daemon.config.integrations import WebhookConfig
from daemon.config.secrets import read_credential, remember
from daemon.errors import CredentialsError
from daemon.ocr.deadline import CallDeadline, install
from daemon.store.db import Store
from daemon.store.recorder import Recorder
from daemon.store.records import PendingMessage
from daemon.webhook import request
from daemon.webhook.request import Verdict

log = logging.getLogger(__name__)

MAX_RESPONSE_BYTES = 64 * 1024
"""A receiver's answer is read up to this much, then the connection is closed."""
BATCH = 16
"""Rows fetched per look at the outbox (delivered one at a time)."""


@dataclass(frozen=True, slots=True)
class WebhookTarget:
    """One configured target, its secret resolved (from a credential file)."""

    name: str
    url: str
    secret: str | None = None
    image: bool = False
    timeout_s: float = 5.0
    retry_min_s: float = 1.0
    retry_max_s: float = 300.0

    @property
    def outbox_target(self) -> str:
        """The outbox ``target`` of this target's rows."""
        return f"webhook:{self.name}"


@dataclass
class WebhookStats:
    """Counters for /healthz and /metrics."""

    delivered: int = 0
    rejected: int = 0
    failures: int = 0
    last_error: str | None = None
    statuses: dict[str, int] = field(default_factory=dict)


class WebhookSender(threading.Thread):
    """Delivers one target's outbox rows until ``stop`` is set."""

    def __init__(
        self, target: WebhookTarget, store: Store, recorder: Recorder, stop: threading.Event,
        *, snapshots_dir: Path | None = None, late_after_s: float = 10.0,
        poll_s: float = 1.0, clock: Callable[[], float] = time.monotonic,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        super().__init__(name=f"webhook-{target.name}", daemon=True)
        self.target = target
        self.stats = WebhookStats()
        self._store = store
        self._recorder = recorder
        self._halt = stop
        self._snapshots = snapshots_dir
        self._late_after = timedelta(seconds=late_after_s)
        self._poll_s = poll_s
        self._clock = clock
        self._wake = threading.Event()
        self._marked: set[int] = set()
        """Rows marked through the recorder but perhaps not written yet: skipped."""
        self._streak = 0
        self._deadline = CallDeadline()
        if transport is None:  # each request as a whole within timeout_s, not each read
            transport = httpx.HTTPTransport(trust_env=False)
            install(transport, self._deadline)
        self._client = httpx.Client(
            timeout=httpx.Timeout(target.timeout_s), follow_redirects=False,
            transport=transport, trust_env=False,
        )

    def status(self) -> dict[str, object]:
        """For /healthz and /metrics: counters, the failure streak and the last error."""
        s = self.stats
        return {"delivered": s.delivered, "rejected": s.rejected, "failures": s.failures,
                "failing": self._streak, "last_error": s.last_error}

    def started(self) -> WebhookSender:
        """Start the thread; returns self."""
        self.start()
        return self

    def wake(self) -> None:
        """A passage was committed: look at the outbox now."""
        self._wake.set()

    def run(self) -> None:
        """Deliver, back off, repeat; close the client on the way out."""
        try:
            while not self._halt.is_set():
                rows = self._next_rows()
                if not rows:
                    self._wake.wait(self._poll_s)
                    self._wake.clear()
                    continue
                for row in rows:  # in order; a failure ends the batch (retried first)
                    if self._halt.is_set() or not self._attempt(row):
                        break
        finally:
            self._client.close()

    def _next_rows(self) -> list[PendingMessage]:
        try:
            rows = self._store.pending_outbox(BATCH, self.target.outbox_target)
        except Exception as exc:  # a failing store: the recorder reports it; try again later
            log.debug("webhook %s: outbox unreadable: %s", self.target.name, exc)
            return []
        self._marked &= {r.id for r in rows}  # written marks no longer come back
        return [r for r in rows if r.id not in self._marked]

    def _attempt(self, row: PendingMessage) -> bool:
        """One request for one row; False when it is to be retried (after the backoff)."""
        status, error = self._post(row)
        key = str(status) if status is not None else "none"
        self.stats.statuses[key] = self.stats.statuses.get(key, 0) + 1
        outcome = request.verdict(status)
        if outcome is Verdict.RETRY:
            self._recorder.bump_attempts([row.id])
            self._streak += 1
            self.stats.failures += 1
            self.stats.last_error = error or f"HTTP {status}"
            pause = request.backoff_s(self._streak, self.target.retry_min_s,
                                      self.target.retry_max_s)
            if self._streak == 1 or self._streak % 10 == 0:
                log.warning("webhook %s: %s for event %s (attempt %d in a row); retrying in "
                            "%.1f s", self.target.name, self.stats.last_error, row.event_id,
                            self._streak, pause)
            self._halt.wait(pause)
            return False
        if self._streak:
            log.info("webhook %s: delivering again after %d failed attempt(s)",
                     self.target.name, self._streak)
        self._streak = 0
        if outcome is Verdict.REJECTED:
            self.stats.rejected += 1
            log.error("webhook %s: HTTP %s for event %s: the receiver refuses it; not retried",
                      self.target.name, status, row.event_id)
        else:
            self.stats.delivered += 1
        self._marked.add(row.id)
        self._recorder.bump_attempts([row.id])
        self._recorder.mark_delivered(row.id)
        return True

    def _post(self, row: PendingMessage) -> tuple[int | None, str | None]:
        """(status, None) for an answer; (None, why) for none (timeout, refused, too slow)."""
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
                return resp.status_code, None
        except httpx.HTTPError as exc:
            return None, f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__

    def _image(self, payload: str) -> bytes | None:
        """The passage's snapshot file, None without one (the event goes without image)."""
        try:
            rel = json.loads(payload).get("snapshot")
            if isinstance(rel, str) and rel and self._snapshots is not None:
                return (self._snapshots / rel).read_bytes()
        except (OSError, ValueError, AttributeError) as exc:
            log.warning("webhook %s: snapshot not attached: %s", self.target.name, exc)
        return None

    def close(self, timeout: float) -> None:
        """Wait for the thread (``stop`` must be set); an attempt in flight ends by timeout_s."""
        self._wake.set()
        self.join(timeout)


def resolve_targets(hooks: Sequence[WebhookConfig],
                    environ: Mapping[str, str] | None = None) -> list[WebhookTarget]:
    """The configured targets with their secrets read from credential files.

    CredentialsError (exit 78) names the target whose ``secret_credential`` file is missing;
    every secret joins the set the log filter scrubs."""
    out = []
    for h in hooks:
        secret = None
        if h.secret_credential is not None:
            name = f"webhook_{h.secret_credential}"
            secret = read_credential((name, name.upper()), environ)
            if secret is None:
                raise CredentialsError(
                    f"webhooks: {h.name}: no secret in credential file {name} "
                    "($CREDENTIALS_DIRECTORY; LoadCredential= in the unit)")
            remember(secret)
        out.append(WebhookTarget(h.name, h.url, secret, h.image, h.timeout_s, h.retry_min_s,
                                 h.retry_max_s))
    return out
