"""Tests for daemon.capture.clock: PTS to seconds on a capture thread's continuing timeline."""

from __future__ import annotations

import pytest

from daemon.capture.clock import LagMeter, Pacer, StreamClock


def test_stream_clock_synthesises_missing_and_backward_pts() -> None:
    clock = StreamClock(base=10.0, step=0.04, time_base=1 / 90000)
    last = 9.9
    out = []
    for pts in [90000, 93600, None, 90000, 104400]:
        t, synthetic = clock.stamp(pts, last)
        out.append((round(t, 6), synthetic))
        last = t
    assert out == [(10.0, False), (10.04, False), (10.08, True), (10.12, True), (10.16, False)]
    first, synthetic = StreamClock(base=0.0, step=0.04, time_base=None).stamp(None, -1.0)
    assert (first, synthetic) == (0.0, True)


def test_reopened_stream_continues_after_the_last_frame() -> None:
    # a stream reopened at base 7.5 whose PTS restart from a large value
    clock = StreamClock(base=7.5, step=0.04, time_base=1 / 1000)
    assert clock.stamp(500_000, 7.4) == (7.5, False)
    t, synthetic = clock.stamp(500_040, 7.5)
    assert (round(t, 6), synthetic) == (7.54, False)
    # a stream without PTS: one step after the last frame
    bare = StreamClock(base=7.5, step=0.04, time_base=None)
    t, synthetic = bare.stamp(None, 7.6)
    assert (round(t, 6), synthetic) == (7.64, True)


def test_lag_meter_measures_delay_beyond_the_base_latency() -> None:
    meter = LagMeter()
    assert meter.lag(0.0, 100.3) == 0.0  # base latency 0.3 s
    assert meter.lag(1.0, 101.3) == pytest.approx(0.0)
    assert meter.lag(2.0, 102.8) == pytest.approx(0.5)  # read half a second late
    assert meter.lag(3.0, 103.1) == 0.0  # a lower latency becomes the base
    assert meter.lag(4.0, 104.3) == pytest.approx(0.2)


def test_pacer_waits_for_stream_time_and_restarts_when_far_behind() -> None:
    pacer = Pacer(max_lag_s=0.5)
    assert pacer.delay(10.0, 50.0) == 0.0
    assert pacer.delay(10.04, 50.0) == pytest.approx(0.04)
    assert pacer.delay(10.2, 50.3) == 0.0 and pacer.max_lag_s_seen == pytest.approx(0.1)
    assert pacer.delay(10.4, 51.0) == 0.0  # 0.6 s behind: schedule restarts
    assert pacer.lag_s == pytest.approx(0.6)
    assert pacer.delay(10.44, 51.0) == pytest.approx(0.04)
    assert pacer.lag_s == pytest.approx(-0.04)  # this packet's lag, not the largest
    assert pacer.max_lag_s_seen == pytest.approx(0.6)
