"""A Pi whose clock is 30 s off: the skew measured from the OCR answers shows in /metrics,
/healthz and the retained OCR status message, an ALERT is logged, and an allowed passage
is recorded and published without a gate command (real broker, emulator with a shifted
clock, a synthetic clip)."""

from __future__ import annotations

import json
import logging
import re
import time
from pathlib import Path

import httpx
import pytest

from daemon.app import App
from daemon.config.models import Config
from daemon.config.secrets import Secrets
from daemon.domain import Rect
from daemon.ocr.emulator.readers import PlateFound
from daemon.ocr.emulator.server import EmulatorServer
from daemon.store.db import Store
from scripts.rig.broker import Mosquitto, Subscriber
from scripts.rig.clips import ClipStore, clips
from tests.support.daemon import E2E_SECRET_ID, E2E_SECRET_KEY, wait_until

__all__ = ["clips"]
PLATE = PlateFound("京AF0236", 97, Rect(10, 20, 120, 40), "蓝")
"""The clip's own plate: the lane does not trust a cloud plate 2+ characters from the one its
local reader read elsewhere in the frame sent (``outcome.away_from_reading``)."""


@pytest.mark.timeout(90)
def test_clock_off_by_30_s_is_reported_and_opens_no_gate(
    tmp_path: Path, clips: ClipStore, broker: Mosquitto, caplog: pytest.LogCaptureFixture,
) -> None:
    clip, _ = clips.get("one_car", size=(640, 360), fps=10)
    server = EmulatorServer(credentials={E2E_SECRET_ID: E2E_SECRET_KEY}, rate_limit=100.0,
                            reader=lambda _img: [PLATE], clock=lambda: time.time() + 30).start()
    db = f"sqlite:///{tmp_path}/g.db"
    pre = Store(db)
    pre.access_add(PLATE.number, "allow")
    pre.close()
    cfg = Config.model_validate({
        "site": "lot-a",
        "cameras": [{"id": "entry-1", "url": str(clip)}],
        "ocr": {"endpoint": server.url},
        "store": {"url": db},
        "mqtt": {"port": broker.port, "gate_command": True, "gate_command_ttl_s": 5},
        "health": {"metrics_port": 0},
    })
    sub = Subscriber(broker.port, ("gatecam/lot-a/#",))
    assert sub.wait_connected(5)
    app = App(cfg, Secrets(E2E_SECRET_ID, E2E_SECRET_KEY, None))
    try:
        with caplog.at_level(logging.INFO):
            app.start()
            assert wait_until(lambda: app.passages >= 1, 40)
            assert app.drain(10)
        events = [json.loads(m.payload) for m in sub.wait_for("gatecam/lot-a/entry-1/passage")]
        assert events[0]["access"] == "allow"  # recorded and published ...
        assert sub.matching("gatecam/lot-a/entry-1/gate") == []  # ... but no gate command
        assert app.stages().publisher is not None and app.stages().publisher.gate_refused >= 1
        # The Date header has whole seconds: the measured offset is 29.x or 30.x s.
        assert any(re.search(r"withheld: system clock off by \+(29|30)\.\d", r.getMessage())
                   for r in caplog.records)
        assert any(re.match(r"ALERT: system clock is \+(29|30)", r.getMessage())
                   for r in caplog.records)

        assert app.metrics_server is not None
        base = f"http://127.0.0.1:{app.metrics_server.port}"
        text = httpx.get(f"{base}/metrics", timeout=3).text
        line = next(x for x in text.splitlines() if x.startswith("gatecam_clock_skew_seconds "))
        assert float(line.split()[1]) == pytest.approx(30, abs=1.1)
        doc = httpx.get(f"{base}/healthz", timeout=3).json()
        assert doc["clock"]["alert"] is True
        assert doc["clock"]["skew_s"] == pytest.approx(30, abs=1.1)
        assert any(w.startswith("system clock") for w in doc["warnings"])
        status = json.loads(sub.wait_for("gatecam/lot-a/ocr/status")[-1].payload)
        assert status["clock"]["alert"] is True and status["state"] == "closed"
    finally:
        sub.close()
        app.stop()
        server.stop()
