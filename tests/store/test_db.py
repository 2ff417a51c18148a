"""Store on a real SQLite file and on the local PostgreSQL: one-transaction writes, UTC round
trips, outbox order, retention, access lists; SQLite pragmas (schema versions: test_migrate.py)."""

from __future__ import annotations

import logging
import subprocess
import sys
import threading
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError, StatementError

from daemon import contract
from daemon.domain import Passage, PlateRead, Rect
from daemon.store.db import Store
from daemon.store.records import AccessEntry
from tests.support.services import postgres_url  # noqa: F401  (fixture)

T0 = datetime(2026, 11, 25, 8, 0, 0, 123000, tzinfo=UTC)


def make_passage(n: int = 0, **changes: Any) -> Passage:
    p = Passage(
        event_id=f"ev-{n:04d}", site="lot-a", camera="entry-1", direction="entry",
        captured_at=T0 + timedelta(seconds=n),
        decided_at=T0 + timedelta(seconds=n, milliseconds=700),
        plate="京AF0236", color="蓝", confidence=99, category="实体车牌",
        rect=Rect(426, 423, 135, 66), access="allow", ocr_calls=1, request_ids=(f"req-{n}",),
        latency_ms=180.0,
    )
    return p.replace(**changes)


def make_read(n: int = 0, ok: bool = True) -> PlateRead:
    return PlateRead(
        camera_id="entry-1", passage_id=f"ev-{n:04d}", frame_seq=10 + n, ok=ok,
        plate="京AF0236" if ok else None, color="蓝" if ok else None, confidence=99 if ok else 0,
        error_code=None if ok else "FailedOperation.OcrFailed", request_id=f"req-{n}",
        latency_ms=180.0,
    )


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    """The same suite on both back ends (PostgreSQL: a fresh schema per test)."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path}/nested/dir/gatecam.db"
    else:
        url = request.getfixturevalue("postgres_url")
    s = Store(url)
    yield s
    s.close()


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Any:
    s = Store(f"sqlite:///{tmp_path}/nested/dir/gatecam.db")
    yield s
    s.close()


def test_creates_folder_and_sets_pragmas(tmp_path: Path, sqlite_store: Store) -> None:
    store = sqlite_store
    assert (tmp_path / "nested/dir/gatecam.db").is_file()
    with store.engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        # FULL: a commit (passage + outbox) survives a power cut; NORMAL in WAL mode may
        # roll the last ones back (issue 12 item 10; cost in scripts/bench_delivery.py)
        assert conn.execute(text("PRAGMA synchronous")).scalar() == 2
        assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
        assert conn.execute(text("PRAGMA busy_timeout")).scalar() == 5000


def test_passage_round_trip_is_utc_aware(store: Store) -> None:
    beijing = timezone(timedelta(hours=8))
    local = datetime(2026, 11, 25, 16, 0, 1, tzinfo=beijing)
    p = make_passage(captured_at=local)
    store.record_passage(p, [make_read(0), make_read(0, ok=False)],
                         contract.passage_messages("gatecam", p))
    [back] = store.recent_passage_objects()
    assert back.captured_at == local
    assert back.captured_at.tzinfo is UTC
    assert back.captured_at.hour == 8
    assert back == p.replace(captured_at=local.astimezone(UTC))
    assert store.recent_passages()[0] == p.as_event()
    reads = store.reads_for(p.event_id)
    assert [r.ok for r in reads] == [True, False]
    assert reads[1].error_code == "FailedOperation.OcrFailed"
    assert reads[0].created_at.tzinfo is UTC
    [row, _] = store.pending_outbox()
    assert row.created_at.tzinfo is UTC


def test_naive_datetime_is_refused_and_nothing_written(store: Store) -> None:
    p = make_passage(captured_at=datetime(2026, 11, 25, 8, 0))  # naive
    messages = contract.passage_messages("gatecam", make_passage())
    with pytest.raises(StatementError, match="naive"):
        store.record_passage(p, [], messages)
    assert store.passage_count() == 0
    assert store.pending_outbox() == []


def test_failure_midway_leaves_nothing(store: Store) -> None:
    p = make_passage(1)
    good = contract.passage_messages("gatecam", p)[0]
    bad = ("gatecam/lot-a/entry-1/passage/last", None, True)  # payload NOT NULL
    with pytest.raises(IntegrityError):
        store.record_passage(p, [make_read(1)], [good, bad])  # type: ignore[list-item]
    assert store.passage_count() == 0
    assert store.pending_outbox() == []
    assert store.reads_for(p.event_id) == []


def test_duplicate_event_rolls_back_whole_second_write(store: Store) -> None:
    p = make_passage(2)
    store.record_passage(p, [make_read(2)], contract.passage_messages("gatecam", p))
    with pytest.raises(IntegrityError):
        store.record_passage(p, [make_read(2)], contract.passage_messages("gatecam", p))
    assert store.passage_count() == 1
    assert len(store.pending_outbox()) == 2
    assert len(store.reads_for(p.event_id)) == 1


def test_outbox_order_delivery_and_attempts(store: Store) -> None:
    for n in range(5):
        p = make_passage(n)
        store.record_passage(p, [], contract.passage_messages("gatecam", p))
    pending = store.pending_outbox(100)
    assert len(pending) == 10
    assert [m.id for m in pending] == sorted(m.id for m in pending)
    assert [m.event_id for m in pending[::2]] == [f"ev-{n:04d}" for n in range(5)]
    assert [m.retain for m in pending[:2]] == [False, True]
    assert [m.id for m in store.pending_outbox(3)] == [m.id for m in pending[:3]]

    store.bump_attempts([pending[0].id, pending[0].id, pending[1].id])
    store.bump_attempts([pending[0].id])
    after = {m.id: m.attempts for m in store.pending_outbox()}
    assert after[pending[0].id] == 2 and after[pending[1].id] == 1

    assert store.mark_delivered([pending[0].id, pending[2].id], T0) == 2
    assert store.mark_delivered([pending[0].id], T0) == 0  # already delivered
    left = store.pending_outbox()
    assert [m.id for m in left] == [m.id for m in pending if m.id not in
                                    (pending[0].id, pending[2].id)]
    assert store.outbox_delivered_count() == 2


def test_recent_passages_filters_and_order(store: Store) -> None:
    for n, (cam, plate) in enumerate(
        [("entry-1", "京AF0236"), ("exit-1", "沪B12345"), ("entry-1", "沪B12345")]
    ):
        p = make_passage(n, camera=cam, plate=plate)
        store.record_passage(p, [], [])
    assert [e["event_id"] for e in store.recent_passages()] == ["ev-0002", "ev-0001", "ev-0000"]
    assert [e["event_id"] for e in store.recent_passages(camera="entry-1")] == [
        "ev-0002", "ev-0000"]
    assert [e["event_id"] for e in store.recent_passages(plate="沪B12345")] == [
        "ev-0002", "ev-0001"]
    assert len(store.recent_passages(limit=1)) == 1
    assert store.passage_count() == 3


def test_data_survives_reopen(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/g.db"
    s1 = Store(url)
    p = make_passage(7)
    s1.record_passage(p, [], contract.passage_messages("gatecam", p))
    s1.close()
    s2 = Store(url)
    assert s2.passage_count() == 1
    assert len(s2.pending_outbox()) == 2
    s2.close()


def test_purge_keeps_undelivered(store: Store) -> None:
    for n in range(3):
        p = make_passage(n)
        store.record_passage(p, [make_read(n)], contract.passage_messages("gatecam", p))
    ids = [m.id for m in store.pending_outbox() if m.event_id == "ev-0000"]
    store.mark_delivered(ids, T0)
    assert store.purge_before(T0 + timedelta(days=1)) == 1  # only the delivered one
    assert store.passage_count() == 2
    assert store.reads_for("ev-0000") == []


def test_in_memory_store_is_shared_between_threads() -> None:
    s = Store("sqlite://")
    p = make_passage(3)
    t = threading.Thread(target=s.record_passage, args=(p, [], []))
    t.start()
    t.join(5)
    assert s.passage_count() == 1
    s.close()


def test_pending_outbox_carries_captured_at(store: Store) -> None:
    p = make_passage(4)
    store.record_passage(p, [], contract.passage_messages("gatecam", p))
    assert {m.captured_at for m in store.pending_outbox()} == {p.captured_at}


def test_purge_oldest_keeps_undelivered_and_goes_oldest_first(store: Store) -> None:
    for n in range(4):
        p = make_passage(n)
        store.record_passage(p, [make_read(n)], contract.passage_messages("gatecam", p))
    pending = store.pending_outbox()
    store.mark_delivered([m.id for m in pending if m.event_id != "ev-0000"], T0)
    assert store.purge_oldest(2) == 2  # ev-0000 is undelivered: ev-0001 and ev-0002 go
    assert [e["event_id"] for e in store.recent_passages()] == ["ev-0003", "ev-0000"]
    assert store.reads_for("ev-0001") == []


def test_access_lists(store: Store) -> None:
    assert store.access_add("京A12345", "allow", "staff")
    assert not store.access_add("京A12345", "allow", None)  # already there, note kept
    assert store.access_add("京A12345", "deny")
    assert store.access_add("沪B88888", "deny", "old note")
    assert not store.access_add("沪B88888", "deny", "stolen")  # a new note replaces the old
    with pytest.raises(ValueError):
        store.access_add("京A12345", "maybe")
    got = [(e.plate, e.kind, e.note) for e in store.access_entries()]
    assert got == [("京A12345", "deny", None), ("沪B88888", "deny", "stolen"),
                   ("京A12345", "allow", "staff")]
    assert store.access_remove("京A12345", "allow") == 1
    assert store.access_remove("京A12345") == 1
    assert store.access_remove("京A12345") == 0
    assert store.access_replace([AccessEntry("粤B12345", "allow", None),
                                 AccessEntry("粤B12345", "allow", "x")]) == 1
    assert [(e.plate, e.note) for e in store.access_entries()] == [("粤B12345", "x")]


def test_access_entry_fields_put_edit_and_refusals(store: Store) -> None:
    """Owner, window (aware UTC back) and scope round-trip; a bad entry writes nothing."""
    start = datetime(2026, 12, 1, tzinfo=UTC)
    end = datetime(2026, 12, 31, 15, 59, 59, tzinfo=UTC)
    permit = AccessEntry("京A12345", "allow", "permit", None, "Flat 12", start, end,
                         ("entry-1", "exit-1"), "entry")
    assert store.access_put(permit)
    [got] = store.access_entries()
    assert got.created_at is not None and got == replace(permit, created_at=got.created_at)
    assert got.valid_until is not None and got.valid_until.tzinfo is not None
    assert store.access_edit("京A12345", "allow", {"cameras": (), "valid_until": None,
                                                   "owner": "visitors"})
    [edited] = store.access_entries()
    assert (edited.owner, edited.valid_from, edited.valid_until, edited.cameras,
            edited.direction, edited.note) == ("visitors", start, None, (), "entry", "permit")
    assert not store.access_edit("京A99999", "allow", {"note": "x"})  # no such entry
    for bad in ({"direction": "sideways"}, {"valid_until": start - timedelta(days=1)},
                {"plate": "京A00000"}):
        with pytest.raises(ValueError):
            store.access_edit("京A12345", "allow", bad)
    with pytest.raises(ValueError):
        store.access_put(AccessEntry("京A00000", "allow", direction="up"))
    with pytest.raises(ValueError):
        store.access_replace([AccessEntry("京A00000", "allow"),
                              AccessEntry("京A00001", "allow", valid_from=end, valid_until=start)])
    assert store.access_entries() == [edited]  # nothing half-written
    assert not store.access_put(replace(permit, note=None, cameras=()))  # replaced whole
    [again] = store.access_entries()
    assert (again.note, again.cameras, again.owner) == (None, (), "Flat 12")


def test_access_reason_round_trips(store: Store) -> None:
    p = make_passage(5, access="deny", access_reason="not_physical")
    store.record_passage(p, [], [])
    [back] = store.recent_passage_objects()
    assert (back.access, back.access_reason) == ("deny", "not_physical")


def test_used_bytes_shrinks_after_purge(sqlite_store: Store) -> None:
    store = sqlite_store
    for n in range(300):
        p = make_passage(n, request_ids=tuple(f"r{n}-{i}" * 20 for i in range(20)))
        store.record_passage(p, [], contract.passage_messages("gatecam", p))
    store.mark_delivered([m.id for m in store.pending_outbox(1000)], T0)
    before = store.used_bytes()
    assert before is not None and before > 1_000_000
    assert store.purge_oldest(250) == 250
    after = store.used_bytes()
    assert after is not None and after < before / 2


def test_outbox_rows_per_target_and_an_old_database_gets_the_column(tmp_path: Path) -> None:
    """Webhook rows (target webhook:<name>) sit beside MQTT's; each target's pending list
    holds only its own; a database made before the column (schema 0002) keeps its rows as
    MQTT's once migration 0003 adds it."""
    import sqlite3

    url = f"sqlite:///{tmp_path}/old.db"
    s = Store(url)
    old = make_passage(6)
    s.record_passage(old, [], contract.passage_messages("gatecam", old)[:1])
    s.close()
    conn = sqlite3.connect(tmp_path / "old.db")
    conn.execute("DROP INDEX ix_outbox_target_pending")
    conn.execute("ALTER TABLE outbox DROP COLUMN target")
    conn.execute("UPDATE alembic_version SET version_num = '0002'")
    conn.commit()
    conn.close()
    s = Store(url)
    try:
        assert [m.event_id for m in s.pending_outbox(10)] == [old.event_id]
        p = make_passage(7)
        event = contract.passage_messages("gatecam", p)[0]
        s.record_passage(p, [], [event, (event[0], event[1], False, "webhook:erp"),
                                 (event[0], event[1], False, "webhook:crm")])
        assert [m.event_id for m in s.pending_outbox(10)] == [old.event_id, p.event_id]
        erp = s.pending_outbox(10, "webhook:erp")
        assert [(m.event_id, m.payload) for m in erp] == [(p.event_id, event[1])]
        s.mark_delivered([erp[0].id], T0)
        assert s.pending_outbox(10, "webhook:erp") == []
        assert len(s.pending_outbox(10, "webhook:crm")) == 1
        index = sqlite3.connect(tmp_path / "old.db").execute(
            "SELECT name FROM sqlite_master WHERE name = 'ix_outbox_target_pending'").fetchone()
        assert index is not None
    finally:
        s.close()


