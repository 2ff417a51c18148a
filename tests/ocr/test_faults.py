"""Each error class end to end: emulator fault -> client -> pool; and the fault plan itself."""

from __future__ import annotations

import json
import random
import threading
import time
from datetime import UTC, datetime
from typing import Any

import httpx
import numpy as np
import pytest

from daemon.domain import Candidate, Frame, PlateRead
from daemon.ocr.emulator.faults import FaultPlan, FaultRule, parse_plan
from daemon.ocr.emulator.readers import OracleReader
from daemon.ocr.emulator.server import EmulatorServer
from daemon.ocr.pool import CIRCUIT_OPEN, OcrPool
from daemon.ocr.ratelimit import RateLimiter
from daemon.ocr.tencent import TencentOcrClient
from tests.support.ocr import SECRET_ID, SECRET_KEY, STUB_PLATE


def _read(emu: EmulatorServer, *, timeout_s: float = 3.0, deadline_in: float = 3.0,
          size: tuple[int, int] = (640, 360)) -> tuple[PlateRead, OcrPool]:
    client = TencentOcrClient(emu.url, SECRET_ID, SECRET_KEY, None, timeout_s)
    pool = OcrPool(client, RateLimiter(100), 1, 85, 1920)
    pool.start()
    got: list[PlateRead] = []
    done = threading.Event()

    def reply(r: PlateRead) -> None:
        got.append(r)
        done.set()

    w, h = size
    image = np.random.default_rng(1).integers(0, 255, (h, w, 3), np.uint8)
    frame = Frame("cam", 1, 0.0, datetime.now(UTC), image)
    pool.submit(Candidate("cam", "p", frame, 1.0, 1, time.monotonic() + deadline_in), reply)
    assert done.wait(15)
    pool.stop()
    client.close()
    return got[0], pool


# (fault plan, codes the emulator logs, final read error code or None for a plate, counters)
CASES: list[tuple[str, list[dict[str, Any]], list[str], str | None, dict[str, int]]] = [
    ("retry", [{"kind": "error", "code": "InternalError"}], ["InternalError", "OK"], None,
     {"retries": 1}),
    ("retry_once_unknown", [{"kind": "error", "code": "Weird.NewCode", "times": 2}],
     ["Weird.NewCode", "Weird.NewCode"], "Weird.NewCode", {"unknown_codes": 2}),
    ("backoff", [{"kind": "error", "code": "RequestLimitExceeded"}], ["RequestLimitExceeded"],
     "RequestLimitExceeded", {"retries": 0}),
    ("no_plate", [{"kind": "error", "code": "FailedOperation.OcrFailed"}],
     ["FailedOperation.OcrFailed"], "FailedOperation.OcrFailed", {"no_plate": 1}),
    ("drop", [{"kind": "error", "code": "FailedOperation.ImageDecodeFailed"}],
     ["FailedOperation.ImageDecodeFailed"], "FailedOperation.ImageDecodeFailed", {}),
    ("reencode", [{"kind": "error", "code": "LimitExceeded.TooLargeFileError"}],
     ["LimitExceeded.TooLargeFileError", "OK"], None, {"reencodes": 1}),
    ("stop", [{"kind": "error", "code": "AuthFailure.SecretIdNotFound"}],
     ["AuthFailure.SecretIdNotFound"], "AuthFailure.SecretIdNotFound", {}),
    ("http5xx", [{"kind": "http5xx", "status": 502}], ["Fault.http5xx", "OK"], None,
     {"retries": 1}),
    ("malformed", [{"kind": "malformed", "times": 2}], ["Fault.malformed"] * 2, "BadResponse",
     {"retries": 1}),
    ("wrong_type", [{"kind": "wrong_type"}], ["Fault.wrong_type", "OK"], None, {"retries": 1}),
    ("timeout", [{"kind": "timeout", "latency_s": 0.8}], ["OK", "Fault.timeout"], None,
     {"retries": 1}),
]


