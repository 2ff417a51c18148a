"""Plain values the Store hands out or takes: outbox messages and rows, access entries.

Frozen dataclasses, safe to pass between threads (no live database rows escape the store).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

OutboxMessage = tuple[str, str, bool] | tuple[str, str, bool, str]
"""(topic, payload, retain) for MQTT (:func:`daemon.contract.passage_messages`); a fourth
element names another target (``webhook:<name>``)."""
MQTT = "mqtt"
"""The outbox target of MQTT messages (the default of ``outbox.target``)."""


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