def test_daemon_does_not_import_the_orm() -> None:
    """Core only: ``sqlalchemy.orm`` costs the daemon about 5.6 MB of RSS for nothing."""
    code = ("import sys, daemon.app, daemon.cli.main, daemon.store.db; "
            "print(sorted(m for m in sys.modules if m.startswith('sqlalchemy.orm')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=Path(__file__).resolve().parents[2])
    assert out.stdout.strip() == "[]"


# -- a corrupt SQLite file at start: moved aside, a new one started (issue 12, item 7) --

CORRUPT_AT = datetime(2026, 11, 25, 8, 0, 5, tzinfo=UTC)


def _corrupt_store(tmp_path: Path) -> Store:
    return Store(f"sqlite:///{tmp_path}/g.db", clock=lambda: CORRUPT_AT)


def test_not_a_database_is_moved_aside_with_its_wal_and_shm(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "g.db").write_bytes(b"this is not a database, it is a text file " * 100)
    (tmp_path / "g.db-wal").write_bytes(b"wal bytes")
    (tmp_path / "g.db-shm").write_bytes(b"shm bytes")
    with caplog.at_level(logging.ERROR, logger="daemon.store.recovery"):
        store = _corrupt_store(tmp_path)
    aside = tmp_path / "g.db.corrupt-20261125T080005Z"
    assert aside.read_bytes().startswith(b"this is not a database")
    assert (tmp_path / "g.db.corrupt-20261125T080005Z-wal").read_bytes() == b"wal bytes"
    assert (tmp_path / "g.db.corrupt-20261125T080005Z-shm").read_bytes() == b"shm bytes"
    assert store.recovery is not None
    assert store.recovery["moved_to"] == str(aside)
    assert "not a database" in str(store.recovery["error"])
    assert "ALERT" in caplog.text and str(aside) in caplog.text
    p = make_passage(1)
    store.record_passage(p, [make_read(1)], contract.passage_messages("gatecam", p))
    assert store.passage_count() == 1  # the new database works
    store.close()


def test_malformed_database_is_moved_aside(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path}/g.db")
    for n in range(50):
        p = make_passage(n)
        store.record_passage(p, [], contract.passage_messages("gatecam", p))
    with store.engine.connect() as conn:
        conn.execute(text("PRAGMA wal_checkpoint(TRUNCATE)"))
    store.close()
    raw = bytearray((tmp_path / "g.db").read_bytes())
    raw[100:4096] = b"\xa5" * (4096 - 100)  # the schema page, past the header: garbage
    (tmp_path / "g.db").write_bytes(bytes(raw))
    store = _corrupt_store(tmp_path)
    assert store.recovery is not None and "malformed" in str(store.recovery["error"])
    assert (tmp_path / "g.db.corrupt-20261125T080005Z").exists()
    assert store.passage_count() == 0
    store.close()


def test_a_healthy_database_is_not_moved(tmp_path: Path) -> None:
    Store(f"sqlite:///{tmp_path}/g.db").close()
    store = _corrupt_store(tmp_path)
    assert store.recovery is None
    assert sorted(p.name for p in tmp_path.iterdir() if "corrupt" in p.name) == []
    store.close()


def test_an_unopenable_path_is_an_error_not_a_corruption(tmp_path: Path) -> None:
    """Not a corrupt file (here a folder where the file should be, as a permission
    error would be): nothing is moved, the start fails with a StorageError."""
    from daemon.errors import StorageError

    (tmp_path / "g.db").mkdir()
    (tmp_path / "g.db" / "keep").write_text("precious")
    with pytest.raises(StorageError):
        _corrupt_store(tmp_path)
    assert (tmp_path / "g.db" / "keep").read_text() == "precious"
    assert [p.name for p in tmp_path.iterdir()] == ["g.db"]


def test_a_postgres_error_is_never_a_corruption(tmp_path: Path) -> None:
    from daemon.errors import StorageError

    with pytest.raises(StorageError):  # nothing listens on port 9: connection refused
        Store("postgresql+psycopg://u:p@127.0.0.1:9/gatecam?connect_timeout=2")
