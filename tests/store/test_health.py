"""store/health.py on its own: error classes, the retry loop, status changes, the fallback.

The recorder tests reach this module through a real SQLite store; here each rule is
driven directly with the exceptions SQLAlchemy raises, so a change in classification
shows up as a failing line, not as a slow end-to-end symptom.
"""

from __future__ import annotations

import sqlite3
import threading
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy.exc import IntegrityError, OperationalError, StatementError

from daemon import contract
from daemon.domain import Passage
from daemon.store.health import StorageHealth
from tests.support.daemon import TOPICS

T0 = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)


def _locked() -> OperationalError:
    return OperationalError("INSERT", {}, sqlite3.OperationalError("database is locked"))


def _duplicate() -> IntegrityError:
    return IntegrityError("INSERT", {}, sqlite3.IntegrityError("UNIQUE constraint failed"))


def _passage(access: str = "allow") -> Passage:
    return Passage(event_id="e-1", site="lot-a", camera="entry-1", direction="entry",
                   captured_at=T0, decided_at=T0, plate="京A12345", confidence=99,
                   access=access)


class Flaky:
    """A write that fails with the given errors first, then succeeds."""

    def __init__(self, *errors: Exception) -> None:
        self.errors = list(errors)
        self.calls = 0

    def __call__(self) -> None:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)


def test_transient_errors_are_retried_until_the_write_succeeds() -> None:
    statuses: list[dict[str, Any]] = []
    health = StorageHealth(TOPICS, on_status=statuses.append, retry_min_s=0.001,
                           retry_max_s=0.004)
    write = Flaky(_locked(), _locked(), _locked())
    first_failure: list[int] = []
    ok = health.retry("passage e-1", write, threading.Event(),
                      on_first_failure=lambda: first_failure.append(write.calls))
    assert ok and write.calls == 4
    assert first_failure == [1]  # the fallback runs once, after the first failure
    # ok -> failing -> ok: each change reported once, however many attempts failed
    assert [s["ok"] for s in statuses] == [False, True]
    assert "database is locked" in str(statuses[0]["error"])
    assert health.error is None


def test_a_permanent_error_drops_the_item_or_is_raised_on_request() -> None:
    health = StorageHealth(TOPICS, retry_min_s=0.001)
    assert not health.retry("passage e-1", Flaky(_duplicate()), threading.Event())
    with pytest.raises(IntegrityError):
        health.retry("burst", Flaky(_duplicate()), threading.Event(), permanent_raises=True)
    unbindable = StatementError("bad value", "INSERT", {}, TypeError("not a str"))
    assert not health.retry("passage e-2", Flaky(unbindable), threading.Event())
    assert health.error is None  # refused values say nothing about the disk


def test_abandon_stops_the_retry_loop_and_keeps_the_failure_visible() -> None:
    abandon = threading.Event()
    abandon.set()
    health = StorageHealth(TOPICS, retry_min_s=0.001)
    write = Flaky(*[_locked() for _ in range(10)])
    assert not health.retry("passage e-1", write, abandon)
    assert write.calls == 1
    assert health.status()["ok"] is False


def test_fallback_publishes_the_passage_messages_while_the_store_fails() -> None:
    sent: list[tuple[str, list[contract.Message]]] = []
    health = StorageHealth(TOPICS, gate_ttl_s=5.0,
                           fallback=lambda p, msgs: sent.append((p.event_id, msgs)))
    assert not health.can_fall_back  # the store has not failed yet
    health.update("disk I/O error")
    assert health.can_fall_back
    assert health.send_fallback(_passage())
    (event_id, messages), = sent
    topics = [t for t, _, _ in messages]
    assert event_id == "e-1"
    assert topics == ["gatecam/lot-a/entry-1/passage", "gatecam/lot-a/entry-1/gate",
                      "gatecam/lot-a/entry-1/passage/last"]
    assert health.status()["fallback_published"] == 1


def test_a_failing_fallback_or_listener_never_breaks_the_writer() -> None:
    def boom(*_args: object) -> None:
        raise RuntimeError("broker gone")

    health = StorageHealth(TOPICS, fallback=boom, on_status=boom)
    health.update("database is locked")  # the listener raises: logged, not raised
    assert not health.send_fallback(_passage())
    assert health.status()["fallback_published"] == 0
    assert not StorageHealth(TOPICS).send_fallback(_passage())  # no fallback configured
