"""How far the system clock is off, measured from the OCR service's ``Date`` header.

A Pi has no real-time clock: until NTP answers (or if it never does) its clock can be
minutes or years off, and gate commands carry an absolute ``expires_at``. Every answer
from the cloud carries a ``Date`` header; :class:`ClockSkew` turns it into an offset
(server minus local, seconds) with its uncertainty:

- ``Date`` has whole seconds, so the server's time when it answered lies in
  [date, date + 1); our clock at that moment lies between sending and receiving. The
  estimate is the middle of both intervals, the uncertainty half of each width added.
- ``known_off_s`` is what the clock is *at least* off by: ``|offset| - uncertainty``.
  :meth:`ClockSkew.gate_refusal` refuses gate commands while that exceeds their time to live
  (a controller with a good clock would see them expired, or valid for too long).
- Above ``alert_s`` (2 s) an ``ALERT`` is logged once; it clears (logged) below
  ``clear_s``; listeners hear each change (the OCR status message is re-published).

Pure arithmetic plus a lock; times are passed in (epoch seconds), nothing here reads a clock
except :meth:`ClockSkew.status` for the age of the last measurement.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

log = logging.getLogger(__name__)

ALERT_S = 2.0
"""An offset above this (either way) is an ALERT."""
CLEAR_S = 1.5
"""The alert clears once the offset is back below this (hysteresis: one line, not a stream)."""

Listener = Callable[[dict[str, Any]], None]


class ClockSkew:
    """The latest measured offset of the local clock against the cloud's (thread-safe)."""

    def __init__(self, alert_s: float = ALERT_S, clear_s: float = CLEAR_S,
                 clock: Callable[[], float] = time.time) -> None:
        """``clock`` (epoch seconds) only dates the measurements in :meth:`status`."""
        self._alert_s = alert_s
        self._clear_s = min(clear_s, alert_s)
        self._clock = clock
        self._lock = threading.Lock()
        self._offset: float | None = None
        self._uncertainty = 0.0
        self._measured_at: float | None = None
        self._alert = False
        self._listeners: list[Listener] = []
        self.measurements = 0

    def add_listener(self, listener: Listener) -> None:
        """Call ``listener(status)`` whenever the alert starts or clears."""
        self._listeners.append(listener)

    def observe(self, server_date: float, sent_at: float, received_at: float) -> None:
        """One answer: its ``Date`` (epoch s, whole seconds) and our clock around the call."""
        if received_at < sent_at:
            sent_at, received_at = received_at, sent_at
        offset = server_date + 0.5 - (sent_at + received_at) / 2.0
        uncertainty = 0.5 + (received_at - sent_at) / 2.0
        with self._lock:
            first = self._offset is None
            self._offset, self._uncertainty = offset, uncertainty
            self._measured_at = received_at
            self.measurements += 1
            was = self._alert
            if abs(offset) > self._alert_s:
                self._alert = True
            elif abs(offset) < self._clear_s:
                self._alert = False
            changed = was != self._alert
        if changed and self._alert:
            log.error("ALERT: system clock is %+.1f s (±%.1f) off the OCR service's Date header; "
                      "check NTP (timedatectl)", offset, uncertainty)
        elif changed:
            log.warning("system clock back within %.1f s of the OCR service's (%+.1f s)",
                        self._clear_s, offset)
        elif first:
            log.info("system clock is %+.1f s (±%.1f) off the OCR service's", offset, uncertainty)
        if changed:
            self._notify()

    @property
    def offset_s(self) -> float | None:
        """Server minus local seconds as last measured; None before any answer."""
        return self._offset

    @property
    def known_off_s(self) -> float:
        """Seconds the local clock is at least off by (0 when unknown or within the error)."""
        with self._lock:
            if self._offset is None:
                return 0.0
            return max(0.0, abs(self._offset) - self._uncertainty)

    def gate_refusal(self, ttl_s: float) -> str | None:
        """Why gate commands living ``ttl_s`` must be withheld; None if the clock may be right."""
        off = self.known_off_s
        if off <= ttl_s:
            return None
        return (f"system clock off by {self._offset or 0.0:+.1f} s (at least {off:.1f} s) per "
                f"the OCR service's Date header, more than the gate command's {ttl_s:g} s to live")

    def status(self) -> dict[str, Any]:
        """For /healthz, the OCR status message and metrics."""
        with self._lock:
            offset, unc, at, alert = (self._offset, self._uncertainty, self._measured_at,
                                      self._alert)
        return {
            "skew_s": None if offset is None else round(offset, 2),
            "uncertainty_s": None if offset is None else round(unc, 2),
            "measured_at": None if at is None else datetime.fromtimestamp(at, UTC).isoformat(
                timespec="seconds").replace("+00:00", "Z"),
            "age_s": None if at is None else round(max(0.0, self._clock() - at), 1),
            "alert": alert,
        }

    def _notify(self) -> None:
        status = self.status()
        for listener in list(self._listeners):
            try:
                listener(status)
            except Exception:
                log.exception("clock skew listener failed")
