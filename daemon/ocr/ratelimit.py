"""The shared OCR request budget: at most ``rate`` calls in any 1 s window, as the server sees it.

A sliding-window log of granted slots. With ``n = floor(rate)`` (or 1 with a
window of ``1/rate`` for rates below 1), a new call may start once the call
``n`` places before it is known to have *arrived* at the server more than one
window ago. The server saw that call somewhere between its send time and the
moment its answer came back, so its latest possible arrival is

- its answer time, once an answer came back (:meth:`RateLimiter.done`), and
- otherwise its send time plus ``margin`` (network jitter we tolerate),

whichever is earlier. On a fast path (answers within ``margin``) the budget is
used almost fully (~9.9 calls/s at rate 10 on loopback); on a slow one it falls
back to ``rate / (1 + margin)``, as safe as before. Bursts of ``n`` go out at
once, which keeps the first read of a passage fast. A fractional rate above 1
is rounded down.

:class:`SlidingWindow` is the pure core (no clock, no lock); :class:`RateLimiter`
adds the lock, the clock and the sleep. ``daemon.ocr.fleet`` shares the budget
between processes through Redis.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Protocol


class Grant:
    """One granted slot: when the call may start and, once known, when its answer came."""

    __slots__ = ("answered", "start")

    def __init__(self, start: float) -> None:
        self.start = start
        self.answered: float | None = None

    def latest_arrival(self, margin: float) -> float:
        """The latest time the server can have counted this call."""
        bound = self.start + margin
        return bound if self.answered is None else min(bound, self.answered)


class Budget(Protocol):
    """What the OCR pool needs of a limiter (local :class:`RateLimiter` or the fleet one)."""

    def acquire(self, timeout: float) -> Grant | None:
        """Wait for a slot starting within ``timeout`` s; None (nothing reserved) if none does."""
        ...

    def done(self, grant: Grant) -> None:
        """The call made with ``grant`` got an answer from the server (now)."""
        ...


class SlidingWindow:
    """Pure slot arithmetic for a budget of ``rate`` calls per second with a safety ``margin``."""

    def __init__(self, rate: float, margin: float = 0.1) -> None:
        if rate <= 0 or margin < 0:
            raise ValueError("rate must be > 0 and margin >= 0")
        if rate >= 1:
            self.capacity = math.floor(rate)
            self.base = 1.0
        else:
            self.capacity = 1
            self.base = 1.0 / rate
        self.margin = margin
        self.window = self.base + margin
        """The spacing of ``capacity + 1`` calls when no answer is known (worst case)."""
        self._slots: deque[Grant] = deque(maxlen=self.capacity)

    def next_slot(self, now: float) -> float:
        """The earliest time a new call could go out (not reserved)."""
        if len(self._slots) < self.capacity:
            return max(now, self._slots[-1].start) if self._slots else now
        return max(now, self._slots[0].latest_arrival(self.margin) + self.base)

    def reserve(self, now: float, timeout: float) -> Grant | None:
        """Reserve the next slot if it starts within ``timeout`` of ``now``; else None."""
        slot = self.next_slot(now)
        if slot - now > timeout:
            return None
        grant = Grant(slot)
        self._slots.append(grant)
        return grant

    @staticmethod
    def answered(grant: Grant, now: float) -> None:
        """Record that the call of ``grant`` was answered at ``now`` (never before it started)."""
        grant.answered = max(grant.start, now)


class RateLimiter:
    """Thread-safe blocking front of :class:`SlidingWindow`, shared by every OCR worker."""

    def __init__(
        self,
        rate: float,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        margin: float = 0.1,
    ) -> None:
        self._window = SlidingWindow(rate, margin)
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self.rate = rate

    def acquire(self, timeout: float) -> Grant | None:
        """Wait for a slot; None at once (nothing reserved) if none starts within ``timeout`` s."""
        with self._lock:
            now = self._clock()
            grant = self._window.reserve(now, max(0.0, timeout))
        if grant is None:
            return None
        wait = grant.start - now
        if wait > 0:
            self._sleep(wait)
        return grant

    def done(self, grant: Grant) -> None:
        """The server answered the call made with ``grant`` (any answer, even an error)."""
        with self._lock:
            self._window.answered(grant, self._clock())

    def next_wait(self) -> float:
        """Seconds until a slot would be free now (0 when one is)."""
        with self._lock:
            now = self._clock()
            return self._window.next_slot(now) - now
