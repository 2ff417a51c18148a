"""A camera with a detect stream over real RTSP: two GStreamer servers of one generated clip,
1920x1080 main and 640x360 detect, anchored to one epoch (scripts/rig/camera.py) as one IP
camera's two streams. The capture in-process with a stand-in lane: the main frame given for
a detect frame shows the same instant; a detect-stream outage degrades to the main stream
and recovers; a main-stream outage reads from the detect frames. Then the daemon end to end:
three cars read from the main stream while motion runs on the detect stream."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from daemon.capture.dual import DualCapture, make_capture
from daemon.capture.slot import CameraStatus, LatestFrameSlot
from daemon.config.models import CameraConfig
from daemon.domain import Frame
from daemon.ocr.emulator.server import EmulatorServer
from scripts.rig.broker import Mosquitto, Subscriber
from scripts.rig.camera import RtspCamera
from scripts.rig.clips import ClipStore, clips
from tests.support.daemon import daemon_config, wait_until

__all__ = ["clips"]  # the session fixture, imported so pytest finds it

pytestmark = pytest.mark.slow

MAIN, SUB = (1920, 1080), (640, 360)


@pytest.fixture(scope="module")
def streams(clips: ClipStore) -> tuple[Path, Path, dict[str, Any]]:
    main, truth = clips.get("three_cars", size=MAIN)
    return main, clips.scaled(main, SUB), truth


@pytest.fixture
def camera_pair(streams: tuple[Path, Path, dict[str, Any]]) -> Iterator[
        tuple[RtspCamera, RtspCamera]]:
    main, sub, _truth = streams
    epoch = time.time()
    with RtspCamera(main, epoch=epoch) as m, RtspCamera(sub, epoch=epoch) as d:
        yield m, d


class Lane:
    """Takes frames from the slot, says busy for frames in ``busy_s`` windows of the clip
    (its vehicles), and asks every 5th busy frame for its reading picture."""

    def __init__(self, slot: LatestFrameSlot, busy: bool = True) -> None:
        self.slot = slot
        self.busy = busy
        self.frames: list[tuple[int, float, int]] = []
        self.pairs: list[tuple[Frame, Frame]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        n = 0
        while not self._stop.is_set():
            frame = self.slot.get(0.2)
            if frame is None:
                continue
            n += 1
            self.frames.append((frame.seq, frame.pts, frame.width))
            if self.busy and n % 5 == 0:
                self.pairs.append((frame, frame.for_reading()))
            self.slot.mark_lane(frame.seq, self.busy)
            del frame

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)


def _start(cams: tuple[RtspCamera, RtspCamera], busy: bool = True) -> tuple[
        DualCapture, Lane, threading.Event, list[CameraStatus]]:
    main, detect = cams
    cam = CameraConfig(id="c", url=main.url, detect_url=detect.url, read_timeout_s=2.0,
                       open_timeout_s=5.0, reconnect_max_s=0.5)
    slot, stop, statuses = LatestFrameSlot(), threading.Event(), []
    capture = make_capture(cam, slot, stop, statuses.append)
    assert isinstance(capture, DualCapture)
    lane = Lane(slot, busy)
    capture.start()
    return capture, lane, stop, statuses


def _stop(capture: DualCapture, lane: Lane, stop: threading.Event) -> None:
    stop.set()
    capture.join(15)
    lane.stop()
    assert not capture.is_alive()


def _difference(detect: Frame, main: Frame) -> float:
    small = cv2.resize(main.analysis_image, (detect.width, detect.height),
                       interpolation=cv2.INTER_AREA)
    return float(np.mean(cv2.absdiff(small, detect.analysis_image)))


@pytest.mark.timeout(90)
def test_reads_get_the_main_frame_of_the_same_instant(
    camera_pair: tuple[RtspCamera, RtspCamera],
) -> None:
    capture, lane, stop, statuses = _start(camera_pair)
    try:
        assert wait_until(lambda: capture.reader.matched >= 30, 40)
    finally:
        _stop(capture, lane, stop)
    # until the main stream's first key frame came there is nothing to decode from
    first = next(i for i, (d, m) in enumerate(lane.pairs) if m is not d)
    pairs = lane.pairs[first:]
    read = [(d, m) for d, m in pairs if m is not d]
    assert len(read) >= 0.9 * len(pairs), (capture.reader.matched, capture.reader.unmatched)
    assert all((m.width, m.height) == MAIN and (m.seq, m.pts) == (d.seq, d.pts) for d, m in read)
    # the same picture: scaled down, the main frame matches its detect frame (cars move
    # 10-40 px a frame at 1080p, so a frame off shows) better than the frames beside it
    diffs = [_difference(d, m) for d, m in read]
    assert float(np.median(diffs)) < 4.0, sorted(diffs)
    assert capture.reader.wake_log and statuses[-1].streams == ("detect", "main")
    assert {s.decoding for s in statuses} >= {"full"}


@pytest.mark.timeout(120)
def test_detect_outage_degrades_to_the_main_stream_and_recovers(
    camera_pair: tuple[RtspCamera, RtspCamera],
) -> None:
    main, detect = camera_pair
    capture, lane, stop, statuses = _start(camera_pair, busy=False)
    try:
        assert wait_until(lambda: capture.status.state == "streaming" and lane.frames, 20)
        assert capture.status.streams == ("detect", "main")
        assert wait_until(lambda: capture.status.decoding == "idle", 10)  # empty lane: not decoded
        assert {w for _, _, w in lane.frames} == {SUB[0]}
        detect.stop()
        assert wait_until(lambda: capture.mode == "main" and capture.status.state == "streaming",
                          20), statuses[-3:]
        assert capture.status.streams == ("main",) and "detect stream" in (
            capture.status.error or "")
        n = len(lane.frames)
        assert wait_until(lambda: len(lane.frames) > n + 10, 20)
        assert lane.frames[-1][2] == MAIN[0]  # the lane watches the main stream now
        detect.start()
        assert wait_until(lambda: capture.mode == "dual" and capture.status.error is None, 30), \
            statuses[-3:]
        n = len(lane.frames)
        assert wait_until(lambda: len(lane.frames) > n + 10, 20)
        assert lane.frames[-1][2] == SUB[0]
    finally:
        _stop(capture, lane, stop)
    seqs, pts = [s for s, _, _ in lane.frames], [p for _, p, _ in lane.frames]
    assert seqs == sorted(set(seqs)) and pts == sorted(set(pts))  # one timeline throughout
    assert [m for _, m in capture.switches] == ["main", "dual"]
    assert ("main",) in [s.streams for s in statuses] and statuses[-1].streams == (
        "detect", "main")
    assert main.running


@pytest.mark.timeout(120)
def test_main_outage_reads_from_the_detect_stream(
    camera_pair: tuple[RtspCamera, RtspCamera],
) -> None:
    main, _detect = camera_pair
    capture, lane, stop, _statuses = _start(camera_pair)
    try:
        assert wait_until(lambda: capture.reader.matched >= 3, 30)
        main.stop()
        assert wait_until(lambda: capture.mode == "detect", 20)
        assert capture.status.streams == ("detect",) and capture.status.reading == "detect"
        n = len(lane.pairs)
        assert wait_until(lambda: len(lane.pairs) > n + 5, 20)
        assert all(m is d for d, m in lane.pairs[n + 1:])  # read at the detect resolution
        main.start()
        assert wait_until(lambda: capture.mode == "dual", 30)
        n = len(lane.pairs)
        assert wait_until(lambda: sum(m is not d for d, m in lane.pairs[n:]) >= 3, 30)
    finally:
        _stop(capture, lane, stop)


@pytest.mark.timeout(180)
def test_daemon_reads_three_cars_from_the_main_stream(
    tmp_path: Path, streams: tuple[Path, Path, dict[str, Any]], broker: Mosquitto,
    ocr_emulator: EmulatorServer, daemon_runner: Any,
) -> None:
    main_clip, sub_clip, truth = streams
    expected = sorted(v["plate"] for v in truth["vehicles"])
    sub = Subscriber(broker.port, ("gatecam/#",))
    assert sub.wait_connected()
    epoch = time.time()
    with RtspCamera(main_clip, epoch=epoch) as main, RtspCamera(sub_clip, epoch=epoch) as det:
        cfg = daemon_config(tmp_path, camera_url=main.url, detect_url=det.url,
                            mqtt_port=broker.port, endpoint=ocr_emulator.url)
        daemon = daemon_runner("run", "--config", str(cfg))
        sub.wait_for("gatecam/lot-a/entry-1/passage", n=3, timeout=truth["duration_s"] * 2 + 30)
        assert daemon.terminate() == 0, daemon.log()[-3000:]
    events = [json.loads(m.payload) for m in sub.matching("gatecam/lot-a/entry-1/passage")]
    statuses = [json.loads(m.payload) for m in sub.matching("gatecam/lot-a/entry-1/status")]
    sub.close()
    assert sorted({e["plate"] for e in events}) == expected, daemon.log()[-3000:]
    # plate boxes in main-stream pixels: these plates lie right of x=640, the detect
    # stream's whole width
    assert all(e["rect"]["x"] > 640 for e in events if e["rect"]), [
        (e["plate"], e["rect"], e["ocr"]) for e in events]
    assert any(s.get("streams") == ["detect", "main"] and s.get("decoding") == "idle"
               for s in statuses), statuses
    assert any(s.get("decoding") == "full" for s in statuses), statuses
