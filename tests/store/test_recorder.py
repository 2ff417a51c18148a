"""Recorder: snapshots on disk, one commit per passage, retries when locked, drains on stop."""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import cv2
import numpy as np
import pytest

from daemon.domain import Frame, Passage, PlateRead
from daemon.store.db import Store
from daemon.store.recorder import Recorder
from tests.support.daemon import TOPICS

T0 = datetime(2026, 11, 25, 23, 59, 59, tzinfo=UTC)


def make_passage(n: int, **changes: object) -> Passage:
    return Passage(
        event_id=f"ev-{n:04d}", site="lot-a", camera="entry-1", direction="entry",
        captured_at=T0 + timedelta(seconds=n), decided_at=T0 + timedelta(seconds=n + 1),
        plate="粤B12345", confidence=97, ocr_calls=1,
    ).replace(**changes)


def make_read(n: int) -> PlateRead:
    return PlateRead(camera_id="entry-1", passage_id=f"ev-{n:04d}", frame_seq=n, ok=True,
                     plate="粤B12345", confidence=97, request_id=f"r{n}")


class Counter:
    def __init__(self) -> None:
        self.n = 0
        self.lock = threading.Lock()
        self.passages: list[Passage] = []

    def __call__(self, passage: Passage) -> None:
        with self.lock:
            self.n += 1
            self.passages.append(passage)


def still(image: np.ndarray) -> Frame:
    """The frame a snapshot is taken from."""
    return Frame("entry-1", 1, 0.0, datetime(2026, 11, 25, tzinfo=UTC), image)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store(f"sqlite:///{tmp_path}/g.db", busy_timeout_ms=50)
    yield s
    s.close()


def test_snapshot_written_then_passage_committed(tmp_path: Path, store: Store) -> None:
    committed = Counter()
    rec = Recorder(store, tmp_path / "snaps", TOPICS, committed)
    rec.start()
    image = np.zeros((120, 200, 3), np.uint8)
    image[30:90, 50:150] = (0, 0, 255)
    assert rec.submit_passage(make_passage(1), [make_read(1)], still(image))
    assert rec.flush(10)
    rel = "entry-1/2026-11-26/ev-0001.jpg"  # the UTC day of captured_at (n=1 -> next day)
    back = cv2.imread(str(tmp_path / "snaps" / rel))
    assert back is not None and back.shape == (120, 200, 3)
    assert back[60, 100, 2] > 200  # the red box survived JPEG
    [event] = store.recent_passages()
    assert event["snapshot"] == rel
    outbox = store.pending_outbox()
    assert [m.topic for m in outbox] == ["gatecam/lot-a/entry-1/passage",
                                         "gatecam/lot-a/entry-1/passage/last"]
    assert json.loads(outbox[0].payload)["snapshot"] == rel
    assert len(store.reads_for("ev-0001")) == 1
    assert committed.n == 1
    assert rec.stop(5)


