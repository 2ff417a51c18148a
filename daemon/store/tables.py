"""The schema as SQLAlchemy Core tables (passages, reads, outbox, access lists), the UTC
timestamp type, and the conversions between domain objects and rows.

Core only, no ORM: the daemon never imports ``sqlalchemy.orm`` (about 5.6 MB of RSS on
an edge box; tests/test_store.py checks it stays out). Portable across dialects (SQLite,
PostgreSQL): no dialect-specific types; every timestamp is stored as UTC without an
offset and comes back UTC-aware.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.engine import Row
from sqlalchemy.types import TypeDecorator

from daemon.domain import Passage, PlateRead, Rect

__all__ = [
    "UTCDateTime", "access_list", "corrections", "manual_opens", "metadata", "outbox",
    "passage_from_row", "passage_values", "passages", "read_values", "reads",
]


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


metadata = MetaData()
"""Every gatecam table; the database gets them through the migrations (daemon.store.migrate)."""

passages = Table(
    "passages", metadata,
    Column("event_id", String(64), primary_key=True),
    Column("site", String(64), nullable=False),
    Column("camera", String(64), nullable=False),
    Column("direction", String(16), nullable=False),
    Column("plate", String(32), index=True),
    Column("color", String(16)),
    Column("confidence", Integer, nullable=False, default=0),
    Column("category", String(32)),
    Column("rect_x", Integer),
    Column("rect_y", Integer),
    Column("rect_w", Integer),
    Column("rect_h", Integer),
    Column("captured_at", UTCDateTime(), nullable=False, index=True),
    Column("decided_at", UTCDateTime(), nullable=False),
    Column("access", String(16), nullable=False),
    # NOT NULL on new databases; nullable on those made before it (migration 0001 adopts them).
    Column("access_reason", String(32), nullable=False, default="not_evaluated"),
    Column("late", Boolean, nullable=False, default=False),
    Column("provider", String(32), nullable=False),
    Column("ocr_calls", Integer, nullable=False, default=0),
    Column("latency_ms", Float, nullable=False, default=0.0),
    Column("snapshot", String(255)),
    Column("request_ids", Text, nullable=False, default="[]",
           doc="JSON array of Tencent request ids."),
    Index("ix_passages_camera_captured", "camera", "captured_at"),
)
"""One vehicle passage: the published event, in columns."""

reads = Table(
    "reads", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    # Not a foreign key: reads may be recorded before their passage is confirmed, or for
    # a passage that never is (no plate, too short).
    Column("event_id", String(64), nullable=False, index=True),
    Column("camera", String(64), nullable=False),
    Column("frame_seq", Integer, nullable=False),
    Column("ok", Boolean, nullable=False),
    Column("plate", String(32)),
    Column("color", String(16)),
    Column("confidence", Integer, nullable=False, default=0),
    Column("error_code", String(96)),
    Column("request_id", String(64)),
    Column("latency_ms", Float, nullable=False, default=0.0),
    Column("called", Boolean, nullable=False, default=True),
    Column("created_at", UTCDateTime(), nullable=False, index=True),
    # tencent (a cloud call) or local (the local reader's reading of one frame).
    Column("provider", String(16), nullable=False, default="tencent"),
)
"""One OCR call (or a decision not to call) and its outcome."""

outbox = Table(
    "outbox", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True, doc="Publication order."),
    Column("event_id", String(64), ForeignKey("passages.event_id", ondelete="CASCADE"),
           nullable=False, index=True),
    Column("topic", String(255), nullable=False),
    Column("payload", Text, nullable=False),
    Column("retain", Boolean, nullable=False, default=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("delivered_at", UTCDateTime(), index=True),
    Column("target", String(64), nullable=False, default="mqtt", server_default="mqtt",
           doc="``mqtt``, or ``webhook:<name>`` for a webhook target's copy of the event."),
    Index("ix_outbox_target_pending", "target", "delivered_at"),
)
"""One message committed with its passage and delivered later (at-least-once): to MQTT,
or to one webhook target (one row per target, so each is retried on its own)."""

access_list = Table(
    "access_list", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("plate", String(32), nullable=False, doc="Normalised plate (daemon.plates.normalize)."),
    Column("kind", String(8), nullable=False, doc="``allow`` or ``deny``."),
    Column("note", String(255)),
    Column("created_at", UTCDateTime(), nullable=False),
    # 0005: who the entry is for, when it holds, where it holds (NULL / 'any': always, all lanes)
    Column("owner", String(100), doc="The owner or group (a tenant, \"visitors\", ...)."),
    Column("valid_from", UTCDateTime(), doc="First instant the entry holds; NULL: always did."),
    Column("valid_until", UTCDateTime(),
           doc="Last second the entry holds (inclusive); NULL: never ends."),
    Column("cameras", Text, doc="Space-separated camera ids it holds on; NULL: every camera."),
    Column("direction", String(8), nullable=False, default="any", server_default="any",
           doc="``entry``, ``exit`` (the camera's configured direction) or ``any``."),
    UniqueConstraint("plate", "kind", name="uq_access_plate_kind"),
)
"""One plate on the allow or the deny list, with its owner, validity window and scope
(managed with ``gatecam allow`` and the operator page's lists)."""


manual_opens = Table(
    "manual_opens", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", UTCDateTime(), nullable=False, index=True),
    Column("operator", String(64), nullable=False),
    Column("camera", String(64), nullable=False),
    Column("reason", String(200), nullable=False),
    Column("event_id", String(64), nullable=False, doc="The gate command's ``manual-...`` id."),
    Column("outcome", String(255), nullable=False, doc="``sent`` or why it was not."),
)
"""The audit of manual opens from the operator page: who opened which gate, when, why."""

corrections = Table(
    "corrections", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("event_id", String(64), nullable=False, index=True,
           doc="The passage corrected (its own row keeps the original reading)."),
    Column("corrected_event_id", String(64), nullable=False, unique=True,
           doc="The corrected event's id, ``<event_id>.c<n>``; its ``corrects`` is event_id."),
    Column("plate", String(32), nullable=False, doc="The plate the operator typed, normalised."),
    Column("operator", String(64), nullable=False),
    Column("at", UTCDateTime(), nullable=False),
    Column("access", String(16), nullable=False),
    Column("access_reason", String(32), nullable=False),
)
"""A misread corrected on the operator page: who, when, the right plate, the new decision."""


def passage_values(p: Passage) -> dict[str, object]:
    """Column values of a domain passage, for an insert into :data:`passages`."""
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


def read_values(read: PlateRead, event_id: str, at: datetime) -> dict[str, object]:
    """Column values of a domain read, for an insert into :data:`reads`."""
    return dict(
        event_id=event_id, camera=read.camera_id, frame_seq=read.frame_seq, ok=read.ok,
        plate=read.plate, color=read.color, confidence=read.confidence,
        error_code=read.error_code, request_id=read.request_id,
        latency_ms=read.latency_ms, called=read.called, created_at=at, provider=read.provider,
    )


def passage_from_row(row: Row[Any]) -> Passage:
    """The domain passage back from a row of ``select(passages)`` (attribute access by column)."""
    rect = None
    if None not in (row.rect_x, row.rect_y, row.rect_w, row.rect_h):
        rect = Rect(int(row.rect_x), int(row.rect_y), int(row.rect_w), int(row.rect_h))
    return Passage(
        event_id=row.event_id, site=row.site, camera=row.camera, direction=row.direction,
        captured_at=row.captured_at, decided_at=row.decided_at, plate=row.plate,
        color=row.color, confidence=row.confidence, category=row.category, rect=rect,
        access=row.access, access_reason=row.access_reason or "not_evaluated",
        ocr_calls=row.ocr_calls,
        request_ids=tuple(json.loads(row.request_ids or "[]")),
        latency_ms=row.latency_ms, snapshot=row.snapshot, late=row.late,
        provider=row.provider,
    )
