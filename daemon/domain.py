"""Frozen values passed between pipeline stages: Frame, MotionResult, Candidate, PlateRead, Passage.

Nothing here does I/O. Times come in two flavours, kept apart on purpose:
- ``Frame.pts`` is the stream's own clock (seconds, presentation timestamp) and
  drives all per-camera logic, so a clip replayed as fast as it decodes yields
  the same passages as one replayed in real time;
- ``Frame.wall`` is the UTC wall-clock time at which the frame was captured (or,
  for a replayed clip, the replay start plus the clip offset); it is what the
  events and the database carry.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
import numpy.typing as npt

Image = npt.NDArray[np.uint8]
"""A BGR (or grey) image as OpenCV handles it: height x width (x 3), uint8."""


def utc_iso(ts: datetime) -> str:
    """Format an aware datetime as ISO 8601 UTC with milliseconds and a ``Z``."""
    if ts.tzinfo is None:
        raise ValueError("naive datetime: every time in gatecam is UTC-aware")
    return ts.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(frozen=True, slots=True)
class Rect:
    """An axis-aligned box in full-frame pixel coordinates (top-left origin)."""

    x: int
    y: int
    width: int
    height: int

    def as_dict(self) -> dict[str, int]:
        """The event's ``rect`` object."""
        return {"x": self.x, "y": self.y, "width": self.width, "height": self.height}

    def within(self, width: int, height: int) -> tuple[int, int, int, int]:
        """(x0, y0, x1, y1) of the box cut to a ``width`` x ``height`` picture."""
        x0, y0 = min(width, max(0, self.x)), min(height, max(0, self.y))
        x1 = min(width, max(x0, self.x + self.width))
        y1 = min(height, max(y0, self.y + self.height))
        return x0, y0, x1, y1


def _read_only(array: Image) -> Image:
    """A read-only view of ``array`` (the caller's own array keeps its flags)."""
    view = array.view()
    view.flags.writeable = False
    return view


