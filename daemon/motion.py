"""Motion detector: is something vehicle-sized moving (or standing) in the lane ROI of this frame?

Pure computation, no I/O. Each frame is resized first (to ``MotionConfig.width``,
aspect kept) and converted to grey second, blurred, and compared with a float
running-average background. The ROI mask is built once at the small size.

Background learning is selective: pixels that match the background learn at
``background_alpha``; pixels that differ (a vehicle) learn 50 times slower, so a
car waiting at the barrier keeps the lane occupied for a minute or more instead
of melting into the background within a second or two (which would close its
passage and open a second one when it drives off). A change over more than
``global_change_fraction`` of the ROI that appears within one frame (lights
switching, camera shake, IR cut filter) is reported as ``suppressed``, never as
motion, and the background is replaced by the current picture at once. A vehicle
close to the camera may cover that much of the ROI too, but it grows into it over
several frames, so it is not suppressed.
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
"""Learning rate of changed pixels relative to ``background_alpha``."""

_PRESCALE = 2
"""Large inputs are first resized (bilinear) to this many times the working size, then
area-averaged. A direct INTER_AREA reads every pixel of a 1080p frame (1.6-2.6 ms on this
x86 box); the two steps take 0.15-0.4 ms and differ from it by ~2 grey levels on average,
which the blur that follows removes. A larger factor averages more sensor noise but costs
more; 2 keeps the Raspberry Pi budget."""


class MotionDetector:
    """Motion (with hysteresis) inside the lane polygon of one camera.

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
        self.roi_pixels = max(1, cv2.countNonZero(self._mask))
        self._background: npt.NDArray[np.float32] | None = None
        self._moving = False
        self._prev_fraction = 0.0
        self._kernel = np.ones((3, 3), np.uint8)
        self._min_blob = max(4, round(0.002 * self.roi_pixels))

    @property
    def moving(self) -> bool:
        """The current hysteresis state."""
        return self._moving

    def small_grey(self, image: Image) -> Image:
        """Resize first, then grey, then blur: the working picture of one frame."""
        sw, sh = self.small_size
        work: npt.NDArray[Any] = image
        if work.shape[1] > 4 * sw:
            work = cv2.resize(
                work, (sw * _PRESCALE, sh * _PRESCALE), interpolation=cv2.INTER_LINEAR
            )
        work = cv2.resize(work, (sw, sh), interpolation=cv2.INTER_AREA)
        if work.ndim == 3:
            work = cv2.cvtColor(work, cv2.COLOR_BGR2GRAY)
        return np.asarray(cv2.GaussianBlur(work, (5, 5), 0), dtype=np.uint8)

    def update(self, image: Image) -> MotionResult:
        """Feed one full-resolution frame; returns what moved inside the ROI."""
        grey = self.small_grey(image)
        if self._background is None:
            self._background = grey.astype(np.float32)
            return MotionResult(moving=False, fraction=0.0, bbox=None)
        bg = self._background
        diff = cv2.absdiff(grey, cv2.convertScaleAbs(bg))
        _, over = cv2.threshold(diff, self.cfg.threshold, 255, cv2.THRESH_BINARY)
        changed = np.asarray(cv2.bitwise_and(over, self._mask), dtype=np.uint8)
        fraction = cv2.countNonZero(changed) / self.roi_pixels

        jump = fraction - self._prev_fraction
        self._prev_fraction = fraction
        if (
            fraction > self.cfg.global_change_fraction
            and jump > self.cfg.global_change_fraction / 2
        ):
            # Sudden (within one frame) and wide: a vehicle grows over several frames.
            # A light jump or shake, not a vehicle: re-learn the whole picture now.
            bg[...] = grey
            self._moving = False
            log.debug("global change over %.0f%% of the ROI suppressed", fraction * 100)
            return MotionResult(moving=False, fraction=fraction, bbox=None, suppressed=True)

        still = cv2.bitwise_not(changed)
        alpha = self.cfg.background_alpha
        cv2.accumulateWeighted(grey, bg, alpha, mask=still)
        cv2.accumulateWeighted(grey, bg, alpha * _FOREGROUND_SLOWDOWN, mask=changed)

        if self._moving:
            self._moving = fraction >= self.cfg.stop_fraction
        else:
            self._moving = fraction >= self.cfg.start_fraction
        bbox = self._bbox(changed, image) if fraction > 0 else None
        return MotionResult(moving=self._moving, fraction=fraction, bbox=bbox)

    def _bbox(self, changed: Image, image: Image) -> Rect | None:
        """Union of the changed blobs big enough to matter, in full-frame pixels."""
        merged = cv2.dilate(changed, self._kernel, iterations=2)
        contours, _ = cv2.findContours(merged, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        boxes = [cv2.boundingRect(c) for c in contours if cv2.contourArea(c) >= self._min_blob]
        if not boxes:
            return None
        # The vehicle is the biggest blob; nearby blobs (its fragments) join it, distant
        # ones (a pedestrian, a flickering light, a leftover ghost) do not stretch the box.
        main = max(boxes, key=lambda b: b[2] * b[3])
        pad_x, pad_y = changed.shape[1] // 10, changed.shape[0] // 10
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
        sw, sh = self.small_size
        fx = image.shape[1] / sw
        fy = image.shape[0] / sh
        left, top = int(x0 * fx), int(y0 * fy)
        right = min(int(image.shape[1]), round(x1 * fx))
        bottom = min(int(image.shape[0]), round(y1 * fy))
        return Rect(left, top, right - left, bottom - top)
