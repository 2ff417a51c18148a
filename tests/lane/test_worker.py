"""Lane worker end to end: synthetic clip, real motion and tracker, fake OCR, emitted passages."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import timedelta

import numpy as np
import pytest

from daemon.config.models import PassageConfig
from daemon.domain import Candidate, Frame, Image, PlateRead, Rect
from daemon.lane.actions import ReadLocal, RecordRead, SendCandidate
from daemon.lane.worker import LaneWorker
from tests.support.lane import (
    CAMERA,
    CARS,
    T0,
    FakeOcr,
    H,
    Sink,
    W,
    clip,
    run_lane,
)


@pytest.mark.parametrize("sync", [True, False])
def test_two_cars_give_two_passages(sync: bool) -> None:
    ocr = FakeOcr(delay_s=0.05 if sync else 0.01)
    frames = clip()
    lane, sink = run_lane(frames, sync=sync, ocr=ocr, pace_s=0.0 if sync else 0.005)
    assert [p.plate for p in sink.passages] == ["京A12345", "粤B67890"]
    assert len(ocr.candidates) == 2  # one cloud call per car
    assert lane.frames == len(frames)
    assert lane.passages == 2
    assert 40 <= lane.motion_frames <= 80
    assert lane.errors == 0
    for p, cand in zip(sink.passages, ocr.candidates, strict=True):
        assert p.event_id == cand.passage_id
        assert p.captured_at == cand.frame.wall
        # Fast replay (sync) decides on the clip's clock: at the frame being handled when the
        # best (possibly earlier) frame was sent; live decides on the wall clock.
        if sync:
            assert timedelta(0) <= p.decided_at - p.captured_at < timedelta(seconds=2)
        else:
            assert p.decided_at == T0
        assert p.camera == "entry-1"
        assert p.ocr_calls == 1
    assert all(s is not None and s.bgr().shape == (H, W, 3) for s in sink.snapshots)


def test_candidate_deadline_and_roi_box() -> None:
    ocr = FakeOcr()
    run_lane(clip(6.0), sync=True, ocr=ocr)
    cand = ocr.candidates[0]
    assert cand.deadline == 1000.0 + PassageConfig().candidate_max_age_s
    assert cand.attempt == 1
    # ROI x 0.1..0.9 of 640 = 64..576 (512 wide), plus 5 % of 512 each side; full height
    assert cand.roi_box == Rect(38, 0, 564, 360)


def test_sync_waits_for_each_read_before_the_next_frame() -> None:
    ocr = FakeOcr(delay_s=0.3)
    t0 = time.monotonic()
    _, sink = run_lane(clip(), sync=True, ocr=ocr)
    assert time.monotonic() - t0 >= 0.6  # two reads waited for
    assert [p.plate for p in sink.passages] == ["京A12345", "粤B67890"]


def test_failed_reads_at_end_of_clip_are_flushed() -> None:
    """A car still in view when the clip ends: reads fail, the flush records it without a plate."""
    frames = clip(3.0)  # ends while car 1 is in the lane
    ocr = FakeOcr(blind=True)
    _, sink = run_lane(frames, sync=True, ocr=ocr)
    assert len(sink.passages) == 1
    assert sink.passages[0].plate is None
    assert sink.passages[0].ocr_calls == len(ocr.candidates) >= 1


def test_a_bad_frame_is_logged_and_the_lane_goes_on(caplog: pytest.LogCaptureFixture) -> None:
    frames = clip()
    bad = Frame(CAMERA.id, 5, 0.5, T0, np.zeros((0, 0), np.uint8))
    frames.insert(5, bad)
    ocr = FakeOcr()
    lane, sink = run_lane(frames, sync=True, ocr=ocr)
    assert lane.errors >= 1
    assert "lane keeps running" in caplog.text
    assert "secret" not in caplog.text  # the camera password never reaches a log
    assert [p.plate for p in sink.passages] == ["京A12345", "粤B67890"]


def test_stop_event_ends_the_thread() -> None:
    class EndlessSlot:
        closed = False

        def get(self, timeout: float) -> Frame | None:
            time.sleep(min(timeout, 0.01))
            return None

    stop = threading.Event()
    lane = LaneWorker(
        CAMERA, PassageConfig(), "lot-a", EndlessSlot(), FakeOcr().submit, Sink().emit, stop
    )
    lane.start()
    time.sleep(0.05)
    assert lane.is_alive()
    stop.set()
    lane.join(5)
    assert not lane.is_alive()


def test_luma_frames_pay_for_bgr_only_when_sent_or_snapshotted() -> None:
    """Frames as capture builds them (luma plane, BGR on demand) give the same passages; the
    lane converts none of them to BGR (the OCR worker and the snapshot writer do, for the
    frames they use: the snapshots handed on are the frames that were sent)."""
    converted: list[int] = []

    def lazy(f: Frame) -> Frame:
        bgr = f.image
        luma = np.round(16 + bgr[..., 1].astype(np.float32) * (219 / 255)).astype(np.uint8)

        def make() -> Image:
            converted.append(f.seq)
            return bgr

        return Frame(f.camera_id, f.seq, f.pts, f.wall, grey=luma, make_image=make,
                     limited_range=True)

    frames = [lazy(f) for f in clip()]
    ocr = FakeOcr()
    lane, sink = run_lane(frames, sync=True, ocr=ocr)
    assert [p.plate for p in sink.passages] == ["京A12345", "粤B67890"]
    assert lane.errors == 0
    assert converted == []  # the fake OCR does not look at the pictures
    sent = {c.frame.seq for c in ocr.candidates}
    assert len(sent) == 2 and {s.seq for s in sink.snapshots if s is not None} == sent
    assert all(s is not None and s.bgr().shape == (H, W, 3) for s in sink.snapshots)
    assert sorted(converted) == sorted(sent)  # made for the snapshot writer, once each
    assert not any(s.has_image for s in sink.snapshots if s is not None)  # and not kept


def test_lane_tells_capture_when_it_is_busy_and_when_idle() -> None:
    """After each frame the lane marks the slot: busy from the car's arrival until its
    passage closed, idle on the empty lane before, between and after (capture idles then)."""
    frames = clip()
    lane, _sink = run_lane(frames, sync=True, ocr=FakeOcr())
    marks = lane.slot.marks  # type: ignore[attr-defined]
    assert [seq for seq, _ in marks] == [f.seq for f in frames]
    busy = {seq for seq, b in marks if b}
    # Car 1 in view 1.0-4.0 s, car 2 8.0-11.0 s (10 fps): busy covers both cars ...
    for start, end, _ in CARS:
        moving = range(round(start * 10) + 3, round(end * 10) - 3)
        assert set(moving) <= busy
    # ... and the lane is idle before the first car, between the passages and at the end.
    assert not busy & set(range(0, 8))
    assert not busy & {70, 71, 72}
    assert not busy & set(range(140, 150))


def test_a_late_cloud_answer_goes_to_record_read() -> None:
    """The tracker's ``RecordRead`` (an answer after its passage's event) is handed to the
    app's ``record_read``; without one (tests, tools) it is dropped quietly."""
    late = PlateRead(camera_id=CAMERA.id, passage_id="p-1", frame_seq=7, ok=True,
                     plate="京A12345", confidence=97, called=True)
    recorded: list[PlateRead] = []
    lane = LaneWorker(CAMERA, PassageConfig(), "lot-a", clip(1.0), FakeOcr().submit,
                      Sink().emit, threading.Event(), record_read=recorded.append)
    lane._apply([RecordRead(late)])
    assert recorded == [late] and lane.errors == 0
    bare = LaneWorker(CAMERA, PassageConfig(), "lot-a", clip(1.0), FakeOcr().submit,
                      Sink().emit, threading.Event())
    bare._apply([RecordRead(late)])
    assert bare.errors == 0