def test_snapshot_failure_still_records(
    tmp_path: Path, store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the snapshot folder should be")
    rec = Recorder(store, blocker, TOPICS, lambda _p: None)
    rec.start()
    with caplog.at_level(logging.ERROR, logger="daemon.store.snapshots"):
        rec.submit_passage(make_passage(2), [], still(np.zeros((10, 10, 3), np.uint8)))
        assert rec.flush(10)
    [event] = store.recent_passages()
    assert event["snapshot"] is None
    assert json.loads(store.pending_outbox()[0].payload)["snapshot"] is None
    assert "snapshot for ev-0002 not written" in caplog.text
    rec.stop(5)


def test_locked_database_is_retried_not_lost(
    tmp_path: Path, store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    committed = Counter()
    rec = Recorder(store, None, TOPICS, committed, retry_min_s=0.02, retry_max_s=0.2)
    rec.start()
    locker = sqlite3.connect(tmp_path / "g.db", isolation_level=None)
    locker.execute("BEGIN EXCLUSIVE")
    try:
        with caplog.at_level(logging.WARNING, logger="daemon.store.recorder"):
            rec.submit_passage(make_passage(3), [make_read(3)])
            assert not rec.flush(0.6)  # still blocked by the lock
            assert "database is locked" in caplog.text
            assert rec._thread.is_alive()
    finally:
        locker.execute("ROLLBACK")
        locker.close()
    assert rec.flush(10)
    assert store.passage_count() == 1
    assert committed.n == 1
    assert rec.items_dropped == 0
    rec.stop(5)


def test_permanent_error_dropped_thread_survives(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    committed = Counter()
    rec = Recorder(store, None, TOPICS, committed)
    rec.start()
    with caplog.at_level(logging.ERROR, logger="daemon.store.recorder"):
        rec.submit_passage(make_passage(4), [])
        rec.submit_passage(make_passage(4), [])  # same event_id: refused by the primary key
        rec.submit_passage(make_passage(5), [])
        assert rec.flush(10)
    assert store.passage_count() == 2
    assert committed.n == 2
    assert rec.items_dropped == 1
    assert "refused by the database" in caplog.text
    rec.stop(5)


def test_reads_marks_and_attempts_go_through_the_writer(store: Store) -> None:
    rec = Recorder(store, None, TOPICS, lambda _p: None)
    rec.start()
    rec.submit_passage(make_passage(6), [])
    rec.submit_read(make_read(9), "ev-0099")  # a read of a passage never confirmed
    assert rec.flush(10)
    first, second = store.pending_outbox()
    rec.bump_attempts([first.id, second.id])
    rec.mark_delivered(first.id)
    assert rec.flush(10)
    [left] = store.pending_outbox()
    assert left.id == second.id and left.attempts == 1
    assert [r.frame_seq for r in store.reads_for("ev-0099")] == [9]
    rec.stop(5)


def test_stop_drains_in_order(store: Store) -> None:
    rec = Recorder(store, None, TOPICS, lambda _p: None)
    rec.start()
    for n in range(30):
        assert rec.submit_passage(make_passage(n), [make_read(n)])
    t = time.monotonic()
    assert rec.stop(20)
    assert time.monotonic() - t < 20
    assert store.passage_count() == 30
    assert [m.event_id for m in store.pending_outbox(100)[::2]] == [
        f"ev-{n:04d}" for n in range(30)]
    assert not rec.submit_passage(make_passage(99), [])  # refused after stop
    # A late PUBACK after stop is still written, directly.
    rec.mark_delivered(store.pending_outbox(1)[0].id)
    assert len(store.pending_outbox(100)) == 59


# -- a full disk: retrying is alive, queued passages are kept, frames spill first (issue 12) --

def _full_disk_recorder(disk: Path, **kw: object) -> tuple[Store, Recorder, Counter]:
    store = Store(f"sqlite:///{disk}/g.db", busy_timeout_ms=50)
    committed = Counter()
    rec = Recorder(store, disk / "snaps", TOPICS, committed, retry_min_s=0.02,
                   retry_max_s=0.1, put_timeout_s=0.05, **kw)  # type: ignore[arg-type]
    rec.start()
    return store, rec, committed


def test_full_disk_retrying_recorder_beats(tmp_path: Path) -> None:
    """An outage longer than recorder_stale_s is not a stuck recorder: no watchdog kill."""
    from daemon.ops.health import HealthLimits, PipelineSnapshot, assess
    from tests.support.disk import fill, small_disk

    with small_disk(tmp_path / "disk") as disk:
        store, rec, committed = _full_disk_recorder(disk)
        filler = fill(disk)
        try:
            assert rec.submit_passage(make_passage(1), [make_read(1)])
            time.sleep(1.2)  # more than recorder_stale_s below, still failing
            assert not rec.status()["ok"]
            assert "full" in str(rec.status()["error"])
            limits = HealthLimits(recorder_stale_s=0.5)
            snap = PipelineSnapshot([], rec.alive, rec.last_beat)
            verdict = assess(snap, time.monotonic(), limits)
            assert verdict.alive, verdict.problems
        finally:
            filler.unlink()
        assert rec.flush(10)
        assert store.passage_count() == 1 and committed.n == 1
        rec.stop(5)
        store.close()


def test_full_disk_keeps_every_queued_passage_and_spills_frames(tmp_path: Path) -> None:
    """The queue is bounded in bytes: frames are dropped (counted) before any passage is."""
    from tests.support.disk import fill, small_disk

    with small_disk(tmp_path / "disk") as disk:
        frame_bytes = 480 * 640 * 3
        store, rec, committed = _full_disk_recorder(disk, max_bytes=5 * frame_bytes)
        filler = fill(disk)
        image = np.full((480, 640, 3), 128, np.uint8)
        try:
            accepted = [
                rec.submit_passage(make_passage(n), [make_read(n)],
                                   still(image) if n % 10 == 0 else None)
                for n in range(300)
            ]
            assert all(accepted)  # the old 256-item queue dropped 44 of them
            deadline = time.monotonic() + 5
            while rec.status()["ok"] and time.monotonic() < deadline:
                time.sleep(0.02)
            status = rec.status()
            assert not status["ok"]
            assert store.passage_count() == 0
            # frames take at most half of the bytes: 2 kept, 28 spilled, every passage kept
            assert rec.frames_spilled == 28
            assert status["frames_spilled"] == 28
            assert status["queue_bytes"] <= 5 * frame_bytes
        finally:
            filler.unlink()
        assert rec.flush(20)
        assert store.passage_count() == 300 and committed.n == 300
        assert rec.items_dropped == 0
        # the 2 frames kept were written, or failed on the full disk (counted, logged)
        with_snapshot = [p for p in committed.passages if p.snapshot is not None]
        assert len(with_snapshot) + rec.status()["snapshot_failures"] == 2
        assert rec.status()["queue_bytes"] == 0
        rec.stop(5)
        store.close()


# -- an unexpected error in one item must not kill the writer (issue 12) --

class _BrokenFrame(Frame):
    """A frame whose colour conversion fails (seen: a snapshot conversion error)."""

    def bgr(self) -> np.ndarray:
        raise RuntimeError("conversion failed: odd stride")


def test_snapshot_conversion_error_records_without_snapshot(
    tmp_path: Path, store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    rec = Recorder(store, tmp_path / "snaps", TOPICS, lambda _p: None)
    rec.start()
    broken = _BrokenFrame("entry-1", 1, 0.0, T0, np.zeros((8, 8, 3), np.uint8))
    with caplog.at_level(logging.ERROR):
        assert rec.submit_passage(make_passage(1), [], broken)
        assert rec.submit_passage(make_passage(2), [], still(np.zeros((8, 8, 3), np.uint8)))
        assert rec.flush(10)
    assert rec.alive
    assert store.passage_count() == 2
    assert rec.status()["snapshot_failures"] == 1
    assert "conversion failed" in caplog.text
    rec.stop(5)


def test_unexpected_error_in_one_item_is_counted_and_the_writer_goes_on(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    calls: list[str] = []

    def decide(p: Passage) -> Passage:
        calls.append(p.event_id)
        return p

    rec = Recorder(store, None, TOPICS, lambda _p: None, decide=decide)
    rec.start()

    def bad_job() -> None:
        raise KeyError("a bug in a maintenance job")

    with caplog.at_level(logging.ERROR):
        # outside the retry path: the messages of a passage cannot be built
        rec.health.messages = lambda p: 1 / 0  # type: ignore[assignment,method-assign,misc]
        assert rec.submit_passage(make_passage(1), [])
        assert rec.flush(10)
        assert rec.alive
        del rec.health.messages
        assert rec.submit_job("broken job", bad_job)
        assert rec.submit_passage(make_passage(2), [])
        assert rec.flush(10)
    assert rec.alive
    assert store.passage_count() == 1
    assert rec.items_failed == 1  # the passage; the job's error is dropped by the retry path
    assert rec.status()["items_failed"] == 1
    assert "ZeroDivisionError" in caplog.text
    rec.stop(5)


# the writer thread is killed on purpose
@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_dead_writer_refuses_passages_and_is_a_stall(store: Store) -> None:
    from daemon.ops.health import HealthLimits, PipelineSnapshot, assess

    rec = Recorder(store, None, TOPICS, lambda _p: None)
    rec.start()

    def die() -> None:
        raise SystemExit  # not an Exception: nothing in the writer may catch it

    rec.submit_job("die", die)
    rec._thread.join(5)
    assert not rec.alive
    assert not rec.submit_passage(make_passage(1), [])  # nobody would write it
    assert rec.items_dropped == 1
    verdict = assess(PipelineSnapshot([], rec.alive, rec.last_beat), time.monotonic(),
                     HealthLimits())
    assert verdict.problems == ("recorder thread died",)
    assert rec.stop(1)


def test_storage_status_says_the_database_was_recovered(tmp_path: Path) -> None:
    (tmp_path / "g.db").write_bytes(b"garbage, not a database " * 200)
    store = Store(f"sqlite:///{tmp_path}/g.db")
    rec = Recorder(store, None, TOPICS, lambda _p: None)
    status = rec.status()
    assert status["ok"] is True  # writes succeed: degraded, not failing
    recovered = status["recovered"]
    assert isinstance(recovered, dict)
    assert recovered["moved_to"].startswith(f"{tmp_path}/g.db.corrupt-")
    assert json.loads(json.dumps(status))["recovered"] == recovered  # the retained JSON
    store.close()
