"""The README's integrator examples hold: the Home Assistant automation's condition, rendered
as Home Assistant would (Jinja2), opens only for allowed, timely events; the sample line
is a valid passage event."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jinja2
import jsonschema
import yaml

from daemon.domain import Passage

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def _event(**changes: Any) -> dict[str, Any]:
    at = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)
    p = Passage(event_id="e1", site="lot-a", camera="entry-1", direction="entry",
                captured_at=at, decided_at=at, plate="京AF0236", confidence=99,
                access="allow", access_reason="allow_list")
    return json.loads(json.dumps(p.replace(**changes).as_event(), ensure_ascii=False))


def test_home_assistant_automation_opens_only_for_timely_allows() -> None:
    [block] = [b for b in re.findall(r"```yaml\n(.*?)```", README, re.S) if "automation:" in b]
    [auto] = yaml.safe_load(block)["automation"]
    assert auto["trigger"][0]["topic"] == "gatecam/lot-a/entry-1/passage"
    condition = auto["condition"][0]["value_template"]
    template = jinja2.Environment(autoescape=True).from_string(condition)

    def opens(event: dict[str, Any]) -> bool:
        return template.render(trigger={"payload_json": event}).strip() == "True"

    assert opens(_event())
    assert not opens(_event(late=True))
    assert not opens(_event(access="deny", access_reason="deny_list"))
    assert not opens(_event(plate=None, access="unknown", access_reason="no_plate"))


def test_mosquitto_sub_sample_is_a_valid_event() -> None:
    [line] = [ln for ln in README.splitlines() if ln.startswith("gatecam/lot-a/entry-1/passage {")]
    topic, payload = line.split(" ", 1)
    event = json.loads(payload)
    schema = json.loads((ROOT / "daemon/schemas/passage.schema.json").read_text())
    jsonschema.validate(event, schema)
    assert topic == f"gatecam/{event['site']}/{event['camera']}/passage"
