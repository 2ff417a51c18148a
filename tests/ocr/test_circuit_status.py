"""The OCR circuit status on MQTT: a real App, a private mosquitto and a billing refusal.

The emulator answers the first call with ``ResourceUnavailable.InArrears``; the retained
``gatecam/<site>/ocr/status`` must say ``open`` (a subscriber arriving later gets it), the
passage is still published without a plate, and after the cool-down the next passage's
call closes the circuit again, retained as ``closed``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from daemon.app import App
from daemon.config.secrets import Secrets
from daemon.ocr.emulator.faults import FaultRule
from daemon.ocr.emulator.server import EmulatorServer, PlateFound
from scripts.rig.broker import Mosquitto, Received, Subscriber
from scripts.rig.clips import ClipStore, clips
from tests.support.config import make_config
from tests.support.daemon import E2E_SECRET_ID, E2E_SECRET_KEY, wait_until
from tests.support.ocr import STUB_PLATE

__all__ = ["clips"]

ARREARS = "ResourceUnavailable.InArrears"
TOPIC = "gatecam/lot-a/ocr/status"


@pytest.fixture
def billing_emulator() -> Iterator[EmulatorServer]:
    """A stub-reader emulator whose first call is refused for arrears."""
    plate = PlateFound("京AF0236", 98, STUB_PLATE.rect, "蓝")
    server = EmulatorServer(credentials={E2E_SECRET_ID: E2E_SECRET_KEY}, rate_limit=10.0,
                            reader=lambda _img: [plate]).start()
    server.faults.add([FaultRule("error", ARREARS, times=1)])
    try:
        yield server
    finally:
        server.stop()


def _retained(port: int) -> Received:
    """The retained status as a subscriber connecting now receives it."""
    late = Subscriber(port, (TOPIC,))
    try:
        assert late.wait_connected()
        got = late.wait_for(TOPIC, timeout=5)[0]
        assert got.retain
        return got
    finally:
        late.close()


@pytest.mark.timeout(90)
def test_in_arrears_status_is_retained_then_closed(
    tmp_path: Path, clips: ClipStore, broker: Mosquitto, billing_emulator: EmulatorServer,
) -> None:
    clip, _ = clips.get("one_car", size=(640, 360), fps=10)
    cfg = make_config(
        tmp_path, clip, billing_emulator.url, ocr={"circuit_cooldown_s": 1},
        mqtt={"enabled": True, "host": "127.0.0.1", "port": broker.port, "topic_prefix": "gatecam"},
        # every loop of the one-car clip is a new vehicle: with the local reader a repeat of
        # the same plate within the window would be settled locally and never probe the cloud
        passage={"dedup_window_s": 0},
    )
    sub = Subscriber(broker.port, (TOPIC, "gatecam/lot-a/entry-1/passage"))
    assert sub.wait_connected()
    app = App(cfg, Secrets(E2E_SECRET_ID, E2E_SECRET_KEY, None))
    app.start()
    try:
        def states() -> list[str]:
            return [json.loads(m.payload)["state"] for m in sub.matching(TOPIC)]

        assert wait_until(lambda: "open" in states(), 30), states()
        opened = next(json.loads(m.payload) for m in sub.matching(TOPIC)
                      if json.loads(m.payload)["state"] == "open")
        assert opened["code"] == ARREARS and opened["cooldown_s"] == 1.0
        # The open state lasts until the next passage's probe (the clip loops every ~8 s).
        late = json.loads(_retained(broker.port).payload)
        assert late["state"] == "open" and late["code"] == ARREARS
        assert [c.code for c in billing_emulator.calls] == [ARREARS]  # nothing else was sent
        first = json.loads(sub.wait_for("gatecam/lot-a/entry-1/passage", timeout=20)[0].payload)
        # recorded and published with the local reader's plate (issue 11: an offline gate
        # keeps working; before the local reader it was published without a plate)
        assert first["plate"] == "京AF0236" and first["ocr"]["provider"] == "local"
        assert wait_until(lambda: states()[-1:] == ["closed"], 30), states()
        assert states()[0] == "closed" and "open" in states()  # closed -> open -> ... -> closed
        assert billing_emulator.calls[-1].code == "OK"
        closed = json.loads(_retained(broker.port).payload)
        assert closed["state"] == "closed" and closed["code"] is None
        assert app.ocr_stats()["circuit"]["state"] == "closed"
    finally:
        app.stop()
        sub.close()
