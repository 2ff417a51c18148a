"""Lane rules found on the held-out clips (issue 11): a read car turning away up the lane, the
cloud reading a parked car's plate, a car without plates passing a parked car, a small car
first seen far up the lane. Driven through the passage tracker with fake readers (the frame
pts as the clock), as tests/lane/test_plategate.py does, but the fake local reader says
where in the picture it saw the plate."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import numpy as np

from daemon.config.models import CameraConfig, PassageConfig
from daemon.domain import Frame, MotionResult, Passage, PlateRead, Rect
from daemon.lane.actions import EmitPassage, ReadLocal, SendCandidate
from daemon.lane.passage import PassageTracker
from daemon.lane.plategate import GateSettings
from daemon.lane.worker import vehicle_crop

T0 = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)
FPS = 10
IMAGE = np.zeros((360, 640, 3), np.uint8)
CAMERA = CameraConfig(id="entry-1", url="rtsp://cam/stream", direction="entry")
PLATE = "京A12345"
PARKED = "鄂E60515F"
PARKED_AT = Rect(560, 300, 76, 22)
"""A parked car's plate at the right edge of the 640x360 picture."""

Seen = tuple[str | None, Rect] | None
"""What the local reader sees in a frame: (text, plate box), None: no plate box."""


@dataclass
class Run:
    passages: list[Passage] = field(default_factory=list)
    sends: list[SendCandidate] = field(default_factory=list)


def drive(local: Callable[[float], Seen], cloud: Callable[[SendCandidate], tuple[str, Rect]],
          box: Callable[[float], Rect | None], seconds: float, *, mode: str = "cloud",
          camera: CameraConfig = CAMERA, still: Callable[[float], bool] = lambda _pts: False,
          ) -> Run:
    """Frames at FPS with motion wherever ``box`` gives one (the lane only occupied where
    ``still``); every reading is answered at once."""
    tracker = PassageTracker(camera, PassageConfig(), "lot-a", gate=GateSettings(mode=mode))
    run = Run()

    def answer(action: object, pts: float) -> list:
        if isinstance(action, ReadLocal):
            seen = local(pts)
            read = PlateRead(
                camera_id=CAMERA.id, passage_id=action.passage_id, frame_seq=action.frame.seq,
                ok=bool(seen and seen[0]), plate=seen[0] if seen else None,
                confidence=96 if seen else 0, rect=seen[1] if seen else None, called=False,
                provider="local", box_found=seen is not None, image_size=(640, 360),
            )
            return tracker.on_read(read, pts)
        if isinstance(action, SendCandidate):
            run.sends.append(action)
            plate, rect = cloud(action)
            return tracker.on_read(PlateRead(
                camera_id=CAMERA.id, passage_id=action.passage_id, frame_seq=action.frame.seq,
                ok=True, plate=plate, confidence=97, color="蓝", rect=rect, called=True,
            ), pts)
        if isinstance(action, EmitPassage):
            run.passages.append(action.passage)
        return []

    for seq in range(int(seconds * FPS)):
        pts = seq / FPS
        bbox = box(pts)
        moving = bbox is not None and not still(pts)
        motion = MotionResult(moving, 0.2 if moving else 0.0, bbox, occupied=bbox is not None)
        pending = tracker.on_frame(Frame(CAMERA.id, seq, pts, T0 + timedelta(seconds=pts),
                                         IMAGE), motion)
        while pending:
            pending += answer(pending.pop(0), pts)
    for action in tracker.flush(seconds):
        answer(action, seconds)
    return run


