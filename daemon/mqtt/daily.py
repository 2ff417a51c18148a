"""Cloud OCR calls today, for Home Assistant's counter (``<prefix>/<site>/ocr/calls``).

"Today" is the local day of the machine (an operator reads the count against the
site's day). The count starts from what the store recorded since local midnight, so a
restart does not reset it, and goes back to zero at the next midnight (Home
Assistant's ``total_increasing`` takes the drop as a new cycle). The caller passes
the time.
"""

from __future__ import annotations

import logging
import threading
from datetime import date, datetime

from daemon import contract
from daemon.store.db import Store

log = logging.getLogger(__name__)


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

    @classmethod
    def from_store(cls, store: Store | None, now: datetime) -> DailyCalls:
        """Today's count so far: the store's reads that sent a request since local midnight
        (a retried candidate counts once; 0 if the store cannot say)."""
        midnight = local_midnight(now)
        try:
            calls = store.calls_since(midnight) if store is not None else 0
        except Exception as exc:
            log.warning("cloud calls today unknown (%s): counting from 0", exc)
            calls = 0
        return cls(midnight.date(), calls)

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
