"""Retention: snapshot files by age and bytes, database rows by age and bytes, undelivered kept."""

from __future__ import annotations

import logging
import os
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from daemon import contract
from daemon.config.models import RetentionConfig
from daemon.domain import Passage, PlateRead
from daemon.store.db import Store
from daemon.store.recorder import Recorder
from daemon.store.retention import (
    Retention,
    RowStats,
    SnapshotFile,
    plan_snapshot_deletions,
    prune_rows,
    prune_snapshots,
)
from tests.support.daemon import TOPICS

NOW = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)
DAY = 86400.0


def test_plan_by_age_then_oldest_until_bytes_fit() -> None:
    t = NOW.timestamp()
    files = [SnapshotFile(Path(f"f{i}"), 100, t - age) for i, age in
             enumerate([40 * DAY, 3 * DAY, 2 * DAY, 1 * DAY, 10.0])]
    assert plan_snapshot_deletions(files, t, 30 * DAY, None) == [Path("f0")]
    assert plan_snapshot_deletions(files, t, 30 * DAY, 250) == [Path("f0"), Path("f1"), Path("f2")]
    assert plan_snapshot_deletions(files, t, 30 * DAY, 10_000) == [Path("f0")]
    assert plan_snapshot_deletions([], t, DAY, 0) == []


def test_prune_snapshot_files(tmp_path: Path) -> None:
    root = tmp_path / "snap"
    t = time.time()
    made = []
    for i, age in enumerate([40 * DAY, 2 * DAY, 1 * DAY, 60.0]):
        day = root / "entry-1" / f"d{i}"
        day.mkdir(parents=True)
        f = day / f"e{i}.jpg"
        f.write_bytes(b"x" * 400_000)
        os.utime(f, (t - age, t - age))
        os.utime(day, (t - age, t - age))
        made.append(f)
    (root / "entry-1" / "d3" / "e9.jpg.tmp").write_bytes(b"in progress")
    cfg = RetentionConfig(snapshots_max_age_days=30, snapshots_max_bytes=1 << 20)
    deleted, freed = prune_snapshots(root, cfg, t)
    assert (deleted, freed) == (2, 800_000)  # 40 days old, then the oldest until <= 1 MiB
    assert [f.exists() for f in made] == [False, False, True, True]
    assert not (root / "entry-1" / "d0").exists()  # empty old day folder removed
    assert (root / "entry-1" / "d3" / "e9.jpg.tmp").exists()


def _passage(n: int, at: datetime) -> Passage:
    return Passage(event_id=f"ev-{n:05d}", site="lot-a", camera="entry-1", direction="entry",
                   captured_at=at, decided_at=at, plate="京A12345",
                   request_ids=tuple(f"request-{n}-{i}" * 8 for i in range(30)))


def test_prune_rows_by_age_and_bytes(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path}/g.db")
    for n in range(600):
        p = _passage(n, NOW - timedelta(days=100) + timedelta(minutes=n))
        store.record_passage(p, [], contract.passage_messages("gatecam", p))
    pending = store.pending_outbox(10_000)
    keep = {m.id for m in pending if m.event_id == "ev-00000"}  # one never delivered
    store.mark_delivered([m.id for m in pending if m.id not in keep], NOW)
    # by age: everything older than 99 days and delivered goes
    # the first 300 minutes are older; the undelivered one is kept (no bound on undelivered)
    cut = RetentionConfig(max_age_days=100 - 300 / 1440, undelivered_max_age_days=None)
    assert prune_rows(store, cut, NOW) == 299
    assert store.passage_count() == 301
    used = store.used_bytes()
    assert used is not None
    limit = used // 3
    cfg = RetentionConfig(max_age_days=3650, db_max_bytes=max(limit, 1 << 20),
                          undelivered_max_age_days=None)
    deleted = prune_rows(store, cfg, NOW)
    assert deleted > 0
    used_after = store.used_bytes()
    assert used_after is not None and used_after <= max(limit, 1 << 20)
    assert any(e["event_id"] == "ev-00000" for e in store.recent_passages(1000))
    store.close()


