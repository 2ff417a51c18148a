"""Motion detector: is a vehicle moving (or standing) in the lane ROI of this frame?

Pure computation, no I/O; the clock is the frame's ``pts`` passed in. Each frame (the
decoder's luma plane, or a BGR image) is resized first (to ``MotionConfig.width``,
aspect kept) and made grey second (BGR converted, video-range luma stretched to 0-255),
blurred (3x3 Gaussian), and compared with a float running-average background.

- Shake tolerance: a pixel counts as changed only when it lies outside the 3x3
  minimum..maximum of the background (plus ``threshold``, lower in a dark lane:
  ``bounds.Threshold``), so a camera swaying by one working pixel lights up nothing.
- A sudden change over more than ``global_change_fraction`` of the ROI (IR-cut
  switch, lights, a big jolt) is ``suppressed``, never motion; the background is
  re-learnt from the current picture at once.
- Vehicle size: motion starts only when the biggest changed blob is at least
  ``min_vehicle_width`` of the lane's width at the blob's bottom row (perspective
  aware), so a pedestrian or a cyclist is not a vehicle. Hysteresis between
  ``start_fraction`` and ``stop_fraction``. Motion also goes on only while the
  moving vehicle (the biggest blob with its nearby fragments) is still that wide:
  the fraction's hysteresis alone would hand the motion of a car leaving the lane on
  to a pedestrian walking at the far end, who then opens passages of their own.
- Motion counts only changed pixels that moved within ``STILL_S``: a car that
  stopped becomes occupancy (below), the ghost a re-learn leaves is nothing. A pixel
  moved when it left the 3x3 minimum..maximum of the previous frame by half the
  threshold (the same shake tolerance), so the textured edges of a ghost in a swaying
  picture are still too.
- Background learning: unchanged pixels learn at ``background_alpha``; changed
  pixels that still move learn 50 times slower; changed pixels that have been
  still for ``ABSORB_S`` are taken into it at once, so a stopped car (or the ghost
  it leaves) is absorbed a few seconds after it stopped (or left).
- Occupancy: beside the background the detector keeps the picture of the *empty*
  lane, so a car absorbed by the background still holds its passage open until it
  leaves (``daemon/lane/emptylane.py``, told the moving box: see its hole rule);
  the comparison with a reference picture is ``daemon/lane/bounds.py``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from daemon.config.models import MotionConfig
from daemon.domain import Image, MotionResult, Rect
from daemon.lane.bounds import Bounds, Threshold
from daemon.lane.emptylane import EmptyLane

log = logging.getLogger(__name__)

_FOREGROUND_SLOWDOWN = 0.02
"""Learning rate of changed, still moving pixels relative to ``background_alpha``."""

STILL_S = 0.5
"""Changed pixels still this long no longer count as motion (a stopped car is occupancy,
a ghost left in the background is nothing)."""

ABSORB_S = 3.0
"""Changed pixels still (frame to frame) this long are taken into the background, in one
step: learnt gradually, a ghost's textured edges would flip between changed and unchanged
under a swaying camera for a second or more, and every flip to changed is new motion (a
false passage on the empty lane a few seconds after a car that had stopped left)."""

_SAMPLE_ABOVE = 4
"""Inputs more than this many times the working width are sampled (nearest) straight to
the working size, then blurred: on a 1080p luma plane that costs ~0.03 ms, the memory
traffic of the 90 rows read. The former 2x nearest + 2x2 area pre-step read 180 rows
(~0.07 ms, and 0.2-0.3 ms on BGR); a direct INTER_AREA reads every pixel (0.9-2.6 ms).
The 3x3 Gaussian blur that follows averages the sensor noise; on the bench clips motion
starts or stops at most a frame or two differently from the 2x2 pre-step or a 5x5
Gaussian (1.5 times the cost). A 3x3 box blur changed the passage timing enough to fail
tests/ocr/test_circuit_status.py. Only the ROI's box (plus the reach of the blur and of
the 3x3 bounds) is read when the frame is an exact multiple of the working size."""

_VIDEO_TO_FULL = np.clip((np.arange(256) - 16) * 255.0 / 219.0 + 0.5, 0, 255).astype(np.uint8)
"""Maps video-range luma (16-235) to full range, as a BGR conversion and back to grey would:
thresholds mean the same whichever picture the detector is given."""

_KERNEL5 = np.ones((5, 5), np.uint8)
_KERNEL3 = np.ones((3, 3), np.uint8)


class MotionDetector:
    """Motion (with hysteresis) and occupancy inside the lane polygon of one camera.

    ``frame_size`` is the full-resolution (width, height); ``roi`` the lane polygon
    as fractions of the frame. Frames of another size are still handled (resized
    to the same working size; boxes scaled with their own size).

    The working pictures and masks live in buffers allocated once (``dst=``): at 160x90
    an OpenCV call costs a few microseconds, a fresh output array a good part of that.
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
        self.threshold = Threshold(self._mask, cfg.threshold)  # fitted to the lane's light
        self.roi_pixels = max(1, cv2.countNonZero(self._mask))
        self._row_width = np.maximum(1, np.count_nonzero(self._mask, axis=1))
        self._background: npt.NDArray[np.float32] | None = None
        self._bounds = Bounds(self.threshold.margin)
        self._prev: Image | None = None
        self._still_since = np.zeros((sh, sw), np.float32)
        # The still clocks' next values are built here, then the two swap (see _learn).
        self._still_spare = np.zeros((sh, sw), np.float32)
        self._limits = np.empty((sh, sw), np.float32)
        self._lane = EmptyLane(self.threshold.margin, self.roi_pixels, cfg)
        self.threshold.users += [self._bounds, self._lane.bounds]
        self._moving = False
        self._prev_fraction = 0.0
        self._frames = 0
        self._min_blob = max(4, round(0.002 * self.roi_pixels))
        # Two working pictures, alternating: the previous frame's stays valid as ``_prev``.
        self._greys = (np.zeros((sh, sw), np.uint8), np.zeros((sh, sw), np.uint8))
        self._sampled = np.zeros((sh, sw), np.uint8)
        (self._unchanged, self._changed, self._active, self._scratch, self._scratch2) = (
            np.empty((sh, sw), np.uint8) for _ in range(5)
        )
        # The box of the ROI widened by the blur's reach and the 3x3 bounds' reach: the
        # only part of a frame that can change a result (outside the ROI nothing is changed),
        # and the only part of a mask the blobs are looked for in (see _blobs).
        x, y, w, h = cv2.boundingRect(self._mask)
        self._box = (max(0, y - 3), min(sh, y + h + 3), max(0, x - 3), min(sw, x + w + 3))
        y0, y1, x0, x1 = self._box
        self._dilated = np.empty((y1 - y0, x1 - x0), np.uint8)  # the blobs' mask (_blobs)

    @property
    def moving(self) -> bool:
        """The current hysteresis state."""
        return self._moving

    def small_grey(self, image: Image, limited_range: bool = False) -> Image:
        """Resize first, then grey, then blur: the working picture of one frame.

        ``image`` is BGR or grey (a luma plane, ``limited_range`` if it spans 16-235)."""
        sw, sh = self.small_size
        return self._small_grey(image, limited_range, np.empty((sh, sw), np.uint8))

    def _small_grey(
        self, image: Image, limited_range: bool, out: Image, roi_only: bool = False
    ) -> Image:
        sw, sh = self.small_size
        h, w = image.shape[:2]
        sx, sy = w // sw, h // sh
        exact = w == sx * sw and h == sy * sh
        if roi_only and image.ndim == 2 and exact and w > _SAMPLE_ABOVE * sw:
            # The nearest sampling of an exact multiple is a strided view (as cv2.resize
            # would pick), read in the ROI's box only: the frame's rows are the cost.
            y0, y1, x0, x1 = self._box
            src = image[y0 * sy : y1 * sy : sy, x0 * sx : x1 * sx : sx]
            sampled = self._sampled[y0:y1, x0:x1]
            if limited_range:
                cv2.LUT(src, _VIDEO_TO_FULL, dst=sampled)
            else:
                np.copyto(sampled, src)
            cv2.GaussianBlur(sampled, (3, 3), 0, dst=out[y0:y1, x0:x1])
            return out
        work: npt.NDArray[Any] = image
        if work.shape[1] > _SAMPLE_ABOVE * sw:
            work = cv2.resize(work, (sw, sh), interpolation=cv2.INTER_NEAREST)
        else:
            work = cv2.resize(work, (sw, sh), interpolation=cv2.INTER_AREA)
        if work.ndim == 3:
            work = cv2.cvtColor(work, cv2.COLOR_BGR2GRAY)
        elif limited_range:
            work = cv2.LUT(work, _VIDEO_TO_FULL, dst=self._sampled)
        cv2.GaussianBlur(work, (3, 3), 0, dst=out)
        return out

    def _set_background(self, grey: Image) -> None:
        self._background = grey.astype(np.float32)
        self.threshold.fit(self._background)
        self._bounds.update(self._background)

    def update(
        self, image: Image, pts: float | None = None, *, limited_range: bool = False
    ) -> MotionResult:
        """Feed one full-resolution frame taken at ``pts`` (s; None: 25 fps assumed).

        ``image`` is BGR or a grey (luma) plane, see :meth:`small_grey`."""
        now = self._frames / 25.0 if pts is None else pts
        grey = self._small_grey(image, limited_range, self._greys[self._frames % 2], True)
        self._frames += 1
        if self._background is None:
            return self._first(grey, now)
        self.threshold.follow(self._background)  # the bounds follow at their next update
        changed = self._bounds.changed(grey, self._unchanged, self._changed)
        changed_pixels = cv2.countNonZero(changed)
        fraction = changed_pixels / self.roi_pixels
        jump = fraction - self._prev_fraction
        self._prev_fraction = fraction
        if (
            fraction > self.cfg.global_change_fraction
            and jump > self.cfg.global_change_fraction / 2
        ):
            return self._suppress(grey, now, fraction)

        active = self._active
        if changed_pixels:
            oldest = self._learn(grey, changed, now)
            active, fraction = self._recent(changed, oldest, now, fraction)
        else:  # a quiet frame (a third of them on the bench clips): the same, in fewer steps
            self._learn_quiet(grey, now)
        # Blobs only when they can matter: for the hysteresis (the fraction alone decides
        # below its limit) or for the box of a vehicle in the lane (moving or occupied).
        boxes: list[tuple[int, int, int, int]] | None = None
        limit = self.cfg.stop_fraction if self._moving else self.cfg.start_fraction
        if fraction >= limit:
            boxes = self._blobs(active)
        main = max(boxes, key=lambda b: b[2] * b[3]) if boxes else None
        vehicle = None  # the box of the biggest blob with its fragments, once computed
        if main is None or not boxes:
            self._moving = False
        elif self._moving:  # the vehicle with its fragments must still be vehicle-wide
            vehicle = self._union(boxes, main, active.shape)
            self._moving = self._vehicle(vehicle)
        else:
            self._moving = self._vehicle(main)
        occ_mask = self._lane.update(
            grey, now, moving=self._moving, background=self._background, frames=self._frames,
            box=(vehicle or main) if self._moving else None,
        )
        occupied = self._lane.occupied
        if boxes is None and occupied and fraction > 0:
            boxes = self._blobs(active)
            main = max(boxes, key=lambda b: b[2] * b[3]) if boxes else None
        # What stands in the lane (its blobs), only when nothing moves: the box then, and how
        # low it reaches (while moving the passage is held open by the motion anyway).
        occ = [] if occ_mask is None or self._moving or not occupied else self._blobs(occ_mask)
        bbox = (self._to_full(vehicle or self._union(boxes, main, active.shape), image)
                if main is not None and boxes else self._occupied_box(occ, image))
        low = max((y + h for _, y, _, h in occ), default=0) / self.small_size[1]
        return MotionResult(moving=self._moving, fraction=fraction, bbox=bbox, occupied=occupied,
                            occupied_bottom=low if occ else None)

    def _occupied_box(
        self, occ_boxes: list[tuple[int, int, int, int]], image: Image
    ) -> Rect | None:
        """The full-frame box of what occupies the lane (a stopped vehicle), if any."""
        if not occ_boxes:
            return None
        big = max(occ_boxes, key=lambda b: b[2] * b[3])
        return self._to_full(self._union(occ_boxes, big, self._mask.shape), image)

    def _first(self, grey: Image, now: float) -> MotionResult:
        """The first frame is the background and the empty-lane picture: nothing moves yet."""
        self._set_background(grey)
        self._lane.set_picture(grey)
        self._prev = grey
        self._still_since[...] = now
        return MotionResult(moving=False, fraction=0.0, bbox=None, fresh=True)

    def _suppress(self, grey: Image, now: float, fraction: float) -> MotionResult:
        """A sudden (within one frame) and wide change: a vehicle grows over several frames,
        this is the light or the camera. Re-learn the background from this picture."""
        self._set_background(grey)
        self._lane.forget()
        self._prev = grey
        self._still_since[...] = now
        self._moving = False
        log.debug("global change over %.0f%% of the ROI suppressed", fraction * 100)
        return MotionResult(moving=False, fraction=fraction, bbox=None, suppressed=True)

    def _learn_quiet(self, grey: Image, now: float) -> None:
        """:meth:`_learn` for a frame with no changed pixel: every still clock restarts,
        the whole picture learns at the full rate (what the masks there would select)."""
        bg = self._background
        if bg is None:
            return
        self._prev = grey
        self._still_since.fill(np.float32(now))
        cv2.accumulateWeighted(grey, bg, self.cfg.background_alpha)
        self._bounds.update(bg)

    def _learn(self, grey: Image, changed: Image, now: float) -> float:
        """Update the background: still scene fast, moving change slowly, long-still change fast.

        Returns the oldest still clock among the changed pixels."""
        bg = self._background
        if bg is None:
            return now
        prev = self._prev if self._prev is not None else grey
        self._prev = grey
        unchanged = self._unchanged
        # A pixel's still clock runs on only while it is changed and did not move since the
        # previous frame: it stays within the 3x3 minimum..maximum of the previous frame
        # (give or take half the threshold), the shake tolerance of the changed test, so a
        # swaying camera does not keep the textured edges of a ghost "moving" for ever.
        lo = cv2.erode(prev, _KERNEL3, dst=self._scratch)
        cv2.subtract(lo, self.threshold.half, dst=lo)  # an array: cv2 parses a scalar slower
        hi = cv2.dilate(prev, _KERNEL3, dst=self._scratch2)
        cv2.add(hi, self.threshold.half, dst=hi)
        keep = cv2.inRange(grey, lo, hi, dst=self._active)  # set only after _learn
        cv2.bitwise_and(keep, changed, dst=keep)
        # Every clock restarts at ``now`` but those kept: built in the spare buffer, which
        # then swaps with the clocks (a masked copy costs a tenth of numpy's ``where=``).
        clocks = self._still_spare
        clocks.fill(np.float32(now))
        cv2.copyTo(self._still_since, keep, dst=clocks)
        self._still_spare, self._still_since = self._still_since, clocks
        alpha = self.cfg.background_alpha
        cv2.accumulateWeighted(grey, bg, alpha, mask=unchanged)
        cv2.accumulateWeighted(grey, bg, alpha * _FOREGROUND_SLOWDOWN, mask=changed)
        # Usually no changed pixel has been still that long: one look at the oldest.
        oldest = float(cv2.minMaxLoc(clocks, mask=changed)[0])
        if oldest <= np.float32(now - ABSORB_S):  # as cv2.compare rounds it
            long_still = self._compare(clocks, now - ABSORB_S, cv2.CMP_LE, self._scratch2)
            absorb = cv2.bitwise_and(changed, long_still, dst=self._scratch2)
            cv2.accumulateWeighted(grey, bg, 1.0, mask=absorb)  # taken at once, see ABSORB_S
        self._bounds.update(bg)
        return oldest

    def _recent(
        self, changed: Image, oldest: float, now: float, fraction: float
    ) -> tuple[Image, float]:
        """The changed pixels that moved within ``STILL_S`` (``oldest``: the oldest still
        clock among them, from :meth:`_learn`), and their share of the ROI."""
        # ``oldest`` is their exact minimum: above the (float32) limit, the comparison below
        # would select every changed pixel (most moving frames), so it is skipped.
        if oldest > np.float32(now - STILL_S):
            return changed, fraction
        recent = self._compare(self._still_since, now - STILL_S, cv2.CMP_GT, self._scratch)
        cv2.bitwise_and(changed, recent, dst=self._active)
        return self._active, cv2.countNonZero(self._active) / self.roi_pixels

    def _compare(
        self, values: npt.NDArray[np.float32], limit: float, op: int, out: Image
    ) -> Image:
        """255 where ``values`` compare true (``op``, e.g. ``cv2.CMP_GT``) with ``limit``, else
        0 (into ``out``). The limit goes in as a picture (``_limits``), rounded to float32 as
        cv2.compare rounds a scalar: the binding parses a scalar operand slower (~5 us) than it
        fills and compares a 160x90 picture (~4 us)."""
        self._limits.fill(np.float32(limit))
        cv2.compare(values, self._limits, op, dst=out)
        return out

    def _vehicle(self, box: tuple[int, int, int, int]) -> bool:
        """Is this blob as wide as a vehicle in the lane at its bottom row?"""
        bottom = min(len(self._row_width) - 1, box[1] + box[3] - 1)
        return box[2] >= self.cfg.min_vehicle_width * float(self._row_width[bottom])

    def _blobs(self, changed: Image) -> list[tuple[int, int, int, int]]:
        # In the ROI's box only: outside the ROI every mask is 0, and the box's margin (3)
        # holds the dilation's reach (2), so the blobs (and their order) are the whole
        # picture's.
        y0, y1, x0, x1 = self._box
        merged = cv2.dilate(changed[y0:y1, x0:x1], _KERNEL5, dst=self._dilated)  # 3x3 twice
        contours, _ = cv2.findContours(
            merged, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE, offset=(x0, y0)
        )
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
        mx, my, mw, mh = main
        x0, y0, x1, y1 = mx, my, mx + mw, my + mh  # ``main`` is one of ``boxes``, near itself
        for bx, by, bw, bh in boxes:  # one plain loop: called on most frames
            if bx < mx + mw + pad_x and mx < bx + bw + pad_x and by < my + mh + pad_y and (
                my < by + bh + pad_y
            ):
                x0, y0 = min(x0, bx), min(y0, by)
                x1, y1 = max(x1, bx + bw), max(y1, by + bh)
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
