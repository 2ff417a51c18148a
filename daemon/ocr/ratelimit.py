"""The shared OCR request budget: at most ``rate`` calls in any 1 s window, as the server sees it.

A sliding-window log of granted slot times. A new call gets the earliest time at
which the call ``n`` places before it is more than ``1 s + margin`` in the past,
where ``n = floor(rate)`` (or 1 with a window of ``1/rate + margin`` for rates
below 1). So any ``n + 1`` consecutive calls span more than ``1 + margin``
seconds: as long as network jitter (the difference between two requests' transit
times) stays below ``margin``, the server never counts more than ``n`` calls in a
1-second window. Bursts of ``n`` go out at once, which keeps the first read of a
passage fast. A fractional rate above 1 is rounded down.

:class:`SlidingWindow` is the pure core (no clock, no lock); :class:`RateLimiter`
adds the lock, the clock and the sleep.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable


class SlidingWindow:
    """Pure slot arithmetic for a budget of ``rate`` calls per second with a safety ``margin``."""

    def __init__(self, rate: float, margin: float = 0.1) -> None:
        if rate <= 0 or margin < 0:
            raise ValueError("rate must be > 0 and margin >= 0")
        if rate >= 1:
            self.capacity = math.floor(rate)
            self.window = 1.0 + margin
        else:
            self.capacity = 1
            self.window = 1.0 / rate + margin
        self._slots: deque[float] = deque(maxlen=self.capacity)

    def next_slot(self, now: float) -> float:
        """The earliest time a new call could go out (not reserved)."""
        if len(self._slots) < self.capacity:
            return max(now, self._slots[-1]) if self._slots else now
        return max(now, self._slots[0] + self.window)

    def reserve(self, now: float, timeout: float) -> float | None:
        """Reserve the next slot if it starts within ``timeout`` of ``now``; its time, else None."""
        slot = self.next_slot(now)
        if slot - now > timeout:
            return None
        self._slots.append(slot)
        return slot


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

    def acquire(self, timeout: float) -> bool:
        """Wait for a slot; False at once (nothing reserved) if none starts within ``timeout`` s."""
        with self._lock:
            now = self._clock()
            slot = self._window.reserve(now, max(0.0, timeout))
        if slot is None:
            return False
        wait = slot - now
        if wait > 0:
            self._sleep(wait)
        return True

    def next_wait(self) -> float:
        """Seconds until a slot would be free now (0 when one is)."""
        with self._lock:
            now = self._clock()
            return self._window.next_slot(now) - now
