"""Gate command safety for the publisher: send once per event, never late, never queued.

A gate command opens a barrier; a copy that arrives late or twice is worse than none.
So, whatever the path (outbox or the storage-failure fallback):

- :class:`GateLedger` remembers every event whose command was handed to the client; a
  second command for the same event (the fallback sent it, then the outbox row commits;
  or a row re-read after a purge) is suppressed.
- :func:`check_gate` decides before each send: not connected, expired, under a second
  left (MQTT 5) or refused by the clock guard means no send, with the reason.
- :func:`purge_gate_messages` removes unacknowledged gate commands from paho's queue
  on disconnect and again on connect (before paho re-sends its queue after CONNACK), so
  paho never re-sends one after a reconnect, possibly after its ``expires_at``.
- :func:`expiry_properties`: under MQTT 5 each command carries a Message Expiry
  Interval (whole seconds left, rounded down), so the broker drops it for a controller
  that is offline or slow instead of delivering it stale.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from datetime import UTC, datetime

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from daemon import contract
from daemon.config.models import MqttConfig
from daemon.errors import CredentialsError

log = logging.getLogger(__name__)

GateGuard = Callable[[float], "str | None"]
"""Given the command's time to live, a reason to refuse every gate command now (or None).

The app wires the clock check (daemon/ocr/skew.py) here."""

MIN_KEY_BYTES = 16
"""A gate key shorter than this is refused (HMAC-SHA256 wants 32 random bytes)."""

LEDGER_KEEP_S = 3600.0
"""How long an event stays in the ledger; far beyond any ``gate_command_ttl_s`` (<= 60 s)."""
LEDGER_MAX = 20_000
"""At most this many events remembered (oldest forgotten first)."""


def signing_key(cfg: MqttConfig, key: bytes | None) -> bytes | None:
    """The gate key when ``mqtt.gate_signing`` is on; CredentialsError (exit 78) if unusable."""
    if not (cfg.enabled and cfg.gate_command and cfg.gate_signing):
        return None
    if not key:
        raise CredentialsError(
            "mqtt.gate_signing is on but no gate key: set GATECAM_GATE_KEY or put a file of "
            "that name in $CREDENTIALS_DIRECTORY (systemd LoadCredential=)"
        )
    if len(key) < MIN_KEY_BYTES:
        raise CredentialsError(
            f"GATECAM_GATE_KEY is {len(key)} bytes; use at least {MIN_KEY_BYTES} "
            "(e.g. `openssl rand -hex 32`)"
        )
    return key


class GateLedger:
    """Events whose gate command went to the client (thread-safe, bounded, in memory)."""

    def __init__(self, keep_s: float = LEDGER_KEEP_S, max_events: int = LEDGER_MAX,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        """``keep_s`` and ``max_events`` bound the memory; ``monotonic`` is the clock."""
        self._keep = keep_s
        self._max = max_events
        self._clock = monotonic
        self._seen: OrderedDict[str, float] = OrderedDict()
        self._lock = threading.Lock()

    def claim(self, event_id: str) -> bool:
        """True the first time for ``event_id`` (the caller sends); False ever after."""
        now = self._clock()
        with self._lock:
            while self._seen and (
                len(self._seen) >= self._max or next(iter(self._seen.values())) < now - self._keep
            ):
                self._seen.popitem(last=False)
            if event_id in self._seen:
                return False
            self._seen[event_id] = now
            return True

    def __contains__(self, event_id: object) -> bool:
        with self._lock:
            return event_id in self._seen


Unsent = tuple[str, str]
"""(kind, reason) of a gate command not sent; kind is ``dropped``, ``skipped`` or ``refused``."""


def check_gate(
    payload: str, now: datetime, *, connected: bool, ttl_s: float, mqtt5: bool,
    guard: GateGuard | None,
) -> Unsent | None:
    """Why this gate command must not be sent now, or None to send it.

    ``dropped``: not connected (never queued for later); ``skipped``: no time left;
    ``refused``: the guard (clock check) says no.
    """
    if not connected:
        return "dropped", "not connected to the broker"
    expires = contract.gate_expires_at(payload)
    if expires is None:
        return "skipped", "no expires_at"
    left = (expires - now).total_seconds()
    if left <= 0:
        return "skipped", f"expired {-left:.1f} s ago"
    if mqtt5 and left < 1.0:
        return "skipped", f"only {left:.2f} s left (MQTT 5 expiry is in whole seconds)"
    if guard is not None:
        reason = guard(ttl_s)
        if reason:
            return "refused", reason
    return None


def expiry_properties(payload: str, now: datetime) -> Properties | None:
    """MQTT 5 PUBLISH properties with the whole seconds left before ``expires_at``."""
    expires = contract.gate_expires_at(payload)
    if expires is None:
        return None
    left = math.floor((expires - now).total_seconds())
    if left < 1:
        return None
    props = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
    props.MessageExpiryInterval = left
    return props


def purge_gate_messages(client: mqtt.Client, mids: set[int] | None = None) -> list[tuple[int, str]]:
    """Remove unacknowledged gate commands (or just ``mids``) from paho's outgoing queue.

    Returns (mid, payload) of each removed. paho 2.x has no public call for one message
    (``drop_out_messages`` drops all, status and events too), so this takes paho's own
    outgoing lock and edits its queue; call it while disconnected or from on_connect,
    where paho recounts its in-flight window before re-sending (``_handle_connack``).
    """
    removed: list[tuple[int, str]] = []
    with client._out_message_mutex:
        queue = client._out_messages
        for mid, msg in list(queue.items()):
            if (mids is None or mid in mids) and contract.is_gate_topic(msg.topic):
                del queue[mid]
                removed.append((mid, msg.payload.decode("utf-8", "replace")))
    return removed


class GateSender:
    """Sends gate commands for the publisher under the rules above, and counts what it did not."""

    def __init__(self, client: mqtt.Client, connected: threading.Event, ttl_s: float, *,
                 mqtt5: bool, key: bytes | None = None, guard: GateGuard | None = None) -> None:
        """``connected`` is the publisher's CONNACK-to-disconnect flag."""
        self._client = client
        self._connected = connected
        self._ttl = ttl_s
        self._mqtt5 = mqtt5
        self._key = key
        self._guard = guard
        self._ledger = GateLedger()
        self._lock = threading.Lock()  # check + claim + publish of one command at a time
        self.skipped = 0
        """Not sent: late or expired (or under a second left with MQTT 5)."""
        self.dropped = 0
        """Not sent, or purged from paho's queue: the link was down or dropped before PUBACK."""
        self.duplicates = 0
        """Suppressed: the event's command had already been sent (fallback, then outbox)."""
        self.refused = 0
        """Withheld by the guard (clock known to be off by more than the time to live)."""

    def send(self, topic: str, payload: str, path: str) -> mqtt.MQTTMessageInfo | None:
        """Publish one command (signed, with MQTT 5 expiry) if allowed; None if not sent.

        ``path`` (``outbox`` / ``fallback`` / ``manual``) is for the log; the caller marks
        an outbox row of a command not sent as delivered, unsent.
        """
        return self.send_checked(topic, payload, path)[0]

    def send_checked(self, topic: str, payload: str, path: str
                     ) -> tuple[mqtt.MQTTMessageInfo | None, str | None]:
        """:meth:`send`, also saying why a command was not sent (None when it was)."""
        event_id = contract.gate_event_id(payload)
        with self._lock:
            now = datetime.now(UTC)
            if event_id in self._ledger:
                self.duplicates += 1
                log.info("MQTT: gate command for %s already sent; %s copy suppressed",
                         event_id, path)
                return None, "already sent for this event"
            unsent = check_gate(payload, now, connected=self._connected.is_set(),
                                ttl_s=self._ttl, mqtt5=self._mqtt5, guard=self._guard)
            if unsent is not None:
                self._count(event_id, path, *unsent)
                return None, f"{unsent[0]}: {unsent[1]}"
            self._ledger.claim(event_id)
            if self._key is not None:
                payload = contract.sign_gate_payload(self._key, topic, payload)
            props = expiry_properties(payload, now) if self._mqtt5 else None
            info = self._client.publish(topic, payload, qos=1, retain=False, properties=props)
            if info.rc != mqtt.MQTT_ERR_SUCCESS:  # the link dropped under us: never queue it
                purge_gate_messages(self._client, {info.mid})
                why = f"not sent ({mqtt.error_string(info.rc)})"
                self._count(event_id, path, "dropped", why)
                return None, f"dropped: {why}"
            return info, None

    def purge(self, client: mqtt.Client) -> list[int]:
        """Drop unacknowledged gate commands from paho's queue (counted, logged); their mids."""
        removed = purge_gate_messages(client)
        for _mid, payload in removed:
            self.dropped += 1
            log.warning("MQTT: gate command for %s dropped: link lost before the broker "
                        "acknowledged it (never re-sent)", contract.gate_event_id(payload))
        return [mid for mid, _ in removed]

    def _count(self, event_id: str, path: str, kind: str, reason: str) -> None:
        if kind == "skipped":
            self.skipped += 1
            log.info("MQTT: %s gate command for %s not sent: %s", path, event_id, reason)
        elif kind == "refused":
            self.refused += 1
            log.warning("MQTT: gate command for %s withheld: %s (the passage is still "
                        "recorded and published)", event_id, reason)
        else:
            self.dropped += 1
            log.warning("MQTT: %s gate command for %s dropped: %s", path, event_id, reason)
