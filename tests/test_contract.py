"""Topic names, payload encoding, and the passage and gate command JSON Schemas."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import jsonschema
import pytest

from daemon import contract
from daemon.domain import Passage, Rect
from tests.support.daemon import TOPICS

T0 = datetime(2026, 11, 25, 8, 0, 0, 123000, tzinfo=UTC)


def make_passage(**changes: Any) -> Passage:
    base = Passage(
        event_id="5f0c7a3e-8d1b-4c5e-9a55-0d6f2b7c1e11", site="lot-a", camera="entry-1",
        direction="entry", captured_at=T0, decided_at=T0 + timedelta(milliseconds=850),
        plate="京AF0236", color="蓝", confidence=99, category="实体车牌",
        rect=Rect(426, 423, 135, 66), access="allow", ocr_calls=2,
        request_ids=("r-1", "r-2"), latency_ms=180.4, snapshot="entry-1/2026-11-25/x.jpg",
    )
    return base.replace(**changes)


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft202012Validator:
    schema = json.loads(contract.PASSAGE_SCHEMA_PATH.read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(
        schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    )


@pytest.fixture(scope="module")
def gate_validator() -> jsonschema.Draft202012Validator:
    schema = json.loads(contract.GATE_SCHEMA_PATH.read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(
        schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    )


def test_topic_names() -> None:
    assert contract.site_status_topic("gatecam", "lot-a") == "gatecam/lot-a/status"
    assert contract.camera_status_topic("gatecam", "lot-a", "entry-1") == (
        "gatecam/lot-a/entry-1/status"
    )
    assert contract.passage_topic("acme/gc", "lot-a", "entry-1") == "acme/gc/lot-a/entry-1/passage"
    assert contract.passage_last_topic("gatecam", "lot-a", "entry-1") == (
        "gatecam/lot-a/entry-1/passage/last"
    )


@pytest.mark.parametrize("bad", ["", "a/b", "a+", "#", "x#y"])
def test_topic_levels_refuse_wildcards_and_separators(bad: str) -> None:
    with pytest.raises(ValueError):
        contract.passage_topic("gatecam", "lot-a", bad)
    with pytest.raises(ValueError):
        contract.site_status_topic("gatecam", bad)


def test_prefix_refuses_wildcards() -> None:
    with pytest.raises(ValueError):
        contract.site_status_topic("gate/#", "lot-a")


def test_passage_messages_event_then_retained_last(
    validator: jsonschema.Draft202012Validator,
) -> None:
    passage = make_passage()
    msgs = contract.passage_messages("gatecam", passage)
    assert [(t, r) for t, _, r in msgs] == [
        ("gatecam/lot-a/entry-1/passage", False),
        ("gatecam/lot-a/entry-1/passage/last", True),
    ]
    payload = msgs[0][1]
    assert msgs[1][1] == payload
    assert "京AF0236" in payload and "\\u" not in payload  # UTF-8 kept, not escaped
    assert ", " not in payload and ": " not in payload  # compact
    event = json.loads(payload)
    assert event == passage.as_event()
    assert list(event)[:3] == ["schema", "event_id", "site"]  # stable key order
    assert event["captured_at"] == "2026-11-25T08:00:00.123Z"
    assert event["ocr"] == {"provider": "tencent", "calls": 2, "request_ids": ["r-1", "r-2"],
                            "latency_ms": 180, "local_confidence": None}
    validator.validate(event)
    assert contract.passage_messages("gatecam", passage)[0][1] == payload  # deterministic


def test_no_plate_passage_validates(validator: jsonschema.Draft202012Validator) -> None:
    beijing = timezone(timedelta(hours=8))
    passage = make_passage(
        plate=None, color=None, confidence=0, category=None, rect=None, access="unknown",
        request_ids=(), ocr_calls=0, snapshot=None,
        captured_at=datetime(2026, 11, 25, 16, 0, tzinfo=beijing),
    )
    event = json.loads(contract.passage_messages("gatecam", passage)[0][1])
    assert event["captured_at"] == "2026-11-25T08:00:00.000Z"  # converted to UTC
    validator.validate(event)


@pytest.mark.parametrize(
    "mutate",
    [
        lambda e: e.update(access="maybe"),
        lambda e: e.update(extra=1),
        lambda e: e.update(captured_at="2026-11-25T08:00:00"),
        lambda e: e.update(confidence=101),
        lambda e: e.update(schema=2),
        lambda e: e["ocr"].pop("calls"),
        lambda e: e.update(rect={"x": 1, "y": 2}),
    ],
)
def test_schema_rejects_bad_events(
    validator: jsonschema.Draft202012Validator, mutate: Any
) -> None:
    event = make_passage().as_event()
    mutate(event)
    assert not validator.is_valid(event)


def test_camera_status_payload() -> None:
    payload = contract.camera_status_payload("streaming", 24.9666, T0)
    assert payload == '{"state":"streaming","fps":25.0,"last_frame_at":"2026-11-25T08:00:00.123Z"}'
    assert json.loads(contract.camera_status_payload("offline", 0, None))["last_frame_at"] is None
    with pytest.raises(ValueError):
        contract.camera_status_payload("sleeping", 1.0, None)


def test_mark_late_sets_flag_and_keeps_order() -> None:
    payload = contract.passage_messages("gatecam", make_passage())[0][1]
    late = contract.mark_late(payload)
    assert json.loads(late)["late"] is True
    assert list(json.loads(late)) == list(json.loads(payload))
    assert late == payload.replace('"late":false', '"late":true')
    assert contract.mark_late(late) == late
    assert contract.mark_late("online") == "online"
    assert contract.mark_late('{"state":"streaming"}') == '{"state":"streaming"}'


def test_gate_command_only_for_allow(gate_validator: jsonschema.Draft202012Validator) -> None:
    allow = make_passage(access="allow", access_reason="allow_list")
    msgs = contract.passage_messages("gatecam", allow, gate_ttl_s=5)
    gate_validator.validate(json.loads(msgs[1][1]))
    assert [(t, r) for t, _, r in msgs] == [
        ("gatecam/lot-a/entry-1/passage", False),
        ("gatecam/lot-a/entry-1/gate", False),
        ("gatecam/lot-a/entry-1/passage/last", True),
    ]
    gate = json.loads(msgs[1][1])
    assert gate == {"action": "open", "event_id": allow.event_id,
                    "expires_at": "2026-11-25T08:00:05.123Z"}
    assert contract.gate_expires_at(msgs[1][1]) == T0 + timedelta(seconds=5)
    assert contract.is_gate_topic(msgs[1][0]) and not contract.is_gate_topic(msgs[0][0])
    for access in ("deny", "unknown"):
        assert len(contract.passage_messages("gatecam", make_passage(access=access), 5)) == 2
    assert len(contract.passage_messages("gatecam", allow)) == 2  # gate commands off
    assert contract.gate_expires_at("not json") is None


def test_image_url_only_when_configured(validator: jsonschema.Draft202012Validator) -> None:
    assert "image_url" not in make_passage().as_event()
    event = make_passage(image_url="http://pi.lan/s/entry-1/2026-11-25/x.jpg").as_event()
    validator.validate(event)
    assert list(event)[-1] == "image_url"
    event["image_url"] = "file:///var/lib/gatecam/x.jpg"
    assert not validator.is_valid(event)


def test_access_reason_in_schema(validator: jsonschema.Draft202012Validator) -> None:
    event = make_passage(access="deny", access_reason="not_physical").as_event()
    validator.validate(event)
    assert list(event).index("access_reason") == list(event).index("access") + 1
    event["access_reason"] = "because"
    assert not validator.is_valid(event)


def test_home_assistant_discovery() -> None:
    from daemon.mqtt.discovery import discovery_messages

    msgs = discovery_messages("homeassistant", TOPICS, ["entry-1", "exit.2"])
    assert [(t, r) for t, _, r in msgs] == [
        ("homeassistant/sensor/gatecam_lot-a_entry-1/plate/config", True),
        ("homeassistant/binary_sensor/gatecam_lot-a_entry-1/camera/config", True),
        ("homeassistant/event/gatecam_lot-a_entry-1/passage/config", True),
        ("homeassistant/sensor/gatecam_lot-a_exit_2/plate/config", True),
        ("homeassistant/binary_sensor/gatecam_lot-a_exit_2/camera/config", True),
        ("homeassistant/event/gatecam_lot-a_exit_2/passage/config", True),
        ("homeassistant/binary_sensor/gatecam_lot-a/ocr_refused/config", True),
        ("homeassistant/binary_sensor/gatecam_lot-a/storage/config", True),
        ("homeassistant/sensor/gatecam_lot-a/ocr_calls_today/config", True),
    ]
    plate, link = (json.loads(p) for _, p, _ in msgs[:2])
    assert plate["state_topic"] == "gatecam/lot-a/entry-1/passage/last"
    assert plate["json_attributes_topic"] == plate["state_topic"]
    assert "value_json.access" in plate["json_attributes_template"]
    assert link["device_class"] == "connectivity"
    assert link["state_topic"] == "gatecam/lot-a/entry-1/status"
    for cfg in (plate, link):
        assert cfg["availability_topic"] == "gatecam/lot-a/status"
        assert (cfg["payload_available"], cfg["payload_not_available"]) == ("online", "offline")
        assert cfg["device"]["identifiers"] == ["gatecam_lot-a_entry-1"]
    assert len({json.loads(p)["unique_id"] for _, p, _ in msgs}) == 9
    # HA 2025.10+ takes the entity id from default_entity_id (<component>.<lower-case slug>)
    assert plate["default_entity_id"] == "sensor.gatecam_lot_a_entry_1_plate"
    exit_link = json.loads(msgs[4][1])
    assert exit_link["default_entity_id"] == "binary_sensor.gatecam_lot_a_exit_2_camera"


@pytest.mark.parametrize(
    "mutate",
    [
        lambda g: g.update(action="close"),
        lambda g: g.update(expires_at="2026-11-25T08:00:05"),  # no zone: ambiguous
        lambda g: g.update(expires_at="2026-11-25T16:00:05.000+08:00"),  # UTC only
        lambda g: g.update(event_id=""),
        lambda g: g.update(plate="京AF0236"),  # nothing beyond the contract
        lambda g: g.pop("expires_at"),
    ],
)
def test_gate_schema_rejects_bad_commands(
    gate_validator: jsonschema.Draft202012Validator, mutate: Any
) -> None:
    gate = json.loads(contract.gate_payload(make_passage(), 5))
    gate_validator.validate(gate)
    mutate(gate)
    assert not gate_validator.is_valid(gate)


def test_signed_gate_command_fits_the_schema(
    gate_validator: jsonschema.Draft202012Validator,
) -> None:
    topic = contract.gate_topic("gatecam", "lot-a", "entry-1")
    signed = json.loads(contract.sign_gate_payload(b"k" * 32, topic,
                                                   contract.gate_payload(make_passage(), 5)))
    gate_validator.validate(signed)
    assert list(signed) == ["action", "event_id", "expires_at", "sig"]
    for bad in ("", "ABC", signed["sig"].upper(), signed["sig"][:-1]):
        assert not gate_validator.is_valid({**signed, "sig": bad})
