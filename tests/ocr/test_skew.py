"""ClockSkew: offset and uncertainty from Date headers, ALERT once above 2 s, gate refusal;
the OCR client feeds it from every answer of the (clock-shifted) emulator."""

from __future__ import annotations

import logging
import time

import pytest

from daemon.ocr.emulator.server import EmulatorServer
from daemon.ocr.skew import ClockSkew
from daemon.ocr.tencent import TencentOcrClient
from tests.support.ocr import SECRET_ID, SECRET_KEY, STUB_PLATE, tiny_jpeg


def test_offset_is_the_middle_of_both_intervals() -> None:
    skew = ClockSkew(clock=lambda: 1000.0)
    assert skew.offset_s is None and skew.known_off_s == 0.0 and skew.gate_refusal(5) is None
    skew.observe(server_date=1030.0, sent_at=999.8, received_at=1000.0)  # Date is whole seconds
    assert skew.offset_s == pytest.approx(30.6)
    assert skew.known_off_s == pytest.approx(30.6 - 0.6)
    st = skew.status()
    assert st["skew_s"] == 30.6 and st["uncertainty_s"] == 0.6 and st["alert"] is True


def test_alert_logged_once_then_cleared(caplog: pytest.LogCaptureFixture) -> None:
    heard: list[bool] = []
    skew = ClockSkew(clock=lambda: 0.0)
    skew.add_listener(lambda s: heard.append(bool(s["alert"])))
    with caplog.at_level(logging.INFO, logger="daemon.ocr.skew"):
        skew.observe(100.0, 99.4, 99.6)  # +0.9 s: fine
        for _ in range(3):
            skew.observe(103.0, 99.9, 100.1)  # +3.5 s
        skew.observe(100.0, 99.9, 100.1)  # +0.5 s
    alerts = [r for r in caplog.records if r.getMessage().startswith("ALERT: system clock")]
    assert len(alerts) == 1 and "+3.5 s" in alerts[0].getMessage()
    assert alerts[0].levelno == logging.ERROR
    assert heard == [True, False]
    assert skew.status()["alert"] is False


def test_gate_refused_only_while_known_off_by_more_than_the_ttl() -> None:
    skew = ClockSkew(clock=lambda: 0.0)
    skew.observe(105.0, 99.9, 100.1)  # +5.5 s, at least 4.9 s
    assert skew.gate_refusal(5.0) is None  # may be within the 5 s to live
    skew.observe(107.0, 99.9, 100.1)  # +7.5 s, at least 6.9 s
    reason = skew.gate_refusal(5.0)
    assert reason is not None and "off by +7.5 s" in reason and "5 s to live" in reason
    skew.observe(93.0, 99.9, 100.1)  # slow clocks count too
    assert skew.gate_refusal(5.0) is not None


@pytest.mark.parametrize("shift", [30.0, -30.0])
def test_client_measures_skew_from_every_answer(shift: float) -> None:
    server = EmulatorServer(credentials={SECRET_ID: SECRET_KEY}, rate_limit=100.0,
                            reader=lambda _img: [STUB_PLATE],
                            clock=lambda: time.time() + shift).start()
    try:
        with TencentOcrClient(server.url, SECRET_ID, SECRET_KEY, "ap-guangzhou", 3.0) as client:
            assert client.recognize(tiny_jpeg()).plate == STUB_PLATE.number  # signing still ok
            assert client.skew.offset_s == pytest.approx(shift, abs=1.1)
            assert client.skew.gate_refusal(5.0) is not None
            assert client.skew.measurements == 1
    finally:
        server.stop()