@pytest.mark.parametrize(("plan", "codes", "final", "counts"),
                         [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_error_class_against_the_emulator(
    emulator: EmulatorServer, plan: list[dict[str, Any]], codes: list[str], final: str | None,
    counts: dict[str, int],
) -> None:
    emulator.faults.add(parse_plan(plan))
    read, pool = _read(emulator, timeout_s=0.5)
    # The call log is in order of answers: a timed-out call is logged when the server gives up.
    end = time.monotonic() + 3
    while len(emulator.calls) < len(codes) and time.monotonic() < end:
        time.sleep(0.05)
    assert sorted(c.code for c in emulator.calls) == sorted(codes)
    assert read.error_code == final
    assert read.ok is (final is None)
    stats = pool.stats()
    for key, n in counts.items():
        assert stats[key] == n, (key, stats)
    if final and final.startswith("AuthFailure"):
        assert stats["circuit"]["state"] == "open"


def test_retry_never_outlives_the_deadline(emulator: EmulatorServer) -> None:
    """A transient error with no time left: no second call, the frame would be stale."""
    emulator.faults.add([FaultRule("latency", times=1, latency_s=0.3),
                         FaultRule("error", "InternalError")])
    read, _ = _read(emulator, deadline_in=0.3)
    assert read.error_code == "InternalError"
    assert len(emulator.calls) == 1


def test_resync_retry_takes_a_rate_slot(emulator: EmulatorServer) -> None:
    emulator.clock = lambda: time.time() + 1000  # the server is 1000 s ahead
    read, pool = _read(emulator)
    assert read.ok
    assert [c.code for c in emulator.calls] == ["AuthFailure.SignatureExpire", "OK"]
    assert pool.stats()["retries"] == 1


def test_reencode_sends_a_smaller_image(emulator: EmulatorServer) -> None:
    sizes: list[int] = []
    emulator.reader = lambda img: sizes.append(len(img)) or [STUB_PLATE]  # type: ignore[func-returns-value]
    emulator.fail_next("LimitExceeded.TooLargeFileError")
    read, _ = _read(emulator, size=(1920, 1080))
    assert read.ok and len(sizes) == 1  # the first (too large) never reached the reader


def test_plan_probability_latency_and_exhaustion() -> None:
    plan = FaultPlan([FaultRule("latency", times=None, latency_s=0.01),
                      FaultRule("error", "InternalError", times=None, probability=0.3)],
                     rng=random.Random(4))
    drawn = [plan.draw() for _ in range(1000)]
    assert all(d.delay_s == 0.01 for d in drawn)
    fired = sum(d.rule is not None for d in drawn)
    assert 250 <= fired <= 350
    once = FaultPlan([FaultRule("malformed", times=2)])
    assert [once.draw().rule is not None for _ in range(3)] == [True, True, False]
    assert once.rules() == []
    for bad in ({"kind": "nope"}, {"kind": "error"}, {"kind": "error", "code": "X", "x": 1},
                {"kind": "http5xx", "status": 404}, {"kind": "latency", "probability": 2}, 3):
        with pytest.raises(ValueError):
            parse_plan(bad)


def test_control_endpoint_sets_faults_and_reads_the_log(emulator: EmulatorServer) -> None:
    with httpx.Client(base_url=emulator.url, trust_env=False) as http:
        rule = {"kind": "error", "code": "ResourceUnavailable.InArrears", "times": 1}
        r = http.post("/_control/faults", content=json.dumps(rule))
        assert r.status_code == 200 and r.json()[0]["code"] == rule["code"]
        assert http.post("/_control/faults", content=b'{"kind": "bad"}').status_code == 400
        read, _ = _read(emulator)
        assert read.error_code == "ResourceUnavailable.InArrears"
        calls = http.get("/_control/calls").json()
        assert [c["code"] for c in calls] == ["ResourceUnavailable.InArrears"]
        http.post("/_control/faults", content=json.dumps([{"kind": "http5xx", "times": None}]))
        assert http.delete("/_control/faults").json() == []
        assert http.get("/_control/faults").json() == []
        assert http.get("/_control/nothing").status_code == 404


def test_oracle_reader_answers_from_ground_truth() -> None:
    import hashlib

    known = b"\xff\xd8\xffimage-1"
    oracle = OracleReader({hashlib.sha256(known).hexdigest(): "京A·F0236"})
    assert [p.number for p in oracle(known)] == ["京AF0236"]
    assert oracle(b"other") == []
    by_size = OracleReader(lambda img: "粤B12345" if len(img) > 10 else None)
    assert by_size(b"x" * 20)[0].number == "粤B12345" and by_size(b"x") == []
    assert oracle.calls == 2
    assert CIRCUIT_OPEN == "CircuitOpen"


def test_unknown_billing_like_code_opens_the_circuit(emulator: EmulatorServer) -> None:
    """A billing refusal outside the documented taxonomy stops calling (issue 12, item 18):
    one call, no retry, the circuit opens and the next candidate is not sent."""
    code = "FailedOperation.ResourcePackExhausted"
    emulator.faults.add([FaultRule("error", code, times=None)])
    client = TencentOcrClient(emulator.url, SECRET_ID, SECRET_KEY, None, 3.0)
    pool = OcrPool(client, RateLimiter(100), 1, 85, 1920)
    pool.start()
    got: list[PlateRead] = []
    done = threading.Event()

    def reply(r: PlateRead) -> None:
        got.append(r)
        if len(got) == 2:
            done.set()

    image = np.full((360, 640, 3), 100, np.uint8)
    try:
        for i in range(2):
            frame = Frame("cam", i, 0.0, datetime.now(UTC), image)
            pool.submit(Candidate("cam", f"p{i}", frame, 1.0, 1, time.monotonic() + 3), reply)
            time.sleep(0.2)
        assert done.wait(10)
    finally:
        pool.stop()
        client.close()
    assert [c.code for c in emulator.calls] == [code]
    assert [r.error_code for r in got] == [code, CIRCUIT_OPEN]
    stats = pool.stats()
    assert stats["circuit"]["state"] == "open" and stats["unknown_codes"] == 1
