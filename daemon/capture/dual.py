"""A camera with a detect stream: motion on the substream, plates read from the main stream.

:func:`make_capture` builds a camera's capture: a plain :class:`CaptureThread` without
``detect_url``, else a :class:`DualCapture`. It supervises up to three threads and picks a
mode from which streams work:

- ``dual`` (both up): a :class:`LaneCapture` decodes the detect stream in full and feeds the
  lane (an empty lane a frame as soon as the picture changed, else ``detect_idle_fps`` frames
  a second; a busy one every frame: ``watch.DetectWatch``); the
  :class:`~daemon.capture.mainstream.MainStreamReader` keeps the main stream's packets
  undecoded while the lane is empty and decodes them while the lane is busy, and from the
  detect stream's first change on (``DualCapture._main_needed``: the main decoder is
  running by the time the lane's motion detector confirms; a change the lane does not
  confirm costs a second of main decoding). Each
  detect Frame carries a ``reader``: the main frame nearest in time (the streams' own
  timestamps mapped to the monotonic clock by their arrival, ``pairing.ArrivalClock``),
  which the lane hands to the local reader and the OCR instead (``Frame.for_reading``).
- ``main`` (the detect stream down, or the ROI cannot be mapped onto it): the reader
  stops and a :class:`LaneCapture` on the main stream feeds the lane as a single-stream
  camera does (key frames only while the lane is empty). When the detect stream streams
  again, ``dual`` resumes.
- ``detect`` (the main stream down): the lane keeps watching the detect stream, and plates
  are read from the detect frames at their low resolution (``reading: detect`` in the
  status) until the main stream returns.

Both lane feeders stamp their frames on one :class:`~daemon.capture.pairing.Timeline`, so
the lane's ``seq`` and ``pts`` keep increasing across a switch. The status (MQTT, /healthz,
the health page) says the ``streams`` in use, what plates are read from (``reading``),
and ``decoding``: ``idle`` while the main stream is not decoded at full rate.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from functools import partial
from typing import Any, Literal

from daemon.capture.mainstream import MainStreamReader
from daemon.capture.pairing import ArrivalClock, Timeline, roi_problem
from daemon.capture.slot import CameraStatus, LatestFrameSlot, luma
from daemon.capture.thread import CaptureThread
from daemon.capture.watch import DetectWatch
from daemon.config.models import CameraConfig
from daemon.domain import Frame

__all__ = ["CameraStatus", "Capture", "DualCapture", "LaneCapture", "LatestFrameSlot",
           "make_capture"]

log = logging.getLogger(__name__)

Mode = Literal["dual", "main", "detect"]
TICK_S = 0.2
"""How often the supervisor looks at its streams."""
_DOWN = ("reconnecting", "offline", "ended")


class LaneCapture(CaptureThread):
    """A capture thread feeding the lane only while ``may_deliver()`` says its stream is the
    lane's source, on the shared ``timeline``; with ``reader`` (the detect stream) each
    frame carries the main stream's picture of its instant."""

    def __init__(  # noqa: PLR0917 - the capture thread's own arguments and three more
        self, camera: CameraConfig, slot: LatestFrameSlot, stop: threading.Event,
        on_status: Callable[[CameraStatus], None], timeline: Timeline,
        may_deliver: Callable[[], bool], reader: MainStreamReader | None = None,
        *, pace: bool = True,
    ) -> None:
        super().__init__(camera, slot, stop, on_status, pace=pace)
        self._timeline = timeline
        self._may_deliver = may_deliver
        self._reader = reader
        self._arrival = ArrivalClock()
        self.watch = DetectWatch(camera.roi, camera.detect_idle_fps)
        """Which frames an empty lane is offered; ``wake_until`` wakes the main stream."""
        self.size: tuple[int, int] | None = None
        """The picture's (width, height), once a frame came."""

    def _wanted(self, frame: Any, pts: float) -> bool:
        now = time.monotonic()
        # A detect frame is decoded (one thread, 360p: about a millisecond) as its packet
        # arrives, so its decode time stands for its arrival, like the main packets'.
        self._arrival.note(pts, now)
        self.size = (int(frame.width), int(frame.height))
        if not self._may_deliver():
            return False
        if self._reader is None:
            return True
        # An empty lane is offered a frame when it changed, else detect_idle_fps a second
        # (all are decoded: the P-frames need them); its busy word brings every frame.
        return self.watch.offer(luma(frame), now, self.slot.lane_busy)

    def _deliver(self, frame: Frame) -> bool:
        seq, pts = self._timeline.stamp(self, frame.seq, frame.pts, time.monotonic())
        reader = None
        if self._reader is not None:
            reader = partial(self._reader.frame_near, self._arrival.at(frame.pts), seq, pts,
                             frame.wall)
        return super()._deliver(frame.retimed(seq, pts, reader))


