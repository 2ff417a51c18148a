"""Capture's own look at a detect stream's frames: which to offer an empty lane, and when to wake.

Pure logic, no I/O: the clock is passed in. With a ``detect_url`` every substream frame is
decoded (its P-frames need one another), but an empty lane need not examine each: the lane's
motion detector costs more than the decode. :class:`DetectWatch` compares each decoded frame,
on a thumbnail of its luma plane in the lane's box (a strided sample area-averaged to
``width`` cells: 40-120 us of CPU a frame at 640x360), with the last frame offered to the lane:

- changed (``min_cells`` cells differ by more than ``threshold`` grey levels): the frame is
  offered at once, and every frame for ``hold_s`` after the last change, so the lane's
  detector sees the vehicle frame by frame from its first sign; ``wake_until`` says until
  when the main stream should be decoded (the main decoder starts on this first sign, not
  after the lane's confirmation: ``daemon/capture/dual.py``);
- unchanged: one frame every ``1 / idle_fps`` s (the lane's background keeps learning);
- the lane busy: every frame, no thumbnail.

On the generated 640x360 clips consecutive frames of an empty lane differ by at most 3 grey
levels per cell; a car entering the lane's box by 12-150 levels in 2-150 cells.
:class:`Thumbnailer` and :func:`cells_changed` are also the key-frame comparison of a
single stream (``idle.SceneChange``).
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np
import numpy.typing as npt

Thumb = npt.NDArray[np.uint8]
Box = tuple[float, float, float, float]

SAMPLES_PER_CELL = 4
"""Pixels sampled per cell and axis before the area average (``thumbnail(sample=True)``)."""


def box_of(roi: Sequence[tuple[float, float]]) -> Box:
    """The bounding box (x0, y0, x1, y1, fractions) of a polygon."""
    xs, ys = [p[0] for p in roi], [p[1] for p in roi]
    return min(xs), min(ys), max(xs), max(ys)


class Thumbnailer:
    """A picture's ``box`` (fractions) area-averaged to ``width`` cells wide (aspect kept);
    ``sample``: from every k-th pixel (at most :data:`SAMPLES_PER_CELL` per cell and axis),
    which reads a fraction of the rows and still averages the sensor noise out. The crop's
    geometry is worked out once per picture size."""

    def __init__(self, box: Box, width: int, *, sample: bool) -> None:
        self.box = box
        self.width = width
        self.sample = sample
        self._shape: tuple[int, ...] = ()
        self._rows = self._cols = slice(0)
        self._size = (1, 1)

    def __call__(self, grey: npt.NDArray[np.uint8]) -> Thumb:
        """The thumbnail of one luma picture."""
        if grey.shape != self._shape:
            self._fit(grey.shape)
        small = grey[self._rows, self._cols]
        return np.asarray(cv2.resize(small, self._size, interpolation=cv2.INTER_AREA), np.uint8)

    def _fit(self, shape: tuple[int, ...]) -> None:
        h, w = shape[:2]
        x0, y0, x1, y1 = self.box
        top, left = int(y0 * h), int(x0 * w)
        bottom, right = max(int(y1 * h), top + 1), max(int(x1 * w), left + 1)
        cw = min(self.width, right - left)
        step = max(1, (right - left) // (cw * SAMPLES_PER_CELL)) if self.sample else 1
        self._rows, self._cols = slice(top, bottom, step), slice(left, right, step)
        crop_h, crop_w = len(range(top, bottom, step)), len(range(left, right, step))
        self._size = (cw, max(1, round(crop_h * cw / crop_w)))
        self._shape = shape


def cells_changed(a: Thumb, b: Thumb, threshold: float) -> int:
    """Cells of two thumbnails of one shape differing by more than ``threshold`` grey levels."""
    return int(np.count_nonzero(cv2.absdiff(a, b) > threshold))


class DetectWatch:
    """Which detect frames an empty lane is offered, and until when the main stream is
    decoded (see the module doc). ``changes`` counts the changes seen."""

    def __init__(
        self, roi: Sequence[tuple[float, float]], idle_fps: float, *, hold_s: float = 1.0,
        threshold: float = 12.0, min_cells: int = 3, width: int = 40,
    ) -> None:
        self._thumb = Thumbnailer(box_of(roi), width, sample=True)
        self._step_s = 0.95 / idle_fps  # a frame early is in time
        self.hold_s = hold_s
        self.threshold = threshold
        self.min_cells = min_cells
        self.wake_until = float("-inf")
        """Monotonic time until which the main stream should be decoded (a change was seen)."""
        self.changes = 0
        self._ref: Thumb | None = None
        self._last_offered = float("-inf")

    def offer(self, grey: npt.NDArray[np.uint8], now: float, busy: bool) -> bool:
        """Should the frame of luma ``grey``, decoded at monotonic ``now``, go to the lane,
        which said it is ``busy`` (needs every frame)?"""
        if busy:
            self._ref = None  # compared afresh once the lane is empty again
            return True
        thumb = self._thumb(grey)
        ref = self._ref
        if ref is not None and ref.shape == thumb.shape:
            if cells_changed(thumb, ref, self.threshold) >= self.min_cells:
                if now >= self.wake_until:
                    self.changes += 1
                self.wake_until = now + self.hold_s  # still changing: hold on
            elif now >= self.wake_until and now - self._last_offered < self._step_s:
                return False
        self._ref, self._last_offered = thumb, now
        return True
