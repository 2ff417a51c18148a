"""MQTT publishing over paho-mqtt 2.x: the outbox delivered QoS 1 in order, status and Last Will.

Flow: the recorder commits a passage with its outbox rows and calls :meth:`Publisher.wake`;
the ``mqtt-delivery`` thread reads undelivered rows in id order and publishes them
QoS 1 with at most ``max_inflight`` awaiting PUBACK; each PUBACK becomes a delivery
mark written by the recorder (the single writer). Rows are published only while
connected; messages paho already holds when the link drops keep their mid and are
re-sent by paho (DUP) after the reconnect, so order holds and nothing is lost.
Rows still undelivered when the process dies are re-sent at the next start:
delivery is at-least-once, subscribers de-duplicate on ``event_id``.

Session: clean. The publisher subscribes to nothing; the durable "session" is the SQLite
outbox, which survives a daemon restart. The client id is stable (``gatecam-<site>-<host>``)
so a restarted daemon takes over its stale connection; the broker fires the old Last Will
*before* our CONNACK, and the retained ``online`` we send after it wins.

Freshness: an event captured more than ``late_after_s`` before it is sent goes out
with ``late: true``; a gate command is never sent late or after its
``expires_at`` (its row is marked delivered unsent). Gate commands follow stricter
rules (daemon/mqtt/gate.py): published only while connected, at most once per event
whatever the path (outbox or fallback), never left in paho's queue across a disconnect
(dropped, counted, logged), MQTT 5 Message Expiry set to the seconds left, withheld while
``gate_guard`` (the clock check) refuses, and signed (``sig``) when a key is given.

Protocol: MQTT 5 by default (``mqtt.protocol``), for the expiry; ``3.1.1`` for an older
broker (daemon/mqtt/client.py). TLS and credentials come from :class:`MqttConfig`; a TLS
or network failure is logged with its cause and retried with backoff.
"""

from __future__ import annotations

import logging
import socket
import ssl
import sys
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import paho.mqtt.client as mqtt

from daemon import contract
from daemon.config.models import MqttConfig
from daemon.mqtt.client import make_client
from daemon.mqtt.gate import GateGuard, GateSender
from daemon.store.db import Store
from daemon.store.recorder import Recorder

log = logging.getLogger(__name__)


