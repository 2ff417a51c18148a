"""Persistence: SQLAlchemy models and queries for passages, OCR reads and the MQTT outbox.

SQLite by default (WAL, ``synchronous=NORMAL``, ``busy_timeout``, foreign keys on,
set in a connect hook that only fires for SQLite); any SQLAlchemy URL works the
same way, no dialect-specific SQL elsewhere. Every timestamp is stored as UTC
without an offset (portable across dialects) and comes back UTC-aware; a naive
datetime is refused at bind time.

Writes are meant to come from one thread (the recorder); reads may come from any.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import (
    Boolean,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    create_engine,
    delete,
    event,
    func,
    select,
    update,
)
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, sessionmaker
from sqlalchemy.pool import StaticPool
from sqlalchemy.types import TypeDecorator

from daemon.domain import Passage, PlateRead, Rect

log = logging.getLogger(__name__)

OutboxMessage = tuple[str, str, bool]
"""(topic, payload, retain), as built by :func:`daemon.topics.passage_messages`."""


def _utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp column that refuses naive datetimes and returns aware UTC ones."""

    impl = DateTime(timezone=False)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Aware datetime -> naive UTC for storage; a naive one raises ValueError."""
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {value!r}: gatecam stores UTC-aware times only")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Stored UTC -> aware UTC."""
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class Base(DeclarativeBase):
    """Declarative base of gatecam's tables."""


class PassageRow(Base):
    """One vehicle passage: the published event, in columns."""

    __tablename__ = "passages"

    event_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    site: Mapped[str] = mapped_column(String(64))
    camera: Mapped[str] = mapped_column(String(64))
    direction: Mapped[str] = mapped_column(String(16))
    plate: Mapped[str | None] = mapped_column(String(32), index=True)
    color: Mapped[str | None] = mapped_column(String(16))
    confidence: Mapped[int] = mapped_column(Integer, default=0)
    category: Mapped[str | None] = mapped_column(String(32))
    rect_x: Mapped[int | None] = mapped_column(Integer)
    rect_y: Mapped[int | None] = mapped_column(Integer)
    rect_w: Mapped[int | None] = mapped_column(Integer)
    rect_h: Mapped[int | None] = mapped_column(Integer)
    captured_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    decided_at: Mapped[datetime] = mapped_column(UTCDateTime())
    access: Mapped[str] = mapped_column(String(16))
    late: Mapped[bool] = mapped_column(Boolean, default=False)
    provider: Mapped[str] = mapped_column(String(32))
    ocr_calls: Mapped[int] = mapped_column(Integer, default=0)
    latency_ms: Mapped[float] = mapped_column(Float, default=0.0)
    snapshot: Mapped[str | None] = mapped_column(String(255))
    request_ids: Mapped[str] = mapped_column(Text, default="[]")
    """JSON array of Tencent request ids."""

    __table_args__ = (Index("ix_passages_camera_captured", "camera", "captured_at"),)

    @classmethod
    def from_passage(cls, p: Passage) -> PassageRow:
        """Columns from a domain passage."""
        r = p.rect
        return cls(
            event_id=p.event_id, site=p.site, camera=p.camera, direction=p.direction,
            plate=p.plate, color=p.color, confidence=p.confidence, category=p.category,
            rect_x=r.x if r else None, rect_y=r.y if r else None,
            rect_w=r.width if r else None, rect_h=r.height if r else None,
            captured_at=p.captured_at, decided_at=p.decided_at, access=p.access, late=p.late,
            provider=p.provider, ocr_calls=p.ocr_calls, latency_ms=p.latency_ms,
            snapshot=p.snapshot, request_ids=json.dumps(list(p.request_ids)),
        )

    def to_passage(self) -> Passage:
        """The domain passage back from its columns."""
        rect = None
        if None not in (self.rect_x, self.rect_y, self.rect_w, self.rect_h):
            rect = Rect(int(self.rect_x or 0), int(self.rect_y or 0),
                        int(self.rect_w or 0), int(self.rect_h or 0))
        return Passage(
            event_id=self.event_id, site=self.site, camera=self.camera, direction=self.direction,
            captured_at=self.captured_at, decided_at=self.decided_at, plate=self.plate,
            color=self.color, confidence=self.confidence, category=self.category, rect=rect,
            access=self.access, ocr_calls=self.ocr_calls,
            request_ids=tuple(json.loads(self.request_ids or "[]")),
            latency_ms=self.latency_ms, snapshot=self.snapshot, late=self.late,
            provider=self.provider,
        )


