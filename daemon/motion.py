"""Motion detector: is a vehicle moving (or standing) in the lane ROI of this frame?

Pure computation, no I/O; the clock is the frame's ``pts`` passed in. Each frame (the
decoder's luma plane, or a BGR image) is resized first (to ``MotionConfig.width``,
aspect kept) and made grey second (BGR converted, video-range luma stretched to 0-255),
blurred, and compared with a float running-average background.

- Shake tolerance: a pixel counts as changed only when it lies outside the 3x3
  minimum..maximum of the background (plus ``threshold``), so a camera swaying by
  about one working pixel (~8 px at 1280 wide) lights up nothing.
- A sudden change over more than ``global_change_fraction`` of the ROI (IR-cut
  switch, lights, a big jolt) is ``suppressed``, never motion; the background is
  re-learnt from the current picture at once.
- Vehicle size: motion starts only when the biggest changed blob is at least
  ``min_vehicle_width`` of the lane's width at the blob's bottom row (perspective
  aware), so a pedestrian or a cyclist is not a vehicle. Hysteresis between
  ``start_fraction`` and ``stop_fraction``.
- Motion counts only changed pixels that changed again within ``STILL_S``: a car
  that stopped becomes occupancy (below), the ghost a re-learn leaves is nothing.
- Background learning: unchanged pixels learn at ``background_alpha``; changed
  pixels that still move learn 50 times slower; changed pixels that have been
  still for ``ABSORB_S`` learn at the full rate, so a stopped car (or the ghost
  it leaves after a re-learn) is absorbed within a few seconds.
- Occupancy: beside the background the detector keeps the picture of the *empty*
  lane (it follows the scene only while the lane is idle). ``occupied`` says the
  lane differs from it, so a car absorbed by the background still holds its
  passage open until it leaves. After a re-learn the empty picture is unknown,
  then provisional (see ``PROVISIONAL_HOLD_S``) until the lane was idle a while.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from daemon.config import MotionConfig
from daemon.domain import Image, MotionResult, Rect

log = logging.getLogger(__name__)

_FOREGROUND_SLOWDOWN = 0.02
"""Learning rate of changed, still moving pixels relative to ``background_alpha``."""

STILL_S = 0.5
"""Changed pixels still this long no longer count as motion (a stopped car is occupancy,
a ghost left in the background is nothing)."""

ABSORB_S = 3.0
"""Changed pixels still (frame to frame) this long are learnt into the background."""

IDLE_LEARN_S = 1.0
"""The empty-lane picture follows the scene once the lane has been idle this long."""

OCCUPIED_MAX_S = 120.0
"""Occupied without motion this long: the empty-lane picture is taken as wrong and replaced
by the background (a car parked for good)."""

PROVISIONAL_HOLD_S = 3.0
"""After a re-learn the empty-lane picture is provisional (a car may have stood in it):
then occupancy without motion holds at most this long. A car waiting through an IR
switch may therefore get a second passage when it leaves (merged by the plate dedup);
its ghost never holds the lane for a minute."""

TRUST_AFTER_S = 20.0
"""A provisional empty-lane picture is trusted once the lane was idle this long."""

_SAMPLE_ABOVE = 4
"""Inputs more than this many times the working width are sampled (nearest) straight to
the working size, then blurred: on a 1080p luma plane that costs ~0.03 ms, the memory
traffic of the 90 rows read. The former 2x nearest + 2x2 area pre-step read 180 rows
(~0.07 ms, and 0.2-0.3 ms on BGR); a direct INTER_AREA reads every pixel (0.9-2.6 ms).
The 5x5 blur that follows averages the sensor noise; on the bench clips motion starts
or stops at most a frame or two differently from the 2x2 pre-step."""

_VIDEO_TO_FULL = np.clip((np.arange(256) - 16) * 255.0 / 219.0 + 0.5, 0, 255).astype(np.uint8)
"""Maps video-range luma (16-235) to full range, as a BGR conversion and back to grey would:
thresholds mean the same whichever picture the detector is given."""

_KERNEL = np.ones((3, 3), np.uint8)


def _bounds(reference: npt.NDArray[np.float32], margin: Image) -> tuple[Image, Image]:
    """The range a pixel may take and still count as unchanged against a reference picture:
    its 3x3 minimum and maximum (the shake tolerance) widened by ``margin`` (the threshold
    inside the ROI, 255 outside it, so pixels outside the ROI are never changed)."""
    ref = cv2.convertScaleAbs(reference)
    lo = np.asarray(cv2.subtract(cv2.erode(ref, _KERNEL), margin), dtype=np.uint8)
    hi = np.asarray(cv2.add(cv2.dilate(ref, _KERNEL), margin), dtype=np.uint8)
    return lo, hi


def _compare(values: npt.NDArray[np.float32], limit: float, op: int) -> Image:
    """255 where ``values`` compare true (``op``, e.g. ``cv2.CMP_GT``) with ``limit``, else 0."""
    mask = cv2.compare(values, limit, op)  # type: ignore[call-overload]  # stubs lack scalars
    return np.asarray(mask, dtype=np.uint8)


class MotionDetector:
    """Motion (with hysteresis) and occupancy inside the lane polygon of one camera.

    ``frame_size`` is the full-resolution (width, height); ``roi`` the lane polygon
    as fractions of the frame. Frames of another size are still handled (resized
    to the same working size; boxes scaled with their own size).
    """

    def __init__(
        self,
        frame_size: tuple[int, int],
        roi: Sequence[tuple[float, float]],
        cfg: MotionConfig,
    ) -> None:
        width, height = frame_size
        if width <= 0 or height <= 0:
            raise ValueError(f"bad frame size {frame_size!r}")
        self.cfg = cfg
        self.frame_size = (width, height)
        self.small_size = (cfg.width, max(8, round(height * cfg.width / width)))
        sw, sh = self.small_size
        self._mask = np.zeros((sh, sw), np.uint8)
        pts = np.array([[round(x * (sw - 1)), round(y * (sh - 1))] for x, y in roi], np.int32)
        cv2.fillPoly(self._mask, [pts], 255)
        self._margin = np.where(self._mask > 0, cfg.threshold, 255).astype(np.uint8)
        self.roi_pixels = max(1, cv2.countNonZero(self._mask))
        self._row_width = np.maximum(1, np.count_nonzero(self._mask, axis=1))
        self._background: npt.NDArray[np.float32] | None = None
        self._lo: Image | None = None
        self._hi: Image | None = None
        self._prev: Image | None = None
        self._still_since = np.zeros((sh, sw), np.float32)
        self._empty: npt.NDArray[np.float32] | None = None
        self._empty_lo: Image | None = None
        self._empty_hi: Image | None = None
        self._idle_since: float | None = None
        self._still_occupied_since: float | None = None
        self._provisional = False
        self._moving = False
        self._occupied = False
        self._prev_fraction = 0.0
        self._frames = 0
        self._min_blob = max(4, round(0.002 * self.roi_pixels))

    @property
    def moving(self) -> bool:
        """The current hysteresis state."""
        return self._moving

    def small_grey(self, image: Image, limited_range: bool = False) -> Image:
        """Resize first, then grey, then blur: the working picture of one frame.

        ``image`` is BGR or grey (a luma plane, ``limited_range`` if it spans 16-235)."""
        sw, sh = self.small_size
        work: npt.NDArray[Any] = image
        if work.shape[1] > _SAMPLE_ABOVE * sw:
            work = cv2.resize(work, (sw, sh), interpolation=cv2.INTER_NEAREST)
        else:
            work = cv2.resize(work, (sw, sh), interpolation=cv2.INTER_AREA)
        if work.ndim == 3:
            work = cv2.cvtColor(work, cv2.COLOR_BGR2GRAY)
        elif limited_range:
            work = cv2.LUT(work, _VIDEO_TO_FULL)
        return np.asarray(cv2.GaussianBlur(work, (5, 5), 0), dtype=np.uint8)

    @staticmethod
    def _changed(grey: Image, lo: Image, hi: Image) -> Image:
        """ROI pixels outside the reference's 3x3 min..max by more than the threshold (255)."""
        return np.asarray(cv2.bitwise_not(cv2.inRange(grey, lo, hi)), dtype=np.uint8)

    def _set_background(self, grey: Image) -> None:
        self._background = grey.astype(np.float32)
        self._refresh_bounds()

    def _refresh_bounds(self) -> None:
        if self._background is not None:
            self._lo, self._hi = _bounds(self._background, self._margin)

    def _set_empty(self, grey: Image | npt.NDArray[np.float32] | None) -> None:
        if grey is None:
            self._empty = self._empty_lo = self._empty_hi = None
            return
        self._empty = grey.astype(np.float32)
        self._refresh_empty()

    def _refresh_empty(self) -> None:
        if self._empty is not None:
            self._empty_lo, self._empty_hi = _bounds(self._empty, self._margin)

    def update(
        self, image: Image, pts: float | None = None, *, limited_range: bool = False
    ) -> MotionResult:
        """Feed one full-resolution frame taken at ``pts`` (s; None: 25 fps assumed).

        ``image`` is BGR or a grey (luma) plane, see :meth:`small_grey`."""
        now = self._frames / 25.0 if pts is None else pts
        self._frames += 1
        grey = self.small_grey(image, limited_range)
        if self._background is None or self._lo is None or self._hi is None:
            self._set_background(grey)
            self._set_empty(grey)
            self._prev = grey
            self._still_since[...] = now
            return MotionResult(moving=False, fraction=0.0, bbox=None)
        changed = self._changed(grey, self._lo, self._hi)
        fraction = cv2.countNonZero(changed) / self.roi_pixels
        jump = fraction - self._prev_fraction
        self._prev_fraction = fraction
        if (
            fraction > self.cfg.global_change_fraction
            and jump > self.cfg.global_change_fraction / 2
        ):
            # Sudden (within one frame) and wide: a vehicle grows over several frames.
            self._set_background(grey)
            self._set_empty(None)
            self._provisional = True
            self._prev = grey
            self._still_since[...] = now
            self._moving = self._occupied = False
            self._idle_since = None
            log.debug("global change over %.0f%% of the ROI suppressed", fraction * 100)
            return MotionResult(moving=False, fraction=fraction, bbox=None, suppressed=True)

        self._learn(grey, changed, now)
        recent = _compare(self._still_since, now - STILL_S, cv2.CMP_GT)
        active = np.asarray(cv2.bitwise_and(changed, recent), dtype=np.uint8)
        fraction_active = cv2.countNonZero(active) / self.roi_pixels
        boxes = self._blobs(active) if fraction_active > 0 else []
        main = max(boxes, key=lambda b: b[2] * b[3]) if boxes else None
        fraction = fraction_active
        if self._moving:
            self._moving = fraction >= self.cfg.stop_fraction and main is not None
        else:
            self._moving = (
                fraction >= self.cfg.start_fraction and main is not None and self._vehicle(main)
            )
        occ_mask = self._occupancy(grey, now)
        bbox = None
        if main is not None:
            bbox = self._to_full(self._union(boxes, main, active.shape), image)
        elif occ_mask is not None and self._occupied:
            occ_boxes = self._blobs(occ_mask)
            if occ_boxes:
                big = max(occ_boxes, key=lambda b: b[2] * b[3])
                bbox = self._to_full(self._union(occ_boxes, big, occ_mask.shape), image)
        return MotionResult(
            moving=self._moving, fraction=fraction, bbox=bbox, occupied=self._occupied
        )

    def _learn(self, grey: Image, changed: Image, now: float) -> None:
        """Update the background: still scene fast, moving change slowly, long-still change fast."""
        bg = self._background
        if bg is None:
            return
        prev = self._prev if self._prev is not None else grey
        self._prev = grey
        unchanged = cv2.bitwise_not(changed)
        # A pixel's still clock restarts unless it is changed and did not move since the
        # previous frame (0/1 masks, so the result can serve as a boolean array).
        moved = cv2.threshold(cv2.absdiff(grey, prev), self.cfg.threshold // 2, 1,
                              cv2.THRESH_BINARY)[1]
        restart = cv2.bitwise_or(moved, cv2.threshold(unchanged, 0, 1, cv2.THRESH_BINARY)[1])
        np.copyto(self._still_since, np.float32(now), where=restart.view(np.bool_))
        absorb = cv2.bitwise_and(
            changed, _compare(self._still_since, now - ABSORB_S, cv2.CMP_LE)
        )
        alpha = self.cfg.background_alpha
        cv2.accumulateWeighted(grey, bg, alpha, mask=unchanged)
        cv2.accumulateWeighted(grey, bg, alpha * _FOREGROUND_SLOWDOWN, mask=changed)
        if cv2.countNonZero(absorb):
            cv2.accumulateWeighted(grey, bg, alpha, mask=absorb)
        self._refresh_bounds()


    def _occupancy(self, grey: Image, now: float) -> Image | None:
        """Update ``_occupied`` against the empty-lane picture; the changed mask, if known."""
        occ: Image | None = None
        if self._empty is not None and self._empty_lo is not None and self._empty_hi is not None:
            occ = self._changed(grey, self._empty_lo, self._empty_hi)
            share = cv2.countNonZero(occ) / self.roi_pixels
            limit = self.cfg.stop_fraction if self._occupied else self.cfg.start_fraction
            self._occupied = share >= limit
        else:
            self._occupied = False
        if self._moving:
            self._still_occupied_since = None
        elif self._occupied:
            if self._still_occupied_since is None:
                self._still_occupied_since = now
            since = self._still_occupied_since
            if now - since >= (PROVISIONAL_HOLD_S if self._provisional else OCCUPIED_MAX_S):
                log.info(
                    "lane occupied without motion for %.0f s: empty picture re-learnt", now - since
                )
                self._set_empty(self._background)
                self._still_occupied_since = None
        idle = not self._moving and not self._occupied
        if not idle:
            self._idle_since = None
            return occ
        if self._idle_since is None:
            self._idle_since = now
        if self._provisional and now - self._idle_since >= TRUST_AFTER_S:
            self._provisional = False
        if now - self._idle_since >= IDLE_LEARN_S:
            if self._empty is None:
                self._set_empty(self._background)
            else:
                cv2.accumulateWeighted(grey, self._empty, self.cfg.background_alpha)
                self._refresh_empty()
        return occ

    def _vehicle(self, box: tuple[int, int, int, int]) -> bool:
        """Is this blob as wide as a vehicle in the lane at its bottom row?"""
        bottom = min(len(self._row_width) - 1, box[1] + box[3] - 1)
        return box[2] >= self.cfg.min_vehicle_width * float(self._row_width[bottom])

    def _blobs(self, changed: Image) -> list[tuple[int, int, int, int]]:
        merged = cv2.dilate(changed, _KERNEL, iterations=2)
        contours, _ = cv2.findContours(merged, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        return [
            tuple(cv2.boundingRect(c))  # type: ignore[misc]
            for c in contours
            if cv2.contourArea(c) >= self._min_blob
        ]

    @staticmethod
    def _union(
        boxes: list[tuple[int, int, int, int]],
        main: tuple[int, int, int, int],
        shape: tuple[int, ...],
    ) -> tuple[int, int, int, int]:
        """The vehicle is the biggest blob; nearby blobs (its fragments) join it, distant
        ones (a pedestrian, a flickering light, a leftover ghost) do not stretch the box."""
        pad_x, pad_y = shape[1] // 10, shape[0] // 10
        near = [
            b
            for b in boxes
            if b[0] < main[0] + main[2] + pad_x
            and main[0] < b[0] + b[2] + pad_x
            and b[1] < main[1] + main[3] + pad_y
            and main[1] < b[1] + b[3] + pad_y
        ]
        x0 = min(b[0] for b in near)
        y0 = min(b[1] for b in near)
        x1 = max(b[0] + b[2] for b in near)
        y1 = max(b[1] + b[3] for b in near)
        return x0, y0, x1 - x0, y1 - y0

    def _to_full(self, box: tuple[int, int, int, int], image: Image) -> Rect:
        x0, y0, w, h = box
        sw, sh = self.small_size
        fx = image.shape[1] / sw
        fy = image.shape[0] / sh
        left, top = int(x0 * fx), int(y0 * fy)
        right = min(int(image.shape[1]), round((x0 + w) * fx))
        bottom = min(int(image.shape[0]), round((y0 + h) * fy))
        return Rect(left, top, right - left, bottom - top)
