"""A car already waiting at the barrier when the lane's first picture is taken (the daemon
starting): the standing probe reads it once, a parked car's plate never becomes a passage,
and nothing changes for a lane that starts empty (daemon/lane/standing.py).

Fake local and cloud reads with the frame pts as the clock; at the end, the real reader on
scenario clips rendered in memory, started while the car stands."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from daemon.config.models import CameraConfig, PassageConfig
from daemon.domain import Frame, MotionResult, Passage, PlateRead, Rect
from daemon.lane.actions import Action, ReadLocal, SendCandidate
from daemon.lane.passage import PassageTracker
from daemon.lane.plategate import GateSettings
from daemon.lane.standing import GAP_S, REPROBE_S, STANDING_HOLD_S, fits, holds, inside, renewed
from daemon.ocr.local import LocalPlateReader
from tests.support.tracker import replay, settle

T0 = datetime(2026, 12, 6, 8, 0, tzinfo=UTC)
FPS = 10
SIZE = (640, 360)
IMAGE = np.zeros((SIZE[1], SIZE[0], 3), np.uint8)
ROI = [(0.0, 0.25), (1.0, 0.25), (1.0, 1.0), (0.0, 1.0)]
CAMERA = CameraConfig(id="entry-1", url="rtsp://cam/stream", roi=ROI)
PLATE = "京A12345"
PROBING = PassageConfig(standing_probe_s=2.0)
"""The probe is off by default (a parked car inside the ROI); these tests turn it on."""
AT_BARRIER = Rect(250, 250, 140, 40)
"""Where a waiting car's plate is: low in the lane (centre at 0.67 of the ROI's height)."""
FAR_UP = Rect(250, 100, 140, 40)
"""A plate far up the lane (centre at 0.11 of the ROI's height): a parked car's."""

Seen = tuple[str | None, int, Rect] | None
"""What the fake reader sees at a pts: (text, confidence, plate box), None: no plate box."""


def seen(text: str | None = PLATE, rect: Rect = AT_BARRIER, conf: int = 99,
         until: float = 1e9) -> Callable[[float], Seen]:
    return lambda pts: (text, conf, rect) if pts < until else None


@dataclass
class Run:
    passages: list[Passage] = field(default_factory=list)
    calls: int = 0
    local_reads: int = 0
    tracker: PassageTracker | None = None
    open_at: dict[float, bool] = field(default_factory=dict)


def drive(mode: str, local: Callable[[float], Seen], seconds: float = 8.0, *,
          moving: tuple[tuple[float, float], ...] = (), camera: CameraConfig = CAMERA,
          cloud_plate: str | None = PLATE, cloud_rect: Rect | None = None,
          cfg: PassageConfig | None = None, gate: bool = True,
          suppressed: tuple[float, ...] = ()) -> Run:
    """Frames at FPS, the first one ``fresh`` (the detector's first picture); motion low in
    the lane during each ``moving`` span; ``cloud_plate``: what a call reads, at
    ``cloud_rect`` (default: the box the local reader saw); at each ``suppressed`` pts a
    sudden global change the detector re-learnt its picture on (a light, an outage)."""
    tracker = PassageTracker(camera, cfg or PROBING, "lot-a",
                             gate=GateSettings(mode=mode) if gate else None)
    run = Run(tracker=tracker)

    def local_read(action: ReadLocal, pts: float) -> PlateRead:
        run.local_reads += 1
        got = local(pts)
        return PlateRead(
            camera_id=CAMERA.id, passage_id=action.passage_id, frame_seq=action.frame.seq,
            ok=bool(got and got[0]), plate=got[0] if got else None,
            confidence=got[1] if got else 0, rect=got[2] if got else None, called=False,
            provider="local", box_found=got is not None, image_size=SIZE,
            chars=(got[1],) * len(got[0]) if got and got[0] else ())

    def cloud_read(action: SendCandidate, pts: float) -> PlateRead:
        run.calls += 1
        got = local(pts)
        return PlateRead(
            camera_id=CAMERA.id, passage_id=action.passage_id, frame_seq=action.frame.seq,
            ok=cloud_plate is not None, plate=cloud_plate, confidence=97,
            rect=cloud_rect or (got[2] if got else AT_BARRIER),
            error_code=None if cloud_plate else "FailedOperation.OcrFailed")

    def apply(actions: list[Action], pts: float) -> None:
        settle(tracker, actions, pts, local=local_read, cloud=cloud_read,
               emitted=lambda passage, _pts: run.passages.append(passage))

    for seq in range(int(seconds * FPS)):
        pts = seq / FPS
        on = any(a <= pts < b for a, b in moving)
        motion = MotionResult(on, 0.2 if on else 0.0, Rect(150, 150, 340, 200) if on else None,
                              occupied=on, fresh=seq == 0,
                              suppressed=any(abs(pts - t) < 0.5 / FPS for t in suppressed))
        frame = Frame(CAMERA.id, seq, pts, T0 + timedelta(seconds=pts), IMAGE)
        apply(tracker.on_frame(frame, motion), pts)
        run.open_at[pts] = tracker.open_id is not None
    apply(tracker.flush(seconds), seconds)
    return run


# -- the rules, pure ----------------------------------------------------------------------

def test_inside_a_polygon() -> None:
    triangle = [(0.0, 0.0), (1.0, 0.0), (0.0, 1.0)]
    assert inside(triangle, 0.2, 0.2)
    assert not inside(triangle, 0.8, 0.8)
    assert not inside(triangle, 1.5, 0.1)


def test_where_a_waiting_cars_plate_fits() -> None:
    cfg = PassageConfig()
    assert fits(AT_BARRIER, SIZE, CAMERA, cfg, 100)
    assert not fits(FAR_UP, SIZE, CAMERA, cfg, 100), "above in_view_bottom of the ROI"
    assert not fits(Rect(250, 250, 90, 30), SIZE, CAMERA, cfg, 100), "narrower than the gate's"
    narrow_lane = CAMERA.model_copy(update={"roi": [(0.3, 0.25), (0.7, 0.25), (0.7, 1.0),
                                                    (0.3, 1.0)]})
    assert not fits(Rect(20, 250, 140, 40), SIZE, narrow_lane, cfg, 100), "beside the lane"
    assert fits(AT_BARRIER, SIZE, narrow_lane, cfg, 100)
    exit_cam = CAMERA.model_copy(update={"direction": "exit"})
    assert fits(FAR_UP, SIZE, exit_cam, cfg, 100), "an exit camera sees the rear up the lane"
    windowed = CAMERA.model_copy(update={"max_plate_width_px": 120})
    assert not fits(AT_BARRIER, SIZE, windowed, cfg, 100), "outside the plate-size window"
    assert fits(FAR_UP, None, CAMERA, cfg, 100), "picture size unknown: its width only"


def test_the_probe_and_the_hold() -> None:
    assert holds(0.0, False, 1.9, 2.0) and not holds(0.0, False, 2.0, 2.0)
    assert holds(0.0, True, STANDING_HOLD_S - 1, 2.0)
    assert not holds(0.0, True, STANDING_HOLD_S, 2.0)


# -- the tracker ----------------------------------------------------------------------------

@pytest.mark.parametrize(("mode", "calls", "provider"), [
    ("local_first", 0, "local"), ("local", 0, "local"), ("cloud", 1, "tencent"),
])
def test_a_car_waiting_at_the_start_is_read_without_moving(mode: str, calls: int,
                                                           provider: str) -> None:
    run = drive(mode, seen())
    [p] = run.passages
    assert p.plate == PLATE and p.provider == provider
    assert run.calls == calls
    assert run.open_at[7.0], "decided, it stays open while the car stands there"


def test_the_waiting_car_driving_off_is_the_same_passage() -> None:
    run = drive("local_first", seen(), seconds=12.0, moving=((6.0, 8.0),))
    [p] = run.passages
    assert p.plate == PLATE
    assert run.tracker is not None and run.tracker.started == 1
    assert not run.open_at[11.0], "closed once the lane was quiet after it left"


def test_a_decided_standing_passage_is_held_at_most_the_hold() -> None:
    run = drive("local_first", seen(until=3.0), seconds=STANDING_HOLD_S + 5)
    assert run.open_at[STANDING_HOLD_S - 1]
    assert not run.open_at[STANDING_HOLD_S + 4]
    assert len(run.passages) == 1


@pytest.mark.parametrize("mode", ["local_first", "cloud"])
def test_a_plate_far_up_the_lane_is_no_passage_and_costs_no_call(mode: str) -> None:
    run = drive(mode, seen(rect=FAR_UP))
    assert run.passages == [] and run.calls == 0
    assert not run.open_at[5.0], "the probe ended: the lane idles again"


def test_a_plate_narrower_than_the_gates_minimum_is_no_passage() -> None:
    run = drive("local_first", seen(rect=Rect(250, 250, 80, 24)))
    assert run.passages == []


def test_the_cloud_reading_a_plate_elsewhere_is_not_the_waiting_cars() -> None:
    """The reader's box fits; the cloud answers with a plate far up the lane (it reads the
    clearest plate of the whole crop): not trusted, nothing published on it."""
    run = drive("cloud", seen(), cloud_plate="皖A8B2C6", cloud_rect=FAR_UP)
    assert run.calls >= 1
    assert run.passages == []


def test_an_undecided_standing_reading_is_never_published() -> None:
    """In ``local`` mode readings that never agree close a moving passage with the most
    frequent one; a standing passage closes silently (a guess never opens a barrier)."""
    texts = iter(["京A12345", "京A12346", "京A12347", "京A12348"] * 20)
    run = drive("local", lambda _pts: (next(texts), 80, AT_BARRIER))
    assert run.passages == []


def test_an_empty_lane_at_the_start_reads_briefly_and_publishes_nothing() -> None:
    run = drive("local_first", lambda _pts: None)
    assert run.passages == []
    assert 0 < run.local_reads <= 2.0 * FPS
    assert not run.open_at[4.0]


def test_no_probe_when_switched_off_or_without_a_local_reader() -> None:
    off = drive("local_first", seen(), cfg=PassageConfig())  # the default: off
    assert off.passages == [] and off.local_reads == 0
    cloud_only = drive("cloud", seen(), gate=False)
    assert cloud_only.passages == [] and cloud_only.calls == 0


def test_a_car_arriving_during_the_probe_is_an_ordinary_passage() -> None:
    """Its plate, read while it moves, is judged as any passage's: far up the lane too."""
    high = Rect(250, 140, 140, 40)  # in the moving box, above in_view_bottom
    assert not fits(high, SIZE, CAMERA, PassageConfig(), 100)

    def local(pts: float) -> Seen:
        return (PLATE, 99, high) if pts >= 1.0 else None

    run = drive("local_first", local, moving=((1.0, 3.0),))
    assert [p.plate for p in run.passages] == [PLATE]


# -- the real reader on scenario clips ----------------------------------------------------

@pytest.fixture(scope="module")
def reader() -> LocalPlateReader:
    return LocalPlateReader("hsv")


@pytest.mark.parametrize(("name", "start_s", "plate"), [
    ("leaves_after_read", 5.0, "京AF0236"),  # waits, turns away: read before it leaves
    ("stop_and_go", 5.0, "京AF0236"),  # waits, drives ahead: read once, not twice
    ("leaves_after_read", 0.0, "京AF0236"),  # from the start: the probe changes nothing
    ("night_ir", 0.0, "豫A9F3C1"),  # an empty lane at the start, the car comes later
])
def test_the_real_reader_reads_a_car_standing_when_the_daemon_starts(
    reader: LocalPlateReader, name: str, start_s: float, plate: str
) -> None:
    assert replay(reader, name, start_s, standing_probe_s=2.0) == [plate]


# -- a new picture mid-stream: a light change, the camera back after an outage -------------

@pytest.mark.parametrize(("mode", "calls"), [("local_first", 0), ("cloud", 1)])
def test_a_car_that_came_during_an_outage_is_read(mode: str, calls: int) -> None:
    """The camera comes back with a car at the barrier: a change too sudden and wide to be
    motion, so the detector re-learns its picture with the car in it; the probe reads it."""
    run = drive(mode, lambda pts: (PLATE, 99, AT_BARRIER) if pts >= 20.0 else None,
                seconds=30.0, suppressed=(20.0,))
    assert [p.plate for p in run.passages] == [PLATE]
    assert run.calls == calls
    assert run.passages[0].captured_at >= T0 + timedelta(seconds=20)


def test_the_car_read_before_a_light_change_is_not_published_again() -> None:
    """Read while it waits, held until the hold ran out; minutes later the light changes with
    the car still there: the probe reads the plate this lane decided last, no new event."""
    late = STANDING_HOLD_S + 60
    run = drive("local_first", seen(), seconds=late + 10, suppressed=(late,))
    assert [p.plate for p in run.passages] == [PLATE]
    assert run.tracker is not None and run.tracker.deduplicated == 1
    other = drive("local_first", lambda pts: (PLATE if pts < late else "粤B67890", 99,
                                              AT_BARRIER), seconds=late + 10, suppressed=(late,))
    assert [p.plate for p in other.passages] == [PLATE, "粤B67890"], "another car: its own"


def test_a_light_change_during_a_passage_opens_nothing_new() -> None:
    run = drive("local_first", lambda pts: (PLATE, 99, AT_BARRIER) if pts >= 1.0 else None,
                seconds=12.0, moving=((1.0, 5.0),), suppressed=(3.0,))
    assert [p.plate for p in run.passages] == [PLATE]
    assert run.tracker is not None and run.tracker.started == 2, "the probe, then the car's"


@pytest.mark.parametrize(("name", "exposure"), [
    ("leaves_after_read", 1.0),  # the car appears: motion, then a stopped car
    ("stop_and_go", 1.0),
    ("leaves_after_read", 0.6),  # back darker: suppressed, the picture re-learnt with it
])
def test_the_real_reader_reads_a_car_that_came_while_the_camera_was_away(
    reader: LocalPlateReader, name: str, exposure: float
) -> None:
    assert replay(reader, name, 5.0, outage_s=1.0, exposure=exposure,
                  standing_probe_s=2.0) == ["京AF0236"]


def test_a_shaking_camera_probes_at_most_every_reprobe_s() -> None:
    assert renewed(True, False, 5.0, 0.0, 0.1), "the first picture always"
    assert not renewed(False, True, REPROBE_S - 0.1, 0.0, 0.1)
    assert renewed(False, True, REPROBE_S, 0.0, 0.1)
    assert renewed(False, True, 5.0, 0.0, GAP_S), "back from an outage: always"
    assert not renewed(False, False, 100.0, 0.0, GAP_S)
    jolts = tuple(float(t) for t in range(1, 60))  # a suppressed jolt every second
    run = drive("local_first", lambda _pts: None, seconds=60.0, suppressed=jolts)
    probes = 1 + int(60 / REPROBE_S)  # the start, then one per REPROBE_S at most
    assert 0 < run.local_reads <= probes * 2.0 * FPS
    assert run.passages == []


def test_what_a_probe_kept_reading_undecided_is_not_paid_for_again() -> None:
    """An overlay at the bottom of the picture misread as a valid plate, where a waiting
    car's would be: the start probe pays one call (the cloud finds no plate) and publishes
    nothing; the probe after a light change 20 s later neither reads it nor calls."""
    run = drive("local_first", seen(text="皖Z02611", conf=60), seconds=30.0,
                cloud_plate=None, suppressed=(20.0,))
    assert run.passages == []
    assert run.calls == 1


def test_a_car_waiting_where_a_probe_read_an_overlay_is_still_read() -> None:
    """A fixture learnt from a probe screens its own text only: the next car waiting at that
    place shows another plate, read as ever."""
    def local(pts: float) -> Seen:
        return ("皖Z02611", 60, AT_BARRIER) if pts < 20.0 else (PLATE, 99, AT_BARRIER)

    run = drive("local_first", local, seconds=30.0, cloud_plate=None, suppressed=(20.0,))
    assert [p.plate for p in run.passages] == [PLATE]
