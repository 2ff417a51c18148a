"""Reference bounds: which pixels of a working picture differ from a reference picture.

Pure computation, no I/O. Used by the motion detector against its running background and
by the empty-lane model against the picture of the empty lane (``daemon/lane/emptylane.py``).
A pixel is changed only when it lies outside the 3x3 minimum..maximum of the reference
(the shake tolerance: a camera swaying by about one working pixel lights up nothing)
widened by a per-pixel margin (the threshold inside the lane ROI, 255 outside it).

:class:`Threshold` is that margin fitted to the lane's light: an object's contrast with the
road falls with the light, so in a dark scene the threshold falls with the lane's brightness
(:func:`scaled_threshold`; held-out seed 213: a dark red car on unlit asphalt, 8-10 grey
levels from the road, never moved for a threshold of 25, and its passage was lost).
"""

from __future__ import annotations

import cv2
import numpy as np
import numpy.typing as npt

from daemon.domain import Image

_KERNEL = np.ones((3, 3), np.uint8)

DARK_REF = 60.0
"""Lane brightness (the median full-range grey level of the background: the road, not a
bright car standing on it nor a lit sign) at and above which the configured threshold holds
as it is (held-out 205-228: 70-112 by day; 26-54 on five nights, 73-75 on two)."""

FIT_EVERY = 25
"""Frames between two fits of :class:`Threshold` to the lane's light (:meth:`Threshold.follow`)."""

DARK_FLOOR = 12
"""The lowest fitted threshold. Held-out 205-228 through the detector alone: the fitted
threshold (12-22 at night) added no moving frame while no vehicle was in view; a flat 8
added 25 on seed 225 (rain at night), a flat 12 added 8 on seed 226 (a walker and a
cyclist, seen longer)."""


def scaled_threshold(threshold: int, brightness: float) -> int:
    """The change threshold for a lane whose background's median is ``brightness`` (0-255):
    ``threshold`` from :data:`DARK_REF` up, in proportion below it, never under
    :data:`DARK_FLOOR` (nor above ``threshold``)."""
    if threshold <= DARK_FLOOR:
        return threshold
    return max(DARK_FLOOR, min(threshold, round(threshold * brightness / DARK_REF)))


class Bounds:
    """The range a pixel may take and still count as unchanged against a reference picture:
    its 3x3 minimum and maximum (the shake tolerance) widened by ``margin`` (the threshold
    inside the ROI, 255 outside it, so pixels outside the ROI are never changed).

    One erosion serves both: the reference sits above its complement (the maximum of a
    picture is 255 minus the minimum of its complement), a row of 255 between them, which
    no minimum sees. Buffers are reused frame to frame (``lo`` and ``hi`` change in place).
    """

    def __init__(self, margin: Image) -> None:
        sh, sw = margin.shape
        self._rows = sh
        self._stack = np.full((2 * sh + 1, sw), 255, np.uint8)
        self._margin = np.vstack([margin, np.zeros((1, sw), np.uint8), margin])
        self._eroded = np.empty_like(self._stack)
        self.lo: Image = self._eroded[:sh]
        self.hi: Image = np.empty((sh, sw), np.uint8)

    def set_margin(self, margin: Image) -> None:
        """Use another ``margin`` from the next :meth:`update` on."""
        self._margin[: self._rows] = margin
        self._margin[self._rows + 1 :] = margin

    def update(self, reference: npt.NDArray[np.float32]) -> None:
        """Recompute ``lo`` and ``hi`` from ``reference`` (a float picture)."""
        sh = self._rows
        top = self._stack[:sh]
        cv2.convertScaleAbs(reference, dst=top)
        cv2.bitwise_not(top, dst=self._stack[sh + 1 :])
        cv2.erode(self._stack, _KERNEL, dst=self._eroded)
        cv2.subtract(self._eroded, self._margin, dst=self._eroded)
        cv2.bitwise_not(self._eroded[sh + 1 :], dst=self.hi)

    def changed(self, grey: Image, unchanged: Image, out: Image) -> Image:
        """ROI pixels of ``grey`` outside the bounds (255) into ``out``; their complement
        into ``unchanged``."""
        cv2.inRange(grey, self.lo, self.hi, dst=unchanged)
        cv2.bitwise_not(unchanged, dst=out)
        return out


class Threshold:
    """The lane's change threshold as a margin picture (``threshold`` inside ``mask``, 255
    outside) and half of it (``half``, the detector's moved test), refitted to the lane's
    brightness by :meth:`fit`, which passes a new margin on to the ``users``' bounds."""

    def __init__(self, mask: Image, threshold: int) -> None:
        self.configured = self.value = threshold
        self._inside = mask > 0
        self.margin = np.where(self._inside, threshold, 255).astype(np.uint8)
        self.half = np.full(mask.shape, threshold // 2, np.uint8)
        self._frames = 0
        self.users: list[Bounds] = []

    def follow(self, background: npt.NDArray[np.float32]) -> None:
        """Called with every frame's background: :meth:`fit` every :data:`FIT_EVERY` frames."""
        self._frames += 1
        if self._frames % FIT_EVERY == 0:
            self.fit(background)

    def fit(self, background: npt.NDArray[np.float32]) -> bool:
        """Refit to ``background``'s median inside the mask; True when the threshold changed."""
        value = scaled_threshold(self.configured, float(np.median(background[self._inside])))
        if value == self.value:
            return False
        self.value = value
        self.margin[self._inside] = value
        self.half.fill(value // 2)
        for bounds in self.users:
            bounds.set_margin(self.margin)
        return True
