"""The main stream of a camera with a detect stream: kept undecoded, decoded only to read plates.

:class:`MainStreamReader` is a thread per such camera. It demuxes the main (high-resolution)
stream without decoding it while the lane is empty, keeping the packets since the last key
frame (:class:`~daemon.capture.pairing.ReadGate`); when the lane turns busy it decodes
from that key frame up to now, then at full rate while the lane stays busy. Decoded
frames go into :class:`ReadRing`, a few of the newest, each stamped with its monotonic time
(:class:`~daemon.capture.pairing.ArrivalClock` over the packets' arrival). The lane asks
for the main frame nearest a detect frame's time through :meth:`MainStreamReader.frame_near`
(a detect Frame's ``reader``, see ``Frame.for_reading``). A lost stream reopens with
backoff; ``state`` says streaming, reconnecting or offline (``dual.py`` degrades on it).
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections import deque
from collections.abc import Callable
from datetime import datetime
from typing import Any

import av

from daemon.capture.clock import LagMeter
from daemon.capture.feed import CAUGHT_UP_S, LATE_S
from daemon.capture.pairing import ArrivalClock, ReadGate
from daemon.capture.slot import CameraState, frame_from_av
from daemon.capture.source import (
    Scrubber,
    io_timeout_s,
    open_options,
    open_target,
    set_decoder_threads,
)
from daemon.config.models import CameraConfig
from daemon.domain import Frame

log = logging.getLogger(__name__)

RING_FRAMES = 8
"""Decoded main frames kept (about 0.3 s at 25 fps; 3 MB each at 1080p), only while busy."""
MATCH_S = 0.1
"""A main frame further than this from the detect frame's time is not its picture."""
WAIT_S = 0.3
"""How long a read waits for the main decoder to reach the detect frame's time."""
MAX_KEEP_S = 4.0
"""Packets kept since a key frame, in stream time (a GOP longer than this cannot rewind)."""
OFFLINE_AFTER_FAILURES = 3


class ReadRing:
    """The newest decoded main frames with their monotonic times; waits are bounded."""

    def __init__(self, size: int = RING_FRAMES) -> None:
        self._items: deque[tuple[float, Any]] = deque(maxlen=size)
        self._cond = threading.Condition()

    def put(self, at: float, frame: Any) -> None:
        """Add a decoded frame (PyAV) of monotonic time ``at``."""
        with self._cond:
            self._items.append((at, frame))
            self._cond.notify_all()

    def clear(self) -> None:
        """Forget every frame (decoding stopped: the buffers go back to FFmpeg)."""
        with self._cond:
            self._items.clear()
            self._cond.notify_all()

    def nearest(self, at: float, wait_s: float, waiting: Callable[[], bool]) -> Any | None:
        """The frame nearest ``at`` within :data:`MATCH_S`, waiting up to ``wait_s`` for a
        frame at or after ``at`` while ``waiting()`` (the decoder runs); None if none fits."""
        deadline = time.monotonic() + wait_s
        with self._cond:
            while not (self._items and self._items[-1][0] >= at) and waiting():
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._cond.wait(min(left, 0.05))
            if not self._items:
                return None
            t, frame = min(self._items, key=lambda item: abs(item[0] - at))
            return frame if abs(t - at) <= MATCH_S else None


