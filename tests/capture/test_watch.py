"""DetectWatch on synthetic 640x360 luma frames with a fake clock (25 fps), then the detect
stream's LaneCapture and the main stream's wake word built on it."""

from __future__ import annotations

import threading

import av
import numpy as np
import numpy.typing as npt

from daemon.capture.dual import DualCapture
from daemon.capture.slot import LatestFrameSlot
from daemon.capture.watch import DetectWatch
from daemon.config.models import CameraConfig

FPS = 25
ROI = [(0.0, 0.25), (1.0, 0.25), (1.0, 1.0), (0.0, 1.0)]
Grey = npt.NDArray[np.uint8]


def _scene(rng: np.random.Generator, car_x: int | None = None, car_y: int = 200) -> Grey:
    """An empty road (grey 100) with sensor noise; a 120x80 dark car at ``car_x``."""
    grey = np.full((360, 640), 100, np.int16) + rng.integers(-4, 5, (360, 640))
    if car_x is not None:
        grey[car_y:car_y + 80, car_x:car_x + 120] = 30
    return np.clip(grey, 0, 255).astype(np.uint8)


def test_empty_lane_is_offered_idle_fps_frames_a_second() -> None:
    rng = np.random.default_rng(1)
    watch = DetectWatch(ROI, idle_fps=2.0)
    offered = [i for i in range(5 * FPS) if watch.offer(_scene(rng), i / FPS, busy=False)]
    assert 9 <= len(offered) <= 11, offered  # 2 a second, for 5 s
    assert watch.changes == 0 and watch.wake_until == float("-inf")


def test_a_change_is_offered_at_once_and_every_frame_while_it_changes() -> None:
    rng = np.random.default_rng(2)
    watch = DetectWatch(ROI, idle_fps=2.0, hold_s=1.0)
    for i in range(FPS):  # a still second: the heartbeat's frames only
        watch.offer(_scene(rng), i / FPS, busy=False)
    # The car enters on frame 26 (one after a heartbeat frame: a fixed cadence skips it).
    assert watch.offer(_scene(rng, car_x=0), 26 / FPS, busy=False)
    assert watch.changes == 1
    assert watch.wake_until == 26 / FPS + 1.0
    moving = [watch.offer(_scene(rng, car_x=8 * k), (26 + k) / FPS, busy=False)
              for k in range(1, 20)]
    assert all(moving)
    assert watch.wake_until == (26 + 19) / FPS + 1.0  # still changing: the hold goes on
    # The car stopped: held for hold_s after its last move, then the heartbeat again.
    still = [watch.offer(_scene(rng, car_x=8 * 19), (46 + k) / FPS, busy=False)
             for k in range(3 * FPS)]
    assert all(still[:FPS - 1])
    assert sum(still[FPS + 1:]) <= 5
    assert watch.changes == 1


def test_a_change_outside_the_lane_box_is_not_offered() -> None:
    rng = np.random.default_rng(3)
    watch = DetectWatch(ROI, idle_fps=2.0)
    got = [watch.offer(_scene(rng, car_x=20 * k, car_y=0), k / FPS, busy=False)
           for k in range(2 * FPS)]  # a car crossing the top quarter, outside the ROI
    assert sum(got) <= 5 and watch.changes == 0


def test_a_busy_lane_gets_every_frame() -> None:
    rng = np.random.default_rng(4)
    watch = DetectWatch(ROI, idle_fps=2.0)
    assert all(watch.offer(_scene(rng), i / FPS, busy=True) for i in range(FPS))


def _dual(slot: LatestFrameSlot) -> DualCapture:
    cam = CameraConfig(id="c", url="rtsp://127.0.0.1:9/main", detect_url="rtsp://127.0.0.1:9/sub",
                       roi=ROI, detect_idle_fps=2.0)
    return DualCapture(cam, slot, threading.Event(), lambda _s: None)  # never started


def test_detect_frames_go_to_the_lane_as_they_change() -> None:
    slot = LatestFrameSlot()
    slot.mark_lane(0, busy=False)
    detect = _dual(slot).detect
    rng = np.random.default_rng(5)

    def wanted(grey: Grey, i: int) -> bool:
        return detect._wanted(av.VideoFrame.from_ndarray(grey, format="gray"), i / FPS)

    first = wanted(_scene(rng), 0)
    quiet = [wanted(_scene(rng), i) for i in range(1, 3)]
    assert first and not any(quiet)
    assert wanted(_scene(rng, car_x=0), 3)  # changed: at once, not at the next heartbeat
    assert detect.size == (640, 360)


def test_the_main_stream_wakes_on_the_first_change_before_the_lane_is_busy() -> None:
    slot = LatestFrameSlot()
    slot.mark_lane(0, busy=False)
    capture = _dual(slot)
    assert not capture._main_needed()
    capture.detect.watch.wake_until = float("inf")  # the detect stream just changed
    assert capture._main_needed()
    capture.detect.watch.wake_until = float("-inf")
    slot.mark_lane(1, busy=True)
    assert capture._main_needed()
