"""SIGTERM: capture stops, the in-flight read is awaited, its passage published, `offline` kept."""

from __future__ import annotations

import json
import signal
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from daemon.ocr.emulator.server import EmulatorServer
from scripts.rig.broker import Mosquitto, Subscriber
from scripts.rig.clips import ClipStore, clips
from tests.support.daemon import daemon_config, wait_until

__all__ = ["clips"]

pytestmark = pytest.mark.slow

PASSAGE = "gatecam/lot-a/entry-1/passage"
SITE_STATUS = "gatecam/lot-a/status"
OCR_DELAY_S = 1.5


@pytest.mark.timeout(90)
def test_sigterm_publishes_the_in_flight_passage_and_leaves_offline_retained(
    tmp_path: Path, clips: ClipStore, broker: Mosquitto, ocr_emulator: EmulatorServer,
    daemon_runner: Any,
) -> None:
    clip, truth = clips.get("one_car")
    plate = truth["vehicles"][0]["plate"]
    arrived = threading.Event()
    real_reader = ocr_emulator.reader

    def slow_reader(image: bytes) -> Any:  # the first call is in flight when SIGTERM comes
        arrived.set()
        time.sleep(OCR_DELAY_S)
        return real_reader(image)

    sub = Subscriber(broker.port, ("gatecam/#",))
    assert sub.wait_connected()
    ocr_emulator.reader = slow_reader
    try:
        cfg = daemon_config(tmp_path, camera_url=str(clip), mqtt_port=broker.port,
                            endpoint=ocr_emulator.url, loop=True)
        doc = yaml.safe_load(cfg.read_text(encoding="utf-8"))
        doc["ocr"]["timeout_s"] = 8  # the slowed call must not time out on a busy machine
        cfg.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
        daemon = daemon_runner("run", "--config", str(cfg))
        assert arrived.wait(truth["duration_s"] + 20), daemon.log()[-3000:]
        assert not sub.matching(PASSAGE)  # nothing decided yet: the read is in flight
        t0 = time.monotonic()
        daemon.proc.send_signal(signal.SIGTERM)
        rc = daemon.proc.wait(30)
        took = time.monotonic() - t0
    finally:
        ocr_emulator.reader = real_reader
    log = daemon.log()
    assert rc == 0, log[-3000:]
    assert took < 20, f"stop took {took:.1f} s"  # well inside TimeoutStopSec=30
    assert wait_until(lambda: sub.matching(PASSAGE), 5), log[-3000:]
    events = [json.loads(m.payload) for m in sub.matching(PASSAGE)]
    assert [e["plate"] for e in events] == [plate], events
    sub.close()
    late = Subscriber(broker.port, (SITE_STATUS,))  # a newcomer sees the retained state
    msgs = late.wait_for(SITE_STATUS, n=1, timeout=5)
    assert msgs[-1].payload == "offline" and msgs[-1].retain
    late.close()
