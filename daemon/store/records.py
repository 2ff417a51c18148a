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


ACCESS_KINDS = ("allow", "deny")
"""The two lists."""
ANY_DIRECTION = "any"
DIRECTIONS = ("entry", "exit", ANY_DIRECTION)
"""An entry's direction scope: the camera's configured direction, or either."""


@dataclass(frozen=True, slots=True)
class AccessEntry:
    """One allow / deny list entry, a plain value: the plate, its list, who it is for, when
    it holds (both bounds inclusive, None: unbounded) and where (no cameras: every camera)."""

    plate: str
    kind: str
    note: str | None = None
    created_at: datetime | None = None
    """When it was first stored (None: not stored yet)."""
    owner: str | None = None
    valid_from: datetime | None = None
    valid_until: datetime | None = None
    cameras: tuple[str, ...] = ()
    direction: str = ANY_DIRECTION
