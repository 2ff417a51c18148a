"""A SIGKILLed daemon loses no webhook event: a real ``gatecam run`` child (RTSP camera,
emulator, mosquitto, SQLite) whose webhook receiver is down, so its rows are pending, is
killed; restarted with the receiver up, it delivers every passage committed before the
kill to the receiver and to MQTT, each with the same event_id."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
from pathlib import Path
from typing import Any

import pytest
import yaml

from daemon.ocr.emulator.server import EmulatorServer
from scripts.rig.broker import Mosquitto, Subscriber
from scripts.rig.camera import RtspCamera
from scripts.rig.clips import ClipStore, clips
from tests.support.daemon import daemon_config, wait_until
from tests.support.receiver import Receiver

__all__ = ["clips"]

pytestmark = pytest.mark.slow

PASSAGE = "gatecam/lot-a/entry-1/passage"


def _db(tmp_path: Path) -> tuple[set[str], int]:
    """(event ids of the committed passages, webhook rows not delivered); read-only, and
    nothing before the daemon has made its database."""
    path = tmp_path / "gatecam.db"
    if not path.exists():
        return set(), 0
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        ids = {r[0] for r in db.execute("SELECT event_id FROM passages")}
        pending = db.execute("SELECT count(*) FROM outbox WHERE target = 'webhook:erp' "
                             "AND delivered_at IS NULL").fetchone()[0]
    except sqlite3.OperationalError:  # not migrated yet
        return set(), 0
    finally:
        db.close()
    return ids, int(pending)


def _with_webhook(cfg: Path, url: str) -> Path:
    doc = yaml.safe_load(cfg.read_text(encoding="utf-8"))
    doc["webhooks"] = [{"name": "erp", "url": url, "retry_min_s": 0.2, "retry_max_s": 0.5,
                        "timeout_s": 2.0}]
    cfg.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    return cfg


@pytest.mark.timeout(180)
def test_daemon_sigkill_with_pending_webhook_rows_loses_nothing(
    tmp_path: Path, clips: ClipStore, broker: Mosquitto, ocr_emulator: EmulatorServer,
    daemon_runner: Any,
) -> None:
    clip, truth = clips.get("three_cars")
    rx = Receiver()  # down while the first daemon runs: every webhook row stays pending
    sub = Subscriber(broker.port, ("gatecam/#",))
    assert sub.wait_connected()
    with RtspCamera(clip, loop=True) as cam:
        cfg = _with_webhook(daemon_config(tmp_path, camera_url=cam.url, mqtt_port=broker.port,
                                          endpoint=ocr_emulator.url), rx.url)
        first = daemon_runner("run", "--config", str(cfg))
        assert wait_until(lambda: len(_db(tmp_path)[0]) >= 2, truth["duration_s"] + 40), \
            first.log()[-3000:]
        os.kill(first.proc.pid, signal.SIGKILL)  # our child, by its PID
        first.proc.wait(10)
        committed, pending = _db(tmp_path)
        assert pending >= len(committed) >= 2, (pending, committed)  # nothing got out yet
        assert "webhook erp: unreachable at start" in first.log()

        rx.start()
        second = daemon_runner("run", "--config", str(cfg))
        got = rx.wait_for(lambda g: committed <= {x.event["event_id"] for x in g}, 60)
        assert wait_until(lambda: committed <= {json.loads(m.payload)["event_id"]
                                                for m in sub.matching(PASSAGE)}, 30)
        assert second.terminate() == 0, second.log()[-3000:]
    events = {json.loads(m.payload)["event_id"]: json.loads(m.payload)
              for m in sub.matching(PASSAGE)}
    for g in got:
        assert g.headers["X-Gatecam-Event-Id"] == g.event["event_id"]
        if g.event["event_id"] in committed:  # the same event as MQTT's (late aside)
            mqtt = events[g.event["event_id"]]
            assert {**g.event, "late": None} == {**mqtt, "late": None}
    sub.close()
    rx.stop()
