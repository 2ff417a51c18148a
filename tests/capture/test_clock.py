"""Tests for daemon.capture.clock: PTS to seconds on a capture thread's continuing timeline."""

from __future__ import annotations

from daemon.capture.clock import StreamClock


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
