"""Capture: a thread per camera turning an RTSP stream or video file into Frames in a one-slot box.

PyAV (not ``cv2.VideoCapture``) gives real open/read timeouts, visible buffering and
key-frame-only decoding. The newest frame replaces an unconsumed one in
:class:`LatestFrameSlot` (``slot``; drops counted), lost streams reopen with backoff and
jitter, the state goes to ``on_status`` as a :class:`CameraStatus`. ``Frame.pts`` increases
for the thread's whole life; ``Frame.wall`` is the decode time live, ``start wall + pts``
for files. A Frame carries the decoder's luma plane; BGR is made only for the few frames
sent to OCR or snapshotted. While the lane is empty only key frames are decoded
(``idle.IdleGate``); FFmpeg options, timeouts and password redaction are in ``source``,
the PTS timeline, file pacing and live lag in ``clock``.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import av

from daemon.capture.clock import LagMeter, Pacer, StreamClock
from daemon.capture.feed import FeedHooks, decoded_frames
from daemon.capture.idle import GOP_STRETCH, WHOLE_FRAME, IdleGate, SceneChange, Wake
from daemon.capture.slot import CameraState, CameraStatus, LatestFrameSlot, frame_from_av, luma
from daemon.capture.source import (
    Scrubber,
    io_timeout_s,
    open_options,
    open_target,
    set_decoder_threads,
)
from daemon.config.models import CameraConfig
from daemon.domain import Frame

__all__ = ["CameraState", "CameraStatus", "CaptureThread", "LatestFrameSlot", "frame_from_av",
           "io_timeout_s", "open_options"]

log = logging.getLogger(__name__)

OFFLINE_AFTER_FAILURES = 3  # consecutive failed attempts before "offline"
OFFLINE_AFTER_S = 15.0  # or this long without a frame
STATUS_EVERY_S = 5.0  # while streaming, on_status repeats this often (fresh fps)
FPS_WINDOW_S = 5.0  # fps is measured over the frames of the last this-many seconds
_DEFAULT_FPS = 25.0
_PUT_POLL_S = 0.25  # blocking puts wake this often to notice stop
_PACE_MAX_LAG_S = 0.5  # a paced file further behind restarts its schedule, no burst


class _EndOfFileError(Exception):
    """The file source reached its end (internal signal)."""


class _StalledError(OSError):
    """A live source sends packets but no decodable frames (internal; triggers a reconnect)."""


class CaptureThread(threading.Thread):
    """Reads one camera (RTSP or file) with PyAV and feeds its :class:`LatestFrameSlot`.

    Live sources never block (newest frame wins) and reconnect with exponential backoff
    and jitter. File sources are paced at the clip's rate (``pace=True``) or decoded as
    fast as the consumer takes them without any drop (``pace=False``); at the end they
    loop (``camera.loop``) or close the slot and report ``ended``. Setting ``stop`` ends
    the thread within a second, plus at most one blocking read bounded by the timeouts.
    """

    def __init__(
        self,
        camera: CameraConfig,
        slot: LatestFrameSlot,
        stop: threading.Event,
        on_status: Callable[[CameraStatus], None],
        *,
        pace: bool = True,
        wall_clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        super().__init__(name=f"capture-{camera.id}", daemon=True)
        self.camera = camera
        self.slot = slot
        self._stop_event = stop
        self._on_status = on_status
        self._pace = pace
        self._wall_clock = wall_clock
        self._sleep = sleep
        self._log = log.getChild(camera.id)
        self._scrub = Scrubber(camera.url, camera.safe_url)
        self._rng = random.Random()
        self._state: CameraState = "starting"
        self._error: str | None = None
        self._last_status_at = 0.0
        self._frame_times: deque[float] = deque()
        self._last_frame_at: datetime | None = None
        self._last_frame_mono: float | None = None
        self._seq = 0
        self._last_pts = -1.0
        self._start_wall: datetime | None = None
        self._warned_pts = False
        self.gate = IdleGate(
            enabled=camera.idle_decode == "keyframes", idle_after_s=camera.idle_after_s,
            max_gop_s=camera.idle_max_gop_s, max_packets=1,  # sized per stream by its fps
        )
        """Decides key frames only or all frames (restarted for every opened stream)."""
        # The whole picture, not the lane's box: a vehicle is seen while it approaches, and a
        # fast one may cross the box between two key frames.
        self._scene = SceneChange(WHOLE_FRAME)
        self.max_lag_s = 0.0
        """Largest delay behind real time: a live stream's packets (:class:`LagMeter`) or a
        paced file's schedule (benches reset it)."""
        self.wake_log: deque[tuple[Wake, float, float]] = deque(maxlen=256)
        """Per wake-up: the gate's record, monotonic time of the wake, and of the first
        full-rate (non-key) frame delivered after it."""
        self._waking: tuple[Wake, float] | None = None
        self.status = CameraStatus(camera.id, "starting", 0.0, None)
        """The latest status reported."""
        self.last_beat = time.monotonic()
        """Monotonic time the thread last made progress: a frame, an open attempt, a report."""

    # -- status ---------------------------------------------------------------------------

    def _fps(self, now: float) -> float:
        times = self._frame_times
        while times and now - times[0] > FPS_WINDOW_S:
            times.popleft()
        if len(times) < 2 or times[-1] <= times[0]:
            return 0.0
        return (len(times) - 1) / (times[-1] - times[0])

    def _report(self, state: CameraState, error: str | None = None, *, force: bool = False) -> None:
        now = time.monotonic()
        self.last_beat = now
        if state == self._state and error == self._error and not force:
            return
        if state != self._state:
            self._log.info("camera %s: %s -> %s%s", self.camera.id, self._state, state,
                           f" ({error})" if error else "")
        self._state, self._error, self._last_status_at = state, error, now
        fps = self._fps(now)
        self.status = CameraStatus(self.camera.id, state, fps, self._last_frame_at, error,
                                   "keyframes" if self.gate.asleep else "full")
        try:
            self._on_status(self.status)
        except Exception as exc:  # a faulty listener must not kill capture
            self._log.error("status callback failed: %s", self._scrub(repr(exc)))

    # -- thread ---------------------------------------------------------------------------

    def run(self) -> None:
        """Open, decode, reconnect until ``stop`` is set or a file source ends."""
        self._log.info("capture starting: %s", self.camera.safe_url)
        self._report("starting", force=True)
        try:
            if self.camera.is_file:
                self._run_file()
            else:
                self._run_live()
        except Exception as exc:
            self._log.error("capture crashed: %s: %s", type(exc).__name__, self._scrub(str(exc)))
            self._report("offline", self._scrub(str(exc)))
            if self.camera.is_file:
                self.slot.close()
        self._log.info("capture stopped (delivered %d, dropped %d)",
                       self.slot.delivered, self.slot.dropped)

    def _run_file(self) -> None:
        while not self._stop_event.is_set():
            try:
                container = self._open()
            except (av.FFmpegError, OSError) as exc:
                self._report("ended", f"cannot open: {self._describe(exc)}")
                self.slot.close()
                return
            try:
                self._decode(container)
            except _EndOfFileError:
                pass
            except (av.FFmpegError, OSError) as exc:  # a damaged file ends like EOF
                self._log.warning("decode error, treating as end of file: %s", self._describe(exc))
            finally:
                container.close()
            if self._stop_event.is_set():
                return
            if not self.camera.loop:
                self._report("ended")
                self.slot.close()
                return
            self._log.debug("end of file, looping")

    def _run_live(self) -> None:
        failures = 0
        down_since = time.monotonic()
        while not self._stop_event.is_set():
            error: str
            opened_at = self.last_beat = time.monotonic()
            try:
                container = self._open()
            except (av.FFmpegError, OSError) as exc:
                # The RTSP socket timeout (read_timeout_s) may fire before PyAV's open
                # timeout and surfaces as InvalidDataError; name it by the time it took.
                limit = min(self.camera.open_timeout_s, io_timeout_s(self.camera))
                timed_out = time.monotonic() - opened_at >= 0.9 * limit
                error = f"cannot open: {self._describe(exc, limit, timed_out=timed_out)}"
            else:
                frames_before = self._seq
                try:
                    self._decode(container)
                    error = "stream ended"
                except _EndOfFileError:
                    error = "stream ended"
                except (av.FFmpegError, OSError) as exc:
                    error = f"read failed: {self._describe(exc, self.camera.read_timeout_s)}"
                finally:
                    container.close()
                if self._seq > frames_before:
                    failures = 0
                    down_since = self._last_frame_mono or time.monotonic()
            if self._stop_event.is_set():
                return
            failures += 1
            silent_s = time.monotonic() - down_since
            offline = failures >= OFFLINE_AFTER_FAILURES or silent_s >= OFFLINE_AFTER_S
            self._log.warning("%s (attempt %d)", error, failures)
            self._report("offline" if offline else "reconnecting", error)
            delay = min(self.camera.reconnect_max_s,
                        self.camera.reconnect_min_s * 2 ** min(failures - 1, 30))
            self._stop_event.wait(delay * self._rng.uniform(0.8, 1.0))

    def _describe(
        self, exc: BaseException, timeout_s: float | None = None, *, timed_out: bool = False
    ) -> str:
        """A log- and status-safe account of an error (password scrubbed, timeouts named)."""
        if isinstance(exc, _StalledError):
            return str(exc)
        if timeout_s is not None and (timed_out or isinstance(exc, av.error.ExitError)):
            # PyAV's interrupt callback (ExitError) or a socket timeout fired.
            return f"timed out, no data for {timeout_s:g} s"
        return self._scrub(f"{type(exc).__name__}: {exc}")

    # -- decoding -------------------------------------------------------------------------

    def _open(self) -> Any:
        url = open_target(self.camera)
        timeout = (self.camera.open_timeout_s, io_timeout_s(self.camera))
        self._log.debug("opening %s", self.camera.safe_url)
        return av.open(url, options=open_options(self.camera), timeout=timeout)

    def _decode(self, container: Any) -> None:
        """Decode the first video stream into the slot until EOF, error or ``stop``."""
        if not container.streams.video:
            raise OSError("no video stream")
        stream = container.streams.video[0]
        set_decoder_threads(stream, self.camera)
        rate = stream.average_rate or stream.guessed_rate or stream.base_rate
        fps = float(rate) if rate else _DEFAULT_FPS
        if not 1.0 <= fps <= 240.0:
            fps = _DEFAULT_FPS
        clock = StreamClock(
            base=self._pts_base(1.0 / fps),
            step=1.0 / fps,
            time_base=float(stream.time_base) if stream.time_base else None,
        )
        self.gate.max_packets = round(2 * GOP_STRETCH * self.camera.idle_max_gop_s * fps) + 2
        self.gate.restart()
        raw_last: int | None = None  # source PTS of the last frame delivered (rewinds repeat)
        for frame in self._frames(container, stream):
            if self._stop_event.is_set():
                return
            if frame.pts is not None and raw_last is not None and frame.pts <= raw_last:
                continue  # decoded again by a wake-up rewind: delivered already
            if self.gate.asleep and frame.key_frame and self._scene.changed(luma(frame)):
                self.gate.scene_changed()  # not delivered: the rewind brings it, in order
                continue
            raw_last = frame.pts
            pts, synthetic = clock.stamp(frame.pts, self._last_pts)
            if synthetic and not self._warned_pts and self._seq > 0:
                self._log.warning("missing or backward PTS; synthesising from %.2f fps", fps)
                self._warned_pts = True
            if not self._wanted(frame, pts):  # decoded, not handed over: a gap in seq
                del frame  # its buffer back to the decoder's pool before the next decode
                self._note_frame(self._wall_for(pts))
                continue
            # seq counts frames, decoded or not: skipped ones leave a gap (files: the index)
            seq = self._seq
            if self._last_pts >= 0:
                seq += max(0, round((pts - self._last_pts) * fps) - 1)
            out = frame_from_av(frame, self.camera.id, seq, pts, self._wall_for(pts))
            if self._stop_event.is_set() or not self._deliver(out):
                return
            self._seq = seq + 1
            self._last_pts = pts
            self._note_frame(out.wall)
            if self._waking is not None and not frame.key_frame:
                self.wake_log.append((*self._waking, time.monotonic()))
                self._waking = None
            del frame, out  # the slot and the lane own it now; do not pin a decoder buffer

    def _wall_for(self, pts: float) -> datetime:
        """Decode time for live streams; replay start plus the clip offset for files."""
        if not self.camera.is_file:
            return self._wall_clock()
        if self._start_wall is None:
            self._start_wall = self._wall_clock()
        return self._start_wall + timedelta(seconds=pts)

    def _frames(self, container: Any, stream: Any) -> Iterator[Any]:
        """Decoded frames of ``stream`` (``feed``), then :class:`_EndOfFileError`."""
        opened = time.monotonic()
        live = not self.camera.is_file
        hooks = FeedHooks(
            stop=self._stop_event,
            busy=lambda: self.slot.lane_busy,
            check_alive=(lambda: self._check_alive(opened)) if live else None,
            wait_until=self._wait_until,
            on_lag=self._note_lag,
            on_decoding=lambda: self._report(self._state, self._error, force=True),
            on_rewind=self._on_rewind,
        )
        pacer = Pacer(_PACE_MAX_LAG_S) if not live and self._pace else None
        yield from decoded_frames(container, stream, self.gate, hooks, pacer=pacer,
                                  meter=LagMeter() if live else None)
        if not self._stop_event.is_set():
            raise _EndOfFileError

    def _on_rewind(self) -> None:
        self._waking = (self.gate.wakes[-1], time.monotonic())
        self._scene.reset()

    def _note_lag(self, lag: float) -> None:
        self.max_lag_s = max(self.max_lag_s, lag)

    def _check_alive(self, opened: float) -> None:
        """Raise if packets still come but no frame was decoded for too long (live only);
        before a (re)opened stream's first frame the limit is the larger of the open and
        read timeouts (with ``nobuffer`` the decoder waits for a key frame)."""
        last = self._last_frame_mono
        if last is not None and last >= opened:
            since, limit = last, self.camera.read_timeout_s
        else:
            since, limit = opened, max(self.camera.open_timeout_s, self.camera.read_timeout_s)
        if time.monotonic() - since > limit:
            raise _StalledError(f"timed out, no frame for {limit:g} s")

    def _pts_base(self, step: float) -> float:
        """Where the pts of a (re)opened source starts: continue after the last frame."""
        if self._last_pts < 0:
            return 0.0
        gap = step
        if not self.camera.is_file and self._last_frame_mono is not None:
            gap = max(step, time.monotonic() - self._last_frame_mono)
        return self._last_pts + gap

    def _wait_until(self, target: float) -> None:
        while not self._stop_event.is_set() and (delay := target - time.monotonic()) > 0:
            self._sleep(min(delay, 0.5))

    def _wanted(self, frame: Any, pts: float) -> bool:
        """The decoded ``frame`` goes to the lane (else never wrapped: an empty lane)."""
        return True

    def _deliver(self, frame: Frame) -> bool:
        """Put the frame in the slot; False if ``stop`` was set while waiting for room.

        Unpaced replay of an idle lane also waits for the lane's answer (busy now?), as a
        live lane answers long before the next key frame."""
        if not self.camera.is_file or self._pace:
            self.slot.put(frame, block=False)
            return True
        while not self._stop_event.is_set():
            try:
                self.slot.put(frame, block=True, timeout=_PUT_POLL_S)
            except TimeoutError:
                continue
            while self.gate.asleep and not self._stop_event.is_set():
                if self.slot.wait_lane(frame.seq, _PUT_POLL_S):
                    break
            return True
        return False

    @property
    def last_frame_mono(self) -> float | None:
        """Monotonic time of the newest frame, None before the first."""
        return self._last_frame_mono

    def _note_frame(self, wall: datetime) -> None:
        now = self.last_beat = time.monotonic()
        self._last_frame_at = wall
        self._last_frame_mono = now
        self._frame_times.append(now)
        if self._state != "streaming":
            self._report("streaming", None)
        elif now - self._last_status_at >= STATUS_EVERY_S:
            self._report("streaming", None, force=True)
