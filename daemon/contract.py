"""MQTT topic names and payloads (pure: no I/O, no clock).

Topics (ARCHITECTURE.md, "MQTT"), with ``prefix`` the configured ``mqtt.topic_prefix``:

- ``<prefix>/<site>/status``                   retained ``online`` / ``offline`` (Last Will)
- ``<prefix>/<site>/<camera>/status``          retained JSON camera state
- ``<prefix>/<site>/<camera>/passage``         NOT retained passage event
- ``<prefix>/<site>/<camera>/passage/last``    retained copy of the latest passage
- ``<prefix>/<site>/<camera>/gate``            NOT retained ``open`` command for ``allow``

Payloads are JSON, UTF-8, compact, with ``ensure_ascii=False`` (plates stay readable)
and a stable key order (the order the builders insert keys in).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from daemon.domain import Passage, utc_iso

PASSAGE_SCHEMA_PATH = Path(__file__).parent / "schemas" / "passage.schema.json"
"""JSON Schema (draft 2020-12) of the passage event."""
GATE_SCHEMA_PATH = Path(__file__).parent / "schemas" / "gate.schema.json"
"""JSON Schema (draft 2020-12) of the gate command."""

ONLINE = "online"
OFFLINE = "offline"
CAMERA_STATES = frozenset({"streaming", "reconnecting", "offline"})

Message = tuple[str, str, bool]
"""(topic, payload, retain) as stored in the outbox and published with QoS 1."""


def _segment(value: str, what: str) -> str:
    """One topic level: non-empty, no wildcard, no separator."""
    if not value or any(ch in value for ch in "+#/\x00"):
        raise ValueError(f"{what} {value!r} cannot be an MQTT topic level")
    return value


def check_prefix(prefix: str) -> str:
    """``prefix`` if it can start every topic, else ValueError saying why (the config uses it).

    It may span levels (``acme/gatecam``) but no level may be empty (a leading, trailing
    or doubled ``/``), hold a wildcard (``+``, ``#``), NUL or white space, and it may not
    start with ``$``: brokers reserve those topics (``$SYS``) and refuse or drop publishes.
    """
    if not prefix:
        raise ValueError("topic prefix is empty")
    if prefix.startswith("$"):
        raise ValueError(f"topic prefix {prefix!r} starts with '$': brokers reserve those topics")
    if any(ch in prefix for ch in "+#\x00") or any(ch.isspace() for ch in prefix):
        raise ValueError(f"topic prefix {prefix!r} holds a wildcard, NUL or white space")
    if "" in prefix.split("/"):
        raise ValueError(f"topic prefix {prefix!r} has an empty level (a leading, trailing "
                         "or doubled '/')")
    return prefix


def _prefix(prefix: str) -> str:
    return check_prefix(prefix)


def site_status_topic(prefix: str, site: str) -> str:
    """``<prefix>/<site>/status``: the daemon's online/offline flag and Last Will."""
    return f"{_prefix(prefix)}/{_segment(site, 'site')}/status"


def camera_status_topic(prefix: str, site: str, camera: str) -> str:
    """``<prefix>/<site>/<camera>/status``: retained camera state."""
    return f"{_prefix(prefix)}/{_segment(site, 'site')}/{_segment(camera, 'camera')}/status"


def passage_topic(prefix: str, site: str, camera: str) -> str:
    """``<prefix>/<site>/<camera>/passage``: the (never retained) passage event."""
    return f"{_prefix(prefix)}/{_segment(site, 'site')}/{_segment(camera, 'camera')}/passage"


def passage_last_topic(prefix: str, site: str, camera: str) -> str:
    """``<prefix>/<site>/<camera>/passage/last``: retained latest passage for dashboards."""
    return passage_topic(prefix, site, camera) + "/last"


def snapshot_topic(prefix: str, site: str, camera: str) -> str:
    """``<prefix>/<site>/<camera>/snapshot``: retained JPEG of the last passage's plate area."""
    return f"{_prefix(prefix)}/{_segment(site, 'site')}/{_segment(camera, 'camera')}/snapshot"


def ocr_calls_topic(prefix: str, site: str) -> str:
    """``<prefix>/<site>/ocr/calls``: retained ``{"day", "calls"}``, cloud calls today."""
    return f"{_prefix(prefix)}/{_segment(site, 'site')}/ocr/calls"


def gate_topic(prefix: str, site: str, camera: str) -> str:
    """``<prefix>/<site>/<camera>/gate``: the (never retained) gate command."""
    return f"{_prefix(prefix)}/{_segment(site, 'site')}/{_segment(camera, 'camera')}/gate"


@dataclass(frozen=True, slots=True)
class Topics:
    """The daemon's MQTT identity, ``<prefix>/<site>``, and every topic under it.

    Built once from the config (``mqtt.topic_prefix``, ``site``) and handed to whatever
    publishes: the publisher, the recorder (outbox rows), discovery, the snapshot feed.
    """

    prefix: str
    site: str

    def __post_init__(self) -> None:
        _prefix(self.prefix)
        _segment(self.site, "site")

    @property
    def status(self) -> str:
        """``<prefix>/<site>/status``: online/offline, the Last Will."""
        return site_status_topic(self.prefix, self.site)

    def camera_status(self, camera: str) -> str:
        """``<prefix>/<site>/<camera>/status`` (also ``ocr`` and ``storage``)."""
        return camera_status_topic(self.prefix, self.site, camera)

    def passage(self, camera: str) -> str:
        """``<prefix>/<site>/<camera>/passage``: the (never retained) event."""
        return passage_topic(self.prefix, self.site, camera)

    def passage_last(self, camera: str) -> str:
        """``<prefix>/<site>/<camera>/passage/last``: the retained latest event."""
        return passage_last_topic(self.prefix, self.site, camera)

    def snapshot(self, camera: str) -> str:
        """``<prefix>/<site>/<camera>/snapshot``: the retained JPEG."""
        return snapshot_topic(self.prefix, self.site, camera)

    def gate(self, camera: str) -> str:
        """``<prefix>/<site>/<camera>/gate``: the (never retained) gate command."""
        return gate_topic(self.prefix, self.site, camera)

    @property
    def ocr_calls(self) -> str:
        """``<prefix>/<site>/ocr/calls``: the retained count of cloud calls today."""
        return ocr_calls_topic(self.prefix, self.site)

    def passage_messages(self, passage: Passage, gate_ttl_s: float | None = None) -> list[Message]:
        """:func:`passage_messages` under this prefix (the passage names its own site)."""
        return passage_messages(self.prefix, passage, gate_ttl_s)


def is_gate_topic(topic: str) -> bool:
    """True for a gate command topic (the publisher checks freshness before sending one)."""
    return topic.endswith("/gate")


def gate_payload(passage: Passage, ttl_s: float) -> str:
    """``{"action": "open", "event_id", "expires_at"}``; expires ``ttl_s`` after capture."""
    return encode({
        "action": "open",
        "event_id": passage.event_id,
        "expires_at": utc_iso(passage.captured_at + timedelta(seconds=ttl_s)),
    })


def manual_gate_payload(event_id: str, now: datetime, ttl_s: float, operator: str,
                        reason: str) -> str:
    """A manual open from the operator page: the gate command plus who opened it and why
    (``operator``, ``reason``: outside the signature, for the controller's log)."""
    return encode({
        "action": "open",
        "event_id": event_id,
        "expires_at": utc_iso(now + timedelta(seconds=ttl_s)),
        "operator": operator,
        "reason": reason,
    })


def gate_expires_at(payload: str) -> datetime | None:
    """The ``expires_at`` of a gate command payload; None if it has none (never send it)."""
    try:
        value = json.loads(payload).get("expires_at")
        return datetime.fromisoformat(value) if isinstance(value, str) else None
    except (ValueError, AttributeError):
        return None


GATE_SIG_VERSION = "gatecam-gate-v1"
"""First line of the signed text; a new layout gets a new version."""


def gate_canonical(topic: str, command: dict[str, Any]) -> bytes:
    """The bytes a gate command's ``sig`` covers (README, "Signed gate commands").

    Six lines joined by ``\\n``, UTF-8, no trailing newline: ``gatecam-gate-v1``, site,
    camera (the two topic levels before ``gate``), action, event_id, expires_at exactly
    as in the payload. The topic is covered so a command cannot be replayed at another gate.
    """
    levels = topic.split("/")
    if len(levels) < 4 or levels[-1] != "gate":
        raise ValueError(f"{topic!r} is not a gate topic")
    fields = [GATE_SIG_VERSION, levels[-3], levels[-2], str(command.get("action", "")),
              str(command.get("event_id", "")), str(command.get("expires_at", ""))]
    if any("\n" in f for f in fields):
        raise ValueError("a signed field may not hold a newline")
    return "\n".join(fields).encode("utf-8")


def gate_signature(key: bytes, topic: str, command: dict[str, Any]) -> str:
    """Lower-case hex HMAC-SHA256 of :func:`gate_canonical` under ``key``."""
    return hmac.new(key, gate_canonical(topic, command), hashlib.sha256).hexdigest()


def sign_gate_payload(key: bytes, topic: str, payload: str) -> str:
    """The gate command ``payload`` with ``"sig"`` appended (any earlier ``sig`` replaced)."""
    command = json.loads(payload)
    command.pop("sig", None)
    command["sig"] = gate_signature(key, topic, command)
    return encode(command)


def gate_event_id(payload: str) -> str:
    """The ``event_id`` of a gate command payload ("" when unreadable)."""
    try:
        value = json.loads(payload).get("event_id")
    except (ValueError, AttributeError):
        return ""
    return value if isinstance(value, str) else ""


def encode(obj: Any) -> str:
    """Compact JSON text, UTF-8 characters kept as they are, keys in insertion order."""
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def passage_messages(
    prefix: str, passage: Passage, gate_ttl_s: float | None = None
) -> list[Message]:
    """The outbox rows for one passage: the event (not retained), the gate command (only
    with ``gate_ttl_s`` and ``access == "allow"``, not retained), then ``passage/last``
    (retained).

    Event and ``last`` carry the same payload; the order matters, a controller gets
    the live event before dashboards get the retained copy.
    """
    payload = encode(passage.as_event())
    messages = [(passage_topic(prefix, passage.site, passage.camera), payload, False)]
    if gate_ttl_s is not None and passage.access == "allow":
        messages.append(
            (gate_topic(prefix, passage.site, passage.camera), gate_payload(passage, gate_ttl_s),
             False)
        )
    messages.append((passage_last_topic(prefix, passage.site, passage.camera), payload, True))
    return messages


def correction_messages(
    prefix: str, corrected: Passage, corrects: str, gate_ttl_s: float | None = None
) -> list[Message]:
    """The outbox rows of a corrected event: as :func:`passage_messages`, the event and
    ``passage/last`` carrying ``corrects`` (the original event_id). The gate command, if
    any, still expires ``gate_ttl_s`` after the original capture: a correction made later
    never opens a gate (the publisher skips it as late)."""
    return [
        (topic, payload if is_gate_topic(topic)
         else encode({**json.loads(payload), "corrects": corrects}), retain)
        for topic, payload, retain in passage_messages(prefix, corrected, gate_ttl_s)
    ]


def capture_status_payload(
    state: str, fps: float, last_frame_at: datetime | None, **detail: Any
) -> str | None:
    """The retained status for a capture thread's state, None when there is none to send.

    The contract's states are streaming, reconnecting and offline: "starting" is not worth
    a retained message, and a clip that ended is offline. ``detail``: see
    :func:`camera_status_payload`.
    """
    if state == "starting":
        return None
    return camera_status_payload({"ended": "offline"}.get(state, state), fps, last_frame_at,
                                 **detail)


def camera_status_payload(
    state: str, fps: float, last_frame_at: datetime | None, **detail: Any
) -> str:
    """Retained camera status JSON: ``{"state", "fps", "last_frame_at"}`` and the capture's
    ``detail`` when given: ``streams`` in use (``["detect", "main"]``, ``["main"]``,
    ``["detect"]``), ``reading`` (the stream plates are read from), ``decoding`` (``idle``:
    the main stream is not decoded at full rate; ``full``) and ``error`` (why a stream is
    not in use, password-redacted)."""
    if state not in CAMERA_STATES:
        raise ValueError(f"camera state {state!r} is not one of {sorted(CAMERA_STATES)}")
    return encode(
        {
            "state": state,
            "fps": round(float(fps), 1),
            "last_frame_at": utc_iso(last_frame_at) if last_frame_at is not None else None,
            **detail,
        }
    )


def mark_late(payload: str) -> str:
    """The same event with ``late: true``; any payload that is not a passage event is unchanged.

    Used at send time for outbox rows that waited too long (broker away), so a
    controller can tell a fresh event from a backlog.
    """
    try:
        event = json.loads(payload)
    except ValueError:
        return payload
    if not isinstance(event, dict) or "event_id" not in event or "late" not in event:
        return payload
    if event["late"] is True:
        return payload
    event["late"] = True
    return encode(event)
