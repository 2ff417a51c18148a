"""Idle decoding: IdleGate on fake packets (25 fps), then the capture thread on a generated
clip, as a file and through the GStreamer RTSP test camera, with a stand-in lane."""

from __future__ import annotations

import itertools
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest

from daemon.capture.idle import IdleGate, SceneChange, Step
from daemon.capture.thread import CameraStatus, CaptureThread, LatestFrameSlot, frame_from_av
from daemon.config.models import CameraConfig
from daemon.domain import Frame
from scripts.rig.camera import SYSTEM_PYTHON, RtspCamera

FPS = 25


class Recorder:
    """Collects the statuses a capture thread reports."""

    def __init__(self) -> None:
        self.statuses: list[CameraStatus] = []

    def __call__(self, status: CameraStatus) -> None:
        self.statuses.append(status)


def _gate(**kw: float) -> IdleGate:
    args: dict[str, float] = {"idle_after_s": 2.0, "max_gop_s": 2.0, "max_packets": 200}
    args.update(kw)
    return IdleGate(enabled=True, **args)  # type: ignore[arg-type]


def _run(gate: IdleGate, n: int, gop: int, busy: set[int] = frozenset(),  # type: ignore[assignment]
         start: int = 0) -> dict[int, Step]:
    """Feed packets start..n-1 (packet i is the int i, key every ``gop``)."""
    return {i: gate.step(i, i % gop == 0, i / FPS, i in busy) for i in range(start, n)}


def _decoded(steps: dict[int, Step], gop: int) -> list[int]:
    """Which frames the decoder outputs for these steps (skip_nonkey drops non-key ones)."""
    out: list[int] = []
    for step in steps.values():
        for p in step.packets:
            if not step.skip_nonkey or p % gop == 0:
                out.append(p)
    return out


def test_empty_lane_sleeps_after_idle_after_s_and_decodes_key_frames_only() -> None:
    gate = _gate()
    steps = _run(gate, 250, gop=25)
    assert gate.gop_s == 1.0
    assert _decoded(steps, 25) == [*range(0, 51), 75, 100, 125, 150, 175, 200, 225]
    assert gate.asleep and gate.sleeps == 1 and not gate.wakes


def test_busy_lane_wakes_with_a_rewind_to_the_last_key_frame() -> None:
    """The lane saw the car on key frame 125 and said so while packet 127 was in hand: the
    decoder is flushed and 125, 126, 127 are decoded in full; nothing after 125 is lost."""
    gate = _gate()
    steps = _run(gate, 200, gop=25, busy=set(range(127, 200)))
    assert steps[127] == Step([125, 126, 127], skip_nonkey=False, rewind=True)
    assert all(not steps[i].skip_nonkey and steps[i].packets == [i] for i in range(128, 200))
    assert _decoded(steps, 25)[-75:] == list(range(125, 200))
    assert [(w.key_t, w.at_t, w.reason) for w in gate.wakes] == [(5.0, 127 / FPS, "lane")]


def test_no_sleep_without_a_measured_gop_or_with_a_long_one() -> None:
    gate = _gate()
    steps = _run(gate, 70, gop=100)  # one key frame only: GOP unknown
    assert not gate.asleep and all(not s.skip_nonkey for s in steps.values())
    gate = _gate()
    _run(gate, 400, gop=75)  # 3 s GOP > max_gop_s 2 s
    assert gate.gop_s == 3.0 and not gate.asleep and gate.sleeps == 0


def test_restart_keeps_sleep_and_gop_but_forgets_kept_packets_and_times() -> None:
    """A file loop or a reconnect: times restart at 0, the old packets cannot be rewound to."""
    gate = _gate()
    _run(gate, 80, gop=25)
    assert gate.asleep and gate.kept == 30  # asleep: since the key frame before the last
    gate.restart()
    assert gate.asleep and gate.gop_s == 1.0 and gate.kept == 0
    steps = _run(gate, 30, gop=25, busy={3})  # the new stream starts with a key frame
    assert steps[0].skip_nonkey and steps[3] == Step([0, 1, 2, 3], skip_nonkey=False, rewind=True)


