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
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import cv2
import jsonschema
import numpy as np
import pytest

from daemon import contract
from daemon.app import App
from daemon.config.secrets import Secrets
from daemon.domain import Passage, Rect
from daemon.mqtt.discovery import EVENT_TYPES, discovery_messages
from daemon.ocr.emulator.server import EmulatorServer
from daemon.store.db import Store
from scripts.rig.broker import Mosquitto, Received, Subscriber
from scripts.rig.clips import ClipStore, clips
from tests.support.config import make_config
from tests.support.daemon import E2E_SECRET_ID, E2E_SECRET_KEY, TOPICS, wait_until
from tests.support.homeassistant import PAYLOAD_NONE, event_fired, render, validate

__all__ = ["clips"]

# HA: <discovery_prefix>/<component>/[<node_id>/]<object_id>/config, ids of [a-zA-Z0-9_-].
CONFIG_TOPIC = re.compile(
    r"^homeassistant/(?P<component>sensor|binary_sensor|event|image)/(?P<node>[A-Za-z0-9_-]+)/"
    r"(?P<object>[A-Za-z0-9_-]+)/config$"
)


def _validator(path: Path) -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(
        json.loads(path.read_text(encoding="utf-8")),
        format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER,
    )


def make_passage() -> Passage:
    t = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)
    return Passage(event_id="e-1", site="lot-a", camera="entry-1", direction="entry",
                   captured_at=t, decided_at=t + timedelta(milliseconds=850), plate="京AF0236",
                   color="蓝", confidence=99, rect=Rect(426, 423, 135, 66), access="allow",
                   access_reason="allow_list", ocr_calls=1)


def _configs(snapshots: bool) -> dict[str, dict[str, Any]]:
    msgs = discovery_messages("homeassistant", TOPICS, ["entry-1", "exit.2"],
                              "1.2.3", snapshots=snapshots)
    assert all(retain for _, _, retain in msgs)
    return {t: json.loads(p) for t, p, _ in msgs}


@pytest.mark.parametrize("snapshots", [False, True])
def test_every_config_passes_home_assistant_rules(snapshots: bool) -> None:
    configs = _configs(snapshots)
    for topic, cfg in configs.items():
        assert validate(topic, cfg) == [], topic
    components = sorted(CONFIG_TOPIC.match(t).group("component")  # type: ignore[union-attr]
                        for t in configs)
    per_camera = ["binary_sensor", "event", "sensor"] + (["image"] if snapshots else [])
    assert components == sorted(per_camera * 2 + ["binary_sensor", "binary_sensor", "sensor"])
    assert len({c["unique_id"] for c in configs.values()}) == len(configs)
    site = configs["homeassistant/sensor/gatecam_lot-a/ocr_calls_today/config"]
    assert site["state_class"] == "total_increasing" and site["entity_category"] == "diagnostic"
    assert site["state_topic"] == "gatecam/lot-a/ocr/calls"
    cam = configs["homeassistant/event/gatecam_lot-a_entry-1/passage/config"]
    assert cam["device"]["via_device"] == site["device"]["identifiers"][0]
    assert cam["state_topic"] == "gatecam/lot-a/entry-1/passage"  # the live, unretained event
    if snapshots:
        image = configs["homeassistant/image/gatecam_lot-a_entry-1/snapshot/config"]
        assert image["image_topic"] == "gatecam/lot-a/entry-1/snapshot"
        assert image["content_type"] == "image/jpeg"


def test_the_rules_catch_what_home_assistant_would_drop_or_refuse() -> None:
    """The check above can fail: typos, a missing key, a foreign device class."""
    configs = _configs(True)
    event_topic = "homeassistant/event/gatecam_lot-a_entry-1/passage/config"
    event = configs[event_topic]
    assert validate(event_topic, {**event, "evnt_types": ["a"]})  # typo: HA ignores it
    assert validate(event_topic, {k: v for k, v in event.items() if k != "event_types"})
    assert validate(event_topic, {**event, "device_class": "connectivity"})
    image_topic = "homeassistant/image/gatecam_lot-a_entry-1/snapshot/config"
    assert validate(image_topic, {**configs[image_topic], "url_topic": "x/y"})  # both topics
    assert validate(event_topic, {**event, "default_entity_id": "sensor.x"})
    assert validate(event_topic, {**event, "state_topic": "a/b+/c"})


@pytest.mark.parametrize(
    ("changes", "event_type"),
    [({"access": "allow", "access_reason": "allow_list"}, "allow"),
     ({"access": "deny", "access_reason": "deny_list"}, "deny"),
     ({"access": "unknown", "access_reason": "not_listed"}, "unknown"),
     ({"access": "unknown", "access_reason": "no_plate", "plate": None, "rect": None},
      "no_plate")],
)
def test_passage_event_types(changes: dict[str, Any], event_type: str) -> None:
    cfg = _configs(False)["homeassistant/event/gatecam_lot-a_entry-1/passage/config"]
    assert cfg["event_types"] == list(EVENT_TYPES)
    passage = make_passage().replace(**changes)
    fired = event_fired(cfg, contract.encode(passage.as_event()))
    assert fired["event_type"] == event_type
    assert fired["plate"] == passage.plate and fired["event_id"] == passage.event_id
    assert fired["image_url"] is None
    with_url = passage.replace(image_url="http://pi.lan/s/entry-1/a.jpg")
    assert event_fired(cfg, contract.encode(with_url.as_event()))["image_url"] == (
        "http://pi.lan/s/entry-1/a.jpg")


