"""Tests for daemon.capture.thread: the PyAV capture thread on real clips and live sources."""

from __future__ import annotations

import contextlib
import io
import itertools
import logging
import socket
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest

from daemon.capture.thread import CameraStatus, CaptureThread, LatestFrameSlot
from daemon.config.models import CameraConfig
from daemon.domain import Frame
from tests.support.video import encode_h264

FPS = 25
N_FRAMES = 64
W, H = 320, 240


def _image(i: int) -> np.ndarray[Any, np.dtype[np.uint8]]:
    img = np.full((H, W, 3), 40, dtype=np.uint8)
    x = (i * 4) % (W - 40)
    img[100:140, x : x + 40] = (0, 200, 255)
    img[10:30, 10 + i % 200 : 30 + i % 200] = 255
    return img


def _encode(container: Any, n: int) -> None:
    encode_h264(container, _image, n, size=(W, H), fps=FPS, gop=25)


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 64-frame 320x240 25 fps H.264 MP4 of moving squares."""
    path = tmp_path_factory.mktemp("clips") / "squares.mp4"
    with av.open(str(path), "w") as container:
        _encode(container, N_FRAMES)
    return path


@pytest.fixture(scope="module")
def ts_bytes() -> bytes:
    """The same kind of clip as an MPEG-TS byte stream (for the TCP live source)."""
    buf = io.BytesIO()
    with av.open(buf, "w", format="mpegts") as container:
        _encode(container, 50)
    return buf.getvalue()



class Recorder:
    """Collects statuses; lets a test wait for a state."""

    def __init__(self) -> None:
        self.statuses: list[CameraStatus] = []
        self._cond = threading.Condition()

    def __call__(self, status: CameraStatus) -> None:
        with self._cond:
            self.statuses.append(status)
            self._cond.notify_all()

    def states(self) -> list[str]:
        with self._cond:
            return [s.state for s in self.statuses]

    def wait_for(self, pred: Callable[[list[str]], bool], timeout: float) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: pred([s.state for s in self.statuses]), timeout)


def _start(camera: CameraConfig, **kw: Any) -> tuple[CaptureThread, LatestFrameSlot,
                                                      threading.Event, Recorder]:
    slot, stop, rec = LatestFrameSlot(), threading.Event(), Recorder()
    thread = CaptureThread(camera, slot, stop, rec, **kw)
    thread.start()
    return thread, slot, stop, rec


def _drain(slot: LatestFrameSlot, limit_s: float) -> list[Frame]:
    frames: list[Frame] = []
    deadline = time.monotonic() + limit_s
    while not slot.closed and time.monotonic() < deadline:
        f = slot.get(timeout=0.5)
        if f is not None:
            frames.append(f)
    return frames



# -- file sources -------------------------------------------------------------------------


def test_file_fast_mode_delivers_every_frame_in_order(clip: Path) -> None:
    start = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    cam = CameraConfig(id="replay", url=str(clip))
    thread, slot, _stop, rec = _start(cam, pace=False, wall_clock=lambda: start)
    time.sleep(0.3)  # a slow consumer: nothing may be dropped anyway
    frames = _drain(slot, 20)
    thread.join(5)
    assert not thread.is_alive()
    assert [f.seq for f in frames] == list(range(N_FRAMES))
    pts = [f.pts for f in frames]
    assert pts[0] == 0.0
    assert all(b > a for a, b in itertools.pairwise(pts))
    assert pts[-1] == pytest.approx((N_FRAMES - 1) / FPS, abs=1e-6)
    assert all(f.wall == start + timedelta(seconds=f.pts) for f in frames)
    assert frames[0].image.shape == (H, W, 3) and frames[0].image.dtype == np.uint8
    # the moving square is where we drew it (colour survives H.264 within tolerance)
    diff = np.abs(frames[10].image.astype(int) - _image(10).astype(int)).mean()
    assert diff < 12
    assert slot.dropped == 0 and slot.delivered == N_FRAMES
    states = rec.states()
    assert states[0] == "starting" and "streaming" in states and states[-1] == "ended"
    assert thread.status.state == "ended" and thread.status.error is None


def test_file_paced_mode_takes_clip_duration(clip: Path) -> None:
    cam = CameraConfig(id="paced", url=f"file://{clip}")
    t0 = time.monotonic()
    slot, stop = LatestFrameSlot(), threading.Event()

    def broken_listener(status: CameraStatus) -> None:
        raise RuntimeError("listener bug")  # must not kill capture

    thread = CaptureThread(cam, slot, stop, broken_listener, pace=True)
    thread.start()
    frames = _drain(slot, 20)
    elapsed = time.monotonic() - t0
    thread.join(5)
    duration = (N_FRAMES - 1) / FPS  # 2.52 s
    assert duration * 0.85 < elapsed < duration + 2.0
    assert len(frames) >= N_FRAMES * 0.8  # a prompt consumer gets nearly all
    assert len(frames) + slot.dropped == N_FRAMES


def test_file_loop_reopens_with_continuing_timeline(clip: Path) -> None:
    cam = CameraConfig(id="loop", url=str(clip), loop=True)
    thread, slot, stop, rec = _start(cam, pace=False)
    frames = [f for f in (slot.get(timeout=5) for _ in range(N_FRAMES * 2 + 10)) if f]
    t0 = time.monotonic()
    stop.set()
    thread.join(3)
    assert not thread.is_alive() and time.monotonic() - t0 < 1.5
    assert len(frames) == N_FRAMES * 2 + 10
    assert [f.seq for f in frames] == list(range(len(frames)))
    pts = [f.pts for f in frames]
    assert all(b > a for a, b in itertools.pairwise(pts))
    # the second pass starts one frame interval after the first ended
    assert pts[N_FRAMES] == pytest.approx(N_FRAMES / FPS, abs=1e-6)
    assert "ended" not in rec.states()


def test_missing_file_ends_with_error(tmp_path: Path) -> None:
    cam = CameraConfig(id="nofile", url=str(tmp_path / "nope.mp4"))
    thread, slot, _stop, rec = _start(cam)
    thread.join(5)
    assert not thread.is_alive() and slot.closed
    assert rec.statuses[-1].state == "ended" and rec.statuses[-1].error


# -- live sources -------------------------------------------------------------------------


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_unreachable_rtsp_reconnects_then_offline_without_leaking_password(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    url = f"rtsp://user:secret@127.0.0.1:{_closed_port()}/x"
    cam = CameraConfig(id="gate", url=url, reconnect_min_s=0.05, reconnect_max_s=0.2)
    thread, slot, stop, rec = _start(cam)
    assert rec.wait_for(lambda s: "offline" in s, timeout=10)
    states = rec.states()
    assert states[0] == "starting"
    assert states.index("reconnecting") < states.index("offline")
    assert "streaming" not in states
    t0 = time.monotonic()
    stop.set()
    thread.join(3)
    assert not thread.is_alive() and time.monotonic() - t0 < 1.0
    assert slot.get(timeout=0.01) is None
    errors = [s.error for s in rec.statuses if s.error]
    assert errors and all("secret" not in e for e in errors)
    assert any("refused" in e.lower() for e in errors)
    assert caplog.records and "secret" not in caplog.text
    assert "***" in caplog.text  # the URL was logged, redacted


def test_silent_rtsp_server_times_out_on_open() -> None:
    """A server that accepts the TCP connection but never answers RTSP."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(8)
    port = srv.getsockname()[1]
    try:
        cam = CameraConfig(id="mute", url=f"rtsp://127.0.0.1:{port}/x", open_timeout_s=1.0,
                           read_timeout_s=2.0, reconnect_min_s=0.05, reconnect_max_s=0.1)
        t0 = time.monotonic()
        thread, _slot, stop, rec = _start(cam)
        assert rec.wait_for(lambda s: "reconnecting" in s, timeout=6)
        assert 0.8 < time.monotonic() - t0 < 4
        assert "timed out" in (rec.statuses[-1].error or "")
        stop.set()
        thread.join(4)
        assert not thread.is_alive()
    finally:
        srv.close()


