"""Passage tracker: one event per vehicle, waiting cars, dedup, failed and invalid reads."""

from __future__ import annotations

import gc
import itertools
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import numpy as np

from daemon.config.models import CameraConfig, PassageConfig
from daemon.domain import Frame, MotionResult, PlateRead, Rect
from daemon.lane.actions import EmitPassage, RecordRead, SendCandidate
from daemon.lane.passage import PassageTracker

T0 = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)
FPS = 10
IMAGE = np.zeros((360, 640, 3), np.uint8)
CAMERA = CameraConfig(id="entry-1", url="rtsp://cam/stream", direction="entry")

Answer = Callable[[SendCandidate], PlateRead]


def read_of(plate: str | None, confidence: int = 95, *, ok: bool = True) -> Answer:
    """A fake OCR that answers every candidate with the same text."""
    counter = itertools.count(1)

    def answer(send: SendCandidate) -> PlateRead:
        n = next(counter)
        return PlateRead(
            camera_id=CAMERA.id,
            passage_id=send.passage_id,
            frame_seq=send.frame.seq,
            ok=ok and plate is not None,
            plate=plate,
            confidence=confidence if plate else 0,
            color="蓝",
            category="实体车牌",
            rect=Rect(300, 250, 80, 25),
            error_code=None if plate else "FailedOperation.OcrFailed",
            request_id=f"req-{n}",
            latency_ms=150.0,
        )

    return answer


def answers(*items: Answer) -> Answer:
    """Answer the n-th candidate with the n-th fake (the last one repeats)."""
    calls = itertools.count()

    def answer(send: SendCandidate) -> PlateRead:
        return items[min(next(calls), len(items) - 1)](send)

    return answer


@dataclass
class Run:
    sends: list[SendCandidate] = field(default_factory=list)
    emits: list[tuple[float, EmitPassage]] = field(default_factory=list)


