"""The shared request budget, driven by a fake clock (and once by real threads)."""

from __future__ import annotations

import threading
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from daemon.ocr.ratelimit import Grant, RateLimiter, SlidingWindow


class FakeClock:
    """A clock that only moves when slept on."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def _max_in_any_window(times: list[float], width: float = 1.0) -> int:
    times = sorted(times)
    best = 0
    for i, t in enumerate(times):
        best = max(best, sum(1 for u in times[i:] if u < t + width))
    return best


def test_burst_then_spacing() -> None:
    clock = FakeClock()
    limiter = RateLimiter(10, clock=clock, sleep=clock.sleep, margin=0.1)
    granted = []
    for _ in range(25):
        assert limiter.acquire(timeout=10)
        granted.append(clock.now)
    assert granted[:10] == [1000.0] * 10  # a full burst goes at once
    assert granted[10] == pytest.approx(1001.1)  # the 11th waits a window plus margin
    assert _max_in_any_window(granted) == 10


def test_timeout_reserves_nothing() -> None:
    clock = FakeClock()
    limiter = RateLimiter(2, clock=clock, sleep=clock.sleep, margin=0.0)
    assert limiter.acquire(0) and limiter.acquire(0)
    assert not limiter.acquire(0.5)  # next slot is 1 s away
    assert limiter.next_wait() == pytest.approx(1.0)
    clock.now += 1.0
    assert limiter.acquire(0)


def test_fractional_rate_below_one() -> None:
    window = SlidingWindow(0.5, margin=0.0)
    first = window.reserve(0.0, 0.0)
    assert first is not None and first.start == 0.0
    assert window.reserve(0.0, 1.0) is None
    second = window.reserve(0.0, 5.0)
    assert second is not None and second.start == 2.0


@settings(max_examples=300, deadline=None)
@given(
    st.integers(1, 12),
    st.floats(0.0, 0.2),
    st.lists(
        st.tuples(st.floats(0, 0.5), st.floats(0, 2.0), st.floats(0, 0.5), st.floats(0, 1)),
        min_size=1,
        max_size=60,
    ),
)
def test_server_never_sees_more_than_rate(
    rate: int, margin: float, arrivals: list[tuple[float, float, float, float]]
) -> None:
    """Whatever the arrival pattern and answer times, a call reaches the server between
    its send time and its answer, with transit jitter below the margin: no server
    1-second window ever holds more than ``rate`` calls."""
    window = SlidingWindow(rate, margin)
    now = 0.0
    calls: list[tuple[Grant, float, float]] = []  # grant, answer time, arrival at server
    for gap, timeout, rtt, where in arrivals:
        now += gap
        for earlier, answer, _ in calls:
            if earlier.answered is None and answer <= now:
                window.answered(earlier, answer)
        grant = window.reserve(now, timeout)
        if grant is not None:
            assert now <= grant.start <= now + timeout
            arrival = grant.start + where * min(rtt, margin * 0.999)
            calls.append((grant, grant.start + rtt, arrival))
    assert _max_in_any_window([a for _, _, a in calls]) <= rate


def test_fast_answers_use_the_budget_fully() -> None:
    """Answers within the margin let the next window start from the answer, not send + margin."""
    clock = FakeClock()
    limiter = RateLimiter(10, clock=clock, sleep=clock.sleep, margin=0.1)
    start = clock.now
    for _ in range(100):
        grant = limiter.acquire(timeout=10)
        assert grant is not None
        clock.now += 0.005  # the answer comes back 5 ms later
        limiter.done(grant)
    assert 100 / (clock.now - start) >= 9.5
    slow = RateLimiter(10, clock=clock, sleep=clock.sleep, margin=0.1)
    start = clock.now
    for _ in range(100):  # no answer known (slow calls in flight): the margin bound applies
        assert slow.acquire(timeout=10) is not None
    assert 90 / (clock.now - start) == pytest.approx(10 / 1.1, rel=0.01)


def test_threads_share_the_budget() -> None:
    """Real clock, 4 threads, rate 20: the spread of 30 grants shows the window."""
    limiter = RateLimiter(20, margin=0.2)  # tolerates late wake-ups on a busy box
    grants: list[float] = []
    lock = threading.Lock()

    def worker() -> None:
        for _ in range(8):
            assert limiter.acquire(timeout=5)
            with lock:
                grants.append(time.monotonic())

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert len(grants) == 32
    assert _max_in_any_window(grants, 1.0) <= 20
    assert max(grants) - min(grants) >= 1.0
