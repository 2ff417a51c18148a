"""Home Assistant MQTT discovery, live: a real App publishes to a private mosquitto and what a
late subscriber (Home Assistant starting) finds there follows HA's discovery conventions.

The templates are rendered with Jinja2 in a sandbox, as HA renders them, against the
payloads gatecam really published on the state topics; every passage event and gate
command seen on the way is checked against its JSON Schema.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from jinja2.sandbox import ImmutableSandboxedEnvironment

from daemon import contract
from daemon.app import App
from daemon.config.secrets import Secrets
from daemon.ocr.emulator.server import EmulatorServer
from daemon.store.db import Store
from scripts.rig.broker import Mosquitto, Received, Subscriber
from tests.support.clips import ClipStore, clips
from tests.support.config import make_config
from tests.support.daemon import E2E_SECRET_ID, E2E_SECRET_KEY, wait_until

__all__ = ["clips"]

# HA: <discovery_prefix>/<component>/[<node_id>/]<object_id>/config, ids of [a-zA-Z0-9_-].
CONFIG_TOPIC = re.compile(
    r"^homeassistant/(?P<component>sensor|binary_sensor)/(?P<node>[A-Za-z0-9_-]+)/"
    r"(?P<object>[A-Za-z0-9_-]+)/config$"
)
# HA's entity id (homeassistant.core.valid_entity_id): lower-case slug, no double underscore.
ENTITY_ID = re.compile(r"^(?!.+__)(?!_)[\da-z_]+(?<!_)\.(?!_)[\da-z_]+(?<!_)$")


def _validator(path: Path) -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(
        json.loads(path.read_text(encoding="utf-8")),
        format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER,
    )


def _render(template: str, payload: str) -> str:
    """What HA does with a value template: ``value`` and ``value_json`` in a sandbox."""
    env = ImmutableSandboxedEnvironment()
    return env.from_string(template).render(value=payload, value_json=json.loads(payload))


def _retained(sub: Subscriber, topic: str) -> Received:
    """The retained copy the broker handed a new subscriber (a live publish on the same
    topic may arrive beside it, without the flag)."""
    sub.wait_for(topic, 1, 10)
    assert wait_until(lambda: any(m.retain for m in sub.matching(topic)), 5), (
        f"{topic} is not retained"
    )
    return [m for m in sub.matching(topic) if m.retain][-1]


@pytest.mark.timeout(120)
def test_discovery_follows_home_assistant_conventions(
    tmp_path: Path, clips: ClipStore, ocr_emulator: EmulatorServer,
) -> None:
    clip, truth = clips.get("one_car", size=(640, 360), fps=10)
    plate = truth["vehicles"][0]["plate"]
    db = f"sqlite:///{tmp_path}/g.db"
    seed = Store(db)
    seed.access_add(plate, "allow")  # so a gate command is published too
    seed.close()
    site = "lot-ha"
    with Mosquitto() as broker:
        cfg = make_config(
            tmp_path, clip, ocr_emulator.url, site=site, store={"url": db},
            mqtt={"enabled": True, "port": broker.port, "ha_discovery": True,
                  "gate_command": True, "client_id": "gatecam-ha-test"},
            health={"metrics_enabled": False},
        )
        app = App(cfg, Secrets(E2E_SECRET_ID, E2E_SECRET_KEY, None))
        app.start()
        watch = Subscriber(broker.port, (f"gatecam/{site}/#",))
        try:
            assert app.stages().publisher is not None and app.stages().publisher.wait_connected(10)
            assert watch.wait_connected(5)
            assert wait_until(lambda: app.passages >= 1, 60), "no passage from the clip"
            assert app.drain(10)
            # Home Assistant connects late: it must find everything retained.
            ha = Subscriber(broker.port, ("homeassistant/#", f"gatecam/{site}/#"))
            try:
                assert ha.wait_connected(5)
                configs = ha.wait_for("homeassistant/#", 2, 10)
                time.sleep(0.3)
                _check_configs(ha, ha.matching("homeassistant/#"), site)
            finally:
                ha.close()
            _check_payloads(watch, site)
        finally:
            watch.close()
            app.stop()
    assert len(configs) >= 2


def _check_configs(ha: Subscriber, configs: list[Received], site: str) -> None:
    assert sorted(CONFIG_TOPIC.match(c.topic).group("component")  # type: ignore[union-attr]
                  for c in configs) == ["binary_sensor", "sensor"], [c.topic for c in configs]
    availability = _retained(ha, f"gatecam/{site}/status")
    assert availability.payload == "online"
    unique_ids = set()
    for msg in configs:
        m = CONFIG_TOPIC.match(msg.topic)
        assert m is not None and msg.retain and msg.qos == 1, msg
        component = m.group("component")
        cfg: dict[str, Any] = json.loads(msg.payload)
        unique_ids.add(cfg["unique_id"])
        assert cfg["name"] and cfg["unique_id"]
        assert ENTITY_ID.match(cfg["default_entity_id"]), cfg["default_entity_id"]
        assert cfg["default_entity_id"].split(".")[0] == component
        assert cfg["device"]["identifiers"] == [m.group("node")] and cfg["device"]["name"]
        assert cfg["origin"]["name"] == "gatecam"
        assert cfg["availability_topic"] == availability.topic
        assert cfg["payload_available"] == availability.payload
        state = _retained(ha, cfg["state_topic"])  # a real gatecam topic, retained
        value = _render(cfg["value_template"], state.payload)
        if component == "sensor":
            event = json.loads(state.payload)
            assert value == (event["plate"] or "none")
            assert cfg["json_attributes_topic"] == cfg["state_topic"]
            attrs = json.loads(_render(cfg["json_attributes_template"], state.payload))
            assert attrs["decision"] == event["access"] and attrs["color"] == event["color"]
            assert attrs["captured_at"] == event["captured_at"]
        else:
            assert cfg["device_class"] == "connectivity"
            assert value == cfg["payload_on"] == "ON"  # the looping clip is streaming
    assert len(unique_ids) == len(configs)


def _check_payloads(watch: Subscriber, site: str) -> None:
    """Every passage event and gate command the App published satisfies its schema."""
    passage_schema = _validator(contract.PASSAGE_SCHEMA_PATH)
    gate_schema = _validator(contract.GATE_SCHEMA_PATH)
    events = watch.matching(f"gatecam/{site}/+/passage")
    assert events
    allowed = []
    for e in events:
        event = json.loads(e.payload)
        passage_schema.validate(event)
        assert not e.retain
        if event["access"] == "allow" and not event["late"]:
            allowed.append(event["event_id"])
    gates = watch.matching(f"gatecam/{site}/+/gate")
    for g in gates:
        gate_schema.validate(json.loads(g.payload))
        assert not g.retain
    opened = [json.loads(g.payload)["event_id"] for g in gates]
    assert set(opened) <= set(allowed)  # only for allow (a later loop may still be in flight)
    assert opened[:1] == allowed[:1], (allowed, opened)  # allowed unless OCR misread it