def test_scene_change_wakes_with_a_rewind_to_the_key_frame_before() -> None:
    """Capture saw key frame 125 change and did not deliver it: the next packet rewinds to
    key frame 100, the last the lane saw empty; a lane wake rewinds to the last key frame."""
    gate = _gate()
    steps = _run(gate, 127, gop=25)
    gate.scene_changed()
    steps = _run(gate, 130, gop=25, start=127)
    assert steps[127] == Step(list(range(100, 128)), skip_nonkey=False, rewind=True)
    assert (gate.wakes[-1].key_t, gate.wakes[-1].reason) == (4.0, "change")
    # The lane has not answered yet (quiet): awake for idle_after_s all the same, then asleep
    steps = _run(gate, 200, gop=25, start=130)
    assert all(not steps[i].skip_nonkey for i in range(130, 177))
    assert gate.asleep and gate.sleeps == 2
    gate.scene_changed()
    assert gate.asleep  # asleep: the next packet wakes


def test_scene_change_sees_a_vehicle_not_noise_or_a_slow_light_change() -> None:
    roi = [(0.0, 0.25), (1.0, 0.25), (1.0, 1.0), (0.0, 1.0)]
    scene = SceneChange(roi)
    rng = np.random.default_rng(1)

    def noisy(level: float) -> np.ndarray[Any, np.dtype[np.uint8]]:
        return np.clip(level + rng.normal(0, 4, (360, 640)), 0, 255).astype(np.uint8)

    assert not scene.changed(noisy(80))  # the first is the reference
    assert not scene.changed(noisy(80))
    assert not scene.changed(noisy(84))  # dusk: a few levels a second
    car = noisy(84)
    car[200:300, 250:330] = 20  # a dark car in the lane
    assert scene.changed(car)
    outside = noisy(84)
    outside[0:80, 250:330] = 20  # above the lane (y < 0.25): not the lane's business
    assert scene.changed(noisy(84))  # the car left: a change too
    assert not scene.changed(outside)
    scene.reset()
    assert not scene.changed(car)


def test_disabled_gate_never_sleeps() -> None:
    gate = IdleGate(enabled=False, idle_after_s=0, max_gop_s=2, max_packets=10)
    steps = _run(gate, 200, gop=25)
    assert not gate.asleep and _decoded(steps, 25) == list(range(200))


def test_busy_lane_keeps_full_decoding() -> None:
    gate = _gate()
    _run(gate, 300, gop=25, busy=set(range(0, 300, 10)))  # never quiet for 2 s
    assert gate.sleeps == 0


def test_a_stretched_gop_wakes_the_gate() -> None:
    """Asleep, then the camera stops sending key frames: after 1.5 max_gop_s (3 s) the gate
    decodes the kept packets in full rather than show nothing (or broken P-frames)."""
    gate = _gate(max_packets=1000)
    _run(gate, 100, gop=25)
    assert gate.asleep
    steps = {i: gate.step(i, False, i / FPS, False) for i in range(100, 200)}
    woke = next(i for i, s in steps.items() if s.rewind)
    assert woke == 151  # the last key frame was 75 (3.0 s): (151 - 75) / 25 > 3 s
    assert steps[woke].packets == list(range(75, 152))
    assert gate.wakes[-1].reason == "gop"


def test_keep_is_bounded_and_an_overflow_while_asleep_wakes() -> None:
    gate = _gate(max_packets=30, max_gop_s=10.0)
    _run(gate, 51, gop=50)  # 2 s GOP, sleeps at 2.0 s
    assert gate.asleep and gate.kept == 1
    steps = _run(gate, 100, gop=50, start=51)
    woke = next(i for i, s in steps.items() if s.rewind)
    assert steps[woke].packets == list(range(50, woke + 1)) and len(steps[woke].packets) == 31
    assert gate.wakes[-1].reason == "overflow"
    # nothing kept until the next key frame, so no sleep before it
    assert gate.kept == 0 and not gate.asleep and gate.sleeps == 1
    _run(gate, 151, gop=50, start=100)  # 2 s after the wake (3.2 s) and from a key frame
    assert gate.asleep and gate.sleeps == 2


def test_awake_keep_is_dropped_when_full_and_a_wake_then_waits_for_a_key_frame() -> None:
    gate = _gate(max_packets=10, idle_after_s=0.0)
    _run(gate, 24, gop=25)  # awake (GOP unknown yet): the keep of 10 overflows, is dropped
    assert not gate.asleep and gate.kept == 0
    _run(gate, 30, gop=25, start=24)  # key frame 25 measures the GOP: asleep from 25 on
    assert gate.asleep and gate.kept == 5
    steps = _run(gate, 40, gop=25, start=30, busy={30})
    assert steps[30] == Step(list(range(25, 31)), skip_nonkey=False, rewind=True)


