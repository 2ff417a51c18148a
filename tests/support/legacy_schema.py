"""The database of the release before schema versions, frozen, for the upgrade tests.

``PREVIOUS``: the tables as the ORM of commit 9004645 (the release before access lists and
``passages.access_reason``) created them. Rows go in with plain inserts, as that release
wrote them (naive UTC timestamps), so the tests depend on nothing of today's store.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    Engine,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    insert,
)

PREVIOUS = MetaData()
Table(
    "passages", PREVIOUS,
    Column("event_id", String(64), primary_key=True),
    Column("site", String(64), nullable=False),
    Column("camera", String(64), nullable=False),
    Column("direction", String(16), nullable=False),
    Column("plate", String(32), index=True),
    Column("color", String(16)),
    Column("confidence", Integer, nullable=False),
    Column("category", String(32)),
    Column("rect_x", Integer), Column("rect_y", Integer),
    Column("rect_w", Integer), Column("rect_h", Integer),
    Column("captured_at", DateTime(), nullable=False, index=True),
    Column("decided_at", DateTime(), nullable=False),
    Column("access", String(16), nullable=False),
    Column("late", Boolean, nullable=False),
    Column("provider", String(32), nullable=False),
    Column("ocr_calls", Integer, nullable=False),
    Column("latency_ms", Float, nullable=False),
    Column("snapshot", String(255)),
    Column("request_ids", Text, nullable=False),
    Index("ix_passages_camera_captured", "camera", "captured_at"),
)
Table(
    "reads", PREVIOUS,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("event_id", String(64), nullable=False, index=True),
    Column("camera", String(64), nullable=False),
    Column("frame_seq", Integer, nullable=False),
    Column("ok", Boolean, nullable=False),
    Column("plate", String(32)),
    Column("color", String(16)),
    Column("confidence", Integer, nullable=False),
    Column("error_code", String(96)),
    Column("request_id", String(64)),
    Column("latency_ms", Float, nullable=False),
    Column("called", Boolean, nullable=False),
    Column("created_at", DateTime(), nullable=False, index=True),
)
Table(
    "outbox", PREVIOUS,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("event_id", String(64), ForeignKey("passages.event_id", ondelete="CASCADE"),
           nullable=False, index=True),
    Column("topic", String(255), nullable=False),
    Column("payload", Text, nullable=False),
    Column("retain", Boolean, nullable=False),
    Column("created_at", DateTime(), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("delivered_at", DateTime(), index=True),
)

T0 = datetime(2026, 11, 20, 7, 30, 0, 250000)  # naive UTC, as stored


def fill(engine: Engine, n: int) -> dict[str, list[dict[str, Any]]]:
    """Create the previous schema on ``engine`` and insert ``n`` passages, each with two
    reads and one outbox row (every other one delivered); returns the rows inserted."""
    PREVIOUS.create_all(engine)
    rows: dict[str, list[dict[str, Any]]] = {"passages": [], "reads": [], "outbox": []}
    for i in range(n):
        at = T0 + timedelta(seconds=17 * i)
        ev = f"old-{i:04d}"
        rows["passages"].append(dict(
            event_id=ev, site="lot-a", camera="entry-1", direction="entry",
            plate=f"京A{i:05d}", color="蓝", confidence=90 + i % 10, category="实体车牌",
            rect_x=10 + i, rect_y=20, rect_w=130, rect_h=40, captured_at=at,
            decided_at=at + timedelta(milliseconds=640), access="unknown", late=i % 3 == 0,
            provider="tencent", ocr_calls=1 + i % 2, latency_ms=150.5 + i,
            snapshot=f"snap/{ev}.jpg" if i % 2 else None, request_ids=f'["req-{i}"]'))
        rows["reads"] += [dict(
            event_id=ev, camera="entry-1", frame_seq=100 * i + k, ok=k == 1,
            plate=f"京A{i:05d}" if k else None, color=None, confidence=90 * k,
            error_code=None if k else "FailedOperation.OcrFailed", request_id=f"r-{i}-{k}",
            latency_ms=120.0 + k, called=True, created_at=at) for k in (0, 1)]
        rows["outbox"].append(dict(
            event_id=ev, topic=f"gatecam/lot-a/entry-1/passage/{ev}", payload=f'{{"n": {i}}}',
            retain=False, created_at=at, attempts=i % 4,
            delivered_at=at + timedelta(seconds=1) if i % 2 == 0 else None))
    with engine.begin() as conn:
        for name in ("passages", "reads", "outbox"):
            conn.execute(insert(PREVIOUS.tables[name]), rows[name])
    return rows
