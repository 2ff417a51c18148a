"""Home Assistant MQTT discovery (opt-in): per camera a last-plate sensor and a connectivity sensor.

Pure builders, no I/O. Follows HA's conventions: config topic
``<discovery_prefix>/<component>/<node_id>/<object_id>/config``, retained JSON
with ``unique_id``, ``device``, ``origin``, ``availability`` (the site's Last Will
topic) and templates over gatecam's own topics; no new state topics are invented.
The suggested entity id goes in ``default_entity_id`` (``<component>.<slug>``, HA
2025.10+) and, for older HA, in ``object_id`` (deprecated, dropped by HA 2026.4):

- ``sensor`` "Last plate": state from ``passage/last`` (``value_json.plate``),
  attributes colour, confidence, decision (access + reason) and time;
- ``binary_sensor`` "Camera" (``device_class: connectivity``): ``ON`` while the
  camera status says ``streaming``.

Both are re-published on every reconnect (the publisher keeps them with the
other retained status messages), so an HA restart with a fresh broker sees them.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from daemon import contract

_ATTRIBUTES = (
    "{{ {'color': value_json.color, 'confidence': value_json.confidence, "
    "'decision': value_json.access, 'reason': value_json.access_reason, "
    "'direction': value_json.direction, 'captured_at': value_json.captured_at, "
    "'event_id': value_json.event_id} | tojson }}"
)


def _node(site: str, camera: str) -> str:
    """HA node id: letters, digits, ``_`` and ``-`` only."""
    raw = f"gatecam_{site}_{camera}"
    return "".join(ch if ch.isalnum() or ch in "_-" else "_" for ch in raw)


def _slug(text: str) -> str:
    """HA entity-id slug: lower-case letters, digits and single inner underscores."""
    return re.sub(r"_+", "_", re.sub(r"[^a-z0-9]", "_", text.lower())).strip("_") or "gatecam"


def discovery_messages(
    discovery_prefix: str, prefix: str, site: str, cameras: Sequence[str], version: str = ""
) -> list[contract.Message]:
    """Retained discovery configs (topic, payload, retain=True) for every camera."""
    availability = contract.site_status_topic(prefix, site)
    out: list[contract.Message] = []
    for camera in cameras:
        node = _node(site, camera)
        device = {
            "identifiers": [node],
            "name": f"gatecam {site} {camera}",
            "manufacturer": "gatecam",
            "model": "licence-plate camera",
            **({"sw_version": version} if version else {}),
        }
        common = {
            "origin": {"name": "gatecam", **({"sw_version": version} if version else {})},
            "availability_topic": availability,
            "payload_available": contract.ONLINE,
            "payload_not_available": contract.OFFLINE,
            "device": device,
        }
        slug = _slug(node)
        last = contract.passage_last_topic(prefix, site, camera)
        plate = {
            "name": "Last plate",
            "unique_id": f"{node}_plate",
            "default_entity_id": f"sensor.{slug}_plate",
            "object_id": f"{slug}_plate",
            "icon": "mdi:car",
            "state_topic": last,
            "value_template": "{{ value_json.plate or 'none' }}",
            "json_attributes_topic": last,
            "json_attributes_template": _ATTRIBUTES,
            **common,
        }
        link = {
            "name": "Camera",
            "unique_id": f"{node}_camera",
            "default_entity_id": f"binary_sensor.{slug}_camera",
            "object_id": f"{slug}_camera",
            "device_class": "connectivity",
            "state_topic": contract.camera_status_topic(prefix, site, camera),
            "value_template": "{{ 'ON' if value_json.state == 'streaming' else 'OFF' }}",
            "payload_on": "ON",
            "payload_off": "OFF",
            **common,
        }
        out.append((f"{discovery_prefix}/sensor/{node}/plate/config", contract.encode(plate), True))
        out.append(
            (f"{discovery_prefix}/binary_sensor/{node}/camera/config", contract.encode(link), True)
        )
    return out
