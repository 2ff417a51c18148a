"""SQLAlchemy models: passages, reads, outbox and access lists, plus the UTC timestamp type.

Portable across dialects (SQLite, PostgreSQL): no dialect-specific types; every
timestamp is stored as UTC without an offset and comes back UTC-aware.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

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
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

from daemon.domain import Passage, PlateRead, Rect


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
    access_reason: Mapped[str] = mapped_column(String(32), default="not_evaluated")
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
        return cls(**cls.values(p))

    @staticmethod
    def values(p: Passage) -> dict[str, object]:
        """Column values of a domain passage (for a Core insert: the recorder's hot path)."""
        r = p.rect
        return dict(
            event_id=p.event_id, site=p.site, camera=p.camera, direction=p.direction,
            plate=p.plate, color=p.color, confidence=p.confidence, category=p.category,
            rect_x=r.x if r else None, rect_y=r.y if r else None,
            rect_w=r.width if r else None, rect_h=r.height if r else None,
            captured_at=p.captured_at, decided_at=p.decided_at, access=p.access,
            access_reason=p.access_reason, late=p.late,
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
            access=self.access, access_reason=self.access_reason or "not_evaluated",
            ocr_calls=self.ocr_calls,
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
        return cls(**cls.values(read, event_id, at))

    @staticmethod
    def values(read: PlateRead, event_id: str, at: datetime) -> dict[str, object]:
        """Column values of a domain read (for a Core insert)."""
        return dict(
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




class AccessEntryRow(Base):
    """One plate on the allow or the deny list (managed with ``gatecam allow``)."""

    __tablename__ = "access_list"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    plate: Mapped[str] = mapped_column(String(32))
    """Normalised plate text (daemon.plates.normalize)."""
    kind: Mapped[str] = mapped_column(String(8))
    """``allow`` or ``deny``."""
    note: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())

    __table_args__ = (UniqueConstraint("plate", "kind", name="uq_access_plate_kind"),)