@pytest.fixture
def stalling_server(ts_bytes: bytes) -> Iterator[tuple[int, list[int]]]:
    """A TCP server sending an MPEG-TS clip, then going silent with the socket open."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(8)
    srv.settimeout(0.2)
    done = threading.Event()
    connections: list[int] = []
    conns: list[socket.socket] = []

    def serve() -> None:
        while not done.is_set():
            try:
                conn, _ = srv.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            connections.append(1)
            conns.append(conn)
            with contextlib.suppress(OSError):
                conn.sendall(ts_bytes)  # then say nothing more

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    yield srv.getsockname()[1], connections
    done.set()
    t.join(2)
    for c in conns:
        c.close()
    srv.close()


def test_live_stream_that_stops_sending_is_detected(
    stalling_server: tuple[int, list[int]],
) -> None:
    port, connections = stalling_server
    cam = CameraConfig(id="stall", url=f"tcp://127.0.0.1:{port}", read_timeout_s=2.0,
                       reconnect_min_s=0.1, reconnect_max_s=0.2)
    live_wall = datetime(2030, 5, 6, tzinfo=UTC)
    thread, slot, stop, rec = _start(cam, wall_clock=lambda: live_wall)
    assert rec.wait_for(lambda s: "streaming" in s, timeout=10)
    t_stream = time.monotonic()
    frames = []
    while (f := slot.get(timeout=0.5)) is not None or not frames:
        frames.append(f)
        if time.monotonic() - t_stream > 5:
            break
    assert rec.wait_for(lambda s: "reconnecting" in s[s.index("streaming"):], timeout=6)
    assert time.monotonic() - t_stream < 5.5
    assert "timed out" in (next(s for s in rec.statuses if s.state == "reconnecting").error or "")
    # it reconnects and streams again; pts keep increasing across the reopen
    assert rec.wait_for(lambda s: s.count("streaming") >= 2, timeout=10)
    assert len(connections) >= 2
    later = slot.get(timeout=2)
    stop.set()
    thread.join(4)
    assert not thread.is_alive()
    got = [f for f in frames if f is not None]
    assert got and later is not None and later.pts > got[-1].pts and later.seq > got[-1].seq
    assert all(f.wall == live_wall for f in got)  # live: the wall clock at decode
    streaming = [s for s in rec.statuses if s.state == "streaming"]
    assert streaming[0].last_frame_at is not None
