"""The OCR client's total deadline per call and its cap on answer size (issue 12, item 17).

httpx timeouts are per phase: a server that drips one byte a second never trips a 3 s
read timeout and holds the call (and an OCR worker) for ever; a huge answer was read
whole into memory. Against the emulator's ``slow_drip`` and ``huge_body`` faults on
loopback, and on an ``httpx.MockTransport`` for what a real server cannot easily do.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator

import httpx
import pytest

from daemon.ocr.emulator.faults import FaultRule
from daemon.ocr.emulator.server import EmulatorServer
from daemon.ocr.emulator.wire import raw_fault
from daemon.ocr.errors import Action, OcrError
from daemon.ocr.tencent import MAX_RESPONSE_BYTES, TencentOcrClient
from tests.support.ocr import SECRET_ID, SECRET_KEY, tiny_jpeg

GOOD: dict[str, dict[str, object]] = {"Response": {
    "Number": "京AF0236", "Confidence": 99, "Color": "蓝",
    "Rect": {"X": 1, "Y": 2, "Width": 30, "Height": 10}, "RequestId": "r",
}}


def _emulator_client(emu: EmulatorServer, timeout_s: float) -> TencentOcrClient:
    return TencentOcrClient(emu.url, SECRET_ID, SECRET_KEY, None, timeout_s)


@pytest.mark.timeout(30)
def test_slow_drip_answer_is_cut_at_the_total_deadline(emulator: EmulatorServer) -> None:
    """Every byte comes well within the 1 s read timeout, the whole answer would take
    ~20 s: the call must fail as a Timeout after about 1 s."""
    emulator.faults.add([FaultRule("slow_drip", latency_s=0.05)])
    with _emulator_client(emulator, 1.0) as client:
        started = time.monotonic()
        with pytest.raises(OcrError) as info:
            client.recognize(tiny_jpeg())
        took = time.monotonic() - started
        assert info.value.code == "Timeout" and info.value.action is Action.RETRY
        assert took < 1.6, took
        assert client.recognize(tiny_jpeg()).plate  # the pool recovers: next call fine


@pytest.mark.timeout(30)
def test_huge_answer_is_refused_not_read_whole(emulator: EmulatorServer) -> None:
    emulator.faults.add([FaultRule("huge_body", size=4 << 20)])
    with _emulator_client(emulator, 3.0) as client:
        with pytest.raises(OcrError) as info:
            client.recognize(tiny_jpeg())
        assert info.value.code == "ResponseTooLarge"
        assert info.value.action is Action.RETRY_ONCE
        assert client.recognize(tiny_jpeg()).plate


def test_emulator_huge_body_is_a_valid_answer() -> None:
    """Without the cap the padded answer parses: the cap, not a parse error, refuses it."""
    answer = raw_fault(FaultRule("huge_body", size=200_000), dict(GOOD["Response"]))
    assert answer.payload is not None and len(answer.payload) >= 200_000
    assert json.loads(answer.payload)["Response"]["Number"] == "京AF0236"
    with pytest.raises(ValueError, match="size"):
        FaultRule("huge_body", size=-1)


def _mock_client(handler: httpx.MockTransport, timeout_s: float = 1.0) -> TencentOcrClient:
    return TencentOcrClient("http://127.0.0.1:9", "AKIDx", "keyx", None, timeout_s,
                            transport=handler)


def test_declared_length_over_the_cap_is_refused_before_reading() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        def body() -> Iterator[bytes]:
            raise AssertionError("the body must not be read")
            yield b""

        headers = {"Content-Type": "application/json",
                   "Content-Length": str(MAX_RESPONSE_BYTES + 1)}
        return httpx.Response(200, headers=headers, stream=_Lazy(body))

    with _mock_client(httpx.MockTransport(handler)) as client, \
            pytest.raises(OcrError) as info:
        client.recognize(b"x")
    assert info.value.code == "ResponseTooLarge"


class _Lazy(httpx.SyncByteStream):
    def __init__(self, make: object) -> None:
        self._make = make

    def __iter__(self) -> Iterator[bytes]:
        yield from self._make()  # type: ignore[operator]


@pytest.mark.timeout(30)
def test_undeclared_length_is_counted_while_streaming() -> None:
    sent = {"chunks": 0}

    def chunks() -> Iterator[bytes]:
        yield b'{"Response": {"Pad": "'
        for _ in range(10_000):
            sent["chunks"] += 1
            yield b"x" * 1024

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers={"Content-Type": "application/json"},
                              stream=_Lazy(chunks))

    with _mock_client(httpx.MockTransport(handler)) as client, \
            pytest.raises(OcrError) as info:
        client.recognize(b"x")
    assert info.value.code == "ResponseTooLarge"
    assert sent["chunks"] <= MAX_RESPONSE_BYTES // 1024 + 2  # stopped at the cap


@pytest.mark.timeout(30)
def test_deadline_holds_for_a_stream_that_trickles() -> None:
    """Also when the bytes come from somewhere the socket clip does not see (a mounted
    transport): the read loop checks the deadline itself."""
    stop = threading.Event()

    def chunks() -> Iterator[bytes]:
        yield b'{"Response": {"Pad": "'
        while not stop.is_set():
            time.sleep(0.05)
            yield b"x"

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers={"Content-Type": "application/json"},
                              stream=_Lazy(chunks))

    started = time.monotonic()
    try:
        with _mock_client(httpx.MockTransport(handler), 0.5) as client, \
                pytest.raises(OcrError) as info:
            client.recognize(b"x")
    finally:
        stop.set()
    assert info.value.code == "Timeout"
    assert time.monotonic() - started < 1.5


def test_total_deadline_defaults_to_timeout_and_can_be_longer() -> None:
    client = TencentOcrClient("http://127.0.0.1:9", "a", "b", None, 2.0)
    assert client.deadline_s == 2.0
    client.close()
    client = TencentOcrClient("http://127.0.0.1:9", "a", "b", None, 2.0, deadline_s=5.0)
    assert client.deadline_s == 5.0
    client.close()
