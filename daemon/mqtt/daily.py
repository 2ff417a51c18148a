"""Cloud OCR calls today, for Home Assistant's counter (``<prefix>/<site>/ocr/calls``).

"Today" is the local day of the machine (an operator reads the count against the
site's day). The count starts from what the store recorded since local midnight, so a
restart does not reset it, and goes back to zero at the next midnight (Home
Assistant's ``total_increasing`` takes the drop as a new cycle). Pure: the caller
passes the time.
"""

from __future__ import annotations

import threading
from datetime import date, datetime

from daemon import contract


def local_midnight(now: datetime) -> datetime:
    """The start of ``now``'s local day, as an aware datetime (``now`` must be aware)."""
    local = now.astimezone()
    return local.replace(hour=0, minute=0, second=0, microsecond=0)


class DailyCalls:
    """Calls counted per local day; thread-safe (OCR workers add concurrently)."""

    def __init__(self, day: date, calls: int = 0) -> None:
        self._day = day
        self._calls = calls
        self._lock = threading.Lock()

    def add(self, now: datetime, n: int = 1) -> str:
        """Count ``n`` calls made at ``now`` (aware); the retained payload to publish."""
        today = now.astimezone().date()
        with self._lock:
            if today != self._day:
                self._day, self._calls = today, 0
            self._calls += n
            return self._payload()

    def payload(self) -> str:
        """``{"day": "YYYY-MM-DD", "calls": N}``."""
        with self._lock:
            return self._payload()

    def _payload(self) -> str:
        return contract.encode({"day": self._day.isoformat(), "calls": self._calls})
