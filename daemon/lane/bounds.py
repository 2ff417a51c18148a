"""Reference bounds: which pixels of a working picture differ from a reference picture.

Pure computation, no I/O. Used by the motion detector against its running background and
by the empty-lane model against the picture of the empty lane (``daemon/lane/emptylane.py``).
A pixel is changed only when it lies outside the 3x3 minimum..maximum of the reference
(the shake tolerance: a camera swaying by about one working pixel lights up nothing)
widened by a per-pixel margin (the threshold inside the lane ROI, 255 outside it).
"""

from __future__ import annotations

import cv2
import numpy as np
import numpy.typing as npt

from daemon.domain import Image

_KERNEL = np.ones((3, 3), np.uint8)


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