def test_a_local_read_carries_the_vehicles_box_and_a_call_its_crop() -> None:
    """``ReadLocal.focus`` becomes the candidate's ``focus`` (grown by a tenth, as the lane's
    own-plate rule grows it), the crop staying the lane's; a cropped call's box becomes its
    ``roi_box``."""
    got: list[Candidate] = []
    lane = LaneWorker(CAMERA, PassageConfig(), "lot-a", clip(1.0), lambda c, _r: got.append(c),
                      Sink().emit, threading.Event(), read_local=lambda c, _r: got.append(c))
    frame = clip(1.0)[3]
    lane._send(ReadLocal(frame, "p-1", Rect(100, 100, 200, 100)))
    lane._send(SendCandidate(frame, "p-1", 1, 0.0, Rect(100, 100, 200, 100)))
    assert got[0].focus == Rect(80, 90, 240, 120) and got[0].roi_box == lane._roi_box
    assert got[1].roi_box == Rect(80, 90, 240, 120) and got[1].focus is None


def test_a_detect_frame_read_without_its_main_frame_is_brought_to_the_main_size() -> None:
    """A detect stream's camera whose main stream has no frame for an instant (it lags or is
    down): the frame read and the snapshot are the detect frame at the main stream's size,
    so the event's plate box is in main-stream pixels like the camera's other events."""
    frames = clip()
    # car 1 read from the main stream; from the gap on the main stream gives nothing
    gap = int(CARS[1][0] * 10) - 5

    def main_of(f: Frame) -> Callable[[], Frame | None]:
        big = np.repeat(np.repeat(f.image, 3, axis=0), 3, axis=1)
        return lambda: Frame(f.camera_id, f.seq, f.pts, f.wall, big) if f.seq < gap else None

    dual = [f.retimed(f.seq, f.pts, main_of(f)) for f in frames]
    ocr = FakeOcr()
    _, sink = run_lane(dual, sync=True, ocr=ocr)
    assert [p.plate for p in sink.passages] == ["京A12345", "粤B67890"]
    assert [c.frame.seq < gap for c in ocr.candidates] == [True, False]
    for cand in ocr.candidates:  # the lane's crop in main pixels too (38, 0, 564, 360 x 3)
        assert (cand.frame.width, cand.frame.height) == (3 * W, 3 * H)
        box = cand.roi_box
        assert box is not None and abs(box.x - 3 * 38) <= 2 and abs(box.width - 3 * 564) <= 3
    scaled = ocr.candidates[1].frame
    assert scaled.pts == frames[scaled.seq].pts and scaled.wall == frames[scaled.seq].wall
    assert np.array_equal(scaled.image[1::3, 1::3], frames[scaled.seq].image)  # linear, 3x
    assert all(s is not None and s.bgr().shape == (3 * H, 3 * W, 3) for s in sink.snapshots)


def test_a_detect_frame_is_read_as_it_is_before_any_main_frame() -> None:
    """No main frame yet: the main stream's size is unknown, the detect frame is read as is."""
    ocr = FakeOcr()
    run_lane([f.retimed(f.seq, f.pts, lambda: None) for f in clip(6.0)], sync=True, ocr=ocr)
    assert ocr.candidates and all(
        (c.frame.width, c.frame.height) == (W, H) for c in ocr.candidates)
