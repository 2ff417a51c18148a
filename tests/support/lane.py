"""Lane fakes: a synthetic two-car clip, a fake frame slot, a fake OCR and a passage sink."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import numpy as np

from daemon.config.models import CameraConfig, PassageConfig
from daemon.domain import Candidate, Frame, Image, Passage, PlateRead
from daemon.lane.worker import LaneWorker

T0 = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)
W, H, FPS = 640, 360, 10

CAMERA = CameraConfig(
    id="entry-1",
    url="rtsp://user:secret@cam/stream",
    roi=[(0.1, 0.0), (0.9, 0.0), (0.9, 1.0), (0.1, 1.0)],
)

CARS = [(1.0, 4.0, "京A12345"), (8.0, 11.0, "粤B67890")]
"""(enter pts, leave pts, plate) of each synthetic car."""


def background() -> Image:
    rng = np.random.default_rng(7)
    grad = np.linspace(70, 150, W, dtype=np.float32)[None, :].repeat(H, 0)
    return np.clip(grad[..., None].repeat(3, 2) + rng.normal(0, 5, (H, W, 3)), 0, 255).astype(
        np.uint8
    )


def clip(seconds: float = 15.0) -> list[Frame]:
    """Two dark 'cars' driving down the lane, with empty lane before, between and after."""
    bg = background()
    frames = []
    for seq in range(int(seconds * FPS)):
        pts = seq / FPS
        img = bg.copy()
        for start, end, _ in CARS:
            if start <= pts < end:
                y = int(10 + (pts - start) / (end - start) * 200)
                img[y : y + 140, 220:440] = 30
        frames.append(Frame(CAMERA.id, seq, pts, T0 + timedelta(seconds=pts), img))
    return frames


class FakeSlot:
    """Stands in for capture's LatestFrameSlot: hands out a list of frames, then is closed."""

    def __init__(self, frames: list[Frame], pace_s: float = 0.0) -> None:
        self._frames = list(frames)
        self._pace_s = pace_s
        self._lock = threading.Lock()
        self.marks: list[tuple[int, bool]] = []
        """What the lane said after each frame: (seq, busy)."""

    def get(self, timeout: float) -> Frame | None:
        if self._pace_s:
            time.sleep(self._pace_s)
        with self._lock:
            return self._frames.pop(0) if self._frames else None

    @property
    def closed(self) -> bool:
        with self._lock:
            return not self._frames

    def mark_lane(self, seq: int, busy: bool) -> None:
        self.marks.append((seq, busy))


def plate_at(pts: float) -> str | None:
    return next((plate for start, end, plate in CARS if start <= pts < end), None)


@dataclass
class FakeOcr:
    """Answers every candidate on another thread after ``delay_s`` with the car in that frame."""

    delay_s: float = 0.02
    blind: bool = False
    """Find no plate in any frame."""
    candidates: list[Candidate] = field(default_factory=list)
    threads: list[threading.Thread] = field(default_factory=list)

    def submit(self, cand: Candidate, reply: Callable[[PlateRead], None]) -> None:
        self.candidates.append(cand)
        plate = None if self.blind else plate_at(cand.frame.pts)

        def answer() -> None:
            time.sleep(self.delay_s)
            reply(
                PlateRead(
                    camera_id=cand.camera_id,
                    passage_id=cand.passage_id,
                    frame_seq=cand.frame.seq,
                    ok=plate is not None,
                    plate=plate,
                    confidence=96 if plate else 0,
                    error_code=None if plate else "FailedOperation.OcrFailed",
                    request_id=f"r{len(self.candidates)}",
                    latency_ms=self.delay_s * 1000,
                )
            )

        t = threading.Thread(target=answer, daemon=True)
        self.threads.append(t)
        t.start()


@dataclass
class Sink:
    passages: list[Passage] = field(default_factory=list)
    reads: list[Sequence[PlateRead]] = field(default_factory=list)
    snapshots: list[Frame | None] = field(default_factory=list)

    def emit(self, p: Passage, reads: Sequence[PlateRead], snap: Frame | None) -> None:
        self.passages.append(p)
        self.reads.append(reads)
        self.snapshots.append(snap)


def run_lane(
    frames: list[Frame], *, sync: bool, ocr: FakeOcr, pace_s: float = 0.0
) -> tuple[LaneWorker, Sink]:
    sink = Sink()
    stop = threading.Event()
    lane = LaneWorker(
        CAMERA,
        PassageConfig(),
        "lot-a",
        FakeSlot(frames, pace_s),
        ocr.submit,
        sink.emit,
        stop,
        sync_reads=sync,
        wall_now=lambda: T0,
        monotonic=lambda: 1000.0,
    )
    lane.start()
    lane.join(30)
    assert not lane.is_alive()
    return lane, sink
