"""Publisher.open_gate (the operator page's manual open): the gate rules of every command.

Real mosquitto and SQLite: a manual open is sent once, valid against the gate schema
with the operator and reason; with the broker away it is dropped with the reason, never
queued to arrive later.
"""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path

import jsonschema

from daemon import contract
from daemon.access import AccessControl
from daemon.config.models import AccessConfig, MqttConfig
from daemon.mqtt.publisher import Publisher
from daemon.store.db import Store
from daemon.store.recorder import Recorder
from scripts.rig.broker import Mosquitto, Subscriber
from tests.support.daemon import TOPICS, site_topics, wait_until

SCHEMA = jsonschema.Draft202012Validator(
    json.loads(contract.GATE_SCHEMA_PATH.read_text(encoding="utf-8")),
    format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)


def test_manual_open_is_sent_once_and_never_queued(tmp_path: Path) -> None:
    site = f"lot-{uuid.uuid4().hex[:6]}"
    with Mosquitto() as broker:
        store = Store(f"sqlite:///{tmp_path}/g.db")
        recorder = Recorder(store, None, TOPICS, lambda _p: None,
                            decide=AccessControl(store, AccessConfig()).apply, gate_ttl_s=5)
        cfg = MqttConfig.model_validate({"port": broker.port, "gate_command": True,
                                         "gate_command_ttl_s": 5, "keepalive_s": 5})
        pub = Publisher(cfg, site_topics(site), store, recorder, None, reconnect_max_s=1,
                        poll_s=0.5)
        recorder.start()
        pub.start()
        sub = Subscriber(broker.port, (f"gatecam/{site}/+/gate",))
        try:
            assert pub.wait_connected(5) and sub.wait_connected()
            event_id, why = pub.open_gate("exit-1", "alice", "intercom")
            assert why is None and event_id.startswith("manual-")
            [msg] = sub.wait_for(f"gatecam/{site}/exit-1/gate", timeout=5)
            cmd = json.loads(msg.payload)
            SCHEMA.validate(cmd)
            assert (cmd["event_id"], cmd["operator"], cmd["reason"]) == (event_id, "alice",
                                                                         "intercom")
            broker.stop()
            assert wait_until(lambda: not pub.connected, 10)
            _, why = pub.open_gate("exit-1", "alice", "broker away")
            assert why is not None and why.startswith("dropped")
            broker.start()
            assert pub.wait_connected(10) and sub.wait_connected(10)
            time.sleep(1.0)  # anything paho had queued would arrive now
            assert [json.loads(m.payload)["reason"] for m in sub.matching(
                f"gatecam/{site}/exit-1/gate")] == ["intercom"]  # the dropped one never came
        finally:
            sub.close()
            pub.stop(5)
            recorder.stop(5)
            store.close()
