"""Persistence: the queries over passages, OCR reads, the MQTT outbox and the access lists.

Models live in :mod:`daemon.models`. SQLite by default (WAL, ``synchronous=NORMAL``,
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
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.orm import sessionmaker
from sqlalchemy.pool import StaticPool

from daemon.domain import Passage, PlateRead
from daemon.models import AccessEntryRow, Base, OutboxRow, PassageRow, ReadRow

__all__ = ["AccessEntry", "OutboxRow", "PassageRow", "PendingMessage", "ReadRow", "Store"]

log = logging.getLogger(__name__)

OutboxMessage = tuple[str, str, bool]
"""(topic, payload, retain), as built by :func:`daemon.topics.passage_messages`."""

ACCESS_KINDS = ("allow", "deny")


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class PendingMessage:
    """An undelivered outbox row, detached from any session (safe to pass between threads)."""

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
    """One allow / deny list entry, detached from any session."""

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
        parsed = make_url(url)
        kwargs: dict[str, Any] = {}
        self._sqlite = parsed.get_backend_name() == "sqlite"
        if self._sqlite:
            db = parsed.database or ""
            if db in ("", ":memory:") or "mode=memory" in str(parsed.query):
                # One shared connection, or each thread would see its own empty database.
                kwargs = {"poolclass": StaticPool, "connect_args": {"check_same_thread": False}}
            elif not db.startswith("file:"):
                Path(db).expanduser().parent.mkdir(parents=True, exist_ok=True)
        self.engine: Engine = create_engine(parsed, **kwargs)
        if self._sqlite:
            event.listen(self.engine, "connect", _sqlite_pragmas(busy_timeout_ms))
        Base.metadata.create_all(self.engine)
        self._add_missing_columns()
        self._session = sessionmaker(self.engine, expire_on_commit=False)
        log.info("store open: %s", parsed.render_as_string(hide_password=True))

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

        Core executemany inserts, not the ORM unit of work: this is the writer's hot path
        (about a third of the CPU per passage, measured with scripts/bench_delivery.py).
        """
        now = self._clock()
        reads = [ReadRow.values(r, p.event_id, now) for p, rs, _ in batch for r in rs]
        outbox = [
            {"event_id": p.event_id, "topic": topic, "payload": payload, "retain": retain,
             "created_at": now, "attempts": 0}
            for p, _, messages in batch for topic, payload, retain in messages
        ]
        with self.engine.begin() as conn:
            conn.execute(insert(PassageRow), [PassageRow.values(p) for p, _, _ in batch])
            if reads:
                conn.execute(insert(ReadRow), reads)
            if outbox:  # one statement in list order: ids ascend in publication order
                conn.execute(insert(OutboxRow), outbox)

    def record_read(self, read: PlateRead, event_id: str) -> None:
        """Insert one OCR read on its own (reads of passages not (yet) recorded)."""
        with self._session() as s, s.begin():
            s.add(ReadRow.from_read(read, event_id, self._clock()))

    def mark_delivered(self, outbox_ids: Iterable[int], at: datetime) -> int:
        """Stamp outbox rows delivered (PUBACK received); returns how many changed."""
        ids = sorted(set(outbox_ids))
        if not ids:
            return 0
        with self._session() as s, s.begin():
            res = s.execute(
                update(OutboxRow)
                .where(OutboxRow.id.in_(ids), OutboxRow.delivered_at.is_(None))
                .values(delivered_at=at)
            )
            return int(getattr(res, "rowcount", 0) or 0)

    def bump_attempts(self, outbox_ids: Iterable[int]) -> None:
        """Count one more publish attempt for each row."""
        ids = sorted(set(outbox_ids))
        if not ids:
            return
        with self._session() as s, s.begin():
            s.execute(
                update(OutboxRow)
                .where(OutboxRow.id.in_(ids))
                .values(attempts=OutboxRow.attempts + 1)
            )

    def apply_delivery(
        self, attempted: Iterable[int], delivered: Iterable[int], at: datetime
    ) -> None:
        """Attempt counts and delivery marks in one transaction (the publisher's batches)."""
        att, done = sorted(attempted), sorted(set(delivered))
        if not att and not done:
            return
        with self.engine.begin() as s:  # Core: hot path, once per PUBACK batch
            by_count: dict[int, list[int]] = {}
            for i in sorted(set(att)):  # a row published twice in a batch counts twice
                by_count.setdefault(att.count(i), []).append(i)
            for n, ids in by_count.items():
                s.execute(update(OutboxRow).where(OutboxRow.id.in_(ids))
                          .values(attempts=OutboxRow.attempts + n))
            if done:
                s.execute(update(OutboxRow)
                          .where(OutboxRow.id.in_(done), OutboxRow.delivered_at.is_(None))
                          .values(delivered_at=at))

    def purge_before(self, cutoff: datetime) -> int:
        """Retention: delete passages captured before ``cutoff`` with their delivered outbox
        rows and reads; a passage with an undelivered message is kept. Returns passages deleted.
        """
        with self._session() as s, s.begin():
            undelivered = select(OutboxRow.event_id).where(OutboxRow.delivered_at.is_(None))
            old = select(PassageRow.event_id).where(
                PassageRow.captured_at < cutoff, PassageRow.event_id.not_in(undelivered)
            )
            ids = list(s.scalars(old))
            self._delete_passages(s, ids)
            s.execute(delete(ReadRow).where(ReadRow.created_at < cutoff))
            return len(ids)

    def purge_oldest(self, n: int) -> int:
        """Retention by size: delete the ``n`` oldest fully delivered passages; returns how many."""
        with self._session() as s, s.begin():
            undelivered = select(OutboxRow.event_id).where(OutboxRow.delivered_at.is_(None))
            ids = list(s.scalars(
                select(PassageRow.event_id)
                .where(PassageRow.event_id.not_in(undelivered))
                .order_by(PassageRow.captured_at, PassageRow.event_id)
                .limit(n)
            ))
            self._delete_passages(s, ids)
            return len(ids)

    @staticmethod
    def _delete_passages(s: Any, ids: Sequence[str]) -> None:
        for chunk in (ids[i : i + 500] for i in range(0, len(ids), 500)):
            s.execute(delete(OutboxRow).where(OutboxRow.event_id.in_(chunk)))
            s.execute(delete(ReadRow).where(ReadRow.event_id.in_(chunk)))
            s.execute(delete(PassageRow).where(PassageRow.event_id.in_(chunk)))

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
        with self._session() as s, s.begin():
            row = s.scalar(select(AccessEntryRow).where(
                AccessEntryRow.plate == plate, AccessEntryRow.kind == kind))
            if row is not None:
                row.note = note if note is not None else row.note
                return False
            s.add(AccessEntryRow(plate=plate, kind=kind, note=note, created_at=self._clock()))
            return True

    def access_remove(self, plate: str, kind: str | None = None) -> int:
        """Take ``plate`` off one list (or both); returns entries removed."""
        q = delete(AccessEntryRow).where(AccessEntryRow.plate == plate)
        if kind is not None:
            q = q.where(AccessEntryRow.kind == kind)
        with self._session() as s, s.begin():
            return int(getattr(s.execute(q), "rowcount", 0) or 0)

    def access_replace(self, entries: Iterable[tuple[str, str, str | None]]) -> int:
        """Replace both lists with ``(plate, kind, note)`` entries in one transaction."""
        now = self._clock()
        unique = {(p, k): n for p, k, n in entries}
        with self._session() as s, s.begin():
            s.execute(delete(AccessEntryRow))
            s.add_all(AccessEntryRow(plate=p, kind=k, note=n, created_at=now)
                      for (p, k), n in unique.items())
        return len(unique)

    def access_entries(self) -> list[AccessEntry]:
        """Every list entry, deny first, then by plate."""
        with self._session() as s:
            rows = s.scalars(select(AccessEntryRow).order_by(
                AccessEntryRow.kind.desc(), AccessEntryRow.plate))
            return [AccessEntry(r.plate, r.kind, r.note, r.created_at) for r in rows]

    # -- reads (any thread) --
    def pending_outbox(self, limit: int = 100) -> list[PendingMessage]:
        """Undelivered outbox rows, oldest first (publication order)."""
        with self.engine.connect() as conn:  # Core, prebuilt statement: this is the hot path
            return [PendingMessage(*row) for row in conn.execute(_PENDING, {"limit": limit})]

    def outbox_delivered_count(self) -> int:
        """Rows delivered so far (for status and tests)."""
        with self._session() as s:
            q = select(func.count()).select_from(OutboxRow).where(
                OutboxRow.delivered_at.is_not(None)
            )
            return int(s.scalar(q) or 0)

    def recent_passages(
        self, limit: int = 20, camera: str | None = None, plate: str | None = None
    ) -> list[dict[str, Any]]:
        """Latest passages first, as event dicts (the MQTT payload shape, JSON-ready)."""
        return [p.as_event() for p in self.recent_passage_objects(limit, camera, plate)]

    def recent_passage_objects(
        self, limit: int = 20, camera: str | None = None, plate: str | None = None
    ) -> list[Passage]:
        """Latest passages first, as domain objects."""
        q = select(PassageRow).order_by(PassageRow.captured_at.desc(), PassageRow.event_id)
        if camera is not None:
            q = q.where(PassageRow.camera == camera)
        if plate is not None:
            q = q.where(PassageRow.plate == plate)
        with self._session() as s:
            return [row.to_passage() for row in s.scalars(q.limit(limit))]

    def reads_for(self, event_id: str) -> list[ReadRow]:
        """The reads recorded for one passage, in insertion order (detached rows)."""
        with self._session() as s:
            return list(s.scalars(select(ReadRow).where(ReadRow.event_id == event_id)
                                  .order_by(ReadRow.id)))

    def passage_count(self) -> int:
        """Number of passages stored."""
        with self._session() as s:
            return int(s.scalar(select(func.count()).select_from(PassageRow)) or 0)

    def _add_missing_columns(self) -> None:
        """The one schema change so far: ``passages.access_reason`` on databases made before it."""
        cols = {c["name"] for c in inspect(self.engine).get_columns("passages")}
        if "access_reason" not in cols:
            with self.engine.begin() as conn:
                conn.execute(text("ALTER TABLE passages ADD COLUMN access_reason VARCHAR(32)"))
            log.info("store: added column passages.access_reason")

    def close(self) -> None:
        """Release every pooled connection."""
        self.engine.dispose()


_o, _p = OutboxRow.__table__.c, PassageRow.__table__.c
_PENDING = (
    select(_o.id, _o.event_id, _o.topic, _o.payload, _o.retain, _o.created_at, _o.attempts,
           _p.captured_at)
    .join_from(OutboxRow.__table__, PassageRow.__table__, _p.event_id == _o.event_id)
    .where(_o.delivered_at.is_(None))
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
