"""The audit of manual gate opens (table :data:`~daemon.store.tables.manual_opens`).

Written by the operator page's request thread (one short insert per button press; SQLite's
busy timeout serialises it with the recorder), read by the audit page.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import insert, select

from daemon.store.db import Store
from daemon.store.tables import manual_opens


@dataclass(frozen=True, slots=True)
class ManualOpen:
    """One press of a gate's open button."""

    at: datetime
    operator: str
    camera: str
    reason: str
    event_id: str
    outcome: str


def record_manual_open(store: Store, entry: ManualOpen) -> None:
    """Append one audit row."""
    with store.engine.begin() as conn:
        conn.execute(insert(manual_opens).values(
            at=entry.at, operator=entry.operator, camera=entry.camera, reason=entry.reason,
            event_id=entry.event_id, outcome=entry.outcome[:255]))


def manual_open_log(store: Store, limit: int = 200, event_id: str | None = None
                    ) -> list[ManualOpen]:
    """The newest ``limit`` audit rows (or the one of ``event_id``), newest first."""
    m = manual_opens.c
    q = (select(m.at, m.operator, m.camera, m.reason, m.event_id, m.outcome)
         .order_by(m.at.desc(), m.id.desc()).limit(limit))
    if event_id is not None:
        q = q.where(m.event_id == event_id)
    with store.engine.connect() as conn:
        return [ManualOpen(*row) for row in conn.execute(q)]
