"""Stream clock: turns the PTS of one opened stream into seconds on a capture thread's timeline.

Pure computation, no I/O. A capture thread's ``Frame.pts`` increases for its whole life:
each (re)opened stream starts at a ``base`` after the last frame delivered, its own PTS
count from there, and a frame whose PTS is missing or not increasing gets one synthesised
one frame step after the last (``daemon/capture.py`` warns once when that happens).
"""

from __future__ import annotations


class StreamClock:
    """Turns one opened stream's PTS into seconds that continue the thread's timeline.

    ``base`` is where this stream starts (s), ``step`` one frame interval (s),
    ``time_base`` the stream's PTS unit (s; None when the stream has none).
    """

    def __init__(self, base: float, step: float, time_base: float | None) -> None:
        self.base = base
        self.step = step
        self.time_base = time_base
        self.first_pts: int | None = None

    def stamp(self, pts: int | None, last: float) -> tuple[float, bool]:
        """Seconds for a frame and whether they were synthesised (PTS missing or not increasing).

        ``last`` is the timeline's previous frame time (negative before the first frame)."""
        t: float | None = None
        if pts is not None and self.time_base is not None:
            if self.first_pts is None:
                self.first_pts = pts
            t = self.base + (pts - self.first_pts) * self.time_base
        if t is not None and t > last:
            return t, False
        return (max(last + self.step, self.base) if last >= 0 else self.base), True
