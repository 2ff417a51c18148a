"""Home Assistant's MQTT discovery rules, as its schemas state them, for the discovery tests.

Written from homeassistant/components/mqtt (the platform schemas of sensor, binary_sensor,
event and image, abbreviations.py, const.py, util.py) and the integration's documentation:
required keys, the keys each platform knows (HA drops unknown keys silently, so a typo
would pass unnoticed: here it is an error), device classes, state classes, entity
categories, topic validity, the device/origin blocks, and how templates are rendered
(Jinja2 in a sandbox with ``value`` and ``value_json``; the string ``None`` means
"no value", which HA shows as unknown).
"""

from __future__ import annotations

import json
import re
from typing import Any

from jinja2.sandbox import ImmutableSandboxedEnvironment

PAYLOAD_NONE = "None"
"""homeassistant.components.mqtt.const.PAYLOAD_NONE: a rendered state meaning "unknown"."""

CONFIG_TOPIC = re.compile(
    r"^(?P<prefix>[^/#+]+)/(?P<component>[a-z_]+)/(?:(?P<node>[a-zA-Z0-9_-]+)/)?"
    r"(?P<object>[a-zA-Z0-9_-]+)/config$"
)
"""mqtt/discovery.py TOPIC_MATCHER."""
ENTITY_ID = re.compile(r"^(?!.+__)(?!_)[\da-z_]+(?<!_)\.(?!_)[\da-z_]+(?<!_)$")
"""homeassistant.core.valid_entity_id."""

_COMMON = {
    "name", "unique_id", "default_entity_id", "object_id", "icon", "device", "origin",
    "availability_topic", "availability_template", "availability", "availability_mode",
    "payload_available", "payload_not_available", "entity_category", "enabled_by_default",
    "qos", "encoding", "json_attributes_topic", "json_attributes_template", "entity_picture",
}
_STATE = {"state_topic", "value_template"}
PLATFORMS: dict[str, dict[str, Any]] = {
    "sensor": {
        "required": {"state_topic"},
        "keys": _COMMON | _STATE | {"device_class", "state_class", "unit_of_measurement",
                                    "expire_after", "force_update", "last_reset_value_template",
                                    "suggested_display_precision", "options"},
        "device_class": {None, "timestamp", "duration", "enum", "monetary", "data_size",
                         "energy", "power", "temperature", "humidity"},
    },
    "binary_sensor": {
        "required": {"state_topic"},
        "keys": _COMMON | _STATE | {"device_class", "payload_on", "payload_off", "expire_after",
                                    "force_update", "off_delay"},
        "device_class": {None, "battery", "connectivity", "door", "motion", "occupancy",
                         "opening", "plug", "power", "presence", "problem", "running",
                         "safety", "tamper", "update", "vibration"},
    },
    "event": {
        "required": {"state_topic", "event_types"},
        "keys": _COMMON | _STATE | {"device_class", "event_types"},
        "device_class": {None, "button", "doorbell", "motion"},
    },
    "image": {
        "required": set(),
        "exclusive": {"image_topic", "url_topic"},
        "keys": _COMMON | {"image_topic", "url_topic", "content_type", "image_encoding",
                           "url_template"},
        "device_class": {None},
    },
}
STATE_CLASSES = {"measurement", "measurement_angle", "total", "total_increasing"}
ENTITY_CATEGORIES = {"config", "diagnostic"}


def render(template: str, payload: str) -> str:
    """A value template rendered as HA does: ``value`` and ``value_json`` in a sandbox."""
    env = ImmutableSandboxedEnvironment()
    try:
        value_json: Any = json.loads(payload)
    except ValueError:
        value_json = None
    return env.from_string(template).render(value=payload, value_json=value_json)


def _topic_errors(key: str, topic: object) -> list[str]:
    """mqtt.util.valid_subscribe_topic: non-empty UTF-8, no NUL, wildcards whole levels."""
    if not isinstance(topic, str) or not topic or "\0" in topic or len(topic.encode()) > 65535:
        return [f"{key}: not a valid topic: {topic!r}"]
    for level in topic.split("/"):
        if ("+" in level or "#" in level) and level not in ("+", "#"):
            return [f"{key}: wildcard inside a level: {topic!r}"]
    return []


def _common_errors(cfg: dict[str, Any], component: str, node: str | None) -> list[str]:
    errors = []
    if not cfg.get("unique_id"):
        errors.append("unique_id missing (the entity could not be edited or renamed)")
    device = cfg.get("device")
    if device is not None:
        if not (device.get("identifiers") or device.get("connections")):
            errors.append("device needs identifiers or connections")
        if node is not None and node not in device.get("identifiers", []):
            errors.append(f"device identifiers {device.get('identifiers')} lack node {node}")
    origin = cfg.get("origin")
    if origin is not None and not origin.get("name"):
        errors.append("origin needs a name")
    entity_id = cfg.get("default_entity_id")
    if entity_id is not None and (not ENTITY_ID.match(entity_id)
                                  or entity_id.split(".")[0] != component):
        errors.append(f"default_entity_id {entity_id!r} is not a {component} entity id")
    if cfg.get("entity_category") not in (None, *ENTITY_CATEGORIES):
        errors.append(f"entity_category {cfg['entity_category']!r}")
    for key in ("state_topic", "availability_topic", "json_attributes_topic", "image_topic",
                "url_topic"):
        if key in cfg:
            errors += _topic_errors(key, cfg[key])
    return errors


def validate(topic: str, cfg: dict[str, Any]) -> list[str]:
    """Every rule a discovery config breaks (empty: HA would accept it as meant)."""
    m = CONFIG_TOPIC.match(topic)
    if m is None:
        return [f"{topic}: not a discovery config topic"]
    component = m.group("component")
    rules = PLATFORMS.get(component)
    if rules is None:
        return [f"{topic}: platform {component} not covered by these rules"]
    errors = [f"missing {k}" for k in sorted(rules["required"] - set(cfg))]
    errors += [f"unknown key {k} (HA drops it)" for k in sorted(set(cfg) - rules["keys"])]
    exclusive = rules.get("exclusive")
    if exclusive and len(exclusive & set(cfg)) != 1:
        errors.append(f"exactly one of {sorted(exclusive)} is required")
    if cfg.get("device_class") not in rules["device_class"]:
        errors.append(f"device_class {cfg['device_class']!r} not valid for {component}")
    if component == "sensor" and cfg.get("state_class") not in (None, *STATE_CLASSES):
        errors.append(f"state_class {cfg['state_class']!r}")
    if component == "event":
        types = cfg.get("event_types")
        if not (isinstance(types, list) and types and all(isinstance(t, str) for t in types)):
            errors.append("event_types must be a non-empty list of strings")
    if component == "image" and "content_type" in cfg and "image_topic" not in cfg:
        errors.append("content_type only applies to image_topic")
    return errors + _common_errors(cfg, component, m.group("node"))


def event_fired(cfg: dict[str, Any], payload: str) -> dict[str, Any]:
    """What HA's MQTT event entity makes of one message: its event type and attributes.

    As mqtt/event.py: the rendered payload must be a JSON object whose ``event_type`` is
    one of ``event_types``; the other keys become the event's attributes."""
    rendered = render(cfg["value_template"], payload) if "value_template" in cfg else payload
    event = json.loads(rendered)
    assert isinstance(event, dict), rendered
    assert event.get("event_type") in cfg["event_types"], event
    return event
