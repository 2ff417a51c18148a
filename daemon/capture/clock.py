"""Stream clock: PTS of one opened stream to seconds on the thread's timeline, and file pacing.

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


class Pacer:
    """Plays a file at its own rate: how long to wait before the packet of stream time ``t``.

    Pure (``now`` is passed in). Each opened stream gets a new Pacer. A source more than
    ``max_lag_s`` behind its schedule restarts it (no burst to catch up); ``lag_s`` is the
    last packet's lag behind the schedule and ``max_lag_s_seen`` the largest met, so a bench
    can tell whether decoding kept real time.
    """

    def __init__(self, max_lag_s: float) -> None:
        self.max_lag_s = max_lag_s
        self.max_lag_s_seen = 0.0
        self.lag_s = 0.0
        self._t0: float | None = None  # monotonic time of stream time _first
        self._first = 0.0

    def delay(self, t: float, now: float) -> float:
        """Seconds to wait before handling stream time ``t`` at monotonic ``now`` (>= 0)."""
        if self._t0 is None:
            self._t0, self._first = now, t
            return 0.0
        lag = self.lag_s = now - (self._t0 + t - self._first)
        self.max_lag_s_seen = max(self.max_lag_s_seen, lag)
        if lag > self.max_lag_s:
            self._t0, self._first = now, t
            return 0.0
        return max(0.0, -lag)


class LagMeter:
    """How far a live stream's packets are behind real time, from their own timestamps.

    Pure (``now`` is passed in). ``now - t`` is a packet's arrival time minus its stream
    time; its smallest value so far is the stream's base latency, and the excess over it
    is the lag: how much decoding (or a stall) has put this reader behind the camera.
    """

    def __init__(self) -> None:
        self._base: float | None = None

    def lag(self, t: float, now: float) -> float:
        """The lag (s, >= 0) of the packet of stream time ``t`` read at monotonic ``now``."""
        offset = now - t
        if self._base is None or offset < self._base:
            self._base = offset
        return offset - self._base
