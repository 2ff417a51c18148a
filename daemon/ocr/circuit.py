"""The OCR circuit breaker: no calls after an auth or billing refusal; a probe after a cool-down.

An error whose action is STOP (``AuthFailure.*`` other than expiry/token,
``UnauthorizedOperation``, ``FailedOperation.UnOpenError``, ``ResourceUnavailable.*``,
``ResourcesSoldOut.*``) opens the circuit: no call at all until the cool-down ends.
Then one probe call is let through (half-open). If it is refused again the circuit
re-opens with a cool-down ``factor`` times longer (capped at ``max_cooldown_s``);
any answer showing the account works (a plate, "no plate", a bad image) closes it
and resets the cool-down. A probe that never reached the service (timeout,
network) leaves the circuit half-open so the next candidate probes again.

The probe is released on every path: the worker that took it calls
:meth:`OcrCircuit.release` in a ``finally`` (an exception while preparing the frame or
inside the client must not leave it taken, or no call would ever go out again). A probe
still out after a whole cool-down (:meth:`CircuitState.stuck_for`) is a stall that
health reports (daemon.ops.health), so the watchdog restarts a wedged process.

:class:`CircuitState` is pure (the caller passes ``now``); :class:`OcrCircuit`
adds the lock, the clock, the ALERT log line and listeners that publish the
status (the app puts it on ``<prefix>/<site>/ocr/status``, retained).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)

CLOSED = "closed"
OPEN = "open"
HALF_OPEN = "half_open"

StatusListener = Callable[[dict[str, Any]], None]


@dataclass
class CircuitState:
    """Pure state of the breaker; every method takes the current (monotonic) time."""

    base_cooldown_s: float = 60.0
    max_cooldown_s: float = 3600.0
    factor: float = 2.0
    state: str = CLOSED
    code: str | None = None
    """The error code that opened the circuit (kept until it closes)."""
    opened_at: float | None = None
    until: float = 0.0
    cooldown_s: float = 0.0
    trips: int = 0
    """Consecutive openings without a success in between (drives the growing cool-down)."""
    probing: bool = False
    refused_calls: int = 0
    openings: int = 0
    """Every opening since start (a counter; ``trips`` resets on a success)."""
    """Candidates not sent because the circuit was open."""
    probe_since: float | None = None
    """When the probe in flight was let through (None: no probe out)."""

    def __post_init__(self) -> None:
        if self.base_cooldown_s <= 0 or self.max_cooldown_s < self.base_cooldown_s:
            raise ValueError("need 0 < base_cooldown_s <= max_cooldown_s")
        if self.factor < 1:
            raise ValueError("factor must be >= 1")

    def allow(self, now: float) -> bool:
        """May a call go out now? In half-open state only one probe at a time is allowed."""
        if self.state == CLOSED:
            return True
        if self.state == OPEN and now >= self.until:
            self.state = HALF_OPEN
        if self.state == HALF_OPEN and not self.probing:
            self.probing = True
            self.probe_since = now
            return True
        self.refused_calls += 1
        return False

    def cancel_probe(self) -> None:
        """The allowed call was not made after all (stale candidate): let another probe go."""
        self._end_probe()

    def _end_probe(self) -> None:
        self.probing = False
        self.probe_since = None

    def stuck_for(self, now: float) -> float | None:
        """Seconds the probe has been out, once that is longer than a whole cool-down; else None.

        A probe is one call bounded by the client's deadline: out for longer than the
        cool-down means the circuit can make no progress (a wedged call or a leaked probe).
        """
        if not self.probing or self.probe_since is None:
            return None
        age = now - self.probe_since
        return age if age > max(self.cooldown_s, self.base_cooldown_s) else None

    def on_stop(self, code: str, now: float) -> bool:
        """A STOP error: open (or re-open) with the next cool-down. True if it was closed."""
        was_closed = self.state == CLOSED
        if self.state == OPEN and now < self.until:
            return False  # a call already in flight when it opened: do not grow twice
        self.cooldown_s = min(self.max_cooldown_s, self.base_cooldown_s * self.factor**self.trips)
        self.trips += 1
        self.openings += 1
        self.state = OPEN
        self.code = code
        self.opened_at = now if was_closed or self.opened_at is None else self.opened_at
        self.until = now + self.cooldown_s
        self._end_probe()
        return was_closed

    def on_reached(self) -> bool:
        """The service answered without refusing the account: close. True if it was not closed."""
        changed = self.state != CLOSED
        self.state = CLOSED
        self.code = None
        self.opened_at = None
        self.until = 0.0
        self.trips = 0
        self.cooldown_s = 0.0
        self._end_probe()
        return changed

    def on_unreached(self) -> None:
        """A call that never reached the service (network, timeout): inconclusive."""
        self._end_probe()

    def status(self, now: float) -> dict[str, Any]:
        """JSON-ready view: state, code, retry_in_s, cooldown_s, trips, openings, refused_calls,
        probe_stuck_s (see :meth:`stuck_for`)."""
        state = HALF_OPEN if self.state == OPEN and now >= self.until else self.state
        return {
            "state": state,
            "code": self.code,
            "retry_in_s": round(max(0.0, self.until - now), 1) if state == OPEN else 0.0,
            "cooldown_s": self.cooldown_s,
            "trips": self.trips,
            "openings": self.openings,
            "refused_calls": self.refused_calls,
            "probe_stuck_s": self.stuck_for(now),
        }


class OcrCircuit:
    """Thread-safe breaker shared by the OCR workers, with listeners for status changes."""

    def __init__(
        self,
        base_cooldown_s: float = 60.0,
        max_cooldown_s: float = 3600.0,
        factor: float = 2.0,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._state = CircuitState(base_cooldown_s, max_cooldown_s, factor)
        self._clock = clock
        self._lock = threading.Lock()
        self._listeners: list[StatusListener] = []
        self._probe_owner: int | None = None
        """The thread that holds the half-open probe (only it may release it)."""

    def add_listener(self, listener: StatusListener) -> None:
        """Call ``listener(status)`` on every change of state (from a worker thread)."""
        self._listeners.append(listener)

    def allow(self) -> bool:
        """May a call go out now (see :meth:`CircuitState.allow`)."""
        with self._lock:
            before = self._state.state
            ok = self._state.allow(self._clock())
            if ok and self._state.probing:
                self._probe_owner = threading.get_ident()
            changed = before != self._state.state
        if changed:
            log.warning("OCR circuit half-open: sending one probe call")
            self._notify()
        return ok

    def cancel_probe(self) -> None:
        """An allowed call was not made."""
        with self._lock:
            self._state.cancel_probe()

    def release(self) -> None:
        """End of the calling worker's turn: give back the probe if this thread still holds it.

        Call it in a ``finally`` after every :meth:`allow` that returned True; harmless when
        the outcome was already recorded or the circuit was closed.
        """
        with self._lock:
            if self._probe_owner != threading.get_ident():
                return
            self._probe_owner = None
            if self._state.probing:
                self._state.cancel_probe()

    def stuck_for(self) -> float | None:
        """Seconds the probe has been out beyond a whole cool-down, or None (a stall if set)."""
        with self._lock:
            return self._state.stuck_for(self._clock())

    def on_stop(self, code: str, request_id: str | None) -> None:
        """Record an auth/billing refusal; logs an ALERT and notifies listeners."""
        with self._lock:
            opened = self._state.on_stop(code, self._clock())
            cooldown = self._state.cooldown_s
            trips = self._state.trips
        log.error(
            "ALERT: Tencent refuses our calls (%s, request %s): OCR stopped for %.0f s "
            "(opening %d); check keys, permissions and billing. Passages are still recorded.",
            code,
            request_id,
            cooldown,
            trips,
        )
        if opened or trips > 1:
            self._notify()

    def on_reached(self) -> None:
        """Record an answer that shows the account works."""
        with self._lock:
            changed = self._state.on_reached()
        if changed:
            log.warning("OCR circuit closed: Tencent accepts our calls again")
            self._notify()

    def on_unreached(self) -> None:
        """Record a call that did not reach the service."""
        with self._lock:
            self._state.on_unreached()

    def status(self) -> dict[str, Any]:
        """The current status (state, code, retry_in_s, cooldown_s, trips, refused_calls)."""
        with self._lock:
            return self._state.status(self._clock())

    def _notify(self) -> None:
        status = self.status()
        for listener in self._listeners:
            try:
                listener(status)
            except Exception:
                log.exception("OCR circuit listener failed")
