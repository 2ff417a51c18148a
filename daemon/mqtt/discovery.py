"""Home Assistant MQTT discovery (opt-in): entities per camera and per site, over gatecam's topics.

Pure builders, no I/O. Follows HA's conventions: config topic
``<discovery_prefix>/<component>/<node_id>/<object_id>/config``, retained JSON
with ``unique_id``, ``device``, ``origin``, ``availability`` (the site's Last Will
topic) and templates over gatecam's own topics; no state topic exists only for HA.
The suggested entity id goes in ``default_entity_id`` (``<component>.<slug>``, HA
2025.10+) and, for older HA, in ``object_id`` (deprecated, dropped by HA 2026.4).

Per camera (a device each, linked to the site's device by ``via_device``):

- ``sensor`` "Last plate": state from ``passage/last`` (``value_json.plate``; the
  string ``None`` without a plate, which HA shows as *unknown*), attributes colour,
  confidence, decision (access + reason) and time;
- ``event`` "Passage": one HA event per passage event (not retained, which is what the
  event entity is for), type ``allow``, ``deny``, ``unknown`` or ``no_plate``, with the
  plate, reason, direction and event id as attributes;
- ``binary_sensor`` "Camera" (``connectivity``): ``ON`` while the camera streams;
- ``image`` "Snapshot" (only with ``mqtt.snapshot.enabled``): the retained JPEG of the
  last passage's plate area.

Per site: ``binary_sensor`` "OCR refused" (``problem``: the OCR circuit is not closed),
``binary_sensor`` "Storage failing" (``problem``) and ``sensor`` "Cloud OCR calls today"
(``total_increasing``), all diagnostic.

Every config is re-published on each reconnect (the publisher keeps them with the
other retained status messages), so an HA restart with a fresh broker sees them.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from daemon import contract

EVENT_TYPES = ("allow", "deny", "unknown", "no_plate")
"""HA event types of a passage: the access decision, or no_plate when none was read."""

_ATTRIBUTES = (
    "{{ {'color': value_json.color, 'confidence': value_json.confidence, "
    "'decision': value_json.access, 'reason': value_json.access_reason, "
    "'direction': value_json.direction, 'captured_at': value_json.captured_at, "
    "'event_id': value_json.event_id} | tojson }}"
)
# HA's MQTT sensor takes the rendered string "None" as "no value" (state unknown);
# any other text, 'none' included, would be shown as a plate.
_PLATE = "{{ value_json.plate if value_json.plate else 'None' }}"
_EVENT = (
    "{{ {'event_type': ('no_plate' if value_json.plate is none else value_json.access), "
    "'plate': value_json.plate, 'reason': value_json.access_reason, "
    "'direction': value_json.direction, 'late': value_json.late, "
    "'event_id': value_json.event_id, 'image_url': value_json.get('image_url')} | tojson }}"
)


def _node(*parts: str) -> str:
    """HA node id: letters, digits, ``_`` and ``-`` only."""
    raw = "_".join(("gatecam", *parts))
    return "".join(ch if ch.isalnum() or ch in "_-" else "_" for ch in raw)


def _slug(text: str) -> str:
    """HA entity-id slug: lower-case letters, digits and single inner underscores."""
    return re.sub(r"_+", "_", re.sub(r"[^a-z0-9]", "_", text.lower())).strip("_") or "gatecam"


def _entity(component: str, node: str, key: str, name: str, common: dict[str, Any],
            **cfg: Any) -> tuple[str, dict[str, Any]]:
    """(config topic suffix, config) with the ids every entity needs."""
    slug = _slug(node)
    return f"{component}/{node}/{key}/config", {
        "name": name,
        "unique_id": f"{node}_{key}",
        "default_entity_id": f"{component}.{slug}_{key}",
        "object_id": f"{slug}_{key}",
        **cfg,
        **common,
    }


def _camera_entities(prefix: str, site: str, camera: str, common: dict[str, Any],
                     snapshots: bool) -> list[tuple[str, dict[str, Any]]]:
    node = _node(site, camera)
    last = contract.passage_last_topic(prefix, site, camera)
    out = [
        _entity("sensor", node, "plate", "Last plate", common, icon="mdi:car",
                state_topic=last, value_template=_PLATE, json_attributes_topic=last,
                json_attributes_template=_ATTRIBUTES),
        _entity("binary_sensor", node, "camera", "Camera", common,
                device_class="connectivity",
                state_topic=contract.camera_status_topic(prefix, site, camera),
                value_template="{{ 'ON' if value_json.state == 'streaming' else 'OFF' }}",
                payload_on="ON", payload_off="OFF"),
        _entity("event", node, "passage", "Passage", common, icon="mdi:boom-gate",
                state_topic=contract.passage_topic(prefix, site, camera),
                event_types=list(EVENT_TYPES), value_template=_EVENT),
    ]
    if snapshots:
        out.append(_entity("image", node, "snapshot", "Snapshot", common,
                           image_topic=contract.snapshot_topic(prefix, site, camera),
                           content_type="image/jpeg"))
    return out


def _site_entities(prefix: str, site: str, common: dict[str, Any]
                   ) -> list[tuple[str, dict[str, Any]]]:
    node = _node(site)
    diag = {"entity_category": "diagnostic", **common}
    return [
        _entity("binary_sensor", node, "ocr_refused", "OCR refused", diag,
                device_class="problem",
                state_topic=contract.camera_status_topic(prefix, site, "ocr"),
                value_template="{{ 'OFF' if value_json.state == 'closed' else 'ON' }}",
                payload_on="ON", payload_off="OFF", json_attributes_topic=(
                    contract.camera_status_topic(prefix, site, "ocr"))),
        _entity("binary_sensor", node, "storage", "Storage failing", diag,
                device_class="problem",
                state_topic=contract.camera_status_topic(prefix, site, "storage"),
                value_template="{{ 'OFF' if value_json.ok else 'ON' }}",
                payload_on="ON", payload_off="OFF"),
        _entity("sensor", node, "ocr_calls_today", "Cloud OCR calls today", diag,
                icon="mdi:cloud-upload", state_topic=contract.ocr_calls_topic(prefix, site),
                value_template="{{ value_json.calls }}", state_class="total_increasing",
                unit_of_measurement="calls"),
    ]


def discovery_messages(
    discovery_prefix: str, topics: contract.Topics, cameras: Sequence[str], version: str = "",
    *, snapshots: bool = False,
) -> list[contract.Message]:
    """Retained discovery configs (topic, payload, retain=True): each camera's, then the site's."""
    prefix, site = topics.prefix, topics.site
    sw = {"sw_version": version} if version else {}
    base = {
        "origin": {"name": "gatecam", **sw},
        "availability_topic": contract.site_status_topic(prefix, site),
        "payload_available": contract.ONLINE,
        "payload_not_available": contract.OFFLINE,
    }
    site_node = _node(site)
    entities = []
    for camera in cameras:
        device = {"identifiers": [_node(site, camera)], "name": f"gatecam {site} {camera}",
                  "manufacturer": "gatecam", "model": "licence-plate camera",
                  "via_device": site_node, **sw}
        entities += _camera_entities(prefix, site, camera, {**base, "device": device}, snapshots)
    device = {"identifiers": [site_node], "name": f"gatecam {site}", "manufacturer": "gatecam",
              "model": "licence-plate reader", **sw}
    entities += _site_entities(prefix, site, {**base, "device": device})
    return [(f"{discovery_prefix}/{topic}", contract.encode(cfg), True) for topic, cfg in entities]