class DualCapture(threading.Thread):
    """Supervises a camera's detect and main streams (module doc); shaped like a
    CaptureThread for the App and the health checks (``status``, ``last_beat``,
    ``last_frame_mono``)."""

    def __init__(
        self, camera: CameraConfig, slot: LatestFrameSlot, stop: threading.Event,
        on_status: Callable[[CameraStatus], None], *, pace: bool = True,
    ) -> None:
        super().__init__(name=f"dual-{camera.id}", daemon=True)
        self.camera = camera
        self.slot = slot
        self._stop_event = stop
        self._on_status = on_status
        self._pace = pace
        self._lock = threading.RLock()
        self._timeline = Timeline()
        self.mode: Mode = "dual"
        self.roi_error: str | None = None
        """Set when the ROI cannot be mapped onto the detect stream (it is then not used)."""
        self.reader = self._new_reader()
        self.detect = LaneCapture(camera.stream("detect"), slot, threading.Event(),
                                  self._child_status, self._timeline,
                                  lambda: self.mode != "main", self.reader, pace=pace)
        self.single: LaneCapture | None = None
        self.status = CameraStatus(camera.id, "starting", 0.0, None,
                                   streams=("detect", "main"), reading="main")
        self.last_beat = time.monotonic()
        self.switches: list[tuple[float, Mode]] = []
        """(monotonic time, new mode) of every switch."""

    def _new_reader(self) -> MainStreamReader:
        return MainStreamReader(self.camera.stream("main"), self._main_needed,
                                threading.Event(), self._refresh)

    def _main_needed(self) -> bool:
        """Decode the main stream: the lane is busy, or the detect stream changed lately
        (its first sign: the main decoder is running by the time the lane confirms)."""
        return self.slot.lane_busy or time.monotonic() < self.detect.watch.wake_until

    @property
    def max_lag_s(self) -> float:
        """Largest delay behind real time of the detect or the main stream's packets
        (set it to reset both: benches sample it)."""
        return max(self.detect.max_lag_s, self.reader.max_lag_s)

    @max_lag_s.setter
    def max_lag_s(self, value: float) -> None:
        self.detect.max_lag_s = self.reader.max_lag_s = value

    @property
    def last_frame_mono(self) -> float | None:
        """Monotonic time of the newest frame the lane was fed."""
        feeder = self.single if self.mode == "main" else self.detect
        return feeder.last_frame_mono if feeder is not None else None

    def run(self) -> None:
        """Start the streams, switch modes as they fail and return, stop them on ``stop``."""
        log.info("camera %s: detect stream %s, main stream %s", self.camera.id,
                 self.detect.camera.safe_url, self.camera.safe_url)
        self.detect.start()
        self.reader.start()
        try:
            while not self._stop_event.wait(TICK_S):
                self.last_beat = time.monotonic()
                self._supervise()
                self._refresh()
        finally:
            feeders = [t for t in (self.detect, self.reader, self.single) if t is not None]
            for t in feeders:
                t._stop_event.set()
            for t in feeders:
                t.join(self.camera.read_timeout_s + 1)

    def _supervise(self) -> None:
        if self.roi_error is None and self.detect.size is not None:
            self.roi_error = roi_problem(self.camera.roi, self.detect.size)
            if self.roi_error:
                log.error("camera %s: %s", self.camera.id, self.roi_error)
        detect_up = self.detect.status.state == "streaming" and self.roi_error is None
        detect_down = self.detect.status.state in _DOWN or self.roi_error is not None
        if self.mode != "main" and detect_down:
            self._switch("main")
        elif self.mode == "main" and detect_up:
            self._switch("dual")
        elif self.mode != "main":
            self._switch("detect" if self.reader.state in _DOWN else "dual")

    def _switch(self, mode: Mode) -> None:
        if mode == self.mode:
            return
        old, self.mode = self.mode, mode
        self.switches.append((time.monotonic(), mode))
        log.warning("camera %s: %s -> %s mode", self.camera.id, old, mode)
        if mode == "main":
            self.reader._stop_event.set()
            self.single = LaneCapture(self.camera.stream("main"), self.slot, threading.Event(),
                                      self._child_status, self._timeline,
                                      lambda: self.mode == "main", pace=self._pace)
            self.single.start()
        elif old == "main":
            single, self.single = self.single, None
            if single is not None:
                single._stop_event.set()
            self.reader = self._new_reader()
            self.reader.start()
            self.detect._reader = self.reader
        self._refresh()

    def _child_status(self, _status: CameraStatus) -> None:
        self._refresh()

    def _refresh(self) -> None:
        """Compose the camera's status from its streams; report it when it changed."""
        with self._lock:
            status = self._compose()
            old = self.status
            self.status = status
            if (status.state, status.error, status.streams, status.reading,
                    status.decoding) == (old.state, old.error, old.streams, old.reading,
                                         old.decoding) and status.fps == old.fps:
                return
        try:
            self._on_status(status)
        except Exception as exc:  # a faulty listener must not kill capture
            log.error("status callback failed: %s", exc)

    def _compose(self) -> CameraStatus:
        mode, reader, single = self.mode, self.reader, self.single
        if mode == "main" and single is not None:
            s = single.status
            why = self.roi_error or f"detect stream {self.detect.status.state}: " \
                                    f"{self.detect.status.error or 'no frame yet'}"
            return CameraStatus(self.camera.id, s.state, s.fps, s.last_frame_at,
                                s.error or f"{why}; motion and reading on the main stream",
                                "idle" if s.decoding == "keyframes" else "full",
                                streams=("main",), reading="main")
        s = self.detect.status
        if mode == "detect":
            return CameraStatus(self.camera.id, s.state, s.fps, s.last_frame_at,
                                s.error or f"main stream {reader.state}: {reader.error}; "
                                "plates read from the detect stream (low resolution)",
                                "full", streams=("detect",), reading="detect")
        return CameraStatus(self.camera.id, s.state, s.fps, s.last_frame_at, s.error,
                            "full" if reader.decoding else "idle",
                            streams=("detect", "main"), reading="main")


Capture = CaptureThread | DualCapture
"""A camera's capture as the App and the health checks see it."""


def make_capture(
    camera: CameraConfig, slot: LatestFrameSlot, stop: threading.Event,
    on_status: Callable[[CameraStatus], None], *, pace: bool = True,
) -> Capture:
    """The camera's capture: two streams with ``detect_url`` (paced: a live camera or a clip
    played in real time), else one. Unpaced replay reads the main stream alone."""
    if camera.detect_url is None or not pace:
        return CaptureThread(camera.stream("main"), slot, stop, on_status, pace=pace)
    return DualCapture(camera, slot, stop, on_status, pace=pace)

