"""The OCR pool with a scripted fake client: priority, staleness, retries, rects, survival."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime

import cv2
import numpy as np
import pytest

from daemon.domain import Candidate, Frame, PlateRead, Rect
from daemon.ocr.errors import OcrError
from daemon.ocr.pool import OcrPool, map_rect, prepare
from daemon.ocr.ratelimit import RateLimiter
from daemon.ocr.tencent import OcrResult, PlateInfo

Script = Callable[[bytes, int], OcrResult]
PLATE_BOX = Rect(100, 50, 60, 20)


def _result(rect: Rect = PLATE_BOX, plate: str = "京AF0236") -> OcrResult:
    info = PlateInfo(plate, "蓝", 95, "实体车牌", rect)
    return OcrResult(plate, "蓝", 95, "实体车牌", rect, "req", (info,))


class FakeClient:
    """Runs ``script(jpeg, call_index)``; records the size of every image sent."""

    def __init__(self, script: Script | None = None) -> None:
        self.script = script or (lambda _j, _n: _result())
        self.sizes: list[tuple[int, int]] = []
        self.lock = threading.Lock()

    def recognize(self, jpeg: bytes, *, retry_resync: bool = True) -> OcrResult:
        img = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
        assert img is not None
        with self.lock:
            self.sizes.append((img.shape[1], img.shape[0]))
            n = len(self.sizes)
        return self.script(jpeg, n)


class Replies:
    """Collects replies; wait(n) blocks until n arrived."""

    def __init__(self) -> None:
        self.items: list[PlateRead] = []
        self.cond = threading.Condition()

    def __call__(self, read: PlateRead) -> None:
        with self.cond:
            self.items.append(read)
            self.cond.notify_all()

    def wait(self, n: int, timeout: float = 5.0) -> list[PlateRead]:
        with self.cond:
            assert self.cond.wait_for(lambda: len(self.items) >= n, timeout), self.items
            return list(self.items)


def _cand(
    passage: str = "p1",
    *,
    attempt: int = 1,
    deadline_in: float = 5.0,
    size: tuple[int, int] = (640, 360),
    roi: Rect | None = None,
    seq: int = 0,
) -> Candidate:
    w, h = size
    frame = Frame("cam", seq, 0.0, datetime.now(UTC), np.full((h, w, 3), 120, np.uint8))
    return Candidate("cam", passage, frame, 1.0, attempt, time.monotonic() + deadline_in, roi)


def _pool(client: FakeClient, workers: int = 2, rate: float = 1000.0, **kw: int) -> OcrPool:
    return OcrPool(client, RateLimiter(rate), workers, 85, kw.get("max_width", 1920))


def test_priority_attempt_then_deadline() -> None:
    client, replies = FakeClient(), Replies()
    pool = _pool(client, workers=1)
    pool.submit(_cand("late-2", attempt=2, deadline_in=3), replies)
    pool.submit(_cand("first-old", attempt=1, deadline_in=4), replies)
    pool.submit(_cand("first-older", attempt=1, deadline_in=2), replies)
    pool.submit(_cand("early-2", attempt=2, deadline_in=1), replies)
    assert pool.pending() == 4
    pool.start()
    try:
        order = [r.passage_id for r in replies.wait(4)]
    finally:
        pool.stop(2)
    assert order == ["first-older", "first-old", "early-2", "late-2"]
    assert pool.stats()["calls"] == 4 and pool.stats()["ok"] == 4


def test_stale_candidates_are_not_sent() -> None:
    client, replies = FakeClient(), Replies()
    pool = _pool(client)
    pool.start()
    try:
        pool.submit(_cand("old", deadline_in=-0.1), replies)
        [read] = replies.wait(1)
    finally:
        pool.stop(2)
    assert (read.ok, read.called, read.error_code) == (False, False, "Stale")
    assert client.sizes == []
    assert pool.stats()["stale"] == 1


def test_stale_while_waiting_for_a_rate_slot() -> None:
    client, replies = FakeClient(), Replies()
    pool = _pool(client, rate=1.0)
    pool._limiter.acquire(0)  # the only slot of this second is used up
    pool.start()
    try:
        pool.submit(_cand("waits", deadline_in=0.3), replies)
        [read] = replies.wait(1)
    finally:
        pool.stop(2)
    assert (read.called, read.error_code) == (False, "Stale")
    assert client.sizes == []


def test_crop_downscale_and_rect_mapping() -> None:
    client, replies = FakeClient(), Replies()
    pool = OcrPool(client, RateLimiter(100), 1, 85, 800)
    pool.start()
    try:
        pool.submit(_cand(size=(2000, 1000), roi=Rect(400, 200, 1600, 800)), replies)
        [read] = replies.wait(1)
    finally:
        pool.stop(2)
    assert client.sizes == [(800, 400)]  # cropped, then halved
    assert read.ok and read.plate == "京AF0236" and read.confidence == 95
    assert read.rect == Rect(600, 300, 120, 40)  # back in full-frame pixels
    assert read.request_id == "req" and read.latency_ms >= 0


def test_prepare_and_map_rect_are_inverse() -> None:
    img = np.zeros((1080, 1920, 3), np.uint8)
    prep = prepare(img, Rect(-50, 100, 3000, 500), max_width=640, quality=80)
    assert (prep.x0, prep.y0) == (0, 100) and prep.scale == pytest.approx(640 / 1920)
    assert map_rect(Rect(64, 32, 64, 16), prep) == Rect(192, 196, 192, 48)
    assert (
        map_rect(Rect(630, 160, 500, 500), prep).x + map_rect(Rect(630, 160, 500, 500), prep).width
        <= 1920
    )


def test_transient_error_retried_once() -> None:
    def script(_j: bytes, n: int) -> OcrResult:
        if n == 1:
            raise OcrError("InternalError", "boom")
        return _result()

    client, replies = FakeClient(script), Replies()
    pool = _pool(client)
    pool.start()
    try:
        pool.submit(_cand(), replies)
        [read] = replies.wait(1)
    finally:
        pool.stop(2)
    assert read.ok and len(client.sizes) == 2
    assert pool.stats()["retries"] == 1 and pool.stats()["errors"] == {"InternalError": 1}


@pytest.mark.parametrize(
    ("code", "calls"),
    [
        ("FailedOperation.OcrFailed", 1),
        ("FailedOperation.ImageDecodeFailed", 1),
        ("RequestLimitExceeded", 1),
        ("Timeout", 2),
        ("FailedOperation.UnKnowError", 2),
    ],
)
def test_errors_reply_with_their_code(code: str, calls: int) -> None:
    def script(_j: bytes, _n: int) -> OcrResult:
        raise OcrError(code, "x", request_id="rq")

    client, replies = FakeClient(script), Replies()
    pool = _pool(client)
    pool.start()
    try:
        pool.submit(_cand(), replies)
        [read] = replies.wait(1)
    finally:
        pool.stop(2)
    assert (read.ok, read.called, read.error_code, read.request_id) == (False, True, code, "rq")
    assert len(client.sizes) == calls
    assert pool.stats()["errors"][code] == calls


def test_every_call_sent_is_observed_with_camera_outcome_and_latency() -> None:
    """A retried transient error is two calls (server_error, then plate); a stale candidate
    is none: the observer (metrics) hears exactly the requests sent."""
    seen: list[tuple[str, str, float]] = []

    def script(_j: bytes, n: int) -> OcrResult:
        if n == 1:
            raise OcrError("InternalError", "boom")
        return _result()

    client, replies = FakeClient(script), Replies()
    pool = OcrPool(client, RateLimiter(1000), 1, 85, 1920,
                   on_call=lambda *a: seen.append(a))
    pool.submit(_cand("stale", deadline_in=-1), replies)
    pool.start()
    try:
        pool.submit(_cand(), replies)
        replies.wait(2)
    finally:
        pool.stop(2)
    assert [(c, o) for c, o, _ in seen] == [("cam", "server_error"), ("cam", "plate")]
    assert all(0 <= s < 5 for _, _, s in seen)


def test_too_large_is_reencoded_smaller_once() -> None:
    def script(_j: bytes, n: int) -> OcrResult:
        if n == 1:
            raise OcrError("LimitExceeded.TooLargeFileError")
        return _result()

    client, replies = FakeClient(script), Replies()
    pool = _pool(client, max_width=1920)
    pool.start()
    try:
        pool.submit(_cand(size=(1600, 900)), replies)
        [read] = replies.wait(1)
    finally:
        pool.stop(2)
    assert client.sizes == [(1600, 900), (960, 540)]
    assert read.ok and read.rect == Rect(round(100 / 0.6), round(50 / 0.6), 100, round(20 / 0.6))


def test_stop_codes_raise_an_alert(caplog: pytest.LogCaptureFixture) -> None:
    def script(_j: bytes, _n: int) -> OcrResult:
        raise OcrError("ResourceUnavailable.InArrears")

    client, replies = FakeClient(script), Replies()
    pool = _pool(client)
    pool.start()
    with caplog.at_level(logging.ERROR, logger="daemon.ocr.pool"):
        try:
            pool.submit(_cand(), replies)
            replies.wait(1)
        finally:
            pool.stop(2)
    assert len(client.sizes) == 1
    assert any("ALERT" in r.getMessage() for r in caplog.records)


def test_workers_survive_exceptions_and_bad_callbacks() -> None:
    def script(_j: bytes, n: int) -> OcrResult:
        if n == 1:
            raise RuntimeError("a bug in the client")
        return _result()

    def bad_reply(_read: PlateRead) -> None:
        raise ValueError("consumer bug")

    client, replies = FakeClient(script), Replies()
    pool = _pool(client, workers=1)
    pool.start()
    try:
        pool.submit(_cand("bug"), replies)
        pool.submit(_cand("cb"), bad_reply)
        pool.submit(_cand("fine"), replies)
        reads = replies.wait(2)
    finally:
        pool.stop(2)
    assert reads[0].error_code == "LocalError" and reads[1].ok
    assert pool.stats()["failures"] == 1


def test_overflow_and_shutdown_reply_without_calling() -> None:
    client, replies = FakeClient(), Replies()
    pool = OcrPool(client, RateLimiter(1000), 1, 85, 1920, max_pending=2)
    for i in range(3):
        pool.submit(_cand(f"p{i}", deadline_in=1 + i), replies)
    assert [r.error_code for r in replies.wait(1)] == ["Stale"]
    assert replies.items[0].passage_id == "p2"  # the least urgent was evicted
    pool.stop(1)
    assert sorted(r.error_code or "" for r in replies.wait(3)) == ["Shutdown", "Shutdown", "Stale"]
    assert client.sizes == []