def test_last_plate_without_a_plate_is_unknown_not_none() -> None:
    cfg = _configs(False)["homeassistant/sensor/gatecam_lot-a_entry-1/plate/config"]
    empty = contract.encode(make_passage().replace(plate=None, rect=None).as_event())
    assert render(cfg["value_template"], empty) == PAYLOAD_NONE  # HA: state unknown
    full = contract.encode(make_passage().as_event())
    assert render(cfg["value_template"], full) == make_passage().plate


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
            tmp_path, clip, ocr_emulator.url, site=site,
            store={"url": db, "snapshots": str(tmp_path / "snaps"),
                   "snapshot_base_url": "http://gatecam.lan:8080/snaps/"},
            mqtt={"enabled": True, "port": broker.port, "ha_discovery": True,
                  "gate_command": True, "client_id": "gatecam-ha-test",
                  "snapshot": {"enabled": True, "max_width": 200}},
            health={"metrics_enabled": False},
        )
        app = App(cfg, Secrets(E2E_SECRET_ID, E2E_SECRET_KEY, None))
        app.start()
        watch = Subscriber(broker.port, (f"gatecam/{site}/#",))
        try:
            assert app.stages().publisher is not None and app.stages().publisher.wait_connected(10)
            assert watch.wait_connected(5)
            # a passage the cloud read (the calls-today counter below counts cloud calls; a
            # loop of the clip whose plate the local reader found too small calls nobody)
            assert wait_until(lambda: app.passages >= 1 and app.ocr_stats().get("calls", 0) >= 1,
                              60), "no cloud-read passage from the clip"
            first_event = watch.wait_for(f"gatecam/{site}/+/passage", 1, 10)[0]
            sent = json.loads(first_event.payload)  # image_url: the snapshot file over HTTP
            assert sent["image_url"] == f"http://gatecam.lan:8080/snaps/{sent['snapshot']}"
            assert (tmp_path / "snaps" / sent["snapshot"]).is_file()
            assert app.drain(10)
            # Home Assistant connects late: it must find everything retained.
            ha = Subscriber(broker.port, ("homeassistant/#", f"gatecam/{site}/#"))
            try:
                assert ha.wait_connected(5)
                configs = ha.wait_for("homeassistant/#", 7, 10)
                time.sleep(0.3)
                _check_configs(ha, ha.matching("homeassistant/#"), site, first_event.payload)
            finally:
                ha.close()
            _check_payloads(watch, site)
        finally:
            watch.close()
            app.stop()
    assert len(configs) == 7


def _check_configs(ha: Subscriber, configs: list[Received], site: str, event: str) -> None:
    assert sorted(CONFIG_TOPIC.match(c.topic).group("component")  # type: ignore[union-attr]
                  for c in configs) == ["binary_sensor"] * 3 + ["event", "image"] + [
                      "sensor"] * 2, [c.topic for c in configs]
    availability = _retained(ha, f"gatecam/{site}/status")
    assert availability.payload == "online"
    unique_ids = set()
    for msg in configs:
        m = CONFIG_TOPIC.match(msg.topic)
        assert m is not None and msg.retain and msg.qos == 1, msg
        component = m.group("component")
        cfg: dict[str, Any] = json.loads(msg.payload)
        assert validate(msg.topic, cfg) == [], msg.topic
        unique_ids.add(cfg["unique_id"])
        assert cfg["device"]["name"] and cfg["origin"]["name"] == "gatecam"
        assert cfg["availability_topic"] == availability.topic
        assert cfg["payload_available"] == availability.payload
        _check_state(ha, component, m.group("object"), cfg, event)
    assert len(unique_ids) == len(configs)


def _check_state(ha: Subscriber, component: str, key: str, cfg: dict[str, Any],
                 event: str) -> None:
    """What HA shows for each entity, from what gatecam really published."""
    if component == "event":  # the live event (not retained) fires an HA event
        fired = event_fired(cfg, event)
        assert fired["event_id"] == json.loads(event)["event_id"]
        return
    if component == "image":
        jpeg = _retained(ha, cfg["image_topic"]).raw
        image = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
        assert image is not None and 0 < image.shape[1] <= 200, "not a JPEG of max_width"
        return
    state = _retained(ha, cfg["state_topic"])  # a real gatecam topic, retained
    value = render(cfg["value_template"], state.payload)
    if key == "plate":
        last = json.loads(state.payload)
        assert value == (last["plate"] or PAYLOAD_NONE)
        assert cfg["json_attributes_topic"] == cfg["state_topic"]
        attrs = json.loads(render(cfg["json_attributes_template"], state.payload))
        assert attrs["decision"] == last["access"] and attrs["color"] == last["color"]
        assert attrs["captured_at"] == last["captured_at"]
    elif key == "ocr_calls_today":
        assert int(value) >= 1 and json.loads(state.payload)["day"]
    elif key == "camera":
        assert value == cfg["payload_on"] == "ON"  # the looping clip is streaming
    else:  # OCR circuit and storage: nothing wrong
        assert key in ("ocr_refused", "storage") and value == cfg["payload_off"] == "OFF"


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
