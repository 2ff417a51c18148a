"""The hand-over from a camera's capture thread to its lane: Frames, a one-slot mailbox, status.

:func:`frame_from_av` wraps a decoded picture in a :class:`~daemon.domain.Frame` that
carries the luma plane and makes BGR only on demand. :class:`LatestFrameSlot` never
makes capture wait on a live source: the newest frame replaces one not yet taken (drops
counted), so a slow consumer cannot make frames stale. :class:`CameraStatus` is what
capture reports about its camera (published, retained).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Any, Literal

import av
import numpy as np
from av.video.reformatter import VideoReformatter

from daemon.domain import Frame, Image, utc_iso

CameraState = Literal["starting", "streaming", "reconnecting", "offline", "ended"]

_LUMA_FORMATS = frozenset({
    "yuv420p", "yuvj420p", "yuv422p", "yuvj422p", "yuv444p", "yuvj444p", "yuv440p",
    "yuvj440p", "yuv411p", "yuv410p", "nv12", "nv21", "nv16", "gray",
})
"""8-bit pixel formats whose first plane is the luma: a grey picture for free."""

_AVCOL_RANGE_JPEG = 2  # FFmpeg's AVColorRange for full-range (0-255) video


def _bgr(frame: Any) -> Image:
    """The BGR picture of a decoded frame (what the OCR and the snapshots get)."""
    return np.asarray(frame.to_ndarray(format="bgr24"), dtype=np.uint8)


_PART_FORMATS = frozenset({"yuv420p", "yuvj420p"})
"""Formats whose part :func:`bgr_part` converts alone (H.264's usual 4:2:0)."""


_formatters = threading.local()
"""Each thread's swscale converter for :func:`bgr_part`: it keeps its context while the part's
size stays the same (a fresh frame's own converter costs more than the conversion)."""


def _rows(plane: Any) -> Image:
    """A picture plane as rows of ``line_size`` bytes (viewed, no copy)."""
    stride = int(plane.line_size)
    rows = np.frombuffer(plane, np.uint8, count=stride * int(plane.height))
    return rows.reshape(-1, stride)


def bgr_part(frame: Any, x0: int, y0: int, x1: int, y1: int) -> Image:
    """The BGR picture of the part ``[y0:y1, x0:x1]`` of a decoded frame, converting only
    that part (the local reader's lane crop: a fraction of a 6 MB 1080p conversion).

    4:2:0 frames: the planes' part, widened to even edges so the chroma samples line up, is
    copied into a small frame of the same colour space and range, converted by swscale as
    the whole picture is (pixel for pixel the same), then cut to the part: about 1 ms for a
    1000x600 lane crop against 2-3 ms for a 1080p picture, and 1.8 MB made instead of 6 MB.
    Other formats convert the whole picture and cut it."""
    ex0, ey0 = x0 & ~1, y0 & ~1
    ex1, ey1 = min(int(frame.width), x1 + (x1 & 1)), min(int(frame.height), y1 + (y1 & 1))
    odd = (ex1 - ex0) & 1 or (ey1 - ey0) & 1  # an odd-sized picture's last column or row
    if frame.format.name not in _PART_FORMATS or x1 <= x0 or y1 <= y0 or odd:
        return _bgr(frame)[y0:y1, x0:x1]
    small = av.VideoFrame(ex1 - ex0, ey1 - ey0, frame.format.name)
    for index, (px0, py0, px1, py1) in enumerate(
        ((ex0, ey0, ex1, ey1),) + ((ex0 // 2, ey0 // 2, ex1 // 2, ey1 // 2),) * 2
    ):
        _rows(small.planes[index])[:, :px1 - px0] = _rows(frame.planes[index])[py0:py1, px0:px1]
    small.colorspace, small.color_range = frame.colorspace, frame.color_range
    formatter = getattr(_formatters, "one", None)
    if formatter is None:
        formatter = _formatters.one = VideoReformatter()
    bgr = np.asarray(formatter.reformat(small, format="bgr24").to_ndarray(), dtype=np.uint8)
    return bgr[y0 - ey0:y1 - ey0, x0 - ex0:x1 - ex0]


def luma(frame: Any) -> Image:
    """The luma plane of a decoded 8-bit YUV frame (viewed, no copy), else its grey conversion."""
    if frame.format.name not in _LUMA_FORMATS:
        return np.asarray(frame.to_ndarray(format="gray"), dtype=np.uint8)
    return _rows(frame.planes[0])[:, :int(frame.width)]


def frame_from_av(
    frame: Any, camera_id: str, seq: int, pts: float, wall: datetime
) -> Frame:
    """Wrap a decoded PyAV frame in a :class:`Frame` without converting it to BGR.

    The luma plane is viewed in place (no copy): the view holds a reference to the
    decoded frame, whose refcounted buffer FFmpeg never reuses while referenced, so
    the picture stays valid and unchanged after the decoder moved on or the container
    closed. The BGR picture is made only if something asks for ``Frame.image``. Other
    pixel formats (10-bit, RGB) are converted to BGR at once.
    """
    fmt = frame.format.name
    if fmt not in _LUMA_FORMATS:
        return Frame(camera_id, seq, pts, wall, _bgr(frame))
    full = fmt.startswith("yuvj") or fmt == "gray" or frame.color_range == _AVCOL_RANGE_JPEG
    return Frame(
        camera_id, seq, pts, wall,
        grey=luma(frame), make_image=partial(_bgr, frame), limited_range=not full,
        make_part=partial(bgr_part, frame),
    )



class LatestFrameSlot:
    """A one-slot mailbox between a capture thread and its consumer: the newest frame wins.

    ``put(block=False)`` never waits: a frame not yet taken is replaced and counted in
    ``dropped``. ``put(block=True)`` waits until the slot is empty (replay without
    drops). ``get`` hands over the frame and counts it in ``delivered``. ``close``
    says the source ended for good and wakes every waiter.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._frame: Frame | None = None
        self._closed = False
        self._lane_waiters = 0
        self.dropped = 0
        """Frames replaced before a consumer took them (or offered after close)."""
        self.delivered = 0
        """Frames handed to a consumer by ``get``."""
        self.lane_busy = True
        """The consumer's last word: True while its lane needs every frame (motion, a vehicle,
        an open passage). Written by the lane (:meth:`mark_lane`), read by capture without a
        lock (one attribute: atomic). True until the lane first says otherwise, so capture
        without a lane never idles."""
        self.lane_seq = -1
        """``seq`` of the last frame the lane finished with."""

    def put(self, frame: Frame, block: bool = False, timeout: float | None = None) -> None:
        """Offer a frame.

        Non-blocking: store it, replacing (and counting as dropped) any frame not yet
        taken. Blocking: wait until the slot is empty, then store it; raises
        ``TimeoutError`` if ``timeout`` seconds pass first (the frame is not stored).
        A frame offered after ``close`` is discarded and counted as dropped.
        """
        with self._cond:
            if block and not self._closed and self._frame is not None:
                ok = self._cond.wait_for(
                    lambda: self._frame is None or self._closed, timeout=timeout
                )
                if not ok:
                    raise TimeoutError("the frame slot stayed full")
            if self._closed:
                self.dropped += 1
                return
            if self._frame is not None:
                self.dropped += 1
            self._frame = frame
            self._cond.notify_all()

    def get(self, timeout: float) -> Frame | None:
        """Take the frame, waiting up to ``timeout`` s; None on timeout or when closed and empty."""
        with self._cond:
            self._cond.wait_for(lambda: self._frame is not None or self._closed, timeout=timeout)
            frame, self._frame = self._frame, None
            if frame is not None:
                self.delivered += 1
                self._cond.notify_all()  # a blocking put may proceed
            return frame

    def mark_lane(self, seq: int, busy: bool) -> None:
        """The lane finished frame ``seq`` and is ``busy`` (needs every frame) or idle."""
        self.lane_busy = busy
        self.lane_seq = seq
        if self._lane_waiters:
            with self._cond:
                self._cond.notify_all()

    def wait_lane(self, seq: int, timeout: float) -> bool:
        """Wait until the lane finished frame ``seq`` (or the slot closed); False on timeout.

        Unpaced replay uses it so an idle lane's answer to a key frame is known before
        capture reads on, as a live camera's lane answers within a frame or two."""
        with self._cond:
            self._lane_waiters += 1
            try:
                return self._cond.wait_for(
                    lambda: self.lane_seq >= seq or self._closed, timeout=timeout
                )
            finally:
                self._lane_waiters -= 1

    def close(self) -> None:
        """The source finished for good: wake all getters (a pending frame can still be taken)."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    @property
    def closed(self) -> bool:
        """True once closed and the last frame has been taken."""
        with self._cond:
            return self._closed and self._frame is None


@dataclass(frozen=True, slots=True)
class CameraStatus:
    """A camera's state as capture sees it; published (retained) on the camera's status topic."""

    camera_id: str
    state: CameraState
    fps: float
    """Frames per second decoded over the last few seconds."""
    last_frame_at: datetime | None
    error: str | None = None
    """The last error, password-redacted; None while healthy."""
    decoding: Literal["full", "keyframes", "idle"] = "full"
    """``keyframes`` while the lane is idle and only key frames are decoded (one stream);
    ``idle`` while a detect stream watches and the main stream is not decoded."""
    streams: tuple[str, ...] = ("main",)
    """The streams in use: ``main``, or with a ``detect_url`` ``detect`` and/or ``main``."""
    reading: str = "main"
    """The stream plates are read from (``detect`` while the main stream is down)."""

    @property
    def idle(self) -> bool:
        """True while the main stream is not decoded at full rate."""
        return self.decoding != "full"

    def detail(self) -> dict[str, Any]:
        """What the status topic carries beside state, fps and last_frame_at."""
        return {"streams": list(self.streams), "reading": self.reading,
                "decoding": "idle" if self.idle else "full", "error": self.error}

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form for the status topic."""
        return {
            "state": self.state,
            "fps": round(self.fps, 1),
            "last_frame_at": utc_iso(self.last_frame_at) if self.last_frame_at else None,
            "error": self.error,
            "decoding": "idle" if self.idle else "full",
            "streams": list(self.streams),
            "reading": self.reading,
        }