class MainStreamReader(threading.Thread):
    """Reads ``camera.url`` as the reading stream beside a detect stream (module doc).

    ``busy`` is the lane's word (``LatestFrameSlot.lane_busy``); ``stop`` ends the thread
    within one blocking read. Counters: ``matched`` reads given a main frame, ``unmatched``
    given none (the read falls back to the detect frame).
    """

    def __init__(
        self, camera: CameraConfig, busy: Callable[[], bool], stop: threading.Event,
        on_change: Callable[[], None] = lambda: None,
    ) -> None:
        super().__init__(name=f"main-{camera.id}", daemon=True)
        self.camera = camera
        self._busy = busy
        self._stop_event = stop
        self._on_change = on_change
        self._scrub = Scrubber(camera.url, camera.safe_url)
        self._log = log.getChild(camera.id)
        self.ring = ReadRing()
        self.gate = ReadGate(1)
        self.state: CameraState = "starting"
        self.error: str | None = None
        self.last_beat = time.monotonic()
        self.size: tuple[int, int] | None = None
        """The main picture's (width, height), once a frame was decoded."""
        self.matched = 0
        self.unmatched = 0
        self.decoded = 0
        self.wake_log: deque[tuple[float, float]] = deque(maxlen=64)
        """Per wake-up: monotonic time of the rewind and of the first frame decoded after it."""
        self.sleep_log: deque[float] = deque(maxlen=64)
        """Monotonic times full-rate decoding stopped (the lane empty and still again)."""
        self.decode_log: deque[tuple[float, float]] = deque(maxlen=512)
        """Per decoded frame: its monotonic time (arrival) and when it was decoded."""
        self._woke_at: float | None = None
        self._clock = ArrivalClock()
        self.max_lag_s = 0.0
        """Largest delay of a packet behind real time (:class:`LagMeter`; benches reset it)."""

    def caught_up_after(self, since: float) -> float:
        """Seconds from ``since`` until a frame of that instant or later was decoded (the
        bench's catch-up time; nan if none was)."""
        for at, done in self.decode_log:
            if at >= since and done >= since:
                return done - since
        return float("nan")

    @property
    def decoding(self) -> bool:
        """True while the main stream is decoded at full rate."""
        return self.gate.decoding and self.state == "streaming"

    def frame_near(self, at: float | None, seq: int, pts: float, wall: datetime) -> Frame | None:
        """The main frame nearest monotonic time ``at`` as a Frame with the detect frame's
        ``seq``, ``pts`` and ``wall``; None when the main stream has none (down, or idle)."""
        av_frame = None if at is None else self.ring.nearest(at, WAIT_S, lambda: self.decoding)
        if av_frame is None:
            self.unmatched += 1
            return None
        self.matched += 1
        return frame_from_av(av_frame, self.camera.id, seq, pts, wall)

    def _set(self, state: CameraState, error: str | None = None) -> None:
        self.last_beat = time.monotonic()
        if (state, error) == (self.state, self.error):
            return
        if state != self.state:
            self._log.info("main stream %s: %s -> %s%s", self.camera.id, self.state, state,
                           f" ({error})" if error else "")
        self.state, self.error = state, error
        self._on_change()

    def run(self) -> None:
        """Open, read, reconnect with backoff until ``stop``."""
        failures, rng = 0, random.Random()
        while not self._stop_event.is_set():
            got = False
            try:
                container = av.open(open_target(self.camera), options=open_options(self.camera),
                                    timeout=(self.camera.open_timeout_s, io_timeout_s(self.camera)))
            except (av.FFmpegError, OSError) as exc:
                error = self._scrub(f"cannot open: {type(exc).__name__}: {exc}")
            else:
                try:
                    got = self._read(container)
                    error = "stream ended"
                except Exception as exc:  # any failure reopens the stream, never kills the thread
                    got = got or self.state == "streaming"
                    error = self._scrub(f"read failed: {type(exc).__name__}: {exc}")
                finally:
                    container.close()
                    self.ring.clear()
            if self._stop_event.is_set():
                break
            failures = 1 if got else failures + 1
            self._log.warning("main stream: %s (attempt %d)", error, failures)
            self._set("offline" if failures >= OFFLINE_AFTER_FAILURES else "reconnecting", error)
            delay = min(self.camera.reconnect_max_s,
                        self.camera.reconnect_min_s * 2 ** min(failures - 1, 30))
            self._stop_event.wait(delay * rng.uniform(0.8, 1.0))
        self._log.info("main stream reader stopped (decoded %d, reads matched %d, unmatched %d)",
                       self.decoded, self.matched, self.unmatched)

    def _read(self, container: Any) -> bool:
        """Demux until the stream ends or ``stop``; True if any packet came."""
        if not container.streams.video:
            raise OSError("no video stream")
        stream = container.streams.video[0]
        set_decoder_threads(stream, self.camera)
        ctx = stream.codec_context
        tb = float(stream.time_base) if stream.time_base else 1 / 90000
        rate = stream.average_rate or stream.guessed_rate
        fps = float(rate) if rate else 25.0
        self.gate = ReadGate(round(MAX_KEEP_S * max(1.0, min(fps, 240.0))))
        self._clock, meter, late, got = ArrivalClock(), LagMeter(), False, False
        for packet in container.demux(stream):
            if self._stop_event.is_set():
                return got
            ticks = packet.pts if packet.pts is not None else packet.dts
            if packet.size == 0 or ticks is None:
                continue
            now = time.monotonic()
            t = ticks * tb
            self._clock.note(t, now)
            lag = meter.lag(t, now)
            self.max_lag_s = max(self.max_lag_s, lag)
            late = lag > (CAUGHT_UP_S if late else LATE_S)
            if not got:
                got = True
                self._set("streaming")
            self.last_beat = now
            was = self.gate.decoding
            step = self.gate.step(packet, packet.is_keyframe, self._busy(), late)
            if step.rewind:
                ctx.flush_buffers()
                self._woke_at = now
            if was != self.gate.decoding:
                if not self.gate.decoding:
                    self.ring.clear()
                    self.sleep_log.append(now)
                self._on_change()
            for pk in step.packets:
                self._decode(pk, tb)
        return got

    def _decode(self, packet: Any, tb: float) -> None:
        for frame in packet.decode():
            t = frame.time if frame.time is not None else (frame.pts or 0) * tb
            at = self._clock.at(t)
            if at is None:
                continue
            if self.size is None:
                self.size = (int(frame.width), int(frame.height))
            self.ring.put(at, frame)
            self.decoded += 1
            self.decode_log.append((at, time.monotonic()))
            if self._woke_at is not None:
                self.wake_log.append((self._woke_at, time.monotonic()))
                self._woke_at = None
