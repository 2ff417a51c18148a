"""Failover endpoint: the pure switch, then a client and a pool against two real emulators."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime

import numpy as np
import pytest

from daemon.domain import Candidate, Frame, PlateRead
from daemon.ocr.emulator.faults import FaultRule
from daemon.ocr.emulator.server import EmulatorServer
from daemon.ocr.endpoints import FAILOVER, PRIMARY, FailoverState
from daemon.ocr.errors import OcrError, is_transient
from daemon.ocr.pool import OcrPool
from daemon.ocr.ratelimit import RateLimiter
from daemon.ocr.tencent import TencentOcrClient
from tests.support.ocr import SECRET_ID, SECRET_KEY, STUB_PLATE, tiny_jpeg


@pytest.mark.parametrize(
    ("code", "transient"),
    [
        ("Timeout", True), ("NetworkError", True), ("HttpStatus.502", True),
        ("HttpStatus.503", True), ("InternalError", True), ("InternalError.Any", True),
        ("ServiceUnavailable", True), ("HttpStatus.413", False), ("HttpStatus.404", False),
        ("BadResponse", False), ("ResourceUnavailable.InArrears", False),
        ("RequestLimitExceeded", False), ("FailedOperation.OcrFailed", False),
        ("AuthFailure.TokenFailure", False),
    ],
)
def test_transient_codes(code: str, transient: bool) -> None:
    assert is_transient(code) is transient


def test_switch_after_n_transient_failures_and_back_after_cooldown() -> None:
    s = FailoverState(after=5, cooldown_s=60)
    for i in range(4):
        assert s.choose(float(i)) == PRIMARY
        assert not s.on_result(PRIMARY, True, float(i))
    assert not s.on_result(PRIMARY, False, 4.0)  # any answer resets the count
    assert s.failures == 0
    for i in range(4):
        s.on_result(PRIMARY, True, 5.0 + i)
    assert s.on_result(PRIMARY, True, 10.0)  # the fifth in a row moves
    assert s.choose(10.0) == FAILOVER and s.switches == 1
    assert not s.on_result(PRIMARY, True, 10.5)  # sent before the switch: ignored
    assert not s.on_result(FAILOVER, True, 11.0)  # the failover's own failures do not count
    assert s.status(30.0) == {"active": FAILOVER, "failures": 0, "failover_left_s": 40.0,
                              "switches": 1}
    assert s.choose(69.9) == FAILOVER
    assert s.choose(70.0) == PRIMARY  # cool-down over: the primary is on trial ...
    assert s.on_result(PRIMARY, True, 70.1)  # ... and one more failure moves back at once
    assert s.choose(70.2) == FAILOVER and s.switches == 2
    assert s.choose(130.1) == PRIMARY
    s.on_result(PRIMARY, False, 130.2)  # the primary answers: it stays
    assert not s.on_result(PRIMARY, True, 131.0)
    assert s.choose(131.0) == PRIMARY
    with pytest.raises(ValueError):
        FailoverState(after=0)


@pytest.fixture
def pair() -> Iterator[tuple[EmulatorServer, EmulatorServer]]:
    """(primary, failover): two stub emulators with the same account, as two regions would be."""
    servers = [
        EmulatorServer(credentials={SECRET_ID: SECRET_KEY}, rate_limit=100.0,
                       reader=lambda _img: [STUB_PLATE]).start()
        for _ in range(2)
    ]
    try:
        yield servers[0], servers[1]
    finally:
        for s in servers:
            s.stop()


def test_stopped_primary_fails_over_and_comes_back(
    pair: tuple[EmulatorServer, EmulatorServer], caplog: pytest.LogCaptureFixture
) -> None:
    """Connection refused 5 times in a row -> the failover answers (signed for its own Host);
    after the cool-down the restarted primary takes the calls again."""
    primary, failover = pair
    port = primary.port
    primary.stop()
    now = [0.0]
    client = TencentOcrClient(
        f"http://127.0.0.1:{port}", SECRET_ID, SECRET_KEY, None, 2.0,
        failover_endpoint=failover.url, failover_cooldown_s=60.0, monotonic=lambda: now[0],
    )
    with client:
        for _ in range(5):
            with pytest.raises(OcrError) as info:
                client.recognize(tiny_jpeg())
            assert info.value.code == "NetworkError"
        assert "ALERT" in caplog.text and failover.url.removeprefix("http://") in caplog.text
        assert client.recognize(tiny_jpeg()).plate == STUB_PLATE.number
        assert [c.code for c in failover.calls] == ["OK"]  # its Host was signed: accepted
        status = client.endpoint_status()
        assert status["active"] == FAILOVER and status["host"] == f"127.0.0.1:{failover.port}"
        back = EmulatorServer("127.0.0.1", port, {SECRET_ID: SECRET_KEY}, 100.0,
                              lambda _img: [STUB_PLATE]).start()
        try:
            client.recognize(tiny_jpeg())
            assert len(failover.calls) == 2 and back.calls == []  # still cooling down
            now[0] = 60.0
            client.recognize(tiny_jpeg())
            assert [c.code for c in back.calls] == ["OK"] and len(failover.calls) == 2
            assert client.endpoint_status()["active"] == PRIMARY
        finally:
            back.stop()


def test_faulted_primary_fails_over_and_a_failed_trial_moves_back(
    pair: tuple[EmulatorServer, EmulatorServer],
) -> None:
    """InternalError, a timeout, HTTP 503 and ServiceUnavailable count towards the switch; any
    answer from the service (here "no plate") resets the count."""
    primary, failover = pair
    primary.faults.add([
        FaultRule("error", "InternalError", times=2),
        FaultRule("error", "FailedOperation.OcrFailed", times=1),  # an answer: count resets
        FaultRule("timeout", latency_s=1.0, times=1),
        FaultRule("http5xx", status=503, times=2),
        FaultRule("error", "ServiceUnavailable", times=2),
        FaultRule("error", "InternalError", times=1),  # on trial after the cool-down
    ])
    now = [0.0]
    client = TencentOcrClient(
        primary.url, SECRET_ID, SECRET_KEY, None, 0.3,
        failover_endpoint=failover.url, failover_after=5, failover_cooldown_s=60.0,
        monotonic=lambda: now[0],
    )
    codes = []
    with client:
        for _ in range(9):
            try:
                client.recognize(tiny_jpeg())
                codes.append("OK")
            except OcrError as exc:
                codes.append(exc.code)
        assert codes == [
            "InternalError", "InternalError", "FailedOperation.OcrFailed", "Timeout",
            "HttpStatus.503", "HttpStatus.503", "ServiceUnavailable", "ServiceUnavailable", "OK",
        ]
        assert [c.code for c in failover.calls] == ["OK"]
        now[0] = 60.0
        with pytest.raises(OcrError):  # the trial call on the primary fails ...
            client.recognize(tiny_jpeg())
        client.recognize(tiny_jpeg())  # ... so the next goes straight to the failover
        assert len(failover.calls) == 2
        now[0] = 120.0
        client.recognize(tiny_jpeg())  # the primary is healthy now and keeps the calls
        client.recognize(tiny_jpeg())
        assert [c.code for c in primary.calls][-2:] == ["OK", "OK"]
        assert len(failover.calls) == 2
        assert client.endpoint_status()["switches"] == 2


def test_pool_retry_lands_on_the_failover(pair: tuple[EmulatorServer, EmulatorServer]) -> None:
    """With failover_after=1 the pool's one retry of a transient error goes to the failover,
    so the candidate still gets its plate within its deadline."""
    primary, failover = pair
    primary.faults.add([FaultRule("http5xx", status=502, times=None)])
    client = TencentOcrClient(primary.url, SECRET_ID, SECRET_KEY, None, 2.0,
                              failover_endpoint=failover.url, failover_after=1)
    pool = OcrPool(client, RateLimiter(100), 1, 85, 1920)
    pool.start()
    got: list[PlateRead] = []
    done = threading.Event()

    def reply(read: PlateRead) -> None:
        got.append(read)
        done.set()

    try:
        image = np.random.default_rng(1).integers(0, 255, (360, 640, 3), np.uint8)
        frame = Frame("cam", 1, 0.0, datetime.now(UTC), image)
        pool.submit(Candidate("cam", "p", frame, 1.0, 1, time.monotonic() + 3.0),
                    reply)
        assert done.wait(10)
        assert got[0].ok and got[0].plate == STUB_PLATE.number
        assert [c.code for c in primary.calls] == ["Fault.http5xx"]
        assert [c.code for c in failover.calls] == ["OK"]
        stats = pool.stats()
        assert stats["retries"] == 1 and stats["endpoint"]["active"] == FAILOVER
    finally:
        pool.stop()
        client.close()