def down_the_lane(start: float, seconds: float = 2.0, x: int = 170, width: int = 300,
                  to_width: int | None = None) -> Callable[[float], Rect]:
    """A box driving down the 360 px lane from the far end to the barrier in ``seconds`` from
    ``start`` (``width`` px wide, widening to ``to_width``), then standing there."""
    def box(pts: float) -> Rect:
        k = min(1.0, max(0.0, (pts - start) / seconds))
        bottom = round(40 + k * 315)
        w = round(width + k * ((to_width or width) - width))
        return Rect(x + (width - w) // 2, max(0, bottom - 200), w, min(200, bottom))
    return box


def the_plate_under(box: Callable[[float], Rect], text: str | None) -> Callable[[float], Seen]:
    """The vehicle's own plate: at the bottom middle of its box."""
    def seen(pts: float) -> Seen:
        b = box(pts)
        return text, Rect(b.x + b.width // 2 - 50, b.y + b.height - 40, 100, 30)
    return seen


def test_a_read_car_turning_away_up_the_lane_is_no_new_vehicle() -> None:
    """Read at the barrier, the car turns round and drives back up the lane, its box shrinking
    towards the far end a little each frame, the reader seeing part of its rear plate (the
    held-out seed 14: two plateless passages and a call for one car). A newcomer shows up at
    once; this is no newcomer."""
    coming = down_the_lane(1.0)

    def box(pts: float) -> Rect | None:
        if pts < 5.0:
            return coming(pts)
        k = min(1.0, (pts - 5.0) / 3.0)  # back up the lane over 3 s
        bottom = round(355 - k * 320)
        return Rect(170 + round(k * 100), max(0, bottom - 200), 300 - round(k * 200), bottom)

    def local(pts: float) -> Seen:
        if 2.5 <= pts < 4.0:
            return the_plate_under(coming, PLATE)(pts)
        return the_plate_under(box, "12345")(pts) if 5.5 <= pts < 8.0 else None  # type: ignore[arg-type]
    run = drive(local, lambda s: the_plate_under(coming, PLATE)(s.frame.pts), box, 12.0)
    assert [p.plate for p in run.passages] == [PLATE]
    assert len(run.sends) == 1


def test_a_parked_plate_read_by_the_cloud_is_not_the_vehicles_and_the_retry_is_cropped() -> None:
    """The call's picture is the lane: the cloud answers with the parked car's plate, outside
    the vehicle's box (held-out seeds 13, 23: the parked plate published, the car missed).
    The next call sends the vehicle's box and reads its plate."""
    coming = down_the_lane(1.0)

    def cloud(send: SendCandidate) -> tuple[str, Rect]:
        if send.crop is None:
            return PARKED, PARKED_AT
        b = send.crop
        assert b.x + b.width < PARKED_AT.x, "the crop leaves the parked plate out"
        return the_plate_under(coming, PLATE)(send.frame.pts)  # type: ignore[return-value]
    run = drive(the_plate_under(coming, PLATE), cloud, lambda pts: coming(pts) if pts < 5 else None,
                8.0)
    assert [p.plate for p in run.passages] == [PLATE]
    assert [s.crop is not None for s in run.sends] == [False, True]


Cloud = Callable[[SendCandidate], tuple[str, Rect]]


def cropped_or_parked(coming: Callable[[float], Rect]) -> Cloud:
    """The cloud: the parked plate (the clearest) from the lane's crop, the car's from its box."""
    def cloud(send: SendCandidate) -> tuple[str, Rect]:
        if send.crop is None:
            return PARKED, PARKED_AT
        return the_plate_under(coming, PLATE)(send.frame.pts)  # type: ignore[return-value]
    return cloud


def test_a_plate_read_outside_the_vehicles_box_crops_the_first_call() -> None:
    """The local reader read the parked plate beside the car before its own (held-out seed
    273: two calls per car, the first answered with the parked plate): the first call
    already sends the vehicle's box."""
    coming = down_the_lane(1.0)

    def local(pts: float) -> Seen:
        return (PARKED, PARKED_AT) if pts < 1.6 else the_plate_under(coming, PLATE)(pts)
    run = drive(local, cropped_or_parked(coming), lambda pts: coming(pts) if pts < 5 else None,
                8.0)
    assert [p.plate for p in run.passages] == [PLATE]
    assert [s.crop is not None for s in run.sends] == [True]


def test_a_parked_plate_the_camera_knows_crops_the_next_cars_first_call() -> None:
    """Learnt as a fixture in the first car's passage (read outside its box for a second),
    the parked plate is not read in the second car's frames at all (the reader stops at the
    first valid plate, the car's), but the cloud would still answer with it: that car's
    first call sends its box too."""
    first, second = down_the_lane(1.0), down_the_lane(10.0)

    def box(pts: float) -> Rect | None:
        return first(pts) if pts < 5 else second(pts) if 10 <= pts < 14 else None

    def local(pts: float) -> Seen:
        if pts < 10:
            return (PARKED, PARKED_AT) if pts < 2.2 else the_plate_under(first, "粤B67890")(pts)
        return the_plate_under(second, PLATE)(pts)

    def cloud(send: SendCandidate) -> tuple[str, Rect]:
        if send.frame.pts < 10:
            return "粤B67890", the_plate_under(first, None)(send.frame.pts)[1]  # type: ignore[index]
        return cropped_or_parked(second)(send)
    run = drive(local, cloud, box, 18.0)
    assert [p.plate for p in run.passages] == ["粤B67890", PLATE]
    assert [s.crop is not None for s in run.sends if s.frame.pts >= 10] == [True]


def test_the_vehicle_crop_is_mapped_to_the_reading_picture_and_kept_in_the_lane() -> None:
    """A detect stream's box (640x360) onto the main stream's picture (1920x1080), grown by a
    tenth each side, within the lane's crop."""
    lane = Frame(CAMERA.id, 1, 0.0, T0, IMAGE)
    main = Frame(CAMERA.id, 1, 0.0, T0, np.zeros((1080, 1920, 3), np.uint8))
    assert vehicle_crop(Rect(100, 100, 200, 100), lane, main, None) == Rect(240, 270, 720, 360)
    assert vehicle_crop(Rect(0, 0, 200, 100), lane, main, Rect(0, 100, 1920, 980)) \
        == Rect(0, 100, 660, 230)


def test_a_car_without_plates_passing_a_parked_car_is_a_plateless_passage() -> None:
    """A first car is read while the reader also sees a parked car's plate outside its box,
    always at the same place; a car without plates then drives down the lane with that plate
    inside its box (held-out seed 23: a call, the parked plate, the plateless car lost). The
    parked plate is no plate of either."""
    first = down_the_lane(1.0)
    second = down_the_lane(7.0, x=100, width=520)

    def box(pts: float) -> Rect | None:
        return first(pts) if pts < 4.0 else second(pts) if 7.0 <= pts < 10.0 else None

    def local(pts: float) -> Seen:
        if pts < 4.0:  # the parked plate until the car's own plate shows, then the car's
            return the_plate_under(first, PLATE)(pts) if pts >= 2.5 else (PARKED, PARKED_AT)
        return PARKED, PARKED_AT

    def cloud(send: SendCandidate) -> tuple[str, Rect]:
        if send.frame.pts < 4.0:
            return the_plate_under(first, PLATE)(send.frame.pts)  # type: ignore[return-value]
        return PARKED, PARKED_AT
    run = drive(local, cloud, box, 14.0)
    assert [p.plate for p in run.passages] == [PLATE, None]
    assert len(run.sends) == 1


def test_a_small_car_without_plates_first_seen_far_up_the_lane_is_a_plateless_passage() -> None:
    """A high camera down a long lane: the car is a fifth of the lane's width far up and only
    a third at the barrier (held-out seed 23). It came down the lane all the same."""
    box = down_the_lane(1.0, x=200, width=128, to_width=214)
    run = drive(lambda _pts: None, lambda s: (PLATE, Rect(0, 0, 1, 1)),
                lambda pts: box(pts) if pts < 4.0 else None, 8.0)
    assert [p.plate for p in run.passages] == [None]
    assert run.sends == []


def test_the_next_car_coming_into_an_exit_cameras_view_gets_its_own_passage() -> None:
    """An exit lane: the read car drove off up the lane, something still moves at the far end
    (the lane never went quiet), and the next car comes into view at the near end; the reader
    never reads its plate whole (held-out seed 24: no passage at all for it). Its own passage
    calls the cloud, which reads it."""
    exit_cam = CameraConfig(id="exit-1", url="rtsp://cam/stream", direction="exit")

    def up_the_lane(start: float) -> Callable[[float], Rect]:
        def box(pts: float) -> Rect:  # coming into view at the near end, then up the lane
            top = round(260 - min(1.0, max(0.0, (pts - start) / 2.0)) * 200)
            return Rect(170, top, 300, min(360, top + 200) - top)
        return box
    first, second = up_the_lane(1.0), up_the_lane(9.0)

    def box(pts: float) -> Rect | None:
        if pts < 6.0:
            return first(pts)
        if pts < 9.0:  # drives off up the lane, then only its roof at the far end
            return Rect(170, 0, 300, max(20, round(160 - (pts - 6.0) * 60)))
        return second(pts) if pts < 12.0 else None

    def local(pts: float) -> Seen:
        if 1.5 <= pts < 3.0:
            return the_plate_under(first, PLATE)(pts)
        return the_plate_under(second, "16020")(pts) if 9.5 <= pts < 12.0 else None

    def cloud(send: SendCandidate) -> tuple[str, Rect]:
        car, plate = (first, PLATE) if send.frame.pts < 6.0 else (second, "沪N16Q20")
        return the_plate_under(car, plate)(send.frame.pts)  # type: ignore[return-value]
    run = drive(local, cloud, box, 16.0, camera=exit_cam,
                still=lambda pts: 3.0 <= pts < 6.0 or 8.5 <= pts < 9.0)
    assert [p.plate for p in run.passages] == [PLATE, "沪N16Q20"]


def test_a_follower_whose_box_merges_back_for_a_moment_is_still_a_new_vehicle() -> None:
    """Back to back (the scenario set's back_to_back): the box jumps up the lane as the car
    ahead leaves, merges with its last motion for a frame and falls part of the way back,
    then stays up the lane; that is the follower, whose plate only the cloud reads."""
    coming = down_the_lane(1.0)

    def box(pts: float) -> Rect | None:
        if pts < 5.0:
            return coming(pts)
        if pts < 6.0:  # the car ahead drives on under the camera
            return Rect(170, 100, 300, 260)
        if pts < 6.2:  # it left: the follower alone, far up the lane
            return Rect(170, 0, 300, 90)
        return Rect(170, 0, 300, 250)  # merged with the last of the leaving car's motion

    def local(pts: float) -> Seen:
        if 2.5 <= pts < 4.0:
            return the_plate_under(coming, PLATE)(pts)
        return (None, Rect(270, 210, 100, 30)) if pts >= 6.2 else None

    def cloud(send: SendCandidate) -> tuple[str, Rect]:
        if send.frame.pts < 5.0:
            return the_plate_under(coming, PLATE)(send.frame.pts)  # type: ignore[return-value]
        return "鲁Q3M7H9", Rect(270, 210, 100, 30)
    run = drive(local, cloud, box, 9.0)
    assert [p.plate for p in run.passages] == [PLATE, "鲁Q3M7H9"]


def test_a_read_car_driving_at_the_camera_is_no_new_vehicle_while_its_plate_shows() -> None:
    """Read at the barrier, the car drives on under the camera. Its big uniform body changes
    only at its edges and at night the lower edge fades, so the moving box is its roof, high
    up the lane, for half a second: the geometry of a newcomer. The reader saw the decided
    plate just before (then it went out of view), so it is that car (the scenario clips at
    0.6x brightness, tests/lane/test_dark.py, published a plateless passage after it)."""
    coming = down_the_lane(1.0)

    def box(pts: float) -> Rect | None:
        if pts < 6.0:
            return coming(pts)
        if pts < 6.6:  # driving at the camera: its roof and windscreen move, high up
            return Rect(20, 0, 600, 150)
        return Rect(20, 300, 600, 60) if pts < 7.0 else None  # its last edge at the bottom

    def local(pts: float) -> Seen:
        if pts < 6.0:
            return the_plate_under(coming, PLATE)(pts)
        if pts < 6.25:  # lower as it comes on, below the box; then out of view
            return PLATE, Rect(270, 320, 100, 30)
        return None

    def cloud(send: SendCandidate) -> tuple[str, Rect]:
        return the_plate_under(coming, PLATE)(send.frame.pts)  # type: ignore[return-value]

    run = drive(local, cloud, box, 12.0, still=lambda pts: 3.0 <= pts < 6.0)
    assert [p.plate for p in run.passages] == [PLATE]


def test_a_cloud_plate_away_from_the_plate_the_reader_read_is_another_vehicles() -> None:
    """Held-out seed 306: the car close to the camera, its moving box wide enough to hold a
    parked car's plate; the call's answer was that plate (at 360-470 px, the reader's plate at
    760-960), trusted, published. The reader read a valid plate elsewhere in the frame sent,
    2+ characters from the cloud's: the cloud read another plate, and the retry is cropped."""
    wide = lambda pts: Rect(0, 0, 640, 360) if 1.0 <= pts < 5.0 else None  # noqa: E731
    own = Rect(250, 300, 100, 30)

    def cloud(send: SendCandidate) -> tuple[str, Rect]:
        return (PARKED, PARKED_AT) if send.crop is None else (PLATE, own)
    run = drive(lambda pts: (PLATE, own), cloud, wide, 8.0)
    assert [p.plate for p in run.passages] == [PLATE]
    assert [s.crop is not None for s in run.sends] == [False, True]
    # the same plate read a little off the reader's box is the car's own: trusted at once
    near = drive(lambda pts: (PLATE, own), lambda s: ("京A12346", Rect(270, 305, 100, 30)),
                 wide, 8.0)
    assert [p.plate for p in near.passages] == ["京A12346"] and len(near.sends) == 1


def test_a_parked_plate_the_cloud_named_in_two_passages_crops_the_third_cars_first_call() -> None:
    """Held-out seed 306 again: the reader never reads the parked plate (it stops at the car's
    own, valid), the cloud answers with it on every car's first call: 2 calls a car. Named
    by the cloud at one place in two passages, it is a fixture: the third car's first call
    sends the car's box."""
    cars = [(1.0, PLATE), (10.0, "粤B67890"), (20.0, "沪C11111")]
    boxes = [(start, down_the_lane(start), text) for start, text in cars]

    def car(pts: float) -> tuple[Callable[[float], Rect], str] | None:
        return next(((b, t) for s, b, t in boxes if s <= pts < s + 4.0), None)

    def box(pts: float) -> Rect | None:
        c = car(pts)
        return c[0](pts) if c else None

    def local(pts: float) -> Seen:
        c = car(pts)
        return the_plate_under(c[0], c[1])(pts) if c else None

    def cloud(send: SendCandidate) -> tuple[str, Rect]:
        if send.crop is None:
            return PARKED, PARKED_AT
        return local(send.frame.pts)  # type: ignore[return-value]
    run = drive(local, cloud, box, 28.0)
    assert [p.plate for p in run.passages] == [t for _, t in cars]
    by_car = [[s.crop is not None for s in run.sends if start <= s.frame.pts < start + 5]
              for start, _ in cars]
    assert by_car == [[False, True], [False, True], [True]]
