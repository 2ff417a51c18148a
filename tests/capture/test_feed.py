"""Tests for daemon.capture.feed through the capture thread: a camera that cannot keep up
with real time catches up on key frames, its backlog stays bounded, and another camera in
the same process keeps its full rate (the GStreamer RTSP test camera, live)."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest

import daemon.capture.thread as capture_thread
from daemon.capture.feed import LATE_S
from daemon.capture.thread import CaptureThread, LatestFrameSlot
from daemon.config.models import CameraConfig
from scripts.rig.camera import SYSTEM_PYTHON, RtspCamera

W, H, FPS = 320, 192, 25


@pytest.fixture(scope="module")
def noisy_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """10 s of a noisy empty lane, 1 s GOP, one slice per picture."""
    path = tmp_path_factory.mktemp("feed") / "noise.mp4"
    rng = np.random.default_rng(3)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=FPS)
        stream.width, stream.height, stream.pix_fmt = W, H, "yuv420p"
        stream.codec_context.max_b_frames = 0
        stream.options = {"preset": "ultrafast", "crf": "30", "threads": "1",
                          "x264-params": "keyint=25:min-keyint=25:scenecut=0:slices=1"}
        for _ in range(250):
            img = (70 + rng.integers(-6, 7, (H, W, 3))).astype(np.uint8)
            container.mux(stream.encode(av.VideoFrame.from_ndarray(img, format="bgr24")))
        container.mux(stream.encode(None))
    return path


def _taker(slot: LatestFrameSlot, stop: threading.Event, got: list[float]) -> threading.Thread:
    """A lane that takes every frame and says it is busy (full decoding wanted)."""

    def run() -> None:
        while not stop.is_set():
            f = slot.get(0.2)
            if f is not None:
                got.append(time.monotonic())
                slot.mark_lane(f.seq, True)

    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t


@pytest.mark.skipif(not Path(SYSTEM_PYTHON).exists(), reason="needs the system python3-gi")
def test_a_camera_too_slow_for_real_time_catches_up_and_does_not_starve_another(
    noisy_clip: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = capture_thread.frame_from_av

    def slow_for_one(frame: Any, camera_id: str, *a: Any) -> Any:
        if camera_id == "slow":
            time.sleep(0.12)  # 8 frames/s at most: cannot keep up with 25
        return real(frame, camera_id, *a)

    monkeypatch.setattr(capture_thread, "frame_from_av", slow_for_one)
    with RtspCamera(noisy_clip, loop=True) as camera:
        stop = threading.Event()
        caps, got = {}, {}
        takers = []
        for cid in ("slow", "fast"):
            slot = LatestFrameSlot()
            cfg = CameraConfig(id=cid, url=camera.url, idle_decode="off", decode_threads=1)
            caps[cid] = CaptureThread(cfg, slot, stop, lambda s: None)
            got[cid] = []
            takers.append(_taker(slot, stop, got[cid]))
            caps[cid].start()
        try:
            time.sleep(4.0)  # both streaming
            for c in caps.values():
                c.max_lag_s = 0.0
            n0 = {cid: len(v) for cid, v in got.items()}
            time.sleep(6.0)
        finally:
            stop.set()
            for c in caps.values():
                c.join(10)
    fast_fps = (len(got["fast"]) - n0["fast"]) / 6.0
    assert fast_fps >= 20  # the other camera keeps its rate
    assert caps["fast"].max_lag_s < 0.5
    # the slow one fell behind, skipped to key frames, caught up: its lag stays bounded
    assert caps["slow"].gate.catchups >= 1
    assert caps["slow"].max_lag_s < LATE_S + 1.0
    assert caps["slow"].gate.wake_count >= 1  # back to full decoding after a catch-up
