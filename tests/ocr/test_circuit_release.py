"""The circuit's half-open probe is released on every path, and a stuck probe is a stall.

Issue 12, item 8: an exception while preparing the probe's frame (or a bug in the client)
left the probe taken, so no call went out again until a restart and health saw nothing.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any, cast

import numpy as np

from daemon.domain import Candidate, Frame, Image, PlateRead
from daemon.ocr.circuit import CLOSED, HALF_OPEN, OPEN, CircuitState, OcrCircuit
from daemon.ocr.emulator.server import EmulatorServer
from daemon.ocr.pool import CIRCUIT_OPEN, OcrPool
from daemon.ocr.ratelimit import RateLimiter
from daemon.ocr.tencent import OcrResult, TencentOcrClient
from daemon.ops import observe
from daemon.ops.health import HealthLimits, PipelineSnapshot, assess
from tests.support.ocr import SECRET_ID, SECRET_KEY

ARREARS = "ResourceUnavailable.InArrears"


class FakeClock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def _broken() -> Image:
    raise MemoryError("decoder buffer gone")  # anything a conversion can throw


def _cand(passage: str, *, broken: bool = False) -> Candidate:
    wall = datetime.now(UTC)
    if broken:
        grey = np.zeros((360, 640), np.uint8)
        frame = Frame("cam", 1, 0.0, wall, grey=grey, make_image=_broken)
    else:
        frame = Frame("cam", 1, 0.0, wall, np.full((360, 640, 3), 120, np.uint8))
    return Candidate("cam", passage, frame, 1.0, 1, time.monotonic() + 5.0)


def _read(pool: OcrPool, cand: Candidate) -> PlateRead:
    got: list[PlateRead] = []
    done = threading.Event()
    pool.submit(cand, lambda r: (got.append(r), done.set()))
    assert done.wait(10)
    return got[0]


def test_probe_released_when_frame_preparation_raises(emulator: EmulatorServer) -> None:
    """Open (billing), cool-down over, the probe's frame cannot be converted: the next
    candidate must still probe, reach the service and close the circuit."""
    emulator.fail_next(ARREARS)
    clock = FakeClock()
    circuit = OcrCircuit(base_cooldown_s=60, clock=clock)
    client = TencentOcrClient(emulator.url, SECRET_ID, SECRET_KEY, None, 3.0)
    pool = OcrPool(client, RateLimiter(100), 1, 85, 1920, circuit=circuit)
    pool.start()
    try:
        assert _read(pool, _cand("p1")).error_code == ARREARS
        assert circuit.status()["state"] == OPEN
        clock.t += 61  # the cool-down is over: half-open
        assert _read(pool, _cand("p2", broken=True)).error_code == "LocalError"
        read = _read(pool, _cand("p3"))
        assert read.error_code != CIRCUIT_OPEN, "probe still taken after a preparation error"
        assert read.ok and circuit.status()["state"] == CLOSED
        assert [c.code for c in emulator.calls] == [ARREARS, "OK"]
    finally:
        pool.stop()
        client.close()


def test_probe_released_when_the_client_raises_a_bug() -> None:
    """A non-OcrError exception inside the probe call releases the probe as well."""
    calls = {"n": 0}

    class Buggy:
        def recognize(self, jpeg: bytes, *, retry_resync: bool = True) -> OcrResult:
            calls["n"] += 1
            raise KeyError("a bug")

    clock = FakeClock()
    circuit = OcrCircuit(base_cooldown_s=60, clock=clock)
    circuit.on_stop(ARREARS, None)
    clock.t += 61
    pool = OcrPool(Buggy(), RateLimiter(100), 1, 85, 1920, circuit=circuit)
    pool.start()
    try:
        assert _read(pool, _cand("p1")).error_code == "LocalError"
        assert _read(pool, _cand("p2")).error_code == "LocalError"
    finally:
        pool.stop()
    assert calls["n"] == 2  # the second candidate probed too
    assert circuit.status()["state"] == HALF_OPEN


def test_release_belongs_to_the_probing_thread() -> None:
    """A worker that did not take the probe cannot release another worker's probe."""
    clock = FakeClock()
    circuit = OcrCircuit(base_cooldown_s=10, clock=clock)
    circuit.on_stop(ARREARS, None)
    clock.t += 11
    assert circuit.allow()
    other = threading.Thread(target=circuit.release)
    other.start()
    other.join()
    assert not circuit.allow()  # still one probe in flight
    circuit.release()
    assert circuit.allow()


def test_probe_held_past_a_whole_cooldown_is_a_stall() -> None:
    state = CircuitState(base_cooldown_s=10)
    state.on_stop(ARREARS, 0.0)
    assert state.stuck_for(5.0) is None  # open, cooling down: fine
    assert state.allow(10.0)
    assert state.stuck_for(19.0) is None  # a probe in flight for 9 s: fine
    assert state.stuck_for(21.0) == 11.0  # in flight longer than the cool-down: stuck
    assert state.status(21.0)["probe_stuck_s"] == 11.0
    state.on_unreached()
    assert state.stuck_for(100.0) is None


def test_stuck_probe_reaches_health_through_observe() -> None:
    """observe.snapshot carries a stuck probe into assess, which reports a stall."""
    release = threading.Event()

    class Hanging:
        def recognize(self, jpeg: bytes, *, retry_resync: bool = True) -> OcrResult:
            release.wait(10)
            raise KeyError("never answers in time")

    clock = FakeClock()
    circuit = OcrCircuit(base_cooldown_s=30, clock=clock)
    circuit.on_stop(ARREARS, None)
    clock.t += 31
    pool = OcrPool(Hanging(), RateLimiter(100), 1, 85, 1920, circuit=circuit)
    pool.start()
    recorder = SimpleNamespace(alive=True, last_beat=time.monotonic() + 3600)
    app = observe.Stages(cameras=(), store=None, recorder=cast("Any", recorder), publisher=None,
                         pool=pool, passages=0, stopping=False)
    try:
        pool.submit(_cand("p1"), lambda _r: None)
        end = time.monotonic() + 5
        while circuit.status()["state"] == HALF_OPEN and not circuit._state.probing:
            assert time.monotonic() < end
            time.sleep(0.01)
        snap = observe.snapshot(app)
        assert assess(snap, time.monotonic(), HealthLimits()).alive
        clock.t += 31  # the probe has now been out longer than the whole cool-down
        snap = observe.snapshot(app)
        verdict = assess(snap, time.monotonic(), HealthLimits())
        assert not verdict.alive
        assert any("OCR circuit" in p for p in verdict.problems), verdict.problems
    finally:
        release.set()
        pool.stop()


def test_assess_reports_a_stuck_circuit() -> None:
    snap = PipelineSnapshot(cameras=[], recorder_alive=True, recorder_beat=0.0,
                            ocr_stuck_s=95.0)
    verdict = assess(snap, 1.0, HealthLimits())
    assert not verdict.alive and "OCR circuit probe stuck for 95 s" in verdict.problems