class ReadRow(Base):
    """One OCR call (or a decision not to call) and its outcome.

    ``event_id`` is not a foreign key: reads may be recorded before their passage
    is confirmed, or for a passage that never is (no plate, too short).
    """

    __tablename__ = "reads"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    event_id: Mapped[str] = mapped_column(String(64), index=True)
    camera: Mapped[str] = mapped_column(String(64))
    frame_seq: Mapped[int] = mapped_column(Integer)
    ok: Mapped[bool] = mapped_column(Boolean)
    plate: Mapped[str | None] = mapped_column(String(32))
    color: Mapped[str | None] = mapped_column(String(16))
    confidence: Mapped[int] = mapped_column(Integer, default=0)
    error_code: Mapped[str | None] = mapped_column(String(96))
    request_id: Mapped[str | None] = mapped_column(String(64))
    latency_ms: Mapped[float] = mapped_column(Float, default=0.0)
    called: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)

    @classmethod
    def from_read(cls, read: PlateRead, event_id: str, at: datetime) -> ReadRow:
        """Columns from a domain read."""
        return cls(
            event_id=event_id, camera=read.camera_id, frame_seq=read.frame_seq, ok=read.ok,
            plate=read.plate, color=read.color, confidence=read.confidence,
            error_code=read.error_code, request_id=read.request_id,
            latency_ms=read.latency_ms, called=read.called, created_at=at,
        )


class OutboxRow(Base):
    """One MQTT message committed with its passage and published later (at-least-once)."""

    __tablename__ = "outbox"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    """Publication order."""
    event_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("passages.event_id", ondelete="CASCADE"), index=True
    )
    topic: Mapped[str] = mapped_column(String(255))
    payload: Mapped[str] = mapped_column(Text)
    retain: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), index=True)


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
        now = self._clock()
        with self._session() as s, s.begin():
            s.add(PassageRow.from_passage(passage))
            s.flush()  # the parent row first, whatever order the unit of work would pick
            s.add_all(ReadRow.from_read(r, passage.event_id, now) for r in reads)
            s.add_all(
                OutboxRow(event_id=passage.event_id, topic=topic, payload=payload,
                          retain=retain, created_at=now, attempts=0)
                for topic, payload, retain in messages
            )

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
            for chunk in (ids[i : i + 500] for i in range(0, len(ids), 500)):
                s.execute(delete(OutboxRow).where(OutboxRow.event_id.in_(chunk)))
                s.execute(delete(ReadRow).where(ReadRow.event_id.in_(chunk)))
                s.execute(delete(PassageRow).where(PassageRow.event_id.in_(chunk)))
            s.execute(delete(ReadRow).where(ReadRow.created_at < cutoff))
            return len(ids)

    # -- reads (any thread) --
    def pending_outbox(self, limit: int = 100) -> list[PendingMessage]:
        """Undelivered outbox rows, oldest first (publication order)."""
        with self._session() as s:
            rows = s.scalars(
                select(OutboxRow)
                .where(OutboxRow.delivered_at.is_(None))
                .order_by(OutboxRow.id)
                .limit(limit)
            )
            return [
                PendingMessage(r.id, r.event_id, r.topic, r.payload, r.retain, r.created_at,
                               r.attempts)
                for r in rows
            ]

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

    def close(self) -> None:
        """Release every pooled connection."""
        self.engine.dispose()


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