class Frame:
    """One decoded picture from a camera, at full resolution; immutable, safe to share.

    Built from a BGR ``image`` (stills, tests), or by capture from the decoder's luma
    plane (``grey``) plus ``make_image``, which makes the BGR picture on first use of
    :attr:`image`: the detector and the scoring work on :attr:`analysis_image`, so only
    frames that are sent to OCR or snapshotted pay for the colour conversion. Both
    pictures are read-only arrays; the conversion runs once, whichever thread asks first.
    A camera with a detect stream hands the lane the substream's frames, each with a
    ``reader`` for the main stream's picture of its instant (:meth:`for_reading`).
    """

    __slots__ = ("_grey", "_image", "_lock", "_make_image", "_make_part", "_read", "_reader",
                 "camera_id", "limited_range", "pts", "seq", "wall")

    camera_id: str
    seq: int
    """Frame counter of the camera; never resets (not on reconnect, not on a file loop)."""
    pts: float
    """Stream time in seconds; never goes backwards (a reconnect jumps it forward by the outage).

    The clock of all per-camera logic."""
    wall: datetime
    """UTC capture time (aware)."""
    limited_range: bool
    """True when :attr:`analysis_image` is luma in the video range 16-235 (H.264's usual),
    False for 0-255 (a BGR image, full-range "yuvj" video)."""
    _image: Image | None
    _grey: Image | None
    _make_image: Callable[[], Image] | None
    _make_part: Callable[[int, int, int, int], Image] | None
    _reader: Callable[[], Frame | None] | None
    _read: Frame | None
    _lock: threading.Lock

    def __init__(
        self,
        camera_id: str,
        seq: int,
        pts: float,
        wall: datetime,
        image: Image | None = None,
        *,
        grey: Image | None = None,
        make_image: Callable[[], Image] | None = None,
        limited_range: bool = False,
        reader: Callable[[], Frame | None] | None = None,
        make_part: Callable[[int, int, int, int], Image] | None = None,
    ) -> None:
        """``reader`` (capture with a detect stream): the main stream's picture of this
        instant, asked for by :meth:`for_reading`. ``make_part(x0, y0, x1, y1)``: the BGR
        picture of that part alone (:meth:`bgr` with a box), where capture can make it."""
        if image is None and (grey is None or make_image is None):
            raise ValueError("a Frame needs a BGR image, or a grey plane and make_image")
        init = object.__setattr__
        init(self, "camera_id", camera_id)
        init(self, "seq", seq)
        init(self, "pts", pts)
        init(self, "wall", wall)
        init(self, "limited_range", limited_range and grey is not None)
        init(self, "_image", None if image is None else _read_only(image))
        init(self, "_grey", None if grey is None else _read_only(grey))
        init(self, "_make_image", None if image is not None else make_image)
        init(self, "_make_part", None if image is not None else make_part)
        init(self, "_reader", reader)
        init(self, "_read", None)
        init(self, "_lock", threading.Lock())

    def __setattr__(self, name: str, value: object) -> None:
        raise dataclasses.FrozenInstanceError(f"cannot assign to field {name!r}")

    def __delattr__(self, name: str) -> None:
        raise dataclasses.FrozenInstanceError(f"cannot delete field {name!r}")

    def __repr__(self) -> str:
        return (
            f"Frame(camera_id={self.camera_id!r}, seq={self.seq!r}, pts={self.pts!r}, "
            f"wall={self.wall!r})"
        )

    @property
    def image(self) -> Image:
        """The BGR picture, height x width x 3 (made and cached on first use)."""
        image = self._image
        if image is None:
            with self._lock:
                image = self._image
                if image is None:
                    make = self._make_image
                    if make is None:  # unreachable: __init__ requires image or make_image
                        raise RuntimeError("frame has no picture")
                    image = _read_only(make())
                    object.__setattr__(self, "_image", image)
                    object.__setattr__(self, "_make_image", None)
                    object.__setattr__(self, "_make_part", None)
        return image

    def bgr(self, box: Rect | None = None) -> Image:
        """The BGR picture for one use, not kept: the cached :attr:`image` if something made
        it, else a fresh conversion owned by the caller. The OCR worker and the snapshot
        writer use this: a frame held until its passage is decided then pins only its
        decoded buffer (1.5 bytes a pixel), not a 3-byte-a-pixel BGR copy as well.

        With ``box``, only that part (cut to the picture, :meth:`Rect.within`): converted
        alone where capture can (the local reader's lane crop, not a 6 MB 1080p picture)."""
        image = self._image
        if image is None:
            part = self._make_part
            if box is not None and part is not None:
                return _read_only(part(*box.within(self.width, self.height)))
            make = self._make_image
            # make is None: made and cached meanwhile by another thread
            image = self.image if make is None else _read_only(make())
        if box is None:
            return image
        x0, y0, x1, y1 = box.within(self.width, self.height)
        return image[y0:y1, x0:x1]

    def retimed(
        self, seq: int, pts: float, reader: Callable[[], Frame | None] | None = None
    ) -> Frame:
        """The same picture with another ``seq`` and ``pts`` (and ``reader``): capture puts
        the frames of two streams on one timeline for the lane."""
        if self._image is not None:
            return Frame(self.camera_id, seq, pts, self.wall, self._image, reader=reader)
        return Frame(self.camera_id, seq, pts, self.wall, grey=self._grey,
                     make_image=self._make_image or (lambda: self.image),
                     limited_range=self.limited_range, reader=reader,
                     make_part=self._make_part)

    def for_reading(self) -> Frame:
        """The frame to read a plate from: with a detect stream, the main stream's frame
        nearest this instant (same ``seq``, ``pts`` and ``wall``, main resolution), asked
        for once and kept; this frame itself without one, or when the main stream has
        none to give (it is down: the plate is read at the detect stream's resolution)."""
        reader = self._reader
        if reader is None:
            return self._read or self
        with self._lock:
            if self._reader is not None:
                object.__setattr__(self, "_read", self._reader())
                object.__setattr__(self, "_reader", None)
        return self._read or self

    @property
    def has_image(self) -> bool:
        """True once the BGR picture exists (given, or made by a use of :attr:`image`)."""
        return self._image is not None

    @property
    def analysis_image(self) -> Image:
        """The cheapest picture to analyse: the luma plane if capture gave one (see
        :attr:`limited_range`), else the BGR image. Its users shrink first, then make grey."""
        return self._grey if self._grey is not None else self.image

    @property
    def height(self) -> int:
        """Rows of the full-resolution image."""
        return int(self.analysis_image.shape[0])

    @property
    def width(self) -> int:
        """Columns of the full-resolution image."""
        return int(self.analysis_image.shape[1])


@dataclass(frozen=True, slots=True)
class MotionResult:
    """What the motion detector saw in one frame, inside the lane ROI."""

    moving: bool
    """True when a vehicle-sized change is present (after hysteresis)."""
    fraction: float
    """Share of ROI pixels that differ from the background, 0..1."""
    bbox: Rect | None
    """Bounding box of the moving region in full-frame pixels, if any."""
    suppressed: bool = False
    """True when a global change (brightness jump, shake) was ignored on purpose."""
    occupied: bool = False
    """True while the lane differs from its empty picture (a stopped car absorbed by the
    background still occupies it); keeps the passage open."""
    occupied_bottom: float | None = None
    """While occupied and not moving: the bottom edge of the lowest thing occupying it, as a
    share of the frame's height (daemon/lane/outcome.py ``LEFT_UP``); None when nothing there
    is blob-sized."""
    fresh: bool = False
    """The detector's first frame: its pictures of the lane were taken from this one, so a
    vehicle standing in it shows neither motion nor occupancy (daemon/lane/standing.py)."""


