"""The local reading worker: lane frames -> the local plate reader -> PlateRead(provider="local").

One or a few threads shared by all cameras run :class:`daemon.ocr.local.LocalPlateReader`
on the lane's ROI crop (``Candidate.roi_box``, never the whole frame). Each camera has a
one-candidate slot: a newer candidate replaces one not yet started (newest wins, nothing
queues) and the replaced one is answered at once with ``Dropped`` (not read), so the lane's
count of outstanding answers stays right. ``submit(candidate, reply)`` is the cloud pool's
interface (daemon/ocr/pool.py).

A reader exception on one frame becomes a ``LocalError`` read, is counted and is logged at
most once per :data:`ERROR_LOG_EVERY_S`; the worker and the lane go on.
"""

from __future__ import annotations

import logging
import statistics
import threading
import time
from collections import Counter, deque
from collections.abc import Callable
from typing import Any, Protocol

from daemon.domain import Candidate, Image, PlateRead, Rect
from daemon.ocr.local import LocalPlate
from daemon.ocr.localise import Box
from daemon.plates import fits_color

log = logging.getLogger(__name__)

Reply = Callable[[PlateRead], None]
DROPPED = "Dropped"
LOCAL_ERROR = "LocalError"
ERROR_LOG_EVERY_S = 60.0
"""A failing reader is logged at most once a minute (it may fail on every frame)."""


class PlateReader(Protocol):
    """What the pool needs of the reader (LocalPlateReader, test fakes)."""

    def read(self, crop_bgr: Image, focus: Box | None = None) -> list[LocalPlate]:
        """Plates in a BGR crop, best first (boxes in crop pixels); ``focus`` (x, y, w, h):
        where the vehicle is, looked at first."""
        ...


def crop_of(cand: Candidate) -> tuple[Image, int, int]:
    """The BGR picture of the candidate's ROI box (the whole frame if it has none), converted
    for that box alone where capture can (:meth:`Frame.bgr`), and the box's offset."""
    frame, box = cand.frame, cand.roi_box
    if box is None:
        return frame.bgr(), 0, 0
    x0, y0, _, _ = box.within(frame.width, frame.height)
    return frame.bgr(box), x0, y0


def to_read(cand: Candidate, found: list[LocalPlate], ms: float, dx: int, dy: int) -> PlateRead:
    """The lane's PlateRead for the reader's best plate (box mapped to full-frame pixels; a
    box cut by the crop's edge gives ``box_found`` without a rect: no frame to send)."""
    best = found[0] if found else None
    rect = None
    if best is not None and not best.clipped:  # a cut plate: evidence, no frame to send
        x, y, w, h = best.box
        rect = Rect(x + dx, y + dy, w, h)
    return PlateRead(
        camera_id=cand.camera_id, passage_id=cand.passage_id, frame_seq=cand.frame.seq,
        # a reading its plate's colour rules out (a green plate's 7 characters) is none
        ok=best is not None and bool(best.text) and fits_color(best.text, best.color),
        plate=best.text or None if best else None,
        color=best.color if best else None,
        confidence=best.confidence if best else 0,
        rect=rect, latency_ms=ms, called=False, provider="local",
        box_found=best is not None and best.box_found,
        image_size=(cand.frame.width, cand.frame.height),
        chars=best.chars if best else (),
    )


