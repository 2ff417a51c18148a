"""The fleet-wide OCR budget: daemons sharing one Tencent account share its calls/s via Redis.

``ocr.rate_limit_url: redis://host:6379/0`` selects it. The sliding-window log
lives in a Redis sorted set kept by pyrate-limiter's :class:`RedisBucket` (an
atomic Lua check-and-insert), with a window of ``1 s + margin`` so that network
jitter between daemons and the server cannot squeeze ``rate + 1`` calls into one
server second. Timestamps come from each host's clock (pyrate-limiter's choice):
keep the fleet on NTP.

If Redis cannot be reached the limiter does not stop OCR: it falls back to a
local budget of ``fallback_rate`` (1 call/s by default, safe for a few gates on
one account) and logs a warning, and it goes back to Redis on the next call that
finds it reachable.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from daemon.ocr.ratelimit import Grant, RateLimiter

log = logging.getLogger(__name__)

FLEET_MARGIN_S = 0.25
"""Window = 1 s + this. 0.1 s was measured too little: on a loaded 2-core machine a
process granted a slot reached the server >0.1 s later and the emulator counted 11
calls in one second. 0.25 s costs throughput (10 per 1.25 s = 8/s at most)."""

LEAK_EVERY = 64
"""Old entries are trimmed from the sorted set every this many grants."""


class FleetRateLimiter:
    """A :class:`daemon.ocr.ratelimit.Budget` backed by Redis (pyrate-limiter's RedisBucket)."""

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
        from pyrate_limiter import Rate  # noqa: PLC0415
        from pyrate_limiter.buckets.redis_bucket import RedisBucket  # noqa: PLC0415

        if rate <= 0:
            raise ValueError("rate must be > 0")
        limit, interval_s = (int(rate), 1.0) if rate >= 1 else (1, 1.0 / rate)
        self.rate = rate
        self._rate = Rate(limit, round((interval_s + margin) * 1000))
        self._redis = redis.Redis.from_url(url, socket_timeout=1.0, socket_connect_timeout=1.0)
        self._redis_errors: tuple[type[Exception], ...] = (redis.RedisError, OSError)
        self._bucket_cls = RedisBucket
        self._key = key
        self._bucket: RedisBucket | None = None
        self._sleep = sleep
        self._lock = threading.Lock()
        self._fallback = RateLimiter(fallback_rate)
        self._grants = 0
        self.degraded = False
        """True while Redis is unreachable and the local fallback budget is in use."""

    def _get_bucket(self) -> object:
        if self._bucket is None:
            self._bucket = self._bucket_cls.init([self._rate], self._redis, self._key)
        return self._bucket

    def acquire(self, timeout: float) -> Grant | None:
        """Wait for a fleet-wide slot starting within ``timeout`` s; None if none does."""
        from pyrate_limiter import RateItem  # noqa: PLC0415

        end = time.monotonic() + max(0.0, timeout)
        while True:
            try:
                with self._lock:  # one connection, one Lua call at a time
                    bucket = self._get_bucket()
                    now_ms = bucket.now()  # type: ignore[attr-defined]
                    item = RateItem("ocr", now_ms)
                    if bucket.put(item):  # type: ignore[attr-defined]
                        self._granted(bucket, now_ms)
                        return Grant(time.monotonic())
                    wait_ms = bucket.waiting(item)  # type: ignore[attr-defined]
            except self._redis_errors as exc:
                return self._degrade(exc, end)
            if self.degraded:
                self.degraded = False
                log.warning("fleet rate limit: Redis reachable again")
            wait = max(0.001, float(wait_ms) / 1000.0) if wait_ms >= 0 else 0.01
            left = end - time.monotonic()
            if wait > left:
                return None
            self._sleep(wait)

    def _granted(self, bucket: object, now_ms: int) -> None:
        if self.degraded:
            self.degraded = False
            log.warning("fleet rate limit: Redis reachable again")
        self._grants += 1
        if self._grants % LEAK_EVERY == 0:
            bucket.leak(now_ms)  # type: ignore[attr-defined]

    def _degrade(self, exc: Exception, end: float) -> Grant | None:
        if not self.degraded:
            self.degraded = True
            log.warning(
                "fleet rate limit: Redis unreachable (%s); using a local budget of %.1f/s",
                type(exc).__name__,
                self._fallback.rate,
            )
        self._bucket = None
        return self._fallback.acquire(max(0.0, end - time.monotonic()))

    def done(self, grant: Grant) -> None:
        """Answers do not shorten the fleet window (other hosts cannot see them)."""

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
