"""Gate commands never late, never twice: broker killed/paused mid-command, the storage-failure
fallback, an offline controller (MQTT 5 message expiry), a clock known to be wrong.

Real mosquitto (scripts/rig/broker.py) and real SQLite; arrival times are taken by the
subscriber as messages come in and compared with each command's ``expires_at``.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from sqlalchemy import event

from daemon import contract
from daemon.access import AccessControl
from daemon.config.models import AccessConfig, MqttConfig
from daemon.domain import Passage
from daemon.mqtt.publisher import Publisher
from daemon.store.db import Store
from daemon.store.recorder import Recorder
from scripts.rig.broker import Mosquitto, Received
from tests.support.daemon import TOPICS, site_topics
from tests.support.mqtt import controller

ALLOWED = "粤B12345"
GATE_SCHEMA = jsonschema.Draft202012Validator(
    json.loads(contract.GATE_SCHEMA_PATH.read_text(encoding="utf-8")),
    format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER,
)


def passage(site: str, plate: str = ALLOWED, at: datetime | None = None) -> Passage:
    t = at or datetime.now(UTC)
    return Passage(
        event_id=str(uuid.uuid4()), site=site, camera="entry-1", direction="entry",
        captured_at=t, decided_at=t + timedelta(milliseconds=200), plate=plate, color="蓝",
        confidence=99, category="实体车牌", ocr_calls=1,
    )


@dataclass
class Rig:
    store: Store
    recorder: Recorder
    publisher: Publisher
    site: str

    def gate_topic(self) -> str:
        return contract.gate_topic("gatecam", self.site, "entry-1")

    def passage_topic(self) -> str:
        return contract.passage_topic("gatecam", self.site, "entry-1")

    def close(self) -> None:
        self.publisher.stop(5)
        self.recorder.stop(5)
        self.store.close()


def build(broker: Mosquitto, db: Path, *, ttl: float = 5.0, gate_key: bytes | None = None,
          gate_guard: Callable[[float], str | None] | None = None, **mqtt: Any) -> Rig:
    site = f"lot-{uuid.uuid4().hex[:6]}"
    store = Store(f"sqlite:///{db}")
    store.access_add(ALLOWED, "allow")
    holder: list[Publisher] = []
    recorder = Recorder(
        store, None, TOPICS, lambda _p: holder[0].wake() if holder else None,
        decide=AccessControl(store, AccessConfig()).apply, gate_ttl_s=ttl,
        fallback=lambda _p, msgs: holder[0].publish_direct(msgs),
        retry_min_s=0.02, retry_max_s=0.2,
    )
    cfg = MqttConfig.model_validate({
        "port": broker.port, "client_id": f"pub-{site}", "keepalive_s": 5,
        "gate_command": True, "gate_command_ttl_s": ttl, **mqtt})
    publisher = Publisher(cfg, site_topics(site),
                          store, recorder, None, reconnect_max_s=1, poll_s=0.5,
                          gate_key=gate_key, gate_guard=gate_guard)
    holder.append(publisher)
    recorder.start()
    publisher.start()
    assert publisher.wait_connected(5)
    return Rig(store, recorder, publisher, site)


def late_commands(msgs: list[Received]) -> list[tuple[str, float]]:
    """(event_id, seconds after expires_at) of every command that arrived after its expiry."""
    late = []
    for m in msgs:
        cmd = json.loads(m.payload)
        GATE_SCHEMA.validate(cmd)
        expires = datetime.fromisoformat(cmd["expires_at"]).timestamp()
        if m.at > expires:
            late.append((cmd["event_id"], round(m.at - expires, 2)))
    return late


def wait(cond: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.05)
    return cond()


def test_fallback_gate_command_is_not_queued_while_the_broker_is_away(
    broker: Mosquitto, tmp_path: Path
) -> None:
    rig = build(broker, tmp_path / "g.db", ttl=1.5)
    sub = controller(broker, rig.site)
    try:
        broker.kill()
        assert wait(lambda: not rig.publisher.connected, 15)
        p = passage(rig.site).replace(access="allow", access_reason="allow_list")
        rig.publisher.publish_direct(contract.passage_messages("gatecam", p, 1.5))
        assert rig.publisher.gate_dropped == 1  # refused at once: not connected
        time.sleep(2.0)  # the command expires while the broker is away
        broker.start()
        assert rig.publisher.wait_connected(10) and sub.wait_connected(10)
        time.sleep(1.5)
        assert late_commands(sub.matching(rig.gate_topic())) == []
        assert sub.matching(rig.gate_topic()) == []
    finally:
        sub.close()
        rig.close()


def test_gate_command_in_flight_at_a_broker_crash_is_not_resent_late(
    broker: Mosquitto, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    rig = build(broker, tmp_path / "g.db", ttl=1.5)
    sub = controller(broker, rig.site)
    try:
        broker.pause()  # PUBLISH written to the socket, no PUBACK will come
        p = passage(rig.site)
        with caplog.at_level(logging.WARNING, logger="daemon.mqtt"):
            assert rig.recorder.submit_passage(p, [])
            assert rig.recorder.flush(5)
            time.sleep(0.5)
            broker.kill()
            assert wait(lambda: not rig.publisher.connected, 15)
        time.sleep(1.5)  # past expires_at
        broker.start()
        assert rig.publisher.wait_idle(15)
        assert sub.wait_connected(10)
        events = sub.wait_for(rig.passage_topic(), 1, 10)  # the event itself is re-sent
        assert json.loads(events[0].payload)["event_id"] == p.event_id
        time.sleep(1.0)
        assert late_commands(sub.matching(rig.gate_topic())) == []
        assert sub.matching(rig.gate_topic()) == []
        assert rig.publisher.gate_dropped == 1
        assert rig.store.pending_outbox(10) == []  # the dropped command left the outbox
        assert any("dropped" in r.getMessage() and p.event_id in r.getMessage()
                   for r in caplog.records)
    finally:
        sub.close()
        rig.close()


def test_mqtt5_expiry_keeps_a_stale_command_from_an_offline_controller(
    broker: Mosquitto, tmp_path: Path
) -> None:
    rig = build(broker, tmp_path / "g.db", ttl=2.0)
    sub = controller(broker, rig.site)
    sub.close()  # the controller goes away; its session keeps collecting QoS 1 messages
    try:
        p = passage(rig.site)
        assert rig.recorder.submit_passage(p, [])
        assert rig.publisher.wait_idle(10)  # the broker acknowledged event and command
        time.sleep(2.5)  # the command expires while the controller is offline
        back = controller(broker, rig.site)
        try:
            events = back.wait_for(rig.passage_topic(), 1, 10)
            assert json.loads(events[0].payload)["event_id"] == p.event_id
            time.sleep(0.5)
            assert back.matching(rig.gate_topic()) == []
        finally:
            back.close()
    finally:
        rig.close()


def test_gate_command_goes_out_once_when_the_store_fails_then_recovers(
    broker: Mosquitto, tmp_path: Path
) -> None:
    rig = build(broker, tmp_path / "g.db", ttl=5.0)
    sub = controller(broker, rig.site)
    full = threading.Event()
    full.set()

    def on_begin(conn: Any) -> None:  # a card gone read-only, then writable again
        conn.connection.dbapi_connection.execute(
            f"PRAGMA query_only = {1 if full.is_set() else 0}")

    event.listen(rig.store.engine, "begin", on_begin)
    try:
        p1 = passage(rig.site)
        rig.recorder.submit_passage(p1, [])  # fails, published by the fallback
        sub.wait_for(rig.gate_topic(), 1, 5)
        p2 = passage(rig.site)
        rig.recorder.submit_passage(p2, [])  # while failing: fallback at submit time
        sub.wait_for(rig.gate_topic(), 2, 5)
        full.clear()  # writable again well within the commands' 5 s
        assert rig.recorder.flush(10)
        assert rig.store.passage_count() == 2
        assert rig.publisher.wait_idle(10)
        sub.wait_for(rig.passage_topic(), 4, 10)  # fallback and outbox copies of both events
        time.sleep(0.5)
        ids = [json.loads(m.payload)["event_id"] for m in sub.matching(rig.gate_topic())]
        assert sorted(ids) == sorted([p1.event_id, p2.event_id])  # once per event
        assert rig.publisher.gate_duplicates == 2
    finally:
        full.clear()
        sub.close()
        rig.close()


def test_no_gate_command_while_the_clock_is_known_to_be_off(
    broker: Mosquitto, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    skew = {"s": 30.0}

    def guard(ttl: float) -> str | None:
        return f"clock off by {skew['s']:+.1f} s" if abs(skew["s"]) > ttl else None

    rig = build(broker, tmp_path / "g.db", ttl=5.0, gate_guard=guard)
    sub = controller(broker, rig.site)
    try:
        p = passage(rig.site)
        with caplog.at_level(logging.WARNING, logger="daemon.mqtt"):
            rig.recorder.submit_passage(p, [])
            events = sub.wait_for(rig.passage_topic(), 1, 10)
            assert rig.publisher.wait_idle(10)
        assert json.loads(events[0].payload)["access"] == "allow"  # recorded and published
        assert sub.matching(rig.gate_topic()) == []
        assert rig.publisher.gate_refused == 1
        assert any(p.event_id in r.getMessage() and "clock off by +30.0 s" in r.getMessage()
                   for r in caplog.records)
        skew["s"] = 0.4  # corrected: commands flow again
        p2 = passage(rig.site)
        rig.recorder.submit_passage(p2, [])
        cmd = json.loads(sub.wait_for(rig.gate_topic(), 1, 10)[0].payload)
        assert cmd["event_id"] == p2.event_id
    finally:
        sub.close()
        rig.close()