class LocalReadPool:
    """Reader threads over per-camera latest-candidate slots; counters in :meth:`stats`."""

    def __init__(
        self,
        reader: PlateReader,
        workers: int = 1,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._reader = reader
        self._n_workers = workers
        self._clock = clock
        self._slots: dict[str, tuple[Candidate, Reply]] = {}
        self._order: deque[str] = deque()
        self._cond = threading.Condition()
        self._stopping = False
        self._threads: list[threading.Thread] = []
        self._counts: Counter[str] = Counter()
        self._ms: deque[float] = deque(maxlen=512)
        self._last_error_log = -ERROR_LOG_EVERY_S

    def start(self) -> None:
        """Start the reader threads."""
        self._stopping = False
        for i in range(self._n_workers):
            t = threading.Thread(target=self._run, name=f"local-ocr-{i}", daemon=True)
            t.start()
            self._threads.append(t)

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the threads; candidates not started are answered ``Shutdown``."""
        with self._cond:
            self._stopping = True
            left = list(self._slots.values())
            self._slots.clear()
            self._order.clear()
            self._cond.notify_all()
        for cand, reply in left:
            _deliver(reply, _not_read(cand, "Shutdown"))
        end = time.monotonic() + timeout
        for t in self._threads:
            t.join(max(0.0, end - time.monotonic()))
        self._threads = [t for t in self._threads if t.is_alive()]

    def submit(self, candidate: Candidate, reply: Reply) -> None:
        """Put ``candidate`` in its camera's slot; never blocks. A replaced one gets ``Dropped``."""
        replaced: tuple[Candidate, Reply] | None = None
        with self._cond:
            if self._stopping:
                replaced = (candidate, reply)
            else:
                replaced = self._slots.get(candidate.camera_id)
                self._slots[candidate.camera_id] = (candidate, reply)
                if replaced is None:
                    self._order.append(candidate.camera_id)
                self._cond.notify()
        if replaced is not None:
            self._count("dropped")
            _deliver(replaced[1], _not_read(replaced[0], DROPPED))

    def stats(self) -> dict[str, Any]:
        """Counters (reads, plates, boxes, dropped, errors) and the median ms per read."""
        with self._cond:
            out: dict[str, Any] = {
                k: self._counts[k] for k in ("reads", "plates", "boxes", "dropped", "errors")
            }
            out["ms_median"] = round(statistics.median(self._ms), 1) if self._ms else None
            out["pending"] = len(self._slots)
        return out

    def _count(self, key: str) -> None:
        with self._cond:
            self._counts[key] += 1

    def _next(self) -> tuple[Candidate, Reply] | None:
        with self._cond:
            while not self._order and not self._stopping:
                self._cond.wait(0.5)
            if self._stopping:
                return None
            return self._slots.pop(self._order.popleft())  # round robin over cameras

    def _run(self) -> None:
        while (item := self._next()) is not None:
            cand, reply = item
            _deliver(reply, self._process(cand))
            del item, cand, reply  # an idle thread must not pin its last frame

    def _process(self, cand: Candidate) -> PlateRead:
        started = self._clock()
        try:
            crop, dx, dy = crop_of(cand)
            f = cand.focus
            found = self._reader.read(crop, None if f is None else (f.x - dx, f.y - dy,
                                                                     f.width, f.height))
        except Exception as exc:  # one bad frame must not stop the reader or the lane
            self._count("errors")
            now = self._clock()
            if now - self._last_error_log >= ERROR_LOG_EVERY_S:
                self._last_error_log = now
                log.error("local reader failed on %s frame %d: %r (logged once a minute)",
                          cand.camera_id, cand.frame.seq, exc)
            return _not_read(cand, LOCAL_ERROR)
        ms = (self._clock() - started) * 1000.0
        read = to_read(cand, found, ms, dx, dy)
        with self._cond:
            self._counts["reads"] += 1
            self._counts["plates"] += int(read.ok)
            self._counts["boxes"] += int(read.box_found)
            self._ms.append(ms)
        return read


def _not_read(cand: Candidate, code: str) -> PlateRead:
    return PlateRead(
        camera_id=cand.camera_id, passage_id=cand.passage_id, frame_seq=cand.frame.seq,
        ok=False, error_code=code, called=False, provider="local",
    )


def _deliver(reply: Reply, read: PlateRead) -> None:
    try:
        reply(read)
    except Exception:
        log.exception("local read reply failed for %s/%s", read.camera_id, read.passage_id)
