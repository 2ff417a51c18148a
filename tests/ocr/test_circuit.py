"""The circuit breaker: pure state with a fake clock, then lane + pool + client vs the emulator."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from daemon.config.models import PassageConfig
from daemon.lane.worker import LaneWorker
from daemon.ocr.circuit import CLOSED, HALF_OPEN, OPEN, CircuitState, OcrCircuit
from daemon.ocr.emulator.server import EmulatorServer
from daemon.ocr.pool import CIRCUIT_OPEN, OcrPool
from daemon.ocr.ratelimit import RateLimiter
from daemon.ocr.tencent import TencentOcrClient
from tests.support.lane import CAMERA, T0, FakeSlot, Sink, clip
from tests.support.ocr import SECRET_ID, SECRET_KEY

ARREARS = "ResourceUnavailable.InArrears"


def test_cooldown_grows_and_a_success_resets_it() -> None:
    c = CircuitState(base_cooldown_s=10, max_cooldown_s=35, factor=2)
    assert c.allow(0.0)
    assert c.on_stop(ARREARS, 0.0)
    assert c.status(0.0) == {
        "state": OPEN, "code": ARREARS, "retry_in_s": 10.0, "cooldown_s": 10,
        "trips": 1, "openings": 1, "refused_calls": 0, "probe_stuck_s": None,
    }
    assert not c.allow(5.0)
    assert not c.on_stop(ARREARS, 5.0)  # an answer already in flight does not grow it
    assert c.cooldown_s == 10
    assert c.allow(10.0)  # half-open: one probe ...
    assert c.state == HALF_OPEN
    assert not c.allow(10.1)  # ... at a time
    c.on_stop(ARREARS, 10.5)  # refused again: twice as long
    assert (c.state, c.cooldown_s, c.until) == (OPEN, 20, 30.5)
    assert c.allow(30.5)
    c.on_unreached()  # the probe timed out: still half-open, the next candidate probes
    assert c.allow(31.0)
    c.on_stop(ARREARS, 31.0)
    assert c.cooldown_s == 35  # capped
    assert c.allow(66.0)
    assert c.on_reached()
    assert c.status(66.0)["state"] == CLOSED and c.trips == 0
    assert c.refused_calls == 2
    c.on_stop(ARREARS, 70.0)
    assert c.cooldown_s == 10  # back to the first cool-down
    assert (c.trips, c.openings) == (1, 4)  # trips reset on a success, openings count on
    with pytest.raises(ValueError):
        CircuitState(base_cooldown_s=0)


def test_in_arrears_stops_calls_keeps_recording_and_resumes(
    emulator: EmulatorServer, caplog: pytest.LogCaptureFixture
) -> None:
    """ResourceUnavailable.InArrears opens the circuit: no calls for the cool-down, the status
    listener hears open then closed, every passage is still emitted (without a plate while
    open), and calls resume after the cool-down."""
    emulator.fail_next(ARREARS, times=2)
    statuses: list[dict[str, Any]] = []
    circuit = OcrCircuit(base_cooldown_s=1.5, max_cooldown_s=10)
    circuit.add_listener(statuses.append)
    client = TencentOcrClient(emulator.url, SECRET_ID, SECRET_KEY, None, 3.0)
    pool = OcrPool(client, RateLimiter(50), 2, 85, 1920, circuit=circuit)
    pool.start()
    try:
        sink = Sink()
        lane = LaneWorker(
            CAMERA, PassageConfig(), "lot-a", FakeSlot(clip(), pace_s=0.01), pool.submit,
            sink.emit, threading.Event(), sync_reads=True, wall_now=lambda: T0,
        )
        lane.start()
        lane.join(30)
        assert not lane.is_alive()
        # Car 1: the first call is refused, its retry is refused by the open circuit.
        assert len(sink.passages) == 2
        first_reads = sink.reads[0]
        assert sink.passages[0].plate is None
        assert first_reads[0].error_code == ARREARS
        assert all(r.error_code == CIRCUIT_OPEN and not r.called for r in first_reads[1:])
        calls_while_open = len(emulator.calls)
        assert calls_while_open == 1
        assert statuses[0]["state"] == OPEN and statuses[0]["code"] == ARREARS
        assert "ALERT" in caplog.text and ARREARS in caplog.text
        assert pool.stats()["circuit"]["state"] in (OPEN, HALF_OPEN)
        # After the cool-down the probe is refused once more (the plan had 2): 3 s now.
        time.sleep(1.6)
        sink2 = Sink()
        lane2 = LaneWorker(
            CAMERA, PassageConfig(), "lot-a", FakeSlot(clip(6.0), pace_s=0.01), pool.submit,
            sink2.emit, threading.Event(), sync_reads=True, wall_now=lambda: T0,
        )
        lane2.start()
        lane2.join(30)
        assert [c.code for c in emulator.calls] == [ARREARS, ARREARS]
        assert statuses[-1]["state"] == OPEN and statuses[-1]["cooldown_s"] == 3.0
        assert len(sink2.passages) == 1 and sink2.passages[0].plate is None
        time.sleep(3.1)
        sink3 = Sink()
        lane3 = LaneWorker(
            CAMERA, PassageConfig(), "lot-a", FakeSlot(clip(6.0), pace_s=0.01), pool.submit,
            sink3.emit, threading.Event(), sync_reads=True, wall_now=lambda: T0,
        )
        lane3.start()
        lane3.join(30)
        assert emulator.calls[-1].code == "OK"
        assert sink3.passages[0].plate is not None  # calls resumed: a plate again
        assert statuses[-1]["state"] == CLOSED
        assert pool.stats()["circuit_open"] >= 1
    finally:
        pool.stop()
        client.close()
