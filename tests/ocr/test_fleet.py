"""Fleet budget: three processes share 10 calls/s through the real local Redis."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid
from pathlib import Path

from daemon.ocr.emulator.server import EmulatorServer
from daemon.ocr.fleet import FleetRateLimiter, make_budget
from daemon.ocr.ratelimit import RateLimiter
from tests.support.ocr import SECRET_ID, SECRET_KEY, STUB_PLATE
from tests.support.services import redis_url  # noqa: F401 - fixture

ROOT = Path(__file__).resolve().parents[2]


def _max_in_any_window(times: list[float], width: float = 1.0) -> int:
    times = sorted(times)
    best, j = 0, 0
    for i, t in enumerate(times):
        while j < len(times) and times[j] < t + width:
            j += 1
        best = max(best, j - i)
    return best


def test_three_processes_never_exceed_the_account_limit(redis_url: str) -> None:  # noqa: F811
    seconds = 5.0
    key = f"gatecam:test:{uuid.uuid4().hex}"
    server = EmulatorServer(
        credentials={SECRET_ID: SECRET_KEY}, rate_limit=10, reader=lambda _img: [STUB_PLATE]
    ).start()
    procs: list[subprocess.Popen[str]] = []
    try:
        for _ in range(3):
            procs.append(subprocess.Popen(
                [sys.executable, "-m", "tests.ocr.fleet_worker", server.url, redis_url, key,
                 str(seconds)],
                cwd=ROOT, stdout=subprocess.PIPE, text=True,
            ))
        outs = [p.communicate(timeout=60)[0] for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        server.stop()
    assert all(p.returncode == 0 for p in procs)
    stats = [json.loads(o.strip().splitlines()[-1]) for o in outs]
    calls = server.calls
    codes = [c.code for c in calls]
    assert "RequestLimitExceeded" not in codes
    assert set(codes) == {"OK"}
    assert _max_in_any_window([c.at for c in calls]) <= 10
    # The budget is really shared and really used: every process called, and the fleet
    # got most of 10 per (1.05 s + each call's latency).
    assert all(s["calls"] > 0 for s in stats)
    assert sum(s["calls"] for s in stats) == len(calls)
    assert len(calls) >= 0.8 * 8 * seconds


def test_a_place_frees_a_window_after_the_answer_not_the_grant(redis_url: str) -> None:  # noqa: F811
    """Calls in flight hold their places; an answered one frees its place 1 s + margin
    after the answer (the server counted it before then), whenever it was granted."""
    fleet = FleetRateLimiter(redis_url, 2, key=f"gatecam:test:{uuid.uuid4().hex}")
    try:
        first, second = fleet.acquire(0.1), fleet.acquire(0.1)
        assert first is not None and second is not None
        time.sleep(1.3)  # longer than a window counted from the grants
        assert fleet.acquire(0.2) is None  # both still in flight: no place
        fleet.done(first)
        answered = time.monotonic()
        third = fleet.acquire(3.0)
        assert third is not None
        assert third.start - answered >= 1.0  # a window after the answer
        assert fleet.acquire(0.2) is None  # the second is still in flight
    finally:
        fleet.close()


def test_make_budget_chooses_by_url(redis_url: str) -> None:  # noqa: F811
    assert isinstance(make_budget(10, None), RateLimiter)
    assert isinstance(make_budget(10, "memory://"), RateLimiter)
    fleet = make_budget(10, redis_url)
    assert isinstance(fleet, FleetRateLimiter)
    fleet.close()


def test_unreachable_redis_falls_back_to_a_slow_local_budget() -> None:
    fleet = FleetRateLimiter("redis://127.0.0.1:1/0", 10)  # nothing listens on port 1
    assert fleet.acquire(0.5) is not None
    assert fleet.degraded
    assert fleet.acquire(0.2) is None  # 1 call/s locally until Redis is back
    fleet.close()
