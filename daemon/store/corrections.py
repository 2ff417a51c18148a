"""Misreads corrected on the operator page (table :data:`~daemon.store.tables.corrections`).

The passage row keeps the original reading; a correction row says who typed which plate
and when, and its outbox rows (the corrected event, see
:func:`daemon.contract.correction_messages`) are committed with it in one transaction,
hung on the original passage's event id (the outbox's foreign key), so the publisher
delivers them like any other.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, insert, select

from daemon.store.db import Store
from daemon.store.records import MQTT, OutboxMessage
from daemon.store.tables import corrections, outbox


@dataclass(frozen=True, slots=True)
class Correction:
    """One correction of a passage's plate."""

    event_id: str
    corrected_event_id: str
    plate: str
    operator: str
    at: datetime
    access: str
    access_reason: str


def next_corrected_id(store: Store, event_id: str) -> str:
    """``<event_id>.c<n>``, n one more than the corrections so far."""
    with store.engine.connect() as conn:
        n = conn.scalar(select(func.count()).select_from(corrections)
                        .where(corrections.c.event_id == event_id))
    return f"{event_id}.c{int(n or 0) + 1}"


def record_correction(store: Store, c: Correction, messages: Sequence[OutboxMessage]) -> None:
    """The correction and its outbox rows, in ONE transaction."""
    with store.engine.begin() as conn:
        conn.execute(insert(corrections).values(
            event_id=c.event_id, corrected_event_id=c.corrected_event_id, plate=c.plate,
            operator=c.operator, at=c.at, access=c.access, access_reason=c.access_reason))
        if messages:
            conn.execute(insert(outbox), [
                {"event_id": c.event_id, "topic": m[0], "payload": m[1], "retain": m[2],
                 "created_at": c.at, "attempts": 0, "target": m[3] if len(m) > 3 else MQTT}
                for m in messages])


def corrections_for(store: Store, event_id: str) -> list[Correction]:
    """The corrections of one passage, oldest first."""
    k = corrections.c
    q = (select(k.event_id, k.corrected_event_id, k.plate, k.operator, k.at, k.access,
                k.access_reason).where(k.event_id == event_id).order_by(k.id))
    with store.engine.connect() as conn:
        return [Correction(*row) for row in conn.execute(q)]
