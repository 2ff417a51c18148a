"""Correcting a misread on the page: the original kept, a correction recorded, a corrected
event (schema-valid, ``corrects``) in the outbox, no gate command for a late passage."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import jsonschema

from daemon import contract
from daemon.store.corrections import corrections_for
from daemon.store.queries import passage_detail
from tests.support.web import add_passage, web_site

SCHEMA = jsonschema.Draft202012Validator(
    json.loads((contract.GATE_SCHEMA_PATH.parent / "passage.schema.json").read_text("utf-8")),
    format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)


def _outbox(site: object, event_id: str) -> list[tuple[str, str]]:
    with site.store.engine.connect() as conn:  # type: ignore[attr-defined]
        rows = conn.exec_driver_sql(
            "SELECT topic, payload FROM outbox WHERE event_id = ? ORDER BY id", (event_id,))
        return [(t, p) for t, p in rows]


def _mqtt_on(site: object, gate_ttl_s: float | None) -> None:
    """As with mqtt.enabled (and mqtt.gate_command when ``gate_ttl_s``): the site's config
    has MQTT off."""
    ctx = site.server.app.ctx  # type: ignore[attr-defined]
    assert ctx.corrector is not None
    ctx.corrector = replace(ctx.corrector, mqtt_prefix="gatecam", gate_ttl_s=gate_ttl_s)


def test_correction_keeps_the_original_and_queues_a_corrected_event(tmp_path: Path) -> None:
    with web_site(tmp_path, passages=0) as site, site.client() as c:
        _mqtt_on(site, gate_ttl_s=None)
        site.store.access_add("京AF0238", "allow")
        p = add_passage(site.store, site.snap, 1, plate="京AF0236", access="unknown",
                        at=datetime.now(UTC) - timedelta(seconds=1))
        token = site.login(c)
        for bad in ("", "京AF0236", "NOTAPLATE", "京A\x00F0238", "8" * 500):
            r = c.post(f"/passages/{p.event_id}/correct", data={"plate": bad, "csrf": token})
            assert r.status_code in (400, 413), bad
        assert c.post(f"/passages/{p.event_id}/correct",
                      data={"plate": "京AF0238", "csrf": "forged"}).status_code == 403
        assert corrections_for(site.store, p.event_id) == []
        assert len(_outbox(site, p.event_id)) == 1  # the original event only
        r = c.post(f"/passages/{p.event_id}/correct", data={"plate": "京a·f0238", "csrf": token})
        assert r.status_code == 303
        [corr] = corrections_for(site.store, p.event_id)
        assert (corr.plate, corr.operator, corr.access) == ("京AF0238", "alice", "allow")
        detail = passage_detail(site.store, p.event_id)
        assert detail is not None and detail.passage.plate == "京AF0236"  # original kept
        rows = _outbox(site, p.event_id)[1:]
        events = [json.loads(pl) for t, pl in rows if t.endswith("/passage")]
        assert len(events) == 1
        SCHEMA.validate(events[0])
        assert events[0]["corrects"] == p.event_id
        assert events[0]["event_id"] == f"{p.event_id}.c1" and events[0]["plate"] == "京AF0238"
        assert events[0]["ocr"]["provider"] == "operator"
        assert not any(t.endswith("/gate") for t, _ in rows)  # MQTT gate commands off here
        page = c.get(f"/passages/{p.event_id}").text
        assert "京AF0238" in page and "by alice" in page
        api = c.get(f"/api/passages/{p.event_id}").json()
        assert api["passage"]["plate"] == "京AF0236"
        assert [x["plate"] for x in api["corrections"]] == ["京AF0238"]


def test_late_passage_correction_has_no_gate_command(tmp_path: Path) -> None:
    with web_site(tmp_path, passages=0) as site, site.client() as c:
        _mqtt_on(site, gate_ttl_s=5.0)
        site.store.access_add("京AF0238", "allow")
        fresh = add_passage(site.store, site.snap, 1, plate="京AF0236", access="unknown",
                            at=datetime.now(UTC))
        late = add_passage(site.store, site.snap, 2, plate="京AF0236", access="unknown",
                           at=datetime.now(UTC), late=True)
        token = site.login(c)
        for p in (fresh, late):
            c.post(f"/passages/{p.event_id}/correct", data={"plate": "京AF0238", "csrf": token})
        gate = [t for t, _ in _outbox(site, fresh.event_id) if t.endswith("/gate")]
        assert len(gate) == 1  # fresh: a command, still expiring ttl after the capture
        [(_, payload)] = [(t, pl) for t, pl in _outbox(site, fresh.event_id)
                          if t.endswith("/gate")]
        assert contract.gate_expires_at(payload) == fresh.captured_at.replace(
            microsecond=fresh.captured_at.microsecond // 1000 * 1000) + timedelta(seconds=5)
        assert not any(t.endswith("/gate") for t, _ in _outbox(site, late.event_id))
