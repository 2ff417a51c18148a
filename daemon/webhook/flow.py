"""Which of a target's outbox rows may be sent now: the bookkeeping of its worker threads.

Pure, no I/O, no locking (the sender holds its lock around every call), the clock passed
in. Rows leave in outbox order (oldest first), at most ``concurrency`` at once; several
in flight may be answered, and so arrive, in another order. A failure (an attempt whose
verdict is retry) pauses the whole target for a backoff doubling from ``retry_min_s`` to
``retry_max_s``, puts the row back first in line, and until an attempt succeeds again
only one request is in flight at a time: a dead target is probed by one request per
backoff, not by ``concurrency``. With ``concurrency = 1`` the target gets its events in
commit order, a failed one retried before any later one.

Three sets of row ids: ``ready`` (read from the outbox, not started), ``busy`` (a request
in flight), ``done`` (answered and marked delivered through the recorder, but perhaps
not written yet: the next outbox read may still return them, so they are skipped).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Generic, Protocol, TypeVar

from daemon.webhook import request
from daemon.webhook.request import Verdict

BATCH = 16
"""Rows read beyond those in flight or done, per look at the outbox."""


class HasId(Protocol):
    """An outbox row as far as the flow cares: its id."""

    @property
    def id(self) -> int:
        """The outbox row id (increasing with commit order)."""
        ...


Row = TypeVar("Row", bound=HasId)


@dataclass
class Flow(Generic[Row]):
    """Rows of one target: what to read, what to send next, when to pause."""

    concurrency: int = 1
    retry_min_s: float = 1.0
    retry_max_s: float = 300.0
    streak: int = 0
    """Failed attempts in a row (0: healthy)."""
    resume_at: float = 0.0
    """No attempt starts before this (monotonic seconds): the backoff after a failure."""
    ready: deque[Row] = field(default_factory=deque)
    busy: set[int] = field(default_factory=set)
    done: set[int] = field(default_factory=set)

    @property
    def limit(self) -> int:
        """Requests allowed in flight: one while failing, else ``concurrency``."""
        return 1 if self.streak else self.concurrency

    def wait_s(self, now: float) -> float:
        """0 when another request may start now; else how long the backoff still lasts
        (``inf``: until a request in flight ends)."""
        if now < self.resume_at:
            return self.resume_at - now
        return 0.0 if len(self.busy) < self.limit else float("inf")

    def needs_rows(self) -> int:
        """How many rows to read from the outbox (0: rows are ready to start)."""
        return 0 if self.ready else len(self.busy) + len(self.done) + BATCH

    def offer(self, rows: list[Row], asked: int) -> None:
        """Rows read from the outbox (oldest first, at most ``asked``): the new ones wait
        in line; ``done`` forgets rows whose mark was written (they no longer come back)."""
        ids = {r.id for r in rows}
        if len(rows) < asked:  # every pending row was read: anything else done is written
            self.done &= ids
        elif rows:  # rows beyond the last one read were not looked at: keep those
            last = rows[-1].id
            self.done = {i for i in self.done if i in ids or i > last}
        skip = self.busy | self.done
        self.ready.extend(r for r in rows if r.id not in skip)

    def take(self) -> Row | None:
        """The oldest ready row, now in flight; None when none is ready."""
        if not self.ready:
            return None
        row = self.ready.popleft()
        self.busy.add(row.id)
        return row

    def begin(self, row: Row) -> Row:
        """A row from elsewhere (the fallback, not the outbox), now in flight."""
        self.busy.add(row.id)
        return row

    def finish(self, row: Row, outcome: Verdict, now: float) -> float | None:
        """An attempt ended: the pause it starts (seconds) when it is to be retried, else
        None (delivered or rejected: the row is done)."""
        self.busy.discard(row.id)
        if outcome is not Verdict.RETRY:
            self.streak = 0
            self.done.add(row.id)
            return None
        self.streak += 1
        pause = request.backoff_s(self.streak, self.retry_min_s, self.retry_max_s)
        self.resume_at = max(self.resume_at, now + pause)
        self.ready.clear()  # read again: the failed row is first in line, then the rest
        return pause

    def forget(self, row: Row) -> None:
        """An attempt that never happened (stopping): the row goes back to the outbox."""
        self.busy.discard(row.id)
        self.ready.clear()
