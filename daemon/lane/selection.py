"""Frame selection: score frames for OCR and decide, per passage, when to spend a call.

Pure logic, no I/O; the clock is the frame's ``pts`` passed in. A score combines
sharpness (variance of the Laplacian on the moving region of the grey or BGR picture,
downscaled to at most ``SHARPNESS_WIDTH`` px wide, never on the full frame), the size of the moving
box relative to the ROI, its position (lower in the lane is closer, so a bigger
plate) and a penalty for large motion since the previous frame (motion blur).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import cv2
import numpy.typing as npt

from daemon.config.models import PassageConfig
from daemon.domain import Frame, Image, Rect

log = logging.getLogger(__name__)

SHARPNESS_WIDTH = 320
"""The moving region is area-downscaled to at most this width before measuring sharpness."""

_SHARPNESS_HALF = 100.0
"""Laplacian variance that maps to a sharpness of 0.5."""

_VIDEO_RANGE_GAIN = (255.0 / 219.0) ** 2
"""Variance of a video-range (16-235) picture stretched to 0-255."""

RESEND_GAP_S = 0.2
"""After a failed read, a clearly better frame may go this long after the failed one ..."""

RESEND_MARGIN = 0.05
"""... "clearly better" meaning a score this much higher; any newer frame goes after settle_s."""

STOPPED_WINDOW_S = 0.4
"""A box that grew less than 5 % over this long (in the lower half of the ROI) has stopped."""


@dataclass(frozen=True, slots=True)
class FrameScore:
    """The parts of a frame's OCR score; ``total`` is what is compared."""

    sharpness: float
    size: float
    position: float
    motion: float
    total: float


def roi_bounds(
    roi: Sequence[tuple[float, float]], width: int, height: int, margin: float = 0.0
) -> Rect:
    """The bounding box of the ROI polygon in full-frame pixels, grown by ``margin`` per side."""
    xs = [x * width for x, _ in roi]
    ys = [y * height for _, y in roi]
    x0, x1, y0, y1 = min(xs), max(xs), min(ys), max(ys)
    mx, my = (x1 - x0) * margin, (y1 - y0) * margin
    left, top = max(0, int(x0 - mx)), max(0, int(y0 - my))
    right, bottom = min(width, round(x1 + mx)), min(height, round(y1 + my))
    return Rect(left, top, max(1, right - left), max(1, bottom - top))


def sharpness(image: Image, box: Rect | None = None, limited_range: bool = False) -> float:
    """Variance of the Laplacian of ``box`` (the whole image if None), at moderate resolution.

    ``image`` is BGR or grey; grey in the video range (16-235, ``limited_range``) is
    scored as if stretched to 0-255, so both give the same figure for the same scene."""
    work: npt.NDArray[Any] = image
    if box is not None:
        work = work[box.y : box.y + box.height, box.x : box.x + box.width]
    h, w = work.shape[:2]
    if h < 3 or w < 3:
        return 0.0
    if w > 4 * SHARPNESS_WIDTH:  # sample first: INTER_AREA over a 1080p crop costs ~5 ms
        size = (2 * SHARPNESS_WIDTH, max(3, round(h * 2 * SHARPNESS_WIDTH / w)))
        work = cv2.resize(work, size, interpolation=cv2.INTER_NEAREST)
        h, w = work.shape[:2]
    if w > SHARPNESS_WIDTH:
        size = (SHARPNESS_WIDTH, max(3, round(h * SHARPNESS_WIDTH / w)))
        work = cv2.resize(work, size, interpolation=cv2.INTER_AREA)
    if work.ndim == 3:
        work = cv2.cvtColor(work, cv2.COLOR_BGR2GRAY)
    variance = float(cv2.Laplacian(work, cv2.CV_64F).var())
    return variance * _VIDEO_RANGE_GAIN if limited_range else variance


def score_frame(
    image: Image,
    bbox: Rect,
    roi: Rect,
    prev_bbox: Rect | None = None,
    *,
    limited_range: bool = False,
) -> FrameScore:
    """Score one frame (BGR or grey, see :func:`sharpness`) for OCR: sharp, big, low in
    the lane and steady is best."""
    sharp_raw = sharpness(image, bbox, limited_range)
    sharp = sharp_raw / (sharp_raw + _SHARPNESS_HALF)
    size = min(1.0, (bbox.width * bbox.height) / max(1, roi.width * roi.height))
    position = min(1.0, max(0.0, (bbox.y + bbox.height - roi.y) / max(1, roi.height)))
    motion = 0.0
    if prev_bbox is not None:
        dx = (bbox.x + bbox.width / 2) - (prev_bbox.x + prev_bbox.width / 2)
        dy = (bbox.y + bbox.height / 2) - (prev_bbox.y + prev_bbox.height / 2)
        shift = (dx * dx + dy * dy) ** 0.5 / max(1, roi.height)
        motion = min(1.0, shift / 0.1)  # a tenth of the lane per frame is fully blurred
    total = 0.4 * sharp + 0.25 * size + 0.35 * position - 0.3 * motion
    return FrameScore(sharp, size, position, motion, total)


