"""The fleet-wide OCR budget: daemons sharing one Tencent account share its calls/s via Redis.

``ocr.rate_limit_url: redis://host:6379/0`` selects it. Each call holds a member of one
Redis sorted set from its grant until ``window`` after its *answer*: while in flight its
score is the grant time plus ``pending_s`` (the longest a call can take), once answered
the answer time. A grant is given (atomically, in a Lua script) only while fewer than
``rate`` members are in the window. Tencent counts a call when it arrives, and a call
arrives after its grant and before its answer, so the next call granted ``rate`` places
later starts at least ``window`` after the server counted this one: whatever the delay
between a grant and the request leaving (a loaded Pi, three processes on two cores), no
second of the server's ever holds more than ``rate`` calls. Times come from the Redis
server (``TIME``), not from each host: one clock for the whole fleet.

A call that never reached the server (connection refused) is not marked answered: its
member expires ``pending_s`` + ``window`` after the grant. If Redis cannot be reached the
limiter does not stop OCR: it falls back to a local budget of ``fallback_rate`` (1 call/s by
default, safe for a few gates on one account) and logs a warning, and it goes back to Redis
on the next call that finds it reachable.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
import uuid
from collections.abc import Callable

from daemon.ocr.ratelimit import Grant, RateLimiter

log = logging.getLogger(__name__)

FLEET_MARGIN_S = 0.05
"""Window = 1 s + this, counted from each call's answer (see above): the answer-anchored
window already covers every delay between a grant and the server; the margin covers the
server's own time-stamping. (A window counted from the grant needed 0.25 s and still let
11 calls into one server second on a loaded 2-core machine.)"""

PENDING_S = 5.0
"""A call in flight counts as if answered this long after its grant (it never takes longer:
``ocr.timeout_s`` is at most 30 s but the pool's deadlines keep calls far shorter); a call
whose answer is never reported (process killed) frees its place after this + the window."""

POLL_S = 0.05
"""Longest sleep between two looks at a full window (an answer may free a place early)."""

_ACQUIRE = """
if redis.replicate_commands then redis.replicate_commands() end
local key = KEYS[1]
local window, limit, pending = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
if redis.call('ZCARD', key) < limit then
  redis.call('ZADD', key, now + pending, ARGV[4])
  redis.call('PEXPIRE', key, window + pending + 1000)
  return -1
end
local first = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
return math.max(1, tonumber(first[2]) + window - now)
"""

_ANSWERED = """
if redis.replicate_commands then redis.replicate_commands() end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local score = redis.call('ZSCORE', KEYS[1], ARGV[1])
if score and tonumber(score) > now then
  redis.call('ZADD', KEYS[1], 'XX', now, ARGV[1])
end
return 1
"""


class FleetGrant(Grant):
    """A fleet slot: the grant plus its member in the Redis set."""

    __slots__ = ("member",)

    def __init__(self, start: float, member: str) -> None:
        super().__init__(start)
        self.member = member


class FleetRateLimiter:
    """A :class:`daemon.ocr.ratelimit.Budget` shared through Redis (see the module doc)."""

    def __init__(
        self,
        url: str,
        rate: float,
        *,
        key: str = "gatecam:ocr:budget",
        margin: float = FLEET_MARGIN_S,
        fallback_rate: float = 1.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        import redis  # noqa: PLC0415 - optional dependency (gatecam[fleet])

        if rate <= 0:
            raise ValueError("rate must be > 0")
        limit, interval_s = (int(rate), 1.0) if rate >= 1 else (1, 1.0 / rate)
        self.rate = rate
        self._limit = limit
        self._window_ms = round((interval_s + margin) * 1000)
        self._redis = redis.Redis.from_url(url, socket_timeout=1.0, socket_connect_timeout=1.0)
        self._redis_errors: tuple[type[Exception], ...] = (redis.RedisError, OSError)
        self._acquire = self._redis.register_script(_ACQUIRE)
        self._answered = self._redis.register_script(_ANSWERED)
        self._key = key
        self._ids = (f"{uuid.uuid4().hex[:12]}:{n}" for n in itertools.count())
        self._sleep = sleep
        self._lock = threading.Lock()
        self._fallback = RateLimiter(fallback_rate)
        self.degraded = False
        """True while Redis is unreachable and the local fallback budget is in use."""

    def acquire(self, timeout: float) -> Grant | None:
        """Wait for a fleet-wide slot starting within ``timeout`` s; None if none does."""
        end = time.monotonic() + max(0.0, timeout)
        while True:
            with self._lock:
                member = next(self._ids)
            try:
                wait_ms = int(self._acquire(
                    keys=[self._key],
                    args=[self._window_ms, self._limit, round(PENDING_S * 1000), member],
                ))
            except self._redis_errors as exc:
                return self._degrade(exc, end)
            if self.degraded:
                self.degraded = False
                log.warning("fleet rate limit: Redis reachable again")
            if wait_ms < 0:
                return FleetGrant(time.monotonic(), member)
            left = end - time.monotonic()
            if left <= 0:  # (the wait is an upper bound: an answer may free a place sooner)
                return None
            self._sleep(min(POLL_S, max(0.001, wait_ms / 1000.0), max(0.001, left)))

    def _degrade(self, exc: Exception, end: float) -> Grant | None:
        if not self.degraded:
            self.degraded = True
            log.warning(
                "fleet rate limit: Redis unreachable (%s); using a local budget of %.1f/s",
                type(exc).__name__,
                self._fallback.rate,
            )
        return self._fallback.acquire(max(0.0, end - time.monotonic()))

    def done(self, grant: Grant) -> None:
        """The server answered the call of ``grant``: its place frees ``window`` from now."""
        if not isinstance(grant, FleetGrant):  # granted by the local fallback
            self._fallback.done(grant)
            return
        try:
            self._answered(keys=[self._key], args=[grant.member])
        except self._redis_errors as exc:  # the member expires by itself (PENDING_S)
            log.debug("fleet rate limit: answer not recorded (%s)", type(exc).__name__)

    def close(self) -> None:
        """Close the Redis connection pool."""
        self._redis.close()


def make_budget(
    rate: float, url: str | None, margin: float = 0.1
) -> RateLimiter | FleetRateLimiter:
    """The limiter ``ocr.rate_limit_url`` asks for: local (None or ``memory://``) or Redis."""
    if url is None or url.startswith("memory://"):
        return RateLimiter(rate, margin=margin)
    if url.startswith(("redis://", "rediss://", "unix://")):
        # Not ``margin``: a fleet slot cannot be freed early by an answer seen on another
        # host, so its window carries the whole jitter budget (FLEET_MARGIN_S).
        return FleetRateLimiter(url, rate, margin=FLEET_MARGIN_S)
    raise ValueError(f"unsupported rate_limit_url scheme: {url.split(':', 1)[0]}")
