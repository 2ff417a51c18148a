"""RequestLimitExceeded slows the whole pool down for a window (issue 12, item 18).

The local limiter's 10/s holds only while network jitter stays under its margin; when
Tencent still says we are over, every worker must pause, not just drop that one frame.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime

import numpy as np

from daemon.domain import Candidate, Frame, PlateRead
from daemon.ocr.emulator.server import EmulatorServer
from daemon.ocr.errors import OcrError
from daemon.ocr.pool import BACKOFF_MAX_S, BACKOFF_S, OcrPool
from daemon.ocr.ratelimit import RateLimiter
from daemon.ocr.tencent import OcrResult, PlateInfo, TencentOcrClient
from tests.support.ocr import SECRET_ID, SECRET_KEY, STUB_PLATE

LIMIT = "RequestLimitExceeded"


class FakeTime:
    """A clock whose sleep advances it; records every sleep."""

    def __init__(self) -> None:
        self.t = 100.0
        self.sleeps: list[float] = []
        self.lock = threading.Lock()

    def clock(self) -> float:
        with self.lock:
            return self.t

    def sleep(self, s: float) -> None:
        with self.lock:
            self.sleeps.append(s)
            self.t += max(0.0, s)


def _ok() -> OcrResult:
    info = PlateInfo("京AF0236", "蓝", 95, "", STUB_PLATE.rect)
    return OcrResult("京AF0236", "蓝", 95, "", STUB_PLATE.rect, "r", (info,))


class Scripted:
    """Raises the codes in ``script`` in order, then answers with a plate; logs call times."""

    def __init__(self, ft: FakeTime, script: list[str]) -> None:
        self.ft, self.script, self.at = ft, list(script), []  # type: ignore[var-annotated]

    def recognize(self, jpeg: bytes, *, retry_resync: bool = True) -> OcrResult:
        self.at.append(self.ft.clock())
        if self.script:
            raise OcrError(self.script.pop(0), request_id="r")
        return _ok()


def _frame(i: int = 0) -> Frame:
    return Frame("cam", i, 0.0, datetime.now(UTC), np.full((360, 640, 3), 110, np.uint8))


def _run(pool: OcrPool, cands: list[Candidate]) -> list[PlateRead]:
    got: list[PlateRead] = []
    for cand in cands:  # one at a time: the order of calls is the order of candidates
        done = threading.Event()
        pool.submit(cand, lambda r, d=done: (got.append(r), d.set()))
        assert done.wait(10)
    return got


def test_limit_exceeded_holds_every_call_for_a_window_fake_clock() -> None:
    ft = FakeTime()
    client = Scripted(ft, [LIMIT])
    pool = OcrPool(client, RateLimiter(1000, clock=ft.clock, sleep=ft.sleep), 2, 85, 1920,
                   clock=ft.clock, sleep=ft.sleep)
    pool.start()
    try:
        reads = _run(pool, [Candidate("cam", f"p{i}", _frame(i), 1.0, 1, ft.t + 30)
                            for i in range(3)])
    finally:
        pool.stop()
    assert [r.error_code for r in reads] == [LIMIT, None, None]
    assert client.at[1] - client.at[0] >= BACKOFF_S  # the next call waited out the window
    assert client.at[2] - client.at[1] < BACKOFF_S  # a success ends the backoff
    assert pool.stats()["backoffs"] == 1


def test_repeated_limit_doubles_the_window_up_to_a_cap_fake_clock() -> None:
    ft = FakeTime()
    client = Scripted(ft, [LIMIT] * 6)
    pool = OcrPool(client, RateLimiter(1000, clock=ft.clock, sleep=ft.sleep), 1, 85, 1920,
                   clock=ft.clock, sleep=ft.sleep)
    pool.start()
    try:
        _run(pool, [Candidate("cam", f"p{i}", _frame(i), 1.0, 1, ft.t + 600) for i in range(7)])
    finally:
        pool.stop()
    gaps = [round(b - a, 3) for a, b in zip(client.at, client.at[1:], strict=False)]
    assert gaps[:4] == [BACKOFF_S, 2 * BACKOFF_S, 4 * BACKOFF_S, 8 * BACKOFF_S]
    assert max(gaps) == BACKOFF_MAX_S


def test_candidate_whose_deadline_ends_inside_the_hold_is_not_sent() -> None:
    ft = FakeTime()
    client = Scripted(ft, [LIMIT])
    pool = OcrPool(client, RateLimiter(1000, clock=ft.clock, sleep=ft.sleep), 1, 85, 1920,
                   clock=ft.clock, sleep=ft.sleep)
    pool.start()
    try:
        first = _run(pool, [Candidate("cam", "p0", _frame(), 1.0, 1, ft.t + 30)])
        late = _run(pool, [Candidate("cam", "p1", _frame(1), 1.0, 1, ft.t + BACKOFF_S / 2)])
    finally:
        pool.stop()
    assert first[0].error_code == LIMIT
    assert (late[0].called, late[0].error_code) == (False, "Stale")
    assert len(client.at) == 1


def test_limit_exceeded_from_the_emulator_pauses_all_workers(emulator: EmulatorServer) -> None:
    """Four workers, a burst right after RequestLimitExceeded: nothing reaches the server
    until the window has passed."""
    emulator.fail_next(LIMIT)
    client = TencentOcrClient(emulator.url, SECRET_ID, SECRET_KEY, None, 3.0)
    pool = OcrPool(client, RateLimiter(100), 4, 85, 1920)
    pool.start()
    got: list[PlateRead] = []
    done = threading.Event()

    def reply(r: PlateRead) -> None:
        got.append(r)
        if len(got) == 5:
            done.set()

    try:
        pool.submit(Candidate("cam", "p0", _frame(), 1.0, 1, time.monotonic() + 5), reply)
        end = time.monotonic() + 5
        while not got:
            assert time.monotonic() < end
            time.sleep(0.005)
        for i in range(1, 5):
            pool.submit(Candidate("cam", f"p{i}", _frame(i), 1.0, 1, time.monotonic() + 5),
                        reply)
        assert done.wait(15)
    finally:
        pool.stop()
        client.close()
    calls = emulator.calls
    assert [c.code for c in calls] == [LIMIT] + ["OK"] * 4
    first_after = min(c.at for c in calls[1:])
    assert first_after - calls[0].at >= BACKOFF_S * 0.9, [c.at for c in calls]
    assert sum(r.ok for r in got) == 4
