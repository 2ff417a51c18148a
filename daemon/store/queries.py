"""Read-only passage queries shared by ``gatecam plates`` and the operator page.

:func:`find_passages` filters by plate (normalised like stored plates, confusables fixed
the way the reader fixes them, ``*`` / ``?`` wildcards), cameras and a time range, newest
first; :func:`passage_detail` gathers one passage with its reads and MQTT delivery state;
:func:`ocr_calls_since` counts billed calls. :func:`csv_rows` flattens passages for a
spreadsheet (UTC ISO 8601). Pure SQLAlchemy Core on a :class:`~daemon.store.db.Store`.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TextIO

from sqlalchemy import and_, func, select

from daemon import plates
from daemon.domain import Passage
from daemon.store.db import Store
from daemon.store.tables import outbox, passage_from_row, passages, reads

CSV_COLUMNS = (
    "event_id", "captured_at", "decided_at", "site", "camera", "direction", "plate", "color",
    "confidence", "category", "access", "access_reason", "late", "ocr_provider", "ocr_calls",
    "latency_ms", "request_ids", "snapshot",
)

MAX_PLATE_FILTER = 32
"""Longest plate filter accepted (the column is 32 characters)."""


def plate_pattern(text: str) -> tuple[str, bool]:
    """The plate filter normalised like stored plates; True when it holds ``*`` / ``?`` wildcards.

    ``京A·F0236`` and ``京af0236`` both find ``京AF0236``; ``*F0236`` finds any province.
    """
    wild = "*" in text or "?" in text
    if not wild:
        return plates.normalize(text), False
    parts = re.split(r"([*?])", text)
    return "".join(p if p in "*?" else plates.normalize(p) for p in parts), True


def plate_spellings(text: str) -> list[str]:
    """The stored plates an exact filter finds: as typed (normalised) and with O/0, B/8...
    fixed where the grammar forbids them (stored plates were fixed the same way)."""
    norm = plates.normalize(text)
    fixed = plates.fix_confusables(norm)
    return [norm] if fixed == norm else [norm, fixed]


def _like(pattern: str) -> str:
    """A wildcard plate pattern as a SQL LIKE pattern (``\\`` escapes ``%`` and ``_``)."""
    escaped = pattern.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped.replace("*", "%").replace("?", "_")


def find_passages(store: Store, *, plate: str | None = None,
                  cameras: Sequence[str] | None = None, since: datetime | None = None,
                  until: datetime | None = None, limit: int = 50,
                  before: tuple[datetime, str] | None = None) -> list[Passage]:
    """Passages matching every given filter, newest first (``limit`` 0: no limit).

    ``before`` (captured_at, event_id) continues a listing after its last row.
    """
    c = passages.c
    q = select(passages).order_by(c.captured_at.desc(), c.event_id.desc())
    if plate:
        pattern, wild = plate_pattern(plate)
        q = q.where(c.plate.like(_like(pattern), escape="\\") if wild
                    else c.plate.in_(plate_spellings(plate)))
    if cameras:
        q = q.where(c.camera.in_(list(cameras)))
    if since is not None:
        q = q.where(c.captured_at >= since)
    if until is not None:
        q = q.where(c.captured_at < until)
    if before is not None:
        at, eid = before
        q = q.where((c.captured_at < at) | and_(c.captured_at == at, c.event_id < eid))
    if limit > 0:
        q = q.limit(limit)
    with store.engine.connect() as conn:
        return [passage_from_row(row) for row in conn.execute(q)]


@dataclass(frozen=True, slots=True)
class Delivery:
    """One outbox message of a passage: where it went and whether the broker has it."""

    topic: str
    attempts: int
    delivered_at: datetime | None


@dataclass(frozen=True, slots=True)
class PassageDetail:
    """One passage, every read of it and its MQTT messages."""

    passage: Passage
    reads: list[dict[str, Any]]
    deliveries: list[Delivery]

    @property
    def delivery_state(self) -> str:
        """``delivered``, ``in outbox`` or ``not queued`` (no rows: purged or MQTT off)."""
        if not self.deliveries:
            return "not queued"
        return ("delivered" if all(d.delivered_at for d in self.deliveries) else "in outbox")


def passage_detail(store: Store, event_id: str) -> PassageDetail | None:
    """The passage ``event_id`` with its reads and outbox rows; None if unknown."""
    with store.engine.connect() as conn:
        row = conn.execute(select(passages).where(passages.c.event_id == event_id)).first()
        if row is None:
            return None
        r = reads.c
        read_rows = conn.execute(
            select(r.created_at, r.frame_seq, r.ok, r.plate, r.color, r.confidence,
                   r.error_code, r.latency_ms, r.called, r.request_id)
            .where(r.event_id == event_id).order_by(r.id))
        o = outbox.c
        out_rows = conn.execute(select(o.topic, o.attempts, o.delivered_at)
                                .where(o.event_id == event_id).order_by(o.id))
        return PassageDetail(passage_from_row(row), [dict(x._mapping) for x in read_rows],
                             [Delivery(*x) for x in out_rows])


def ocr_calls_since(store: Store, since: datetime) -> tuple[int, int]:
    """(billed OCR calls, passages) since ``since``: the calls-per-vehicle figure."""
    with store.engine.connect() as conn:
        calls = conn.scalar(select(func.count()).select_from(reads)
                            .where(reads.c.created_at >= since, reads.c.called.is_(True)))
        n = conn.scalar(select(func.count()).select_from(passages)
                        .where(passages.c.captured_at >= since))
    return int(calls or 0), int(n or 0)


def csv_rows(found: Iterable[Passage]) -> Iterable[dict[str, Any]]:
    """One flat dict per passage, keys :data:`CSV_COLUMNS`, times UTC ISO 8601."""
    for p in found:
        e = p.as_event()
        yield {
            **{k: e[k] for k in ("event_id", "captured_at", "decided_at", "site", "camera",
                                 "direction", "confidence", "access", "access_reason")},
            "plate": p.plate or "", "color": p.color or "", "category": p.category or "",
            "late": "yes" if p.late else "no", "ocr_provider": p.provider,
            "ocr_calls": p.ocr_calls, "latency_ms": round(p.latency_ms),
            "request_ids": " ".join(p.request_ids), "snapshot": p.snapshot or "",
        }


def write_csv(found: Iterable[Passage], out: TextIO) -> None:
    """Header plus one row per passage."""
    w = csv.DictWriter(out, fieldnames=CSV_COLUMNS, lineterminator="\n")
    w.writeheader()
    w.writerows(csv_rows(found))
