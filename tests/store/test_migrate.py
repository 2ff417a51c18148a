"""Schema versions (daemon.store.migrate): a database of the previous release, with rows, is
upgraded without losing one; today's unversioned databases are adopted; the migrated schema
equals daemon/store/tables.py; a newer database is refused; at HEAD Alembic stays unloaded.
SQLite files and the local PostgreSQL."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, insert, select, text

from daemon import contract
from daemon.cli.main import main
from daemon.domain import Passage, Rect
from daemon.errors import StorageError
from daemon.store.db import Store
from daemon.store.migrate import HEAD, MIGRATIONS, current_revision
from daemon.store.tables import metadata, passage_values
from tests.support.legacy_schema import PREVIOUS, fill
from tests.support.services import postgres_url  # noqa: F401  (fixture)

ROOT = Path(__file__).resolve().parents[2]


def make_passage(n: int, **changes: Any) -> Passage:
    at = datetime(2026, 12, 1, 9, 0, n, tzinfo=UTC)
    return Passage(
        event_id=f"new-{n:04d}", site="lot-a", camera="entry-1", direction="entry",
        captured_at=at, decided_at=at, plate="京AF0236", color="蓝", confidence=99,
        category="实体车牌", rect=Rect(1, 2, 130, 40), access="allow", ocr_calls=1,
        request_ids=(f"req-{n}",), latency_ms=180.0,
    ).replace(**changes)


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database on each back end (PostgreSQL: a fresh schema per test)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/gatecam.db"
    return str(request.getfixturevalue("postgres_url"))


def _revision(url: str) -> str | None:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return current_revision(conn)
    finally:
        engine.dispose()


def _schema_diff(engine: Engine) -> list[Any]:
    with engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True})
        return list(compare_metadata(ctx, metadata))


def _table_rows(engine: Engine, name: str) -> list[dict[str, Any]]:
    t = PREVIOUS.tables[name]
    key = t.c.id if "id" in t.c else t.c.event_id
    with engine.connect() as conn:
        return [{k: v for k, v in r._mapping.items() if k != "id"}
                for r in conn.execute(select(t).order_by(key))]


def test_head_is_the_scripts_head() -> None:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    assert ScriptDirectory.from_config(cfg).get_heads() == [HEAD]


def test_new_database_gets_the_tables_schema_and_a_version(db_url: str) -> None:
    store = Store(db_url)
    try:
        assert (store.schema.before, store.schema.after) == (None, HEAD)
        assert _schema_diff(store.engine) == []  # migrations == daemon/store/tables.py
    finally:
        store.close()
    assert _revision(db_url) == HEAD
    again = Store(db_url)
    assert not again.schema.changed
    again.close()


def test_previous_release_database_is_upgraded_without_loss(db_url: str) -> None:
    engine = create_engine(db_url)
    before = fill(engine, 40)
    store = Store(db_url)
    try:
        assert (store.schema.before, store.schema.after) == (None, HEAD)
        for name in ("passages", "reads", "outbox"):
            assert _table_rows(store.engine, name) == before[name], name
        with store.engine.connect() as conn:
            ids = list(conn.scalars(text("SELECT id FROM outbox ORDER BY id")))
        assert ids == list(range(1, 41))  # publication order kept
        old = store.recent_passage_objects(limit=100)
        assert len(old) == 40 and {p.access_reason for p in old} == {"not_evaluated"}
        assert [m.event_id for m in store.pending_outbox(100)] == \
            [f"old-{i:04d}" for i in range(1, 40, 2)]  # the undelivered half, in order
        # ...and the upgraded database takes today's writes
        p = make_passage(1, access="deny", access_reason="deny_list")
        store.record_passage(p, [], contract.passage_messages("gatecam", p))
        assert store.access_add("京A00001", "deny", "stolen")
        assert store.recent_passage_objects(limit=1)[0].access_reason == "deny_list"
        assert store.passage_count() == 41
    finally:
        store.close()
        engine.dispose()
    assert _revision(db_url) == HEAD


def test_unversioned_database_of_today_is_adopted_as_is(db_url: str) -> None:
    engine = create_engine(db_url)
    metadata.create_all(engine)  # how databases were made before versions
    p = make_passage(3, access="allow", access_reason="allow_list")
    with engine.begin() as conn:
        conn.execute(insert(metadata.tables["passages"]), passage_values(p))
    store = Store(db_url)
    try:
        assert store.schema.before is None and store.schema.after == HEAD
        assert store.recent_passage_objects() == [p]
        assert _schema_diff(store.engine) == []  # adopted, nothing to add or change
    finally:
        store.close()
        engine.dispose()


def test_database_newer_than_the_code_is_refused(tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sqlite:///{tmp_path}/gatecam.db"
    Store(url).close()
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '0099'"))
    engine.dispose()
    with pytest.raises(StorageError) as err:
        Store(url)
    [line] = err.value.lines
    assert "0099" in line and "newer" in line and HEAD in line
    assert _revision(url) == "0099"  # left as it was
    cfg = tmp_path / "gatecam.yaml"
    cfg.write_text(yaml.safe_dump({"site": "lot-a", "store": {"url": url}, "cameras": [
        {"id": "entry-1", "url": "rtsp://127.0.0.1/x", "direction": "entry"}]}))
    assert main(["migrate", "-c", str(cfg)]) == 1
    err_lines = capsys.readouterr().err.strip().splitlines()
    assert len(err_lines) == 1 and "newer" in err_lines[0], err_lines


def test_gatecam_migrate_upgrades_then_reports_nothing_to_do(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path}/gatecam.db"
    engine = create_engine(url)
    fill(engine, 3)
    engine.dispose()
    cfg = tmp_path / "gatecam.yaml"
    cfg.write_text(yaml.safe_dump({"site": "lot-a", "store": {"url": url}, "cameras": [
        {"id": "entry-1", "url": "rtsp://127.0.0.1/x", "direction": "entry"}]}))
    assert main(["migrate", "-c", str(cfg)]) == 0
    assert f"upgraded from no version (adopted) to {HEAD}" in capsys.readouterr().out
    assert main(["migrate", "-c", str(cfg)]) == 0
    assert f"already at {HEAD}" in capsys.readouterr().out
    assert _revision(url) == HEAD


def test_opening_a_database_at_head_does_not_load_alembic(tmp_path: Path) -> None:
    """Alembic costs ~11 MB RSS: only a start that really migrates may import it."""
    url = f"sqlite:///{tmp_path}/gatecam.db"
    Store(url).close()
    code = ("import sys; from daemon.store.db import Store; s = Store(sys.argv[1]); "
            "print(s.schema.changed, sorted(m for m in sys.modules if m.startswith('alembic')))")
    out = subprocess.run([sys.executable, "-c", code, url], capture_output=True, text=True,
                         check=True, cwd=ROOT)
    assert out.stdout.strip() == "False []"


def _migrate_to(url: str, revision: str) -> None:
    """Bring an empty database to an older ``revision`` (what that release left)."""
    from alembic import command

    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            cfg = Config()
            cfg.set_main_option("script_location", str(MIGRATIONS))
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, revision)
            conn.commit()
    finally:
        engine.dispose()


def test_0005_gives_existing_list_entries_always_and_every_lane(db_url: str) -> None:
    """Entries of a 0004 database keep plate, list, note and age, and hold always and
    everywhere: the decision on them is what it was; new entries take windows and scopes."""
    from daemon.access import AccessControl
    from daemon.config.models import AccessConfig
    from daemon.store.records import AccessEntry

    _migrate_to(db_url, "0004")
    assert _revision(db_url) == "0004"
    made = datetime(2026, 1, 2, 3, 4, 5)  # naive UTC, as stored
    engine = create_engine(db_url)
    with engine.begin() as conn:
        conn.execute(text(
            "INSERT INTO access_list (plate, kind, note, created_at) VALUES "
            "('京A12345', 'allow', 'staff', :t), ('沪B88888', 'deny', NULL, :t), "
            "('粤B12345', 'allow', NULL, :t)"), {"t": made})
    engine.dispose()
    store = Store(db_url)
    try:
        assert (store.schema.before, store.schema.after) == ("0004", HEAD)
        assert _schema_diff(store.engine) == []
        at = made.replace(tzinfo=UTC)
        assert store.access_entries() == [
            AccessEntry("沪B88888", "deny", None, at),
            AccessEntry("京A12345", "allow", "staff", at),
            AccessEntry("粤B12345", "allow", None, at)]
        ac = AccessControl(store, AccessConfig())
        for camera, direction in (("entry-1", "entry"), ("exit-9", "exit")):
            for plate, expected in (("京A12345", "allow"), ("沪B88888", "deny")):
                p = make_passage(1, plate=plate, camera=camera, direction=direction,
                                 captured_at=datetime(2031, 1, 1, tzinfo=UTC))
                assert ac.apply(p).access == expected, (plate, camera)
        # the upgraded table takes the new fields, and the old unique rule still holds
        assert not store.access_put(AccessEntry(
            "粤B12345", "allow", "visitor", owner="Flat 12",
            valid_until=datetime(2026, 11, 30, 15, 59, 59, tzinfo=UTC),
            cameras=("entry-1",), direction="entry"))
        [e] = [e for e in store.access_entries() if e.plate == "粤B12345"]
        assert (e.owner, e.cameras, e.direction, e.created_at) == (
            "Flat 12", ("entry-1",), "entry", at)
    finally:
        store.close()
    assert _revision(db_url) == HEAD


def test_0005_downgrade_keeps_the_entries_and_drops_only_the_new_columns(db_url: str) -> None:
    from alembic import command
    from sqlalchemy import inspect

    from daemon.store.records import AccessEntry

    store = Store(db_url)
    store.access_put(AccessEntry("京A12345", "allow", "staff", owner="Flat 12",
                                 cameras=("entry-1",), direction="entry"))
    store.access_add("沪B88888", "deny")
    store.close()
    engine = create_engine(db_url)
    try:
        with engine.connect() as conn:
            cfg = Config()
            cfg.set_main_option("script_location", str(MIGRATIONS))
            cfg.attributes["connection"] = conn
            command.downgrade(cfg, "0004")
            conn.commit()
            assert {c["name"] for c in inspect(conn).get_columns("access_list")} == {
                "id", "plate", "kind", "note", "created_at"}
            rows = conn.execute(text("SELECT plate, kind, note FROM access_list ORDER BY id"))
            assert [tuple(r) for r in rows] == [("京A12345", "allow", "staff"),
                                                ("沪B88888", "deny", None)]
    finally:
        engine.dispose()
    again = Store(db_url)  # and up again
    try:
        assert again.schema.before == "0004"
        assert _schema_diff(again.engine) == []  # the unique (plate, kind) rule survived
        assert [(e.plate, e.owner, e.direction) for e in again.access_entries()] == [
            ("沪B88888", None, "any"), ("京A12345", None, "any")]
    finally:
        again.close()