def test_retention_pass_runs_rows_in_the_writer(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path}/g.db")
    old = _passage(1, datetime.now(UTC) - timedelta(days=400))
    store.record_passage(old, [], [])
    rec = Recorder(store, None, TOPICS, lambda _p: None)
    rec.start()
    stop = threading.Event()
    r = Retention(RetentionConfig(), store, rec, tmp_path / "none", stop)
    r.start()
    try:
        deadline = time.monotonic() + 5
        while store.passage_count() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert store.passage_count() == 0
        assert r.rows_deleted == 1
    finally:
        stop.set()
        r.join(5)
        rec.stop(5)
        store.close()


# -- reads of kept passages stay; undelivered passages are bounded, loudly (issue 12 item 11) --

def _read(event_id: str, n: int) -> PlateRead:
    return PlateRead(camera_id="entry-1", passage_id=event_id, frame_seq=n, ok=True,
                     plate="京A12345", confidence=99, request_id=f"r{n}")


def _record_at(store: Store, p: Passage, at: datetime, reads: int = 2) -> None:
    """Record ``p`` as if at ``at`` (reads and outbox rows get that created_at)."""
    clocked = Store.__new__(Store)
    clocked.__dict__.update(store.__dict__)
    clocked._clock = lambda: at
    clocked.record_passage(p, [_read(p.event_id, i) for i in range(reads)],
                           contract.passage_messages("gatecam", p))


def test_retention_keeps_the_reads_of_passages_it_keeps(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path}/g.db")
    old = NOW - timedelta(days=200)
    kept = _passage(1, old)  # undelivered: kept, so are its reads
    _record_at(store, kept, old)
    gone = _passage(2, old)
    _record_at(store, gone, old)
    store.mark_delivered([m.id for m in store.pending_outbox(100) if m.event_id == gone.event_id],
                         NOW)
    clocked = Store.__new__(Store)
    clocked.__dict__.update(store.__dict__)
    clocked._clock = lambda: old
    clocked.record_read(_read("never-confirmed", 9), "never-confirmed")  # an orphan read
    prune_rows(store, RetentionConfig(max_age_days=90, undelivered_max_age_days=None), NOW)
    assert [e["event_id"] for e in store.recent_passages()] == [kept.event_id]
    assert len(store.reads_for(kept.event_id)) == 2  # were deleted with the old reads
    assert store.reads_for(gone.event_id) == []
    assert store.reads_for("never-confirmed") == []
    store.close()


def test_undelivered_passages_are_bounded_by_age_with_an_alert(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store = Store(f"sqlite:///{tmp_path}/g.db")
    for n, days in enumerate([40, 20, 1]):  # a broker away for 40 days
        at = NOW - timedelta(days=days)
        _record_at(store, _passage(n, at), at)
    cfg = RetentionConfig(max_age_days=90, undelivered_max_age_days=30)
    with caplog.at_level(logging.ERROR, logger="daemon.store.retention"):
        stats = RowStats()
        prune_rows(store, cfg, NOW, stats)
    assert stats.undelivered_dropped == 1
    assert {m.event_id for m in store.pending_outbox(100)} == {"ev-00001", "ev-00002"}
    assert store.passage_count() == 3  # the passage itself stays (until max_age_days)
    assert len(store.reads_for("ev-00000")) == 2
    assert "ALERT" in caplog.text and "ev-00000" in caplog.text
    store.close()


def test_undelivered_passages_are_bounded_by_count(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store = Store(f"sqlite:///{tmp_path}/g.db")
    for n in range(12):
        at = NOW - timedelta(hours=12 - n)
        _record_at(store, _passage(n, at), at, reads=0)
    cfg = RetentionConfig(undelivered_max_count=5)
    stats = RowStats()
    with caplog.at_level(logging.ERROR, logger="daemon.store.retention"):
        prune_rows(store, cfg, NOW, stats)
    assert stats.undelivered_dropped == 7
    assert sorted({m.event_id for m in store.pending_outbox(100)}) == [
        f"ev-{n:05d}" for n in range(7, 12)]  # the newest five
    assert "ALERT" in caplog.text and "7 undelivered" in caplog.text
    prune_rows(store, cfg, NOW, stats)  # nothing more: never dropped twice
    assert stats.undelivered_dropped == 7
    store.close()
