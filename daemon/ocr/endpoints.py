"""OCR endpoints: which one to call now (primary or failover), and the Host header to sign.

Which endpoint URLs are valid is the config's business (:mod:`daemon.config.endpoints`).

:class:`FailoverState` is the pure switch between the primary endpoint and an
optional failover one, like the official SDK's region breaker (5 consecutive
failures, 60 s): ``after`` consecutive transient failures on the primary (network,
timeout, 5xx, InternalError; see :func:`daemon.ocr.errors.is_transient`) move calls
to the failover for ``cooldown_s``; then the primary is tried again, and one more
transient failure there moves back at once, while any answer resets the count.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

PRIMARY = "primary"
FAILOVER = "failover"


def host_of(url: str) -> str:
    """The ``Host`` header for an endpoint URL (with the port only when one is given)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    return host if parts.port is None else f"{host}:{parts.port}"


@dataclass
class FailoverState:
    """Which endpoint to call; every method takes the current (monotonic) time."""

    after: int = 5
    """Consecutive transient failures on the primary that move calls to the failover."""
    cooldown_s: float = 60.0
    """How long calls stay on the failover before the primary is tried again."""
    active: str = PRIMARY
    failures: int = 0
    until: float = 0.0
    switches: int = 0
    """Moves to the failover so far (for metrics and tests)."""

    def __post_init__(self) -> None:
        if self.after < 1 or self.cooldown_s <= 0:
            raise ValueError("need after >= 1 and cooldown_s > 0")

    def choose(self, now: float) -> str:
        """PRIMARY or FAILOVER for a call made now; after the cool-down the primary is on trial."""
        if self.active == FAILOVER and now >= self.until:
            self.active = PRIMARY
            self.failures = self.after - 1  # on trial: one more transient failure moves back
        return self.active

    def on_result(self, used: str, transient: bool, now: float) -> bool:
        """Record the outcome of a call made on ``used``; True when this moved to the failover.

        Outcomes on the failover, and those of calls sent to the primary before the
        switch, do not count: only the primary's own recent answers move the switch.
        """
        if used != PRIMARY or self.active != PRIMARY:
            return False
        if not transient:
            self.failures = 0
            return False
        self.failures += 1
        if self.failures < self.after:
            return False
        self.active = FAILOVER
        self.until = now + self.cooldown_s
        self.failures = 0
        self.switches += 1
        return True

    def status(self, now: float) -> dict[str, object]:
        """JSON-ready view: active endpoint role, consecutive failures, seconds left on failover."""
        on_failover = self.active == FAILOVER and now < self.until
        return {
            "active": FAILOVER if on_failover else PRIMARY,
            "failures": self.failures,
            "failover_left_s": round(self.until - now, 1) if on_failover else 0.0,
            "switches": self.switches,
        }
