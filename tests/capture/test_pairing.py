"""Two streams of one camera, pure parts: the main stream's ReadGate, the arrival clock, the
lane's shared timeline, the ROI rule; Frame.retimed and Frame.for_reading; the config."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime

import numpy as np
import pytest
from pydantic import ValidationError

from daemon.capture.pairing import ArrivalClock, ReadGate, Timeline, roi_problem
from daemon.config.models import CameraConfig
from daemon.domain import Frame

GOP = 25
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def _feed(gate: ReadGate, busy: list[bool]) -> list[tuple[list[int], bool]]:
    """Packets 0.. (a key frame every GOP) with the lane's word per packet: what is decoded."""
    return [((s := gate.step(i, i % GOP == 0, b)).packets, s.rewind) for i, b in enumerate(busy)]


def test_read_gate_decodes_nothing_while_idle_and_rewinds_to_the_key_frame() -> None:
    gate = ReadGate(max_packets=100)
    steps = _feed(gate, [False] * 30 + [True] * 10 + [False] * 5 + [True] * 3)
    assert all(not packets for packets, _ in steps[:30])
    packets, rewind = steps[30]
    assert rewind and packets == list(range(25, 31))  # from the last key frame up to now
    assert [p for p, _ in steps[31:40]] == [[i] for i in range(31, 40)]
    assert all(not p for p, _ in steps[40:45])  # idle again: nothing decoded
    packets, rewind = steps[45]
    assert rewind and packets == list(range(25, 46)) and gate.wakes == 2


def test_read_gate_overflow_waits_for_a_key_frame() -> None:
    gate = ReadGate(max_packets=10)
    steps = _feed(gate, [False] * 20 + [True] * 10)
    assert gate.overflows == 1
    assert all(not p for p, _ in steps[20:25])  # nothing to rewind from until packet 25
    packets, rewind = steps[25]
    assert rewind and packets == [25]


def test_read_gate_late_stops_decoding() -> None:
    gate = ReadGate(max_packets=100)
    assert gate.step(0, True, True).rewind
    assert gate.step(1, False, True, late=True).packets == []
    assert not gate.decoding
    assert gate.step(2, False, True).packets == [0, 1, 2]


def test_arrival_clock_takes_the_smallest_delay_and_restarts_on_a_jump() -> None:
    clock = ArrivalClock()
    assert clock.at(1.0) is None
    for t, now in ((0.0, 100.05), (0.04, 100.12), (0.08, 100.13), (0.12, 100.2)):
        clock.note(t, now)
    assert clock.at(1.0) == pytest.approx(101.05)
    clock.note(50.0, 100.3)  # a reopened stream numbers anew
    assert clock.at(50.0) == pytest.approx(100.3)


def test_timeline_continues_across_a_switch_of_source() -> None:
    line, detect, main = Timeline(), object(), object()
    out = [line.stamp(detect, i, i * 0.04, 10 + i * 0.04) for i in range(5)]
    out.append(line.stamp(main, 900, 3.0, 10.5))  # main took over 0.34 s later
    out.append(line.stamp(main, 901, 3.04, 10.54))
    out.append(line.stamp(detect, 7, 0.5, 11.0))  # back: its own clock is behind
    assert [s for s, _ in out] == list(range(8))
    pts = [p for _, p in out]
    assert all(b > a for a, b in itertools.pairwise(pts))
    assert pts[5] == pytest.approx(0.16 + 0.34)
    assert pts[7] == pytest.approx(pts[6] + 0.46)


def test_roi_rule_maps_other_aspect_ratios_refuses_a_tiny_lane() -> None:
    lane = [(0.0, 0.25), (1.0, 0.25), (1.0, 1.0), (0.0, 1.0)]
    assert roi_problem(lane, (640, 360)) is None
    assert roi_problem(lane, (704, 576)) is None  # anamorphic 4CIF of a 16:9 camera
    small = [(0.4, 0.4), (0.45, 0.4), (0.45, 0.45), (0.4, 0.45)]
    problem = roi_problem(small, (320, 180))
    assert problem is not None and "16x9 px" in problem
    assert roi_problem(small, (1920, 1080)) is None


def test_frame_for_reading_asks_once_and_falls_back_to_itself() -> None:
    grey = np.zeros((36, 64), np.uint8)
    main = Frame("c", 7, 1.0, T0, np.zeros((108, 192, 3), np.uint8))
    asked: list[int] = []

    def reader() -> Frame | None:
        asked.append(1)
        return main

    frame = Frame("c", 3, 0.5, T0, grey=grey, make_image=lambda: np.zeros((36, 64, 3), np.uint8))
    retimed = frame.retimed(7, 1.0, reader)
    assert (retimed.seq, retimed.pts, retimed.width) == (7, 1.0, 64)
    assert retimed.for_reading() is main and retimed.for_reading() is main
    assert asked == [1]
    assert frame.for_reading() is frame  # no detect stream: the frame itself
    gone = frame.retimed(8, 1.1, lambda: None)  # the main stream has nothing
    assert gone.for_reading() is gone


def test_config_detect_url() -> None:
    cam = CameraConfig(id="c", url="rtsp://h/main", detect_url="rtsp://h/sub")
    detect = cam.stream("detect")
    assert (detect.url, detect.detect_url, detect.decode_threads, detect.idle_decode) == (
        "rtsp://h/sub", None, 1, "off")
    assert cam.stream("main").url == "rtsp://h/main" and cam.stream("main").detect_url is None
    with pytest.raises(ValidationError, match="detect_url is the main url"):
        CameraConfig(id="c", url="rtsp://h/main", detect_url="rtsp://h/main")
    with pytest.raises(ValidationError, match="network streams or both files"):
        CameraConfig(id="c", url="rtsp://h/main", detect_url="/clips/sub.mp4")
