"""End to end on real components: RTSP camera -> gatecam process -> emulator, SQLite, mosquitto."""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path
from typing import Any

import pytest

from daemon.ocr.emulator.server import EmulatorServer
from scripts.rig.broker import Mosquitto, Subscriber
from scripts.rig.camera import RtspCamera
from scripts.rig.clips import ClipStore, clips, load_make_clip
from tests.support.daemon import daemon_config, wait_until

__all__ = ["clips"]  # the session fixture, imported so pytest finds it

pytestmark = pytest.mark.slow

PASSAGE = "gatecam/lot-a/entry-1/passage"
STATUS = "gatecam/lot-a/entry-1/status"


def _events(sub: Subscriber) -> list[dict[str, Any]]:
    return [json.loads(m.payload) for m in sub.matching(PASSAGE)]


def _db_passages(tmp_path: Path) -> list[tuple[str | None, str]]:
    with sqlite3.connect(tmp_path / "gatecam.db") as db:
        return list(db.execute("SELECT plate, camera FROM passages"))


@pytest.mark.timeout(150)
def test_three_cars_over_rtsp(
    tmp_path: Path, clips: ClipStore, broker: Mosquitto, ocr_emulator: EmulatorServer,
    daemon_runner: Any,
) -> None:
    clip, truth = clips.get("three_cars")
    expected = sorted(v["plate"] for v in truth["vehicles"])
    assert len(set(expected)) == 3
    sub = Subscriber(broker.port, ("gatecam/#",))
    assert sub.wait_connected()
    calls_before = len(ocr_emulator.calls)
    with RtspCamera(clip, loop=True) as cam:
        cfg = daemon_config(tmp_path, camera_url=cam.url, mqtt_port=broker.port,
                            endpoint=ocr_emulator.url)
        daemon = daemon_runner("run", "--config", str(cfg))
        sub.wait_for(PASSAGE, n=3, timeout=truth["duration_s"] + 30)
        time.sleep(1.5)  # a fourth (duplicate) event would show up here
        assert daemon.terminate() == 0, daemon.log()[-3000:]
    events = _events(sub)
    assert sorted(e["plate"] for e in events) == expected, daemon.log()[-3000:]
    assert len({e["event_id"] for e in events}) == 3
    assert all(e["camera"] == "entry-1" and e["site"] == "lot-a" for e in events)
    assert sorted(p for p, _ in _db_passages(tmp_path)) == expected
    calls = len(ocr_emulator.calls) - calls_before
    assert 3 <= calls <= 6, f"{calls} OCR calls for 3 cars"
    # the site's retained availability says offline after a clean stop
    late = Subscriber(broker.port, ("gatecam/lot-a/status",))
    msgs = late.wait_for("gatecam/lot-a/status", n=1, timeout=5)
    assert msgs[-1].payload == "offline" and msgs[-1].retain
    late.close()
    sub.close()


def _states(sub: Subscriber) -> list[tuple[float, str]]:
    return [(m.at, json.loads(m.payload)["state"]) for m in sub.matching(STATUS)]


@pytest.mark.timeout(150)
def test_camera_outage_and_return(
    tmp_path: Path, clips: ClipStore, broker: Mosquitto, ocr_emulator: EmulatorServer,
    daemon_runner: Any,
) -> None:
    mod = load_make_clip()
    scenario = mod.Scenario(
        "late_car", (mod.Car("浙B·7Q2E5", (40, 120, 60), enter_s=5.0),), duration_s=12.0
    )
    clip, truth = clips.get(scenario)
    sub = Subscriber(broker.port, ("gatecam/#",))
    assert sub.wait_connected()
    cam = RtspCamera(clip, loop=True).start()
    try:
        cfg = daemon_config(tmp_path, camera_url=cam.url, mqtt_port=broker.port,
                            endpoint=ocr_emulator.url)
        daemon = daemon_runner("run", "--config", str(cfg))
        assert wait_until(lambda: any(s == "streaming" for _, s in _states(sub)), 20), \
            daemon.log()[-3000:]
        stopped_at = time.time()
        cam.stop()
        assert wait_until(
            lambda: any(t > stopped_at and s in ("offline", "reconnecting")
                        for t, s in _states(sub)), 5.0), _states(sub)
        time.sleep(max(0.0, stopped_at + 10.0 - time.time()))
        cam.start()
        back_at = time.time()
        assert wait_until(
            lambda: any(t > back_at and s == "streaming" for t, s in _states(sub)), 3.0
        ), (_states(sub), daemon.log()[-3000:])
        sub.wait_for(PASSAGE, n=1, timeout=truth["duration_s"] + 10)
        time.sleep(1.0)
        assert daemon.terminate() == 0
    finally:
        cam.stop()
    events = _events(sub)
    assert [e["plate"] for e in events] == ["浙B7Q2E5"], daemon.log()[-3000:]
    assert daemon.proc.returncode == 0
    sub.close()