@dataclass(frozen=True, slots=True, eq=False)
class Candidate:
    """A frame chosen for OCR, on behalf of one passage."""

    camera_id: str
    passage_id: str
    frame: Frame = field(repr=False)
    score: float
    """Quality score from selection; higher is better."""
    attempt: int
    """1 for the first call of this passage, 2 for the second, ..."""
    deadline: float
    """``time.monotonic()`` after which the candidate is stale and must not be sent."""
    roi_box: Rect | None = None
    """Crop hint: the lane region (plus margin) in full-frame pixels; None sends the whole frame."""
    focus: Rect | None = None
    """Local reads: the vehicle's box (full-frame pixels); plate boxes in it are read first."""


@dataclass(frozen=True, slots=True)
class PlateRead:
    """The outcome of one OCR call (or of a decision not to make it)."""

    camera_id: str
    passage_id: str
    frame_seq: int
    ok: bool
    """True when the provider returned a plate."""
    plate: str | None = None
    color: str | None = None
    confidence: int = 0
    category: str | None = None
    rect: Rect | None = None
    """Plate box mapped back to full-frame pixels."""
    error_code: str | None = None
    """Provider error code (e.g. ``FailedOperation.OcrFailed``) or a local one (``Timeout``)."""
    request_id: str | None = None
    latency_ms: float = 0.0
    called: bool = True
    """False when no request was sent (stale candidate, open circuit, a local reading)."""
    provider: str = "tencent"
    """``tencent`` (a cloud call) or ``local`` (the local reader, daemon/ocr/local.py)."""
    box_found: bool = False
    """Local readings: a plate-shaped box was seen, read or not (evidence of a plate)."""
    image_size: tuple[int, int] | None = None
    """Local readings: (width, height) of the picture ``rect`` is in: with a detect stream
    the main stream's, not the picture the lane's motion boxes are in."""
    chars: tuple[int, ...] = ()
    """Local readings: 0-100 per character of ``plate`` (``LocalPlate.chars``)."""


@dataclass(frozen=True, slots=True)
class Passage:
    """One vehicle passing one camera: what gets recorded and published."""

    event_id: str
    site: str
    camera: str
    direction: str
    captured_at: datetime
    decided_at: datetime
    plate: str | None = None
    color: str | None = None
    confidence: int = 0
    category: str | None = None
    rect: Rect | None = None
    access: str = "unknown"
    access_reason: str = "not_evaluated"
    """Why ``access`` is what it is (daemon/access.py, ``REASONS``)."""
    ocr_calls: int = 0
    request_ids: tuple[str, ...] = ()
    latency_ms: float = 0.0
    snapshot: str | None = None
    image_url: str | None = None
    """The snapshot over HTTP (``store.snapshot_base_url`` + ``snapshot``); in the event if set."""
    late: bool = False
    provider: str = "tencent"
    """Which reader produced ``plate``: ``tencent`` or ``local``."""
    local_confidence: int | None = None
    """The local reader's best confidence in ``plate`` (None: it did not read it)."""

    SCHEMA = 1

    def as_event(self) -> dict[str, Any]:
        """The MQTT passage event (ARCHITECTURE.md, schema 1) as a JSON-ready dict."""
        return {
            "schema": self.SCHEMA,
            "event_id": self.event_id,
            "site": self.site,
            "camera": self.camera,
            "direction": self.direction,
            "plate": self.plate,
            "color": self.color,
            "confidence": self.confidence,
            "category": self.category,
            "rect": self.rect.as_dict() if self.rect else None,
            "captured_at": utc_iso(self.captured_at),
            "decided_at": utc_iso(self.decided_at),
            "access": self.access,
            "access_reason": self.access_reason,
            "late": self.late,
            "ocr": {
                "provider": self.provider,
                "calls": self.ocr_calls,
                "request_ids": list(self.request_ids),
                "latency_ms": round(self.latency_ms),
                "local_confidence": self.local_confidence,
            },
            "snapshot": self.snapshot,
            **({"image_url": self.image_url} if self.image_url is not None else {}),
        }

    def replace(self, **changes: Any) -> Passage:
        """A copy with some fields changed (frozen dataclasses need this)."""
        return dataclasses.replace(self, **changes)
