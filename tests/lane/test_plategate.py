"""The local-reader-driven send policy (ocr.mode) through the passage tracker: fake local
reads, fake cloud reads, the frame pts as the clock."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from daemon.config.models import CameraConfig, PassageConfig
from daemon.domain import Frame, MotionResult, Passage, PlateRead, Rect
from daemon.lane.passage import EmitPassage, PassageTracker, ReadLocal, SendCandidate
from daemon.lane.plategate import GateSettings

T0 = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)
FPS = 10
IMAGE = np.zeros((360, 640, 3), np.uint8)
CAMERA = CameraConfig(id="entry-1", url="rtsp://cam/stream", direction="entry")
PLATE = "京A12345"

Local = Callable[[float], tuple[str | None, int, int] | None]
"""pts -> (text, confidence, box width px) the local reader sees, None: no plate box."""
Cloud = Callable[[SendCandidate], PlateRead]


def plate_from(start: float, text: str | None = PLATE, conf: int = 96, width: int = 140,
               until: float = 99.0) -> Local:
    def see(pts: float) -> tuple[str | None, int, int] | None:
        return (text, conf, width) if start <= pts < until else None
    return see


def cloud_says(plate: str | None, *, code: str | None = None, category: str = "实体车牌") -> Cloud:
    def answer(send: SendCandidate) -> PlateRead:
        return PlateRead(
            camera_id=CAMERA.id, passage_id=send.passage_id, frame_seq=send.frame.seq,
            ok=plate is not None, plate=plate, confidence=97 if plate else 0, color="蓝",
            category=category if plate else None, rect=Rect(300, 250, 140, 40),
            error_code=code if plate is None else None, request_id=f"req-{send.frame.seq}",
            called=code != "CircuitOpen",
        )
    return answer


@dataclass
class Run:
    passages: list[Passage] = field(default_factory=list)
    calls: list[float] = field(default_factory=list)
    local_reads: int = 0
    decided_pts: list[float] = field(default_factory=list)


def drive(mode: str, local: Local, cloud: Cloud, moving: list[tuple[float, float]],
          seconds: float = 12.0, **gate: int) -> Run:
    """Frames at FPS; motion (box low in the lane) during each ``moving`` span."""
    tracker = PassageTracker(CAMERA, PassageConfig(), "lot-a",
                             gate=GateSettings(mode=mode, **gate))
    run = Run()

    def apply(actions: list, pts: float) -> None:
        pending = list(actions)
        while pending:
            action = pending.pop(0)
            if isinstance(action, ReadLocal):
                run.local_reads += 1
                seen = local(pts)
                read = PlateRead(
                    camera_id=CAMERA.id, passage_id=action.passage_id,
                    frame_seq=action.frame.seq, ok=bool(seen and seen[0]),
                    plate=seen[0] if seen else None, confidence=seen[1] if seen else 0,
                    rect=Rect(300, 250, seen[2], 40) if seen else None, called=False,
                    provider="local", box_found=seen is not None,
                )
                pending += tracker.on_read(read, pts)
            elif isinstance(action, SendCandidate):
                run.calls.append(pts)
                pending += tracker.on_read(cloud(action), pts)
            elif isinstance(action, EmitPassage):
                run.passages.append(action.passage)
                run.decided_pts.append(pts)

    for seq in range(int(seconds * FPS)):
        pts = seq / FPS
        on = any(a <= pts < b for a, b in moving)
        motion = MotionResult(on, 0.2 if on else 0.0, Rect(200, 150, 240, 200) if on else None)
        frame = Frame(CAMERA.id, seq, pts, T0 + timedelta(seconds=pts), IMAGE)
        apply(tracker.on_frame(frame, motion), pts)
    apply(tracker.flush(seconds), seconds)
    return run


def test_cloud_mode_one_call_for_the_frame_the_reader_saw_a_plate_in() -> None:
    run = drive("cloud", plate_from(2.0), cloud_says(PLATE), [(1.0, 5.0)])
    assert len(run.calls) == 1 and run.calls[0] >= 2.0  # not before the plate was visible
    [p] = run.passages
    assert p.plate == PLATE and p.provider == "tencent" and p.ocr_calls == 1
    assert p.local_confidence == 96


def test_cloud_mode_no_call_while_the_box_is_too_small() -> None:
    small_then_big = lambda pts: (PLATE, 96, 60 if pts < 3.0 else 140)  # noqa: E731
    run = drive("cloud", small_then_big, cloud_says(PLATE), [(1.0, 5.0)])
    assert run.calls and min(run.calls) >= 3.0


def test_local_first_agreeing_local_reading_is_final_without_a_call() -> None:
    run = drive("local_first", plate_from(2.0), cloud_says(PLATE), [(1.0, 5.0)])
    assert run.calls == []
    [p] = run.passages
    assert p.plate == PLATE and p.provider == "local" and p.ocr_calls == 0
    assert run.decided_pts[0] - 2.0 <= 0.15  # two frames: legible -> decided


def test_local_first_calls_the_cloud_when_the_reading_never_agrees() -> None:
    flip = iter(["京A12345", "京A12346", "京A12347", "京A12348"] * 40)
    run = drive("local_first", lambda pts: (next(flip), 85, 140) if pts >= 2 else None,
                cloud_says(PLATE), [(1.0, 5.0)])
    assert len(run.calls) == 1
    [p] = run.passages
    assert p.plate == PLATE and p.provider == "tencent"


def test_local_mode_never_calls_and_publishes_the_local_reading() -> None:
    def boom(_send: SendCandidate) -> PlateRead:
        raise AssertionError("no cloud in local mode")
    run = drive("local", plate_from(2.0), boom, [(1.0, 5.0)])
    [p] = run.passages
    assert p.plate == PLATE and p.provider == "local" and p.ocr_calls == 0


def test_walker_motion_without_a_plate_box_publishes_nothing() -> None:
    run = drive("cloud", lambda _pts: None, cloud_says(PLATE), [(1.0, 6.0)])
    assert run.passages == [] and run.calls == []
    assert run.local_reads > 10  # the reader did look


def test_car_leaving_after_its_read_opens_no_second_passage() -> None:
    """Read at 2 s; the lane goes quiet, then the same car pulls away (rear, no plate)."""
    run = drive("cloud", plate_from(2.0, until=4.0), cloud_says(PLATE),
                [(1.0, 4.0), (6.0, 9.0)])
    assert [p.plate for p in run.passages] == [PLATE]
    assert len(run.calls) == 1


def test_car_leaving_with_its_plate_in_view_is_deduplicated_without_a_call() -> None:
    run = drive("cloud", plate_from(2.0), cloud_says(PLATE), [(1.0, 4.0), (6.0, 9.0)])
    assert [p.plate for p in run.passages] == [PLATE]
    assert len(run.calls) == 1


def test_unreadable_plate_seen_in_frames_is_a_plateless_passage() -> None:
    run = drive("cloud", plate_from(2.0, text=None, conf=0), cloud_says(None,
                code="FailedOperation.OcrFailed"), [(1.0, 5.0)])
    [p] = run.passages
    assert p.plate is None and p.ocr_calls >= 1


def test_one_stray_box_is_not_a_passage() -> None:
    run = drive("local", lambda pts: (None, 0, 140) if 2.0 <= pts < 2.1 else None,
                cloud_says(None), [(1.0, 5.0)])
    assert run.passages == []


@pytest.mark.parametrize("code", ["CircuitOpen", "FailedOperation.ArrearsError", "Timeout"])
def test_cloud_offline_the_passage_carries_the_local_reading(code: str) -> None:
    run = drive("cloud", plate_from(2.0), cloud_says(None, code=code), [(1.0, 5.0)])
    [p] = run.passages
    assert p.plate == PLATE and p.provider == "local" and p.local_confidence == 96
    assert run.decided_pts[0] < 3.0  # at the barrier, not when the lane clears


def test_not_physical_category_from_the_cloud_stays_on_a_local_reading() -> None:
    invalid = cloud_says("SCREEN", category="非实体车牌")  # cloud: text no plate, a screen
    run = drive("cloud", plate_from(2.0), invalid, [(1.0, 5.0)])
    [p] = run.passages
    assert p.provider == "local" and p.category == "非实体车牌"


def test_back_to_back_cars_in_local_first_are_two_passages() -> None:
    two = lambda pts: ("京A12345", 96, 140) if pts < 5 else ("粤B67890", 96, 140)  # noqa: E731
    run = drive("local_first", two, cloud_says(None), [(1.0, 4.5), (6.5, 9.0)])
    assert [p.plate for p in run.passages] == ["京A12345", "粤B67890"]