class SendPolicy:
    """When one passage sends a frame to OCR, and which frame.

    The first call goes out once the vehicle is well in view (its box's bottom edge
    passed ``in_view_bottom`` of the ROI height, or it stopped growing) or ``settle_s``
    after the passage started, with the best frame seen so far (not older than
    ``candidate_max_age_s``). A further call goes out only after a read that was
    missing, below ``min_confidence`` or not a valid plate, with the best frame
    newer than the last one sent, once that frame scores clearly better or
    ``settle_s`` passed since the last one, up to ``max_calls``. Never while a call is in
    flight; never after a trusted read.
    """

    def __init__(self, cfg: PassageConfig, roi: Rect, started_pts: float) -> None:
        self.cfg = cfg
        self.roi = roi
        self.started_pts = started_pts
        self.attempts = 0
        self.in_flight = False
        self.trusted = False
        self._best: tuple[Frame, float] | None = None
        self._last_sent_pts: float | None = None
        self._areas: list[tuple[float, int]] = []
        self._last_sent_score = 0.0
        self._in_view = False

    @property
    def done(self) -> bool:
        """No more calls for this passage: trusted read, or budget spent and answered."""
        return self.trusted or (self.attempts >= self.cfg.max_calls and not self.in_flight)

    @property
    def engaged(self) -> bool:
        """The passage spent a call: it is about a vehicle (the new-vehicle rule applies)."""
        return self.attempts > 0

    def offer(
        self, frame: Frame | None, score: float, bbox: Rect | None, now_pts: float
    ) -> tuple[Frame, float] | None:
        """Consider ``frame`` (None: a clock tick); returns (frame, score) to send now, if any."""
        if self.trusted or self.attempts >= self.cfg.max_calls:
            self._best = None  # no call will be made: do not keep a full-size frame alive
            return None
        if frame is not None:
            self._remember(frame, score, now_pts)
        if bbox is not None:
            self._watch(bbox, now_pts)
        if self.in_flight or self._best is None:
            return None
        if self.attempts == 0:
            ready = self._in_view or now_pts - self.started_pts >= self.cfg.settle_s
        else:
            since = now_pts - (self._last_sent_pts if self._last_sent_pts is not None else now_pts)
            better = self._best[1] >= self._last_sent_score + RESEND_MARGIN
            ready = since >= self.cfg.settle_s or (since >= RESEND_GAP_S and better)
        if not ready:
            return None
        chosen = self._best
        self._best = None
        self.attempts += 1
        self.in_flight = True
        self._last_sent_pts = chosen[0].pts
        self._last_sent_score = chosen[1]
        return chosen

    def on_read(self, trusted: bool) -> None:
        """The answer to the call in flight arrived."""
        self.in_flight = False
        self.trusted = self.trusted or trusted
        if self.trusted:
            self._best = None  # decided: the frame it held is no longer a candidate

    def _remember(self, frame: Frame, score: float, now_pts: float) -> None:
        if self._last_sent_pts is not None and frame.pts <= self._last_sent_pts:
            return
        best = self._best
        stale = best is not None and now_pts - best[0].pts > self.cfg.candidate_max_age_s
        if best is None or stale or score > best[1]:
            self._best = (frame, score)

    def _watch(self, bbox: Rect, now_pts: float) -> None:
        roi = self.roi
        bottom = (bbox.y + bbox.height - roi.y) / max(1, roi.height)
        if bottom >= self.cfg.in_view_bottom:
            self._in_view = True
        area = bbox.width * bbox.height
        self._areas.append((now_pts, area))
        while len(self._areas) > 1 and now_pts - self._areas[1][0] >= STOPPED_WINDOW_S:
            self._areas.pop(0)
        then, old_area = self._areas[0]
        if bottom >= 0.5 and now_pts - then >= STOPPED_WINDOW_S and area <= old_area * 1.05:
            self._in_view = True  # in the lower half and no longer growing: it stopped