class Publisher:
    """The daemon's MQTT client: outbox delivery, camera status, online/offline."""

    def __init__(
        self,
        cfg: MqttConfig,
        topics: contract.Topics,
        store: Store,
        recorder: Recorder,
        password: str | None,
        *,
        reconnect_min_s: int = 1,
        reconnect_max_s: int = 30,
        poll_s: float = 5.0,
        on_acked: Callable[[int, float], None] | None = None,
        gate_key: bytes | None = None,
        gate_guard: GateGuard | None = None,
    ) -> None:
        """Build the client; nothing connects until :meth:`start`.

        ``on_acked(outbox_id, monotonic_time_of_puback)`` is a hook for benchmarks.
        ``gate_key`` signs gate commands (HMAC-SHA256, ``sig``); ``gate_guard(ttl_s)``
        returns a reason to withhold every gate command (the clock is known to be off).
        """
        self._cfg = cfg
        self._on_acked = on_acked
        self._store = store
        self._recorder = recorder
        self._poll_s = poll_s
        self._max_inflight = cfg.max_inflight
        self._late_after = timedelta(seconds=cfg.late_after_s)
        self.status_topic = topics.status
        self._topics = topics
        self.client_id = cfg.client_id or f"gatecam-{topics.site}-{socket.gethostname()}"
        self._mqtt5 = cfg.protocol == "5"
        client = make_client(cfg, self.client_id, password)
        client.will_set(self.status_topic, contract.OFFLINE, qos=1, retain=True)
        client.reconnect_delay_set(min_delay=reconnect_min_s, max_delay=reconnect_max_s)
        # Our own bound keeps outbox rows <= max_inflight; the margin is for status messages.
        client.max_inflight_messages_set(self._max_inflight + 16)
        client.on_connect = self._on_connect
        client.on_connect_fail = self._on_connect_fail
        client.on_disconnect = self._on_disconnect
        client.on_publish = self._on_publish
        self._client = client
        self._lock = threading.Lock()
        self._inflight: dict[int, int] = {}  # mid -> outbox id awaiting PUBACK
        self._acked_mids: dict[int, float] = {}  # PUBACKs (mid -> monotonic) not yet harvested
        self._marked: set[int] = set()  # outbox ids acked, delivery mark not yet committed
        self._camera_status: dict[str, str | bytes] = {}
        self._connected = threading.Event()
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._draining = False
        self._fails = 0
        self._thread = threading.Thread(target=self._run, name="mqtt-delivery", daemon=True)
        self.gates = GateSender(client, self._connected, cfg.gate_command_ttl_s,
                                mqtt5=self._mqtt5, key=gate_key, guard=gate_guard)
        self._dropped_rows: list[int] = []  # outbox ids of gate commands purged from paho
        self.delivered = 0

    # -- lifecycle --
    def start(self) -> None:
        """Connect in the background (retrying forever) and start the delivery thread."""
        log.info("MQTT: connecting to %s:%s as %s", self._cfg.host, self._cfg.port, self.client_id)
        kwargs: dict[str, Any] = {"clean_start": True} if self._mqtt5 else {}
        self._client.connect_async(
            self._cfg.host, self._cfg.port, keepalive=self._cfg.keepalive_s, **kwargs
        )
        self._client.loop_start()
        self._thread.start()

    def stop(self, timeout: float) -> None:
        """Let in-flight messages finish, publish retained ``offline``, disconnect, stop paho."""
        deadline = time.monotonic() + timeout
        with self._lock:
            self._draining = True  # no new rows from here on
        self._wake.set()
        while time.monotonic() < deadline:
            with self._lock:
                if not self._inflight:
                    break
            time.sleep(0.02)
        self._stopping.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(max(0.1, deadline - time.monotonic()))
        if not self._thread.is_alive():
            self._harvest()  # PUBACKs that came while the delivery thread was leaving
        if self._connected.is_set():
            info = self._client.publish(self.status_topic, contract.OFFLINE, qos=1, retain=True)
            try:
                info.wait_for_publish(max(0.1, deadline - time.monotonic()))
            except (RuntimeError, ValueError) as exc:
                log.warning("MQTT: offline status not sent: %s", exc)
        self._client.disconnect()
        self._client.loop_stop()
        with self._lock:
            left = len(self._inflight)
        if left:
            log.warning("MQTT: stopped with %d message(s) unacknowledged; re-sent next start", left)
        log.info("MQTT: stopped (%d delivered)", self.delivered)

    def wake(self) -> None:
        """New outbox rows were committed: deliver them (called by the recorder)."""
        self._wake.set()

    @property
    def gate_skipped(self) -> int:
        """Gate commands not sent because they were late or expired."""
        return self.gates.skipped

    @property
    def gate_dropped(self) -> int:
        """Gate commands dropped: not connected, or link lost before their PUBACK."""
        return self.gates.dropped

    @property
    def gate_duplicates(self) -> int:
        """Second gate commands for an event already sent (fallback, then outbox)."""
        return self.gates.duplicates

    @property
    def gate_refused(self) -> int:
        """Gate commands withheld by the guard (the clock is known to be off)."""
        return self.gates.refused

    @property
    def connected(self) -> bool:
        """True between a successful CONNACK and the next disconnect."""
        return self._connected.is_set()

    def wait_connected(self, timeout: float) -> bool:
        """Block until connected; False on timeout."""
        return self._connected.wait(timeout)

    def wait_idle(self, timeout: float) -> bool:
        """True once the outbox is empty and nothing is in flight; False on timeout."""
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                busy = bool(self._inflight or self._acked_mids)
            if not busy and not self._store.pending_outbox(1):
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.02)

    def publish_camera_status(self, camera: str, payload: str) -> None:
        """Retained QoS 1 camera status, straight to the broker; re-sent after each reconnect."""
        self.publish_status(
            self._topics.camera_status(camera), payload
        )

    def publish_status(self, topic: str, payload: str | bytes) -> None:
        """Any retained QoS 1 state (status, HA discovery, snapshots); re-sent after reconnects."""
        with self._lock:
            self._camera_status[topic] = payload
        if self._connected.is_set():
            self._client.publish(topic, payload, qos=1, retain=True)

    def open_gate(self, camera: str, operator: str, reason: str) -> tuple[str, str | None]:
        """A manual open (operator page) through the gate rules, with its own ``manual-...``
        event id: (that id, None when sent or why not)."""
        event_id = f"manual-{uuid.uuid4().hex}"
        topic = self._topics.gate(camera)
        payload = contract.manual_gate_payload(event_id, datetime.now(UTC),
                                               self._cfg.gate_command_ttl_s, operator, reason)
        return event_id, self.gates.send_checked(topic, payload, "manual")[1]

    def publish_direct(self, messages: Sequence[contract.Message]) -> None:
        """Publish without the outbox (the store is failing): QoS 1, paho's memory queue only.

        A gate command goes out only under the rules of :class:`GateSender` (connected,
        fresh, once per event); events may wait in paho's queue for a reconnect.
        """
        for topic, payload, retain in messages:
            if contract.is_gate_topic(topic):
                self.gates.send(topic, payload, "fallback")
            else:
                self._client.publish(topic, payload, qos=1, retain=retain)

    # -- paho callbacks (network thread: never block, never call paho under self._lock) --
    def _on_connect(
        self, client: mqtt.Client, _userdata: Any, _flags: Any, reason: Any, _props: Any
    ) -> None:
        if reason.is_failure:
            self._fails += 1
            hint = ""
            if str(reason) in ("Bad user name or password", "Not authorized"):
                hint = " (check mqtt.username and GATECAM_MQTT_PASSWORD)"
            log.error("MQTT: broker %s:%s refused the connection: %s%s",
                      self._cfg.host, self._cfg.port, reason, hint)
            return
        if self._fails:
            log.info("MQTT: connected to %s:%s after %d failed attempt(s)",
                     self._cfg.host, self._cfg.port, self._fails)
        else:
            log.info("MQTT: connected to %s:%s", self._cfg.host, self._cfg.port)
        self._fails = 0
        self._purge_gates(client)  # paho re-sends its queue right after this callback
        client.publish(self.status_topic, contract.ONLINE, qos=1, retain=True)
        with self._lock:
            statuses = list(self._camera_status.items())
        for topic, payload in statuses:
            client.publish(topic, payload, qos=1, retain=True)
        self._connected.set()
        self._wake.set()

    def _on_connect_fail(self, _client: mqtt.Client, _userdata: Any) -> None:
        self._fails += 1
        # paho calls this inside its `except OSError:`: the cause is the exception in flight.
        exc = sys.exc_info()[1]
        cause = f"{type(exc).__name__}: {exc}" if exc is not None else "unknown error"
        if isinstance(exc, ssl.SSLError):
            cause = f"TLS failure ({cause}); check mqtt.tls"
        if self._fails == 1 or self._fails % 10 == 0:
            log.warning("MQTT: cannot reach broker %s:%s (%d attempt(s)): %s; retrying",
                        self._cfg.host, self._cfg.port, self._fails, cause)

    def _on_disconnect(
        self, _client: mqtt.Client, _userdata: Any, _flags: Any, reason: Any, _props: Any
    ) -> None:
        was = self._connected.is_set()
        self._connected.clear()
        # A command published in the race with this callback is purged again in on_connect.
        self._purge_gates(_client)
        if was and not self._stopping.is_set():
            log.warning("MQTT: disconnected from %s:%s (%s); reconnecting",
                        self._cfg.host, self._cfg.port, reason)

    def _purge_gates(self, client: mqtt.Client) -> None:
        """Drop unacknowledged gate commands from paho's queue (never re-sent late)."""
        removed = self.gates.purge(client)
        if not removed:
            return
        with self._lock:
            for mid in removed:
                outbox_id = self._inflight.pop(mid, None)
                if outbox_id is not None:  # leaves the outbox unsent (harvested)
                    self._marked.add(outbox_id)
                    self._dropped_rows.append(outbox_id)
        self._wake.set()

    def _on_publish(
        self, _client: mqtt.Client, _userdata: Any, mid: int, _reason: Any, _props: Any
    ) -> None:
        at = time.monotonic()
        with self._lock:
            self._acked_mids[mid] = at
        self._wake.set()

    # -- delivery thread --
    def _run(self) -> None:
        while not self._stopping.is_set():
            self._wake.wait(self._poll_s)
            self._wake.clear()
            try:
                self._harvest()
                if self._connected.is_set():
                    self._pump()
            except Exception:
                # A database hiccup must not end delivery; the next wake or poll retries.
                log.exception("MQTT: delivery pass failed; retrying")
                self._stopping.wait(0.5)

    def _harvest(self) -> None:
        """Turn PUBACKs into delivery marks (through the recorder, the single writer)."""
        # Only on_publish's mids count: info.is_published() raises for a message first
        # queued while the link was down (rc NO_CONN) even once paho re-sent it and got PUBACK.
        # A PUBACK that beats the registration of its mid waits in _acked_mids: this runs in
        # the delivery thread, after _pump registered everything it published.
        done: list[tuple[int, float]] = []
        with self._lock:
            dropped, self._dropped_rows = self._dropped_rows, []
            acked, self._acked_mids = self._acked_mids, {}
            for mid in acked.keys() & self._inflight.keys():
                outbox_id = self._inflight.pop(mid)
                self._marked.add(outbox_id)
                done.append((outbox_id, acked[mid]))
        for outbox_id in dropped:
            self._recorder.mark_delivered(outbox_id)
        for outbox_id, at in done:
            self._recorder.mark_delivered(outbox_id)
            if self._on_acked is not None:
                self._on_acked(outbox_id, at)
        self.delivered += len(done)

    def _skip(self, outbox_id: int) -> None:
        """A gate command not sent (reason logged and counted): marked delivered, unsent."""
        with self._lock:
            self._marked.add(outbox_id)
        self._recorder.mark_delivered(outbox_id)

    def _pump(self) -> None:
        """Publish the next undelivered rows in id order, up to ``max_inflight`` awaiting PUBACK."""
        with self._lock:
            if self._draining:
                return
            busy = set(self._inflight.values())
            capacity = self._max_inflight - len(busy)
            skip = busy | self._marked
        if capacity <= 0:
            return
        limit = capacity + len(skip)
        rows = self._store.pending_outbox(limit)
        fetched = {r.id for r in rows}
        with self._lock:
            # A marked id no longer pending below the last row fetched has its mark committed.
            top = max(fetched) if len(rows) == limit else None
            self._marked = {i for i in self._marked if i in fetched or (top and i > top)}
        now = datetime.now(UTC)
        sent: list[int] = []
        for row in rows:
            if row.id in skip:
                continue
            if len(sent) >= capacity or not self._connected.is_set() or self._stopping.is_set():
                break
            payload = row.payload
            late = now - row.captured_at > self._late_after
            if contract.is_gate_topic(row.topic):
                if late:
                    self.gates.skipped += 1
                    log.info("MQTT: gate command for %s is late; not sent", row.event_id)
                    self._skip(row.id)
                    continue
                gate_info = self.gates.send(row.topic, payload, "outbox")
                if gate_info is None:
                    self._skip(row.id)
                    continue
                info = gate_info
            else:
                if late:
                    payload = contract.mark_late(payload)
                try:
                    info = self._client.publish(row.topic, payload, qos=1, retain=row.retain)
                except ValueError as exc:  # payload or topic paho refuses: never deliverable
                    log.error("MQTT: outbox row %s cannot be published: %s", row.id, exc)
                    continue
            with self._lock:
                self._inflight[info.mid] = row.id
            sent.append(row.id)
        if sent:
            self._recorder.bump_attempts(sent)
            log.debug("MQTT: published outbox rows %s..%s", sent[0], sent[-1])
