"""What the recogniser sees of a plate box: the strip cut down to its band of characters.

Pure image arithmetic on one strip (BGR, a few hundred pixels), no I/O; used by
:mod:`daemon.ocr.local` before recognition (issue 11; the measurement is in the README,
"Local plate reader").
"""

from __future__ import annotations

import cv2
import numpy as np
import numpy.typing as npt

BGR = npt.NDArray[np.uint8]

_TEXT_ASPECT = 6.0
"""A plate's band of characters (plus :func:`text_rows`' margins) is at most this many times
wider than high (a blue plate's ~3.5, a green one's ~4)."""


def text_rows(strip: BGR) -> BGR:
    """``strip`` cut down to its band of text rows: the longest run of rows whose mean
    horizontal gradient is at least 35 % of the strongest row's, with 20 % of the band's
    height added above and below. A colour or edge box often holds the plate's frame, its
    recess or a bumper edge as well, and the recogniser's 48 px then spend a third of
    their height on them: cut down, a large night plate's Q reads as Q, not 0, and a small
    plate's characters are read surely more often (scripts/bench_reader.py, README). The
    strip is returned whole when no band of 6 rows stands out, the band is most of it, or
    the band is more than :data:`_TEXT_ASPECT` times wider than high (a box round a whole
    car: cut to the plate's rows it reads the plate at a fifth of its width)."""
    grey = cv2.cvtColor(strip, cv2.COLOR_BGR2GRAY)
    rows = np.abs(cv2.Sobel(grey, cv2.CV_32F, 1, 0, ksize=3)).mean(axis=1)
    if rows.size == 0 or rows.max() <= 0:
        return strip
    on = [*(rows >= 0.35 * rows.max()).tolist(), False]
    run, top, start = 0, 0, -1
    for i, flag in enumerate(on):
        if flag and start < 0:
            start = i
        elif not flag and start >= 0:
            if i - start > run:
                run, top = i - start, start
            start = -1
    if run < 6:
        return strip
    pad = max(1, round(0.2 * run))
    y0, y1 = max(0, top - pad), min(strip.shape[0], top + run + pad)
    if y1 - y0 >= 0.85 * strip.shape[0] or (y1 - y0) * _TEXT_ASPECT < strip.shape[1]:
        return strip  # most of it already, or a band too flat for a plate's characters
    return strip[y0:y1]