# -- the capture thread with an idle lane: generated clips, files and the RTSP camera -------

CW, CH, N = 320, 192, 250  # 10 s at 25 fps, key frame every second
SQUARE = range(107, 150)
"""Frames showing the 'vehicle' (4.28 s - 6.0 s): it appears just after key frame 100."""


def _picture(i: int) -> np.ndarray[Any, np.dtype[np.uint8]]:
    rng = np.random.default_rng(i)  # sensor noise: every P-frame carries data
    img = (np.full((CH, CW, 3), 70, np.int16) + rng.integers(-6, 7, (CH, CW, 1))).astype(np.uint8)
    if i in SQUARE:
        x = 20 + (i - SQUARE.start) * 5
        img[60:140, x : x + 80] = 230
    return img


@pytest.fixture(scope="module")
def lane_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An empty lane, a bright 'vehicle' crossing 4.28-6.0 s, empty again; 1 s GOP, one
    slice per picture (as cameras send, and as the RTSP test camera needs)."""
    path = tmp_path_factory.mktemp("idle") / "lane.mp4"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = CW, CH, "yuv420p"
        stream.codec_context.gop_size = 25
        stream.codec_context.max_b_frames = 0
        stream.options = {"preset": "ultrafast", "crf": "30", "threads": "1",
                          "x264-params": "keyint=25:min-keyint=25:scenecut=0:slices=1"}
        for i in range(N):
            frame = av.VideoFrame.from_ndarray(_picture(i), format="bgr24")
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return path


def _shows_vehicle(frame: Frame) -> bool:
    return float(np.asarray(frame.analysis_image)[60:140].mean()) > 100


@dataclass
class Seen:
    seq: int
    pts: float
    vehicle: bool
    grey: np.ndarray[Any, np.dtype[np.uint8]]
    at: float


def _lane(slot: LatestFrameSlot, stop: threading.Event, seen: list[Seen],
          quiet_after: int = 0) -> threading.Thread:
    """A stand-in lane: busy while it sees the vehicle (and ``quiet_after`` frames more)."""

    def run() -> None:
        last_vehicle = -10**9
        while not stop.is_set() and not slot.closed:
            f = slot.get(0.2)
            if f is None:
                continue
            v = _shows_vehicle(f)
            seen.append(Seen(f.seq, f.pts, v, np.array(f.analysis_image), time.monotonic()))
            if v:
                last_vehicle = f.seq
            slot.mark_lane(f.seq, f.seq - last_vehicle <= quiet_after)

    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t


def _reference(path: Path) -> list[np.ndarray[Any, np.dtype[np.uint8]]]:
    """The luma planes of a plain full decode."""
    with av.open(str(path)) as c:
        return [np.array(frame_from_av(f, "ref", i, 0.0, datetime.now(UTC)).analysis_image)
                for i, f in enumerate(c.decode(c.streams.video[0]))]


def test_idle_file_replay_decodes_key_frames_then_wakes_without_losing_a_frame(
    lane_clip: Path,
) -> None:
    """Unpaced replay: empty lane -> key frames only (1 per s); the vehicle appears at 4.28 s,
    capture sees the change on key frame 125 (5.0 s) and every frame after key frame 100 is
    decoded, bit-exact, in order; idle again 2 s after it left."""
    cam = CameraConfig(id="idle", url=str(lane_clip), decode_threads=2)
    slot, stop, rec = LatestFrameSlot(), threading.Event(), Recorder()
    cap = CaptureThread(cam, slot, stop, rec, pace=False)
    seen: list[Seen] = []
    lane = _lane(slot, stop, seen)
    cap.start()
    cap.join(30)
    lane.join(5)
    stop.set()
    ref = _reference(lane_clip)
    frame_of = {round(s.pts * 25): s for s in seen}
    got = sorted(frame_of)
    assert all(s.seq == round(s.pts * 25) for s in seen)  # seq: the camera's frame count
    assert got[:51] == list(range(51))  # awake until quiet 2 s with a known GOP
    assert {75, 100} <= set(got) and not set(range(76, 100)) & set(got)
    # Key frame 125 shows the change: it is not delivered, the decoder rewinds to key
    # frame 100 and the lane gets 101, 102, ... in order: the vehicle from its first frame.
    assert set(range(101, 190)) <= set(got)
    assert 225 in got and not set(range(226, 250)) & set(got)  # idle again
    for n in range(101, 130):
        assert np.array_equal(frame_of[n].grey, ref[n])
    assert min(n for n in got if frame_of[n].vehicle) == SQUARE.start
    assert [(w.key_t, w.reason) for w, _, _ in cap.wake_log] == [(4.0, "change")]
    assert "keyframes" in [s.decoding for s in rec.statuses]


def test_idle_decode_off_decodes_every_frame(lane_clip: Path) -> None:
    cam = CameraConfig(id="full", url=str(lane_clip), idle_decode="off")
    slot, stop = LatestFrameSlot(), threading.Event()
    cap = CaptureThread(cam, slot, stop, Recorder(), pace=False)
    seen: list[Seen] = []
    lane = _lane(slot, stop, seen)
    cap.start()
    cap.join(30)
    lane.join(5)
    assert len(seen) == N and cap.gate.sleeps == 0


@pytest.mark.skipif(not Path(SYSTEM_PYTHON).exists(), reason="needs the system python3-gi")
def test_idle_on_the_rtsp_camera_wakes_within_a_gop(lane_clip: Path) -> None:
    """Live: the GStreamer RTSP camera loops the clip in real time. Idle, the lane gets a
    frame a second; the vehicle (appearing just after a key frame) is seen at most one GOP
    later and from then on frames come at the full 25/s, rewound ones included."""
    with RtspCamera(lane_clip, loop=True) as camera:
        cam = CameraConfig(id="live", url=camera.url, decode_threads=2)
        slot, stop, rec = LatestFrameSlot(), threading.Event(), Recorder()
        cap = CaptureThread(cam, slot, stop, rec)
        seen: list[Seen] = []
        lane = _lane(slot, stop, seen)
        cap.start()
        try:
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline and not any(s.vehicle for s in seen[-1:]):
                time.sleep(0.05)
            time.sleep(0.8)
        finally:
            stop.set()
            cap.join(10)
            lane.join(5)
    first = next(i for i, s in enumerate(seen) if s.vehicle)
    before = [b.pts - a.pts for a, b in itertools.pairwise(seen[:first + 1])]
    assert max(before) == pytest.approx(1.0, abs=0.05)  # idle: key frames, a second apart
    # the frame before the vehicle's first is at most one GOP earlier: seen <= 1 s late
    assert seen[first].pts - seen[first - 1].pts <= 1.0 + 0.05
    after = [b.pts - a.pts for a, b in itertools.pairwise(seen[first:first + 15])]
    # full rate at once: frame after frame (a loaded machine may make the stand-in lane
    # miss one, never a GOP's worth)
    assert len(after) == 14 and sorted(after)[7] < 0.05 and max(after) < 0.3
    assert len(cap.wake_log) >= 1
    decodings = [s.decoding for s in rec.statuses]
    assert "keyframes" in decodings and decodings.index("keyframes") < len(decodings) - 1


def test_late_capture_decodes_key_frames_only_until_caught_up() -> None:
    """Behind real time (CPU short): key frames only even with a busy lane, the keep
    bounded; caught up, a busy lane wakes with a rewind, or with idle_decode off at once."""
    gate = _gate(max_packets=30)
    steps = {i: gate.step(i, i % 25 == 0, i / FPS, True, late=10 <= i < 100) for i in range(130)}
    assert all(not steps[i].skip_nonkey for i in range(10))
    assert all(steps[i].skip_nonkey for i in range(10, 100)) and gate.catchups == 1
    assert steps[100] == Step([100], skip_nonkey=False, rewind=True)  # key frame 100
    assert gate.wakes[-1].reason == "lane"
    off = IdleGate(enabled=False, idle_after_s=0, max_gop_s=2, max_packets=100)
    steps = {i: off.step(i, i % 25 == 0, i / FPS, False, late=5 <= i < 30) for i in range(40)}
    assert steps[29].skip_nonkey and steps[30] == Step([25, 26, 27, 28, 29, 30], False, True)
    assert off.wakes[-1].reason == "caught_up" and off.sleeps == 0
