"""The OCR queue and worker pool shared by all cameras: priority, staleness, rate, encode, reply.

Candidates wait in one priority queue (first attempts of a passage before later
ones, then the earliest deadline). A worker takes the best one, drops it if it
went stale, waits for a rate slot no later than its deadline, crops and encodes
the frame, calls the provider and replies with a :class:`PlateRead` whose rect
is in full-frame pixels. Each candidate costs at most two calls: one retry for
transient errors (after a short pause, and only with a rate slot that starts
before the candidate's deadline), one re-signed call after a clock resync, or one
smaller re-encode for a too-large image. ``RequestLimitExceeded`` (our budget and the
server's disagree: jitter beyond the limiter's margin, another client on the account)
holds every worker for a window (:data:`BACKOFF_S`, doubling while it repeats); a
candidate whose deadline ends inside the window is answered ``Stale`` unsent. Auth and
billing refusals open the shared :class:`daemon.ocr.circuit.OcrCircuit`; while it is
open candidates are answered at once with ``CircuitOpen`` (not called) and the lane records its
passages without a plate.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Any, Protocol

from daemon.domain import Candidate, PlateRead
from daemon.ocr.circuit import OcrCircuit
from daemon.ocr.errors import Action, OcrError, call_outcome
from daemon.ocr.prepare import Prepared, map_rect, prepare, smaller
from daemon.ocr.ratelimit import Budget, Grant
from daemon.ocr.tencent import OcrResult

log = logging.getLogger(__name__)

Reply = Callable[[PlateRead], None]
CallObserver = Callable[[str, str, float], None]
"""Told of every call sent: (camera id, :data:`daemon.ocr.errors.CALL_OUTCOMES` member, seconds)."""
NO_PLATE = "FailedOperation.OcrFailed"
CIRCUIT_OPEN = "CircuitOpen"
RETRY_BACKOFF_S = 0.05
"""Pause before the one retry of a transient error (doubling per attempt), inside the deadline."""
BACKOFF_S = 1.0
"""After ``RequestLimitExceeded`` no worker starts a call for this long (Tencent counts over a
1 s window: a second of silence empties it); each further refusal in a row doubles it."""
BACKOFF_MAX_S = 8.0
"""The longest backoff window."""

__all__ = [
    "CIRCUIT_OPEN", "CallObserver", "OcrPool", "Prepared", "Recognizer", "map_rect", "prepare",
]


class Recognizer(Protocol):
    """Anything that reads a plate from JPEG bytes (TencentOcrClient, test fakes)."""

    def recognize(self, jpeg: bytes, *, retry_resync: bool = True) -> OcrResult:
        """Read the plate; raise OcrError on failure."""
        ...


class OcrPool:
    """Worker threads draining one priority queue of candidates under a shared RateLimiter."""

    def __init__(
        self,
        client: Recognizer,
        limiter: Budget,
        workers: int,
        jpeg_quality: int,
        max_width: int,
        *,
        clock: Callable[[], float] = time.monotonic,
        max_pending: int = 32,
        circuit: OcrCircuit | None = None,
        sleep: Callable[[float], None] = time.sleep,
        on_call: CallObserver | None = None,
    ) -> None:
        self._client = client
        self._on_call = on_call
        self._limiter = limiter
        self.circuit = circuit if circuit is not None else OcrCircuit()
        self._n_workers = workers
        self._quality = jpeg_quality
        self._max_width = max_width
        self._clock = clock
        self._sleep = sleep
        self._max_pending = max_pending
        self._hold_until = 0.0
        """No call starts before this (clock time): the RequestLimitExceeded backoff."""
        self._limit_streak = 0
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
        """Counters (calls, ok, stale, retries, circuit_open, ...), errors, circuit, endpoint."""
        with self._cond:
            out: dict[str, Any] = {
                k: self._counts[k]
                for k in (
                    "calls", "ok", "no_plate", "stale", "retries", "reencodes", "failures",
                    "circuit_open", "unknown_codes", "backoffs",
                )
            }
            out["errors"] = dict(self._errors)
            out["pending"] = len(self._heap)
        out["circuit"] = self.circuit.status()
        endpoint_status = getattr(self._client, "endpoint_status", None)
        if callable(endpoint_status):  # TencentOcrClient: primary or failover endpoint
            out["endpoint"] = endpoint_status()
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
            # An idle worker must not pin its last frame (a decoder buffer + its BGR copy,
            # ~9 MB at 1080p) while it waits for the next candidate.
            del item, cand, reply, read

    def _count(self, key: str, error: str | None = None) -> None:
        with self._cond:
            self._counts[key] += 1
            if error is not None:
                self._errors[error] += 1

    def _observe(self, cand: Candidate, code: str | None, latency_ms: float) -> None:
        """Tell the observer (metrics) of one call; its failure never costs the read."""
        if self._on_call is None:
            return
        try:
            self._on_call(cand.camera_id, call_outcome(code), latency_ms / 1000.0)
        except Exception:
            log.exception("OCR call observer failed")

    def _slot(self, cand: Candidate) -> Grant | None:
        """Wait out any backoff, then for a rate slot that starts before the deadline."""
        while True:
            now = self._clock()
            with self._cond:
                hold = self._hold_until - now
            if hold <= 0:
                break
            if cand.deadline - now <= hold:
                return None  # the window outlasts the frame's usefulness
            self._sleep(hold)  # another refusal meanwhile may extend it: look again
        left = cand.deadline - self._clock()
        return self._limiter.acquire(left) if left > 0 else None

    def _back_off(self, exc: OcrError) -> None:
        """RequestLimitExceeded: hold every worker for a window, longer while it repeats."""
        with self._cond:
            window = min(BACKOFF_MAX_S, BACKOFF_S * 2**self._limit_streak)
            self._limit_streak += 1
            self._hold_until = max(self._hold_until, self._clock() + window)
            self._counts["backoffs"] += 1
        log.warning("Tencent says we are over the rate limit (%s, request %s): no calls for "
                    "%.0f s", exc.code, exc.request_id, window)

    def _limit_ok(self) -> None:
        """An answer that was not a rate refusal: the next refusal starts a fresh window."""
        if self._limit_streak:
            with self._cond:
                self._limit_streak = 0

    def _process(self, cand: Candidate) -> PlateRead:
        if not self.circuit.allow():
            self._count("circuit_open")
            return _not_called(cand, CIRCUIT_OPEN)
        try:
            return self._call(cand)
        finally:  # whatever happened (even a bug), a half-open probe must not stay taken
            self.circuit.release()

    def _call(self, cand: Candidate) -> PlateRead:
        # Encode first: the slot then goes straight to the wire, and the slot's start is
        # close to the request's real send time (the limiter anchors on both ends).
        prep = prepare(cand.frame.bgr(), cand.roi_box, self._max_width, self._quality)
        grant = self._slot(cand)
        if grant is None:
            self._count("stale")
            return _not_called(cand, "Stale")
        extra_call_used = False
        while True:
            started = self._clock()
            try:
                result = self._client.recognize(prep.jpeg, retry_resync=False)
            except OcrError as exc:
                latency = (self._clock() - started) * 1000.0
                read = self._on_error(cand, exc, grant, latency)
                if read is not None or extra_call_used:
                    return read or _failed(cand, exc, latency)
                extra_call_used = True
                if exc.action is Action.REENCODE:
                    image, roi = cand.frame.bgr(), cand.roi_box
                    prep = smaller(image, roi, prep, self._max_width, self._quality)
                    self._count("reencodes")
                else:
                    self._count("retries")
                    pause = RETRY_BACKOFF_S if exc.action is not Action.RESYNC_CLOCK else 0.0
                    if pause and cand.deadline - self._clock() <= pause:
                        return _failed(cand, exc, latency)
                    self._sleep(pause)
                retry = self._slot(cand)
                if retry is None:  # no slot before the deadline: never send a stale frame
                    return _failed(cand, exc, latency)
                grant = retry
                continue
            self._limiter.done(grant)
            self.circuit.on_reached()
            self._limit_ok()
            latency = (self._clock() - started) * 1000.0
            self._count("calls")
            self._count("ok")
            self._observe(cand, None, latency)
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

    def _on_error(
        self, cand: Candidate, exc: OcrError, grant: Grant, latency: float
    ) -> PlateRead | None:
        """Count and route one failed call; the final read, or None if it may be retried."""
        reached = exc.code not in _UNREACHED
        if reached:
            self._limiter.done(grant)
        self._count("calls", error=exc.code)
        self._observe(cand, exc.code, latency)
        if exc.unknown:
            self._count("unknown_codes")
            log.warning("unknown OCR error code %s (request %s)", exc.code, exc.request_id)
        if exc.action is Action.STOP:
            self.circuit.on_stop(exc.code, exc.request_id)
            return _failed(cand, exc, latency)
        if reached:
            self.circuit.on_reached()
        else:
            self.circuit.on_unreached()
        if exc.action is Action.BACKOFF:
            self._back_off(exc)
        elif reached:
            self._limit_ok()
        if exc.action is Action.NO_PLATE:
            self._count("no_plate")
            return _failed(cand, exc, latency)
        if exc.action not in _RETRIED:
            return _failed(cand, exc, latency)
        return None

    @staticmethod
    def _deliver(reply: Reply, read: PlateRead) -> None:
        try:
            reply(read)
        except Exception:
            log.exception("OCR reply callback failed for %s/%s", read.camera_id, read.passage_id)


_RETRIED = frozenset({Action.RETRY, Action.RETRY_ONCE, Action.REENCODE, Action.RESYNC_CLOCK})
_UNREACHED = frozenset({"Timeout", "NetworkError"})
"""Local codes for calls whose arrival at the server is unknown."""


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
