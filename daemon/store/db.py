"""Persistence: the queries over passages, OCR reads, the MQTT outbox and the access lists.

Tables live in :mod:`daemon.store.tables`; every query here is SQLAlchemy Core (no ORM: see
that module). SQLite by default (WAL, ``synchronous=NORMAL``,
``busy_timeout``, foreign keys on, set in a connect hook that only fires for
SQLite); any SQLAlchemy URL works the same way (PostgreSQL through
``postgresql+psycopg://``), no dialect-specific SQL elsewhere. A naive datetime is
refused at bind time.

Writes are meant to come from one thread (the recorder); reads may come from any.
The ``gatecam allow`` command writes access lists from its own short-lived process.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import (
    bindparam,
    create_engine,
    delete,
    event,
    func,
    insert,
    inspect,
    select,
    text,
    update,
)
from sqlalchemy.engine import URL, Connection, Engine, Row, make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import StaticPool

from daemon.domain import Passage, PlateRead
from daemon.errors import StorageError
from daemon.store.tables import (
    access_list,
    metadata,
    outbox,
    passage_from_row,
    passage_values,
    passages,
    read_values,
    reads,
)

__all__ = ["AccessEntry", "PendingMessage", "Store"]

log = logging.getLogger(__name__)

OutboxMessage = tuple[str, str, bool] | tuple[str, str, bool, str]
"""(topic, payload, retain) for MQTT (:func:`daemon.contract.passage_messages`); a fourth
element names another target (``webhook:<name>``)."""
MQTT = "mqtt"

ACCESS_KINDS = ("allow", "deny")


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class PendingMessage:
    """An undelivered outbox row, a plain value (safe to pass between threads)."""

    id: int
    event_id: str
    topic: str
    payload: str
    retain: bool
    created_at: datetime
    attempts: int
    captured_at: datetime
    """When the passage was seen: the freshness of the event is measured from here."""


@dataclass(frozen=True, slots=True)
class AccessEntry:
    """One allow / deny list entry, a plain value."""

    plate: str
    kind: str
    note: str | None
    created_at: datetime


class Store:
    """The database: schema creation, the SQLite pragmas and every query gatecam needs."""

    def __init__(
        self,
        url: str,
        *,
        busy_timeout_ms: int = 5000,
        clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        """Open (and create if needed) the database at a SQLAlchemy ``url``."""
        self._clock = clock
        try:
            parsed = make_url(url)
            self.engine: Engine = self._open(parsed, busy_timeout_ms)
        except (SQLAlchemyError, OSError) as exc:
            shown = url if "@" not in url else "<url with credentials>"
            raise StorageError(f"cannot open the database {shown}: {exc}") from exc
        log.info("store open: %s", parsed.render_as_string(hide_password=True))

    def _open(self, parsed: URL, busy_timeout_ms: int) -> Engine:
        """The engine for ``parsed``, with SQLite pragmas, tables and added columns in place."""
        kwargs: dict[str, Any] = {}
        self._sqlite = parsed.get_backend_name() == "sqlite"
        if self._sqlite:
            db = parsed.database or ""
            if db in ("", ":memory:") or "mode=memory" in str(parsed.query):
                # One shared connection, or each thread would see its own empty database.
                kwargs = {"poolclass": StaticPool, "connect_args": {"check_same_thread": False}}
            elif not db.startswith("file:"):
                Path(db).expanduser().parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(parsed, **kwargs)
        if self._sqlite:
            event.listen(engine, "connect", _sqlite_pragmas(busy_timeout_ms))
        metadata.create_all(engine)
        self.engine = engine
        self._add_missing_columns()
        return engine

    # -- writes (one writer thread) --
    def record_passage(
        self,
        passage: Passage,
        reads: Sequence[PlateRead],
        messages: Sequence[OutboxMessage],
    ) -> None:
        """Insert the passage, its reads and its outbox rows in ONE transaction (all or nothing)."""
        self.record_passages([(passage, reads, messages)])

    def record_passages(
        self, batch: Sequence[tuple[Passage, Sequence[PlateRead], Sequence[OutboxMessage]]]
    ) -> None:
        """Several passages with their reads and outbox rows in ONE transaction (group commit:
        one fsync for a burst); outbox ids follow the batch order.

        Executemany inserts: this is the writer's hot path (about a third of the CPU per
        passage, measured with scripts/bench_delivery.py).
        """
        now = self._clock()
        read_rows = [read_values(r, p.event_id, now) for p, rs, _ in batch for r in rs]
        outbox_rows = [
            {"event_id": p.event_id, "topic": m[0], "payload": m[1], "retain": m[2],
             "created_at": now, "attempts": 0, "target": m[3] if len(m) > 3 else MQTT}
            for p, _, messages in batch for m in messages
        ]
        with self.engine.begin() as conn:
            conn.execute(insert(passages), [passage_values(p) for p, _, _ in batch])
            if read_rows:
                conn.execute(insert(reads), read_rows)
            if outbox_rows:  # one statement in list order: ids ascend in publication order
                conn.execute(insert(outbox), outbox_rows)

    def record_read(self, read: PlateRead, event_id: str) -> None:
        """Insert one OCR read on its own (reads of passages not (yet) recorded)."""
        with self.engine.begin() as conn:
            conn.execute(insert(reads), read_values(read, event_id, self._clock()))

    def mark_delivered(self, outbox_ids: Iterable[int], at: datetime) -> int:
        """Stamp outbox rows delivered (PUBACK received); returns how many changed."""
        ids = sorted(set(outbox_ids))
        if not ids:
            return 0
        with self.engine.begin() as conn:
            res = conn.execute(
                update(outbox)
                .where(outbox.c.id.in_(ids), outbox.c.delivered_at.is_(None))
                .values(delivered_at=at)
            )
            return int(res.rowcount or 0)

    def bump_attempts(self, outbox_ids: Iterable[int]) -> None:
        """Count one more publish attempt for each row."""
        ids = sorted(set(outbox_ids))
        if not ids:
            return
        with self.engine.begin() as conn:
            conn.execute(
                update(outbox)
                .where(outbox.c.id.in_(ids))
                .values(attempts=outbox.c.attempts + 1)
            )

    def apply_delivery(
        self, attempted: Iterable[int], delivered: Iterable[int], at: datetime
    ) -> None:
        """Attempt counts and delivery marks in one transaction (the publisher's batches)."""
        att, done = sorted(attempted), sorted(set(delivered))
        if not att and not done:
            return
        with self.engine.begin() as conn:  # hot path, once per PUBACK batch
            by_count: dict[int, list[int]] = {}
            for i in sorted(set(att)):  # a row published twice in a batch counts twice
                by_count.setdefault(att.count(i), []).append(i)
            for n, ids in by_count.items():
                conn.execute(update(outbox).where(outbox.c.id.in_(ids))
                             .values(attempts=outbox.c.attempts + n))
            if done:
                conn.execute(update(outbox)
                             .where(outbox.c.id.in_(done), outbox.c.delivered_at.is_(None))
                             .values(delivered_at=at))

    def purge_before(self, cutoff: datetime) -> int:
        """Retention: delete passages captured before ``cutoff`` with their delivered outbox
        rows and reads; a passage with an undelivered message is kept. Returns passages deleted.
        """
        with self.engine.begin() as conn:
            undelivered = select(outbox.c.event_id).where(outbox.c.delivered_at.is_(None))
            old = select(passages.c.event_id).where(
                passages.c.captured_at < cutoff, passages.c.event_id.not_in(undelivered)
            )
            ids = list(conn.scalars(old))
            self._delete_passages(conn, ids)
            conn.execute(delete(reads).where(reads.c.created_at < cutoff))
            return len(ids)

    def purge_oldest(self, n: int) -> int:
        """Retention by size: delete the ``n`` oldest fully delivered passages; returns how many."""
        with self.engine.begin() as conn:
            undelivered = select(outbox.c.event_id).where(outbox.c.delivered_at.is_(None))
            ids = list(conn.scalars(
                select(passages.c.event_id)
                .where(passages.c.event_id.not_in(undelivered))
                .order_by(passages.c.captured_at, passages.c.event_id)
                .limit(n)
            ))
            self._delete_passages(conn, ids)
            return len(ids)

    @staticmethod
    def _delete_passages(conn: Connection, ids: Sequence[str]) -> None:
        for chunk in (ids[i : i + 500] for i in range(0, len(ids), 500)):
            conn.execute(delete(outbox).where(outbox.c.event_id.in_(chunk)))
            conn.execute(delete(reads).where(reads.c.event_id.in_(chunk)))
            conn.execute(delete(passages).where(passages.c.event_id.in_(chunk)))

    def used_bytes(self) -> int | None:
        """Bytes the SQLite database really uses (pages minus free pages); None elsewhere."""
        if not self._sqlite:
            return None
        with self.engine.connect() as conn:
            pages = int(conn.execute(text("PRAGMA page_count")).scalar() or 0)
            free = int(conn.execute(text("PRAGMA freelist_count")).scalar() or 0)
            size = int(conn.execute(text("PRAGMA page_size")).scalar() or 0)
        return (pages - free) * size

    # -- access lists (written by `gatecam allow`, read by the recorder) --
    def access_add(self, plate: str, kind: str, note: str | None = None) -> bool:
        """Put ``plate`` (already normalised) on a list; False when it was there already."""
        if kind not in ACCESS_KINDS:
            raise ValueError(f"list {kind!r} is not one of {ACCESS_KINDS}")
        a = access_list.c
        with self.engine.begin() as conn:
            found = conn.scalar(select(a.id).where(a.plate == plate, a.kind == kind))
            if found is not None:
                if note is not None:  # a new note replaces the old; none keeps it
                    conn.execute(update(access_list).where(a.id == found).values(note=note))
                return False
            conn.execute(insert(access_list).values(
                plate=plate, kind=kind, note=note, created_at=self._clock()))
            return True

    def access_remove(self, plate: str, kind: str | None = None) -> int:
        """Take ``plate`` off one list (or both); returns entries removed."""
        q = delete(access_list).where(access_list.c.plate == plate)
        if kind is not None:
            q = q.where(access_list.c.kind == kind)
        with self.engine.begin() as conn:
            return int(conn.execute(q).rowcount or 0)

    def access_replace(self, entries: Iterable[tuple[str, str, str | None]]) -> int:
        """Replace both lists with ``(plate, kind, note)`` entries in one transaction."""
        now = self._clock()
        unique = {(p, k): n for p, k, n in entries}
        with self.engine.begin() as conn:
            conn.execute(delete(access_list))
            if unique:
                conn.execute(insert(access_list), [
                    {"plate": p, "kind": k, "note": n, "created_at": now}
                    for (p, k), n in unique.items()
                ])
        return len(unique)

    def access_entries(self) -> list[AccessEntry]:
        """Every list entry, deny first, then by plate."""
        a = access_list.c
        with self.engine.connect() as conn:
            rows = conn.execute(select(a.plate, a.kind, a.note, a.created_at)
                                .order_by(a.kind.desc(), a.plate))
            return [AccessEntry(*r) for r in rows]

    # -- reads (any thread) --
    def pending_outbox(self, limit: int = 100, target: str = MQTT) -> list[PendingMessage]:
        """Undelivered outbox rows of one target, oldest first (publication order)."""
        with self.engine.connect() as conn:  # prebuilt statement: this is the hot path
            rows = conn.execute(_PENDING, {"limit": limit, "target": target})
            return [PendingMessage(*row) for row in rows]

    def outbox_delivered_count(self) -> int:
        """Rows delivered so far (for status and tests)."""
        return self._outbox_count(delivered=True)

    def outbox_backlog(self) -> int:
        """Rows not delivered yet (metrics, /healthz)."""
        return self._outbox_count(delivered=False)

    def _outbox_count(self, *, delivered: bool) -> int:
        at = outbox.c.delivered_at
        q = select(func.count()).select_from(outbox).where(
            at.is_not(None) if delivered else at.is_(None)
        )
        with self.engine.connect() as conn:
            return int(conn.scalar(q) or 0)

    def recent_passages(
        self, limit: int = 20, camera: str | None = None, plate: str | None = None
    ) -> list[dict[str, Any]]:
        """Latest passages first, as event dicts (the MQTT payload shape, JSON-ready)."""
        return [p.as_event() for p in self.recent_passage_objects(limit, camera, plate)]

    def recent_passage_objects(
        self, limit: int = 20, camera: str | None = None, plate: str | None = None
    ) -> list[Passage]:
        """Latest passages first, as domain objects."""
        q = select(passages).order_by(passages.c.captured_at.desc(), passages.c.event_id)
        if camera is not None:
            q = q.where(passages.c.camera == camera)
        if plate is not None:
            q = q.where(passages.c.plate == plate)
        with self.engine.connect() as conn:
            return [passage_from_row(row) for row in conn.execute(q.limit(limit))]

    def reads_for(self, event_id: str) -> list[Row[Any]]:
        """The reads recorded for one passage, in insertion order: rows of every
        :data:`daemon.store.tables.reads` column (``row.ok``, ``row.created_at``...)."""
        q = select(reads).where(reads.c.event_id == event_id).order_by(reads.c.id)
        with self.engine.connect() as conn:
            return list(conn.execute(q))

    def calls_since(self, since: datetime) -> int:
        """OCR reads that sent a request since ``since`` (a retried candidate counts once)."""
        q = select(func.count()).where(reads.c.called.is_(True), reads.c.created_at >= since)
        with self.engine.connect() as conn:
            return int(conn.scalar(q) or 0)

    def passage_count(self) -> int:
        """Number of passages stored."""
        with self.engine.connect() as conn:
            return int(conn.scalar(select(func.count()).select_from(passages)) or 0)

    def _add_missing_columns(self) -> None:
        """Columns added since: ``passages.access_reason``, ``outbox.target`` (old rows are
        MQTT's) and the outbox's indexes."""
        added = (("passages", "access_reason", "VARCHAR(32)"),
                 ("outbox", "target", "VARCHAR(64) NOT NULL DEFAULT 'mqtt'"))
        for table, column, sql_type in added:
            if column not in {c["name"] for c in inspect(self.engine).get_columns(table)}:
                with self.engine.begin() as conn:
                    conn.execute(text(f"ALTER TABLE {table} ADD COLUMN {column} {sql_type}"))
                log.info("store: added column %s.%s", table, column)
        for index in outbox.indexes:
            index.create(self.engine, checkfirst=True)

    def close(self) -> None:
        """Release every pooled connection."""
        self.engine.dispose()


_o, _p = outbox.c, passages.c
_PENDING = (
    select(_o.id, _o.event_id, _o.topic, _o.payload, _o.retain, _o.created_at, _o.attempts,
           _p.captured_at)
    .join_from(outbox, passages, _p.event_id == _o.event_id)
    .where(_o.target == bindparam("target"), _o.delivered_at.is_(None))
    .order_by(_o.id)
    .limit(bindparam("limit"))
)
"""Undelivered rows oldest first. Built once: building this select on every call cost
about 4x its execution (the publisher runs it after every PUBACK; bench_delivery.py)."""


def _sqlite_pragmas(busy_timeout_ms: int) -> Callable[[Any, Any], None]:
    """A connect hook setting gatecam's SQLite pragmas on each new DBAPI connection."""

    def hook(dbapi_conn: Any, _record: Any) -> None:
        cur = dbapi_conn.cursor()
        try:
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
            cur.execute("PRAGMA foreign_keys=ON")
        finally:
            cur.close()

    return hook