def vehicle(start: float, drive_s: float = 2.0, wait_s: float = 0.0) -> list[tuple[float, Rect]]:
    """Motion of one car: it drives down the lane, may wait at the barrier, then leaves."""
    steps: list[tuple[float, Rect]] = []
    n = int(drive_s * FPS)
    for i in range(n):
        steps.append((start + i / FPS, Rect(200, 20 + i * 200 // n, 220, 120)))
    last = steps[-1][1]
    for i in range(int(wait_s * FPS)):
        steps.append((start + drive_s + i / FPS, last))
    return steps


def drive(
    tracker: PassageTracker,
    motion: Iterable[tuple[float, Rect]],
    answer: Answer,
    until: float,
    *,
    run: Run | None = None,
    start: float = 0.0,
) -> Run:
    """Feed frames at FPS from ``start`` to ``until``; answers come back before the next frame."""
    run = run or Run()
    moving = {round(pts * FPS): box for pts, box in motion}
    for tick in range(round(start * FPS), round(until * FPS)):
        pts = tick / FPS
        box = moving.get(tick)
        frame = Frame(CAMERA.id, tick, pts, T0 + timedelta(seconds=pts), IMAGE)
        result = MotionResult(moving=box is not None, fraction=0.1 if box else 0.0, bbox=box)
        pending = tracker.on_frame(frame, result)
        while pending:
            action = pending.pop(0)
            if isinstance(action, SendCandidate):
                run.sends.append(action)
                pending.extend(tracker.on_read(answer(action), pts, T0 + timedelta(seconds=pts)))
            else:
                run.emits.append((pts, action))
    return run


def tracker(**cfg: float) -> PassageTracker:
    ids = (f"p{i}" for i in itertools.count(1))
    return PassageTracker(
        CAMERA, PassageConfig.model_validate({"in_view_bottom": 0.7, **cfg}), "lot-a",
        new_id=lambda: next(ids),
    )


def test_one_vehicle_one_event_while_it_is_still_there() -> None:
    t = tracker()
    run = drive(t, vehicle(1.0, drive_s=3.0), read_of("京A12345", 95), until=10.0)
    assert len(run.sends) == 1
    assert len(run.emits) == 1
    at, emit = run.emits[0]
    assert at < 4.0  # decided while the car is in the lane, not after it left
    p = emit.passage
    assert (p.plate, p.confidence, p.color, p.camera, p.site) == (
        "京A12345",
        95,
        "蓝",
        "entry-1",
        "lot-a",
    )
    assert p.event_id == run.sends[0].passage_id == "p1"
    assert p.direction == "entry"
    sent = run.sends[0].frame
    assert p.captured_at == sent.wall
    assert p.ocr_calls == 1
    assert p.request_ids == ("req-1",)
    assert emit.snapshot is sent
    assert len(emit.reads) == 1
    assert t.open_id is None  # closed after the lane cleared


def test_car_waiting_60s_at_the_barrier_is_one_event() -> None:
    t = tracker()
    run = drive(t, vehicle(1.0, drive_s=2.0, wait_s=60.0), read_of("粤B12345", 92), until=70.0)
    assert len(run.emits) == 1
    assert len(run.sends) == 1  # no calls after the trusted read, however long it waits
    assert run.emits[0][0] < 4.0


def test_same_plate_twice_within_dedup_window_is_one_event() -> None:
    t = tracker(dedup_window_s=30.0)
    motion = vehicle(1.0) + vehicle(10.0) + vehicle(50.0)
    run = drive(t, motion, read_of("京A12345", 95), until=60.0)
    assert len(run.sends) == 3  # each passage reads the plate ...
    # ... the second is a duplicate; the third is outside the window
    assert [e.passage.event_id for _, e in run.emits] == ["p1", "p3"]
    assert 1.0 < run.emits[0][0] < 3.0
    assert 50.0 < run.emits[1][0] < 52.0
    assert t.deduplicated == 1


def test_different_plates_back_to_back_are_two_events() -> None:
    t = tracker()
    run = drive(
        t,
        vehicle(1.0) + vehicle(6.0),
        answers(read_of("京A12345"), read_of("京B67890")),
        until=12.0,
    )
    assert [e.passage.plate for _, e in run.emits] == ["京A12345", "京B67890"]
    assert len({e.passage.event_id for _, e in run.emits}) == 2


def test_failed_reads_give_one_plateless_passage_at_lane_clear() -> None:
    t = tracker(max_calls=3, clear_after_s=1.5)
    run = drive(t, vehicle(1.0, drive_s=3.0), read_of(None, ok=False), until=10.0)
    assert len(run.sends) == 3
    assert [s.attempt for s in run.sends] == [1, 2, 3]
    assert len({s.frame.seq for s in run.sends}) == 3  # every retry is a newer frame
    assert len(run.emits) == 1
    at, emit = run.emits[0]
    assert at >= 3.9 + 1.5 - 1e-9  # at lane clear: last motion at 3.9, clear_after_s 1.5
    assert emit.passage.plate is None
    assert emit.passage.confidence == 0
    assert emit.passage.ocr_calls == 3
    assert emit.snapshot is not None


def test_a_car_arriving_after_a_spent_plateless_passage_gets_its_own() -> None:
    """Something at the far end (a ghost, a light) spent all calls without a plate and holds
    the passage open; a car then starts moving in from the far end: it is a new passage
    (the rise rule cannot see it, the spent passage never came down the lane)."""
    tr = tracker(max_calls=3, clear_after_s=1.5)
    ghost = [(i / FPS, Rect(400, 0, 100, 60)) for i in range(25)]
    car = [(3.0 + i / FPS, Rect(200, 0, 220, 50 + i * 15)) for i in range(21)]
    run = drive(tr, ghost + car, answers(read_of(None, ok=False), read_of(None, ok=False),
                                         read_of(None, ok=False), read_of("沪C8K562")), 8.0)
    assert [e.passage.plate for _, e in run.emits] == [None, "沪C8K562"]
    assert [e.passage.ocr_calls for _, e in run.emits] == [3, 1]


def test_a_fast_car_right_after_a_read_one_left_gets_its_own_passage() -> None:
    """Held-out seed 133: the read car drives out at the bottom, the lane is still for a
    moment, and a plateless car crosses it in 0.4 s, too fast for the rise rule (0.3 s at
    the far edge): motion starting afresh at the far end, a box just coming into view, is
    the next vehicle once the decided one went."""
    tr = tracker(max_calls=1, clear_after_s=1.5)
    first = [(1.0 + i / FPS, Rect(200, 0, 220, 60 + i * 10)) for i in range(30)]
    fast = [(4.4, Rect(200, 0, 220, 60)), (4.5, Rect(200, 0, 220, 200)),
            (4.6, Rect(200, 60, 220, 240)), (4.7, Rect(200, 200, 220, 160))]
    run = drive(tr, first + fast, answers(read_of("京A12345"), read_of(None, ok=False)), 8.0)
    assert [e.passage.plate for _, e in run.emits] == ["京A12345", None]
    assert [e.passage.ocr_calls for _, e in run.emits] == [1, 1]


def test_an_unreadable_car_pulling_away_stays_one_passage() -> None:
    """Spent without a plate, a long car stops (motion ends), then pulls away: its motion
    restarts with the box reaching the far end, but low in the lane: nothing splits."""
    tr = tracker(max_calls=3, clear_after_s=1.5)
    drive_in = vehicle(0.0, drive_s=2.0, wait_s=2.0)  # calls spent while it creeps
    away = [(5.0 + i / FPS, Rect(200, 0, 220, 330 + 3 * i)) for i in range(10)]
    run = drive(tr, drive_in + away, read_of(None, ok=False), 9.0)
    assert len(run.sends) == 3 and run.sends[-1].frame.pts < 4.0
    assert [e.passage.plate for _, e in run.emits] == [None]


def test_invalid_grammar_never_becomes_a_plate() -> None:
    t = tracker(max_calls=2)
    run = drive(t, vehicle(1.0), read_of("2026-11-25", 99), until=8.0)
    assert len(run.sends) == 2  # an invalid read is not trusted: the passage tries again
    assert len(run.emits) == 1
    assert run.emits[0][1].passage.plate is None


def test_low_confidence_valid_read_is_reported_at_close() -> None:
    t = tracker(max_calls=2, min_confidence=80)
    run = drive(
        t,
        vehicle(1.0),
        answers(read_of("2026-11-25", 99), read_of("京A12345", 60)),
        until=8.0,
    )
    assert len(run.emits) == 1
    p = run.emits[0][1].passage
    assert p.plate == "京A12345"
    assert p.confidence == 60  # below min_confidence: the event says it is not trusted
    assert p.captured_at == run.sends[1].frame.wall


def test_a_sure_read_after_an_unsure_event_of_the_same_plate_is_published_once() -> None:
    """Gate safety: the first visit closed on a reading below the trust threshold (access
    ``low_confidence``, the barrier stays shut); the car tries again within the dedup window
    and is read surely: that event is published (it may open the barrier), once. An unsure
    reading after it, and a sure one after that, are the same car again."""
    t = tracker(max_calls=2, min_confidence=80, dedup_window_s=60.0)  # allow floor 80
    motion = vehicle(1.0) + vehicle(10.0) + vehicle(20.0) + vehicle(30.0)
    run = drive(t, motion, answers(read_of("京A12345", 60), read_of("京A12345", 60),
                                   read_of("京A12345", 95), read_of("京A12345", 60),
                                   read_of("京A12345", 60), read_of("京A12345", 97)), until=40.0)
    assert [(e.passage.plate, e.passage.confidence) for _, e in run.emits] == [
        ("京A12345", 60), ("京A12345", 95)]
    assert 10.0 < run.emits[1][0] < 12.0, "at once, while the car is at the barrier"
    assert t.deduplicated == 2


def test_confusables_fixed_before_emitting() -> None:
    t = tracker()
    run = drive(t, vehicle(1.0), read_of("京ＡO·1234", 90), until=6.0)
    assert [e.passage.plate for _, e in run.emits] == ["京A01234"]


def test_a_blip_without_a_call_emits_nothing() -> None:
    t = tracker(settle_s=0.6)
    blip = [(1.0, Rect(10, 10, 30, 30)), (1.1, Rect(12, 10, 30, 30))]
    run = drive(t, blip, read_of("京A12345"), until=5.0)
    assert run.sends == []
    assert run.emits == []
    assert t.dropped == 1


def test_flush_closes_the_open_passage() -> None:
    t = tracker(max_calls=1)
    run = drive(t, vehicle(1.0, drive_s=2.0), read_of(None, ok=False), until=2.5)
    assert run.emits == []
    actions = t.flush(2.5, T0)
    assert len(actions) == 1
    emit = actions[0]
    assert isinstance(emit, EmitPassage)
    assert emit.passage.plate is None
    assert emit.passage.decided_at == T0
    assert t.flush(2.6) == []


def test_max_open_forces_a_close() -> None:
    t = tracker(max_open_s=20.0, max_calls=1)
    run = drive(t, vehicle(1.0, drive_s=2.0, wait_s=40.0), read_of(None, ok=False), until=30.0)
    assert len(run.emits) == 1
    assert 20.5 <= run.emits[0][0] <= 22.0


def test_read_for_unknown_passage_is_only_recorded() -> None:
    """A cloud answer for a passage that is no longer open (a paid call) decides nothing and
    is recorded on its own."""
    t = tracker()
    stray = PlateRead(
        camera_id="entry-1",
        passage_id="nope",
        frame_seq=1,
        ok=True,
        plate="京A12345",
        confidence=99,
    )
    [late] = t.on_read(stray, 1.0)
    assert isinstance(late, RecordRead) and late.read is stray
    assert t.open_id is None and t.emitted == 0


def test_occupied_lane_keeps_the_passage_open_without_motion() -> None:
    """A stopped car absorbed by the background (occupied, not moving) stays one passage."""
    tr = tracker()
    run = Run()
    box = Rect(200, 150, 220, 180)
    for tick in range(0, 700):  # 70 s: 1 s driving in, 60 s standing, then gone
        pts = tick / FPS
        moving = tick < 10 or 610 <= tick < 630
        occupied = tick < 630
        frame = Frame(CAMERA.id, tick, pts, T0 + timedelta(seconds=pts), IMAGE)
        result = MotionResult(
            moving=moving, fraction=0.1 if moving else 0.0, bbox=box if occupied else None,
            occupied=occupied,
        )
        pending = tr.on_frame(frame, result)
        while pending:
            action = pending.pop(0)
            if isinstance(action, SendCandidate):
                run.sends.append(action)
                pending.extend(tr.on_read(read_of("京AF0236")(action), pts))
            else:
                run.emits.append((pts, action))
        if tick == 600:
            assert tr.open_id is not None, "still open while the car stands"
    assert len(run.sends) == 1 and len(run.emits) == 1
    assert tr.open_id is None


def test_next_car_entering_before_the_lane_clears_is_a_new_passage() -> None:
    """Back to back: the box jumps back to the top of the lane; the second car is read too."""
    tr = tracker()
    first = [(i / FPS, Rect(200, 40 + i * 14, 220, 120 + i * 6)) for i in range(20)]
    # the first car reached the bottom; the second enters at the top before any quiet frame
    second = [(2.0 + i / FPS, Rect(200, 0, 220, 80 + i * 10)) for i in range(20)]
    run = drive(tr, first + second, answers(read_of("京AF0236"), read_of("沪C8K562")), 6.0)
    plates = [e.passage.plate for _, e in run.emits]
    assert plates == ["京AF0236", "沪C8K562"]
    assert len(run.sends) == 2


def test_close_follower_first_seen_half_way_down_is_a_new_passage() -> None:
    """Back to back, closer: the follower's box merges with the leaving car's until that one
    is gone, so it first shows up half-way down the lane and keeps driving towards the
    first car's lowest point while the rise has to last (``NEW_VEHICLE_S``)."""
    tr = tracker()

    def box(top: float, bottom: float) -> Rect:
        return Rect(200, round(top * 360), 220, round((bottom - top) * 360))

    first = [(i / FPS, box(0.05 + 0.02 * i, 0.3 + 0.037 * i)) for i in range(20)]
    merged = [(2.0 + i / FPS, box(0.0, 1.0)) for i in range(10)]  # leaving car + follower
    follower = [(3.0 + i / FPS, box(0.0, min(1.0, 0.65 + 0.05 * i))) for i in range(20)]
    run = drive(
        tr, first + merged + follower, answers(read_of("京AF0236"), read_of("沪C8K562")), 7.0
    )
    plates = [e.passage.plate for _, e in run.emits]
    assert plates == ["京AF0236", "沪C8K562"]
    assert len(run.sends) == 2


def test_a_decided_passage_keeps_no_frame_alive() -> None:
    """Once a trusted read decided the passage, its frames are freed while the car is still there
    (each pins a decoder buffer, and the one read a BGR copy: ~9 MB at 1080p)."""
    t = tracker()
    run = drive(t, vehicle(1.0, drive_s=3.0, wait_s=5.0), read_of("京A12345", 95), until=6.0)
    assert len(run.emits) == 1
    assert t.open_id == "p1"  # the car still waits at the barrier
    frames = [s.frame for s in run.sends]
    held_by = [r for f in frames for r in gc.get_referrers(f) if isinstance(r, dict | tuple)]
    assert held_by == []


def test_plate_size_window_ignores_reads_outside_it() -> None:
    """min/max_plate_width_px: a plate 80 px wide (read_of's rect) counts only inside them."""

    def run_with(**window: int) -> Run:
        camera = CAMERA.model_copy(update=window)
        ids = (f"p{i}" for i in itertools.count(1))
        t = PassageTracker(camera, PassageConfig.model_validate({"in_view_bottom": 0.7}),
                           "lot-a", new_id=lambda: next(ids))
        return drive(t, vehicle(1.0, wait_s=2.0), read_of("京AF0236"), until=8.0)

    inside = run_with(min_plate_width_px=60, max_plate_width_px=120)
    assert [e.passage.plate for _, e in inside.emits] == ["京AF0236"]
    assert len(inside.sends) == 1  # trusted at once
    for window in ({"min_plate_width_px": 100}, {"max_plate_width_px": 70}):
        outside = run_with(**window)
        # every call spent, then a passage without a plate: never the out-of-window one
        assert len(outside.sends) == PassageConfig().max_calls, window
        assert [e.passage.plate for _, e in outside.emits] == [None], window


def test_plate_size_window_must_be_ordered() -> None:
    import pytest
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="max_plate_width_px 50 is below"):
        CameraConfig(id="c", url="x", min_plate_width_px=80, max_plate_width_px=50)
