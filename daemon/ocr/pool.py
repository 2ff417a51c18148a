"""The OCR queue and worker pool shared by all cameras: priority, staleness, rate, encode, reply.

Candidates wait in one priority queue (first attempts of a passage before later
ones, then the earliest deadline). A worker takes the best one, drops it if it
went stale, waits for a rate slot no later than its deadline, crops and encodes
the frame, calls the provider and replies with a :class:`PlateRead` whose rect
is in full-frame pixels. Each candidate costs at most two calls: one retry for
transient errors, or one smaller re-encode for a too-large image.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import cv2
import numpy as np

from daemon.domain import Candidate, Image, PlateRead, Rect
from daemon.ocr.errors import Action, OcrError
from daemon.ocr.ratelimit import RateLimiter
from daemon.ocr.tencent import OcrResult

log = logging.getLogger(__name__)

Reply = Callable[[PlateRead], None]
NO_PLATE = "FailedOperation.OcrFailed"


class Recognizer(Protocol):
    """Anything that reads a plate from JPEG bytes (TencentOcrClient, test fakes)."""

    def recognize(self, jpeg: bytes) -> OcrResult:
        """Read the plate; raise OcrError on failure."""
        ...


@dataclass(frozen=True, slots=True)
class Prepared:
    """An encoded image and how its pixels map back to the full frame."""

    jpeg: bytes
    x0: int
    y0: int
    scale: float
    """Sent pixels per full-frame pixel (<= 1)."""
    frame_width: int
    frame_height: int


def prepare(image: Image, roi: Rect | None, max_width: int, quality: int) -> Prepared:
    """Crop to ``roi`` (clamped to the frame), shrink to ``max_width`` keeping aspect, encode."""
    fh, fw = int(image.shape[0]), int(image.shape[1])
    x0, y0, x1, y1 = 0, 0, fw, fh
    if roi is not None:
        x0, y0 = max(0, roi.x), max(0, roi.y)
        x1, y1 = min(fw, roi.x + roi.width), min(fh, roi.y + roi.height)
        if x1 - x0 < 16 or y1 - y0 < 16:  # a degenerate hint: send the whole frame
            x0, y0, x1, y1 = 0, 0, fw, fh
    crop = image[y0:y1, x0:x1]
    scale = 1.0
    if crop.shape[1] > max_width:
        scale = max_width / crop.shape[1]
        size = (max_width, max(1, round(crop.shape[0] * scale)))
        crop = cv2.resize(crop, size, interpolation=cv2.INTER_AREA).astype(np.uint8, copy=False)
    ok, buf = cv2.imencode(".jpg", crop, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ValueError("JPEG encoding failed")
    return Prepared(buf.tobytes(), x0, y0, scale, fw, fh)


def map_rect(rect: Rect, prep: Prepared) -> Rect:
    """A rect in sent-image pixels back to full-frame pixels, clamped to the frame."""
    x = min(max(0, prep.x0 + round(rect.x / prep.scale)), prep.frame_width)
    y = min(max(0, prep.y0 + round(rect.y / prep.scale)), prep.frame_height)
    w = min(round(rect.width / prep.scale), prep.frame_width - x)
    h = min(round(rect.height / prep.scale), prep.frame_height - y)
    return Rect(x, y, max(0, w), max(0, h))


class OcrPool:
    """Worker threads draining one priority queue of candidates under a shared RateLimiter."""

    def __init__(
        self,
        client: Recognizer,
        limiter: RateLimiter,
        workers: int,
        jpeg_quality: int,
        max_width: int,
        *,
        clock: Callable[[], float] = time.monotonic,
        max_pending: int = 32,
    ) -> None:
        self._client = client
        self._limiter = limiter
        self._n_workers = workers
        self._quality = jpeg_quality
        self._max_width = max_width
        self._clock = clock
        self._max_pending = max_pending
        self._heap: list[tuple[int, float, int, Candidate, Reply]] = []
        self._seq = itertools.count()
        self._cond = threading.Condition()
        self._stopping = False
        self._threads: list[threading.Thread] = []
        self._counts: Counter[str] = Counter()
        self._errors: Counter[str] = Counter()

    # ------------------------------------------------------------ lifecycle

    def start(self) -> None:
        """Start the worker threads."""
        self._stopping = False
        for i in range(self._n_workers):
            t = threading.Thread(target=self._run, name=f"ocr-{i}", daemon=True)
            t.start()
            self._threads.append(t)

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the workers (waiting up to ``timeout`` s); queued candidates get ``Shutdown``."""
        with self._cond:
            self._stopping = True
            left = [(c, r) for _, _, _, c, r in self._heap]
            self._heap.clear()
            self._cond.notify_all()
        for cand, reply in left:
            self._deliver(reply, _not_called(cand, "Shutdown"))
        end = time.monotonic() + timeout
        for t in self._threads:
            t.join(max(0.0, end - time.monotonic()))
        self._threads = [t for t in self._threads if t.is_alive()]
        if self._threads:
            log.warning("%d OCR workers still busy after stop", len(self._threads))

    # ------------------------------------------------------------ queue

    def submit(self, candidate: Candidate, reply: Reply) -> None:
        """Queue a candidate; never blocks. Stale or overflowing candidates get ``Stale``."""
        dropped: list[tuple[Candidate, Reply]] = []
        now = self._clock()
        with self._cond:
            if self._stopping:
                dropped.append((candidate, reply))
            else:
                key = (candidate.attempt, candidate.deadline, next(self._seq))
                heapq.heappush(self._heap, (*key, candidate, reply))
                dropped = self._evict_locked(now)
                self._cond.notify()
        for cand, rep in dropped:
            self._counts["stale"] += 1
            self._deliver(rep, _not_called(cand, "Stale"))

    def _evict_locked(self, now: float) -> list[tuple[Candidate, Reply]]:
        keep = [e for e in self._heap if e[3].deadline > now]
        dropped = [(e[3], e[4]) for e in self._heap if e[3].deadline <= now]
        if len(keep) > self._max_pending:
            keep.sort()
            dropped += [(e[3], e[4]) for e in keep[self._max_pending :]]
            keep = keep[: self._max_pending]
        if dropped:
            heapq.heapify(keep)
            self._heap = keep
        return dropped

    def pending(self) -> int:
        """Candidates waiting for a worker."""
        with self._cond:
            return len(self._heap)

    def stats(self) -> dict[str, Any]:
        """Counters: calls, ok, no_plate, stale, retries, reencodes, failures, errors, pending."""
        with self._cond:
            out: dict[str, Any] = {
                k: self._counts[k]
                for k in ("calls", "ok", "no_plate", "stale", "retries", "reencodes", "failures")
            }
            out["errors"] = dict(self._errors)
            out["pending"] = len(self._heap)
        return out

    # ------------------------------------------------------------ workers

    def _next(self) -> tuple[Candidate, Reply] | None:
        with self._cond:
            while not self._heap and not self._stopping:
                self._cond.wait(0.5)
            if self._stopping:
                return None
            _, _, _, cand, reply = heapq.heappop(self._heap)
            return cand, reply

    def _run(self) -> None:
        while (item := self._next()) is not None:
            cand, reply = item
            try:
                read = self._process(cand)
            except Exception:  # a worker must survive anything
                log.exception("OCR worker failed on %s/%s", cand.camera_id, cand.passage_id)
                self._count("failures")
                read = _not_called(cand, "LocalError")
            self._deliver(reply, read)

    def _count(self, key: str, error: str | None = None) -> None:
        with self._cond:
            self._counts[key] += 1
            if error is not None:
                self._errors[error] += 1

    def _slot(self, cand: Candidate) -> bool:
        """Wait for a rate slot that starts before the candidate's deadline."""
        left = cand.deadline - self._clock()
        return left > 0 and self._limiter.acquire(left)

    def _process(self, cand: Candidate) -> PlateRead:
        if not self._slot(cand):
            self._count("stale")
            return _not_called(cand, "Stale")
        prep = prepare(cand.frame.image, cand.roi_box, self._max_width, self._quality)
        extra_call_used = False
        while True:
            started = self._clock()
            try:
                result = self._client.recognize(prep.jpeg)
            except OcrError as exc:
                latency = (self._clock() - started) * 1000.0
                self._count("calls", error=exc.code)
                read = _failed(cand, exc, latency)
                if exc.action is Action.NO_PLATE:
                    self._count("no_plate")
                    return read
                if exc.action is Action.STOP:
                    log.error(
                        "ALERT: Tencent refuses our calls (%s, request %s); check keys and billing",
                        exc.code,
                        exc.request_id,
                    )
                if extra_call_used or exc.action not in _RETRIED:
                    return read
                extra_call_used = True
                if exc.action is Action.REENCODE:
                    prep = prepare(
                        cand.frame.image,
                        cand.roi_box,
                        max(320, int(min(self._max_width, prep.frame_width) * 0.6)),
                        max(40, self._quality - 25),
                    )
                    self._count("reencodes")
                else:
                    self._count("retries")
                if not self._slot(cand):
                    return read
                continue
            latency = (self._clock() - started) * 1000.0
            self._count("calls")
            self._count("ok")
            return PlateRead(
                camera_id=cand.camera_id,
                passage_id=cand.passage_id,
                frame_seq=cand.frame.seq,
                ok=True,
                plate=result.plate,
                color=result.color,
                confidence=result.confidence,
                category=result.category,
                rect=map_rect(result.rect, prep),
                request_id=result.request_id,
                latency_ms=latency,
            )

    @staticmethod
    def _deliver(reply: Reply, read: PlateRead) -> None:
        try:
            reply(read)
        except Exception:
            log.exception("OCR reply callback failed for %s/%s", read.camera_id, read.passage_id)


_RETRIED = frozenset({Action.RETRY, Action.RETRY_ONCE, Action.REENCODE})


def _not_called(cand: Candidate, code: str) -> PlateRead:
    return PlateRead(
        camera_id=cand.camera_id,
        passage_id=cand.passage_id,
        frame_seq=cand.frame.seq,
        ok=False,
        error_code=code,
        called=False,
    )


def _failed(cand: Candidate, exc: OcrError, latency_ms: float) -> PlateRead:
    return PlateRead(
        camera_id=cand.camera_id,
        passage_id=cand.passage_id,
        frame_seq=cand.frame.seq,
        ok=False,
        error_code=exc.code,
        request_id=exc.request_id,
        latency_ms=latency_ms,
    )
