"""Tests for daemon.lane.emptylane: occupancy against the empty-lane picture, learning."""

from __future__ import annotations

import numpy as np

from daemon.config.models import MotionConfig
from daemon.lane.emptylane import (
    IDLE_LEARN_S,
    LEFT_BEHIND_SHARE,
    OCCUPIED_MAX_S,
    PROVISIONAL_HOLD_S,
    TRUST_AFTER_S,
    EmptyLane,
)

SH, SW = 50, 100  # the whole picture is the ROI: 5000 pixels
FPS = 25
EMPTY = np.full((SH, SW), 100, np.uint8)


def _lane() -> EmptyLane:
    return EmptyLane(np.full((SH, SW), 25, np.uint8), SH * SW, MotionConfig())


def _with(pixels: int, base: np.ndarray = EMPTY) -> np.ndarray:
    """``base`` with a dark block of about ``pixels`` pixels (a car), far off the threshold."""
    grey = base.copy()
    rows = max(1, pixels // 20)
    grey[10 : 10 + rows, 10:30] = 10
    return grey


def _car_at(x: int, y: int, w: int = 20, h: int = 25) -> np.ndarray:
    """The empty lane with a dark car of ``w`` x ``h`` at (``x``, ``y``)."""
    grey = EMPTY.copy()
    grey[y : y + h, x : x + w] = 10
    return grey


def _feed(
    lane: EmptyLane, grey: np.ndarray, t0: float, seconds: float, *, moving: bool = False,
    background: np.ndarray | None = None, box: tuple[int, int, int, int] | None = None,
) -> float:
    bg = (grey if background is None else background).astype(np.float32)
    n = round(seconds * FPS)
    for i in range(n):
        lane.update(grey, t0 + i / FPS, moving=moving, background=bg, frames=i + 1, box=box)
    return t0 + n / FPS


def test_occupied_with_hysteresis_and_the_changed_mask() -> None:
    lane = _lane()
    lane.set_picture(EMPTY)
    bg = EMPTY.astype(np.float32)
    # 2% of the ROI (start_fraction) starts occupancy, below 0.8% (stop_fraction) ends it
    mask = lane.update(_with(60), 0.0, moving=False, background=bg, frames=1)
    assert mask is not None and not lane.occupied
    mask = lane.update(_with(100), 0.04, moving=True, background=bg, frames=2)
    assert lane.occupied and mask is not None and np.count_nonzero(mask) >= 100
    lane.update(_with(60), 0.08, moving=True, background=bg, frames=3)
    assert lane.occupied  # held above stop_fraction
    lane.update(_with(20), 0.12, moving=True, background=bg, frames=4)
    assert not lane.occupied


def test_idle_lane_picture_follows_the_scene_only_after_a_while() -> None:
    drifted = EMPTY + 10  # a slow light change, within the threshold: the lane stays idle
    probe = EMPTY + 30  # 30 off the first picture (occupied), 20 off the drifted one
    bg = EMPTY.astype(np.float32)
    early = _lane()
    early.set_picture(EMPTY)
    t = _feed(early, drifted, 0.0, IDLE_LEARN_S - 0.2)
    assert not early.occupied
    early.update(probe, t, moving=False, background=bg, frames=1)
    assert early.occupied  # nothing learnt yet
    late = _lane()
    late.set_picture(EMPTY)
    t = _feed(late, drifted, 0.0, IDLE_LEARN_S + 5.0)
    late.update(probe, t, moving=False, background=bg, frames=1)
    assert not late.occupied  # the picture followed the drift


def test_forget_makes_the_picture_unknown_then_learnt_and_provisional() -> None:
    lane = _lane()
    lane.set_picture(EMPTY)
    lane.forget()
    assert not lane.known and lane.provisional and not lane.occupied
    bg = EMPTY.astype(np.float32)
    assert lane.update(_with(500), 0.0, moving=False, background=bg, frames=1) is None
    assert not lane.occupied
    t = _feed(lane, EMPTY, 0.04, IDLE_LEARN_S + 0.1)
    assert lane.known and lane.provisional
    t = _feed(lane, EMPTY, t, TRUST_AFTER_S)
    assert not lane.provisional


def test_provisional_picture_holds_a_standing_car_only_briefly() -> None:
    lane = _lane()
    lane.set_picture(EMPTY)
    lane.forget()
    t = _feed(lane, EMPTY, 0.0, IDLE_LEARN_S + 0.1)  # learnt again, provisional
    car = _with(500)
    t = _feed(lane, car, t, 1.0, moving=True)
    assert lane.occupied
    # standing still: the picture is re-learnt from the background (the car in it)
    t = _feed(lane, car, t, PROVISIONAL_HOLD_S + 0.2, background=car)
    assert not lane.occupied


def test_trusted_picture_holds_a_parked_car_until_occupied_max() -> None:
    lane = _lane()
    lane.set_picture(EMPTY)
    car = _with(500)
    t = _feed(lane, car, 0.0, 1.0, moving=True)
    t = _feed(lane, car, t, OCCUPIED_MAX_S - 1.0, background=car)
    assert lane.occupied
    t = _feed(lane, car, t, 1.5, background=car)
    assert not lane.occupied


def test_what_stood_in_the_first_picture_does_not_hold_the_lane_once_it_left() -> None:
    """The daemon starts while a car stands at the barrier: the first picture has the car
    in it. When the car drives off, the lane differs from that picture where it stood,
    without motion; that is let go after PROVISIONAL_HOLD_S (not OCCUPIED_MAX_S: capture
    would decode at full rate for 2 min), the picture re-learnt from the background."""
    lane = _lane()
    standing = _car_at(40, 20)
    lane.set_picture(standing)  # the motion detector's first frame
    t = _feed(lane, standing, 0.0, 2.0)
    assert not lane.occupied
    # it drives off to the right: the motion begins where it stood, ends at the edge
    t = _feed(lane, _car_at(50, 20), t, 0.6, moving=True, box=(38, 18, 34, 29))
    t = _feed(lane, _car_at(80, 20), t, 0.6, moving=True, box=(74, 18, 26, 29))
    t = _feed(lane, EMPTY, t, 0.5, background=standing)  # gone: the hole is "occupied"
    assert lane.occupied
    t = _feed(lane, EMPTY, t, PROVISIONAL_HOLD_S, background=EMPTY)
    assert not lane.occupied
    t = _feed(lane, EMPTY, t, 10.0)
    assert not lane.occupied
    # something that comes without motion, where the car stood, is not judged on the history
    # of that departure: held as long as ever
    t = _feed(lane, _car_at(40, 20), t, 10.0, background=_car_at(40, 20))
    assert lane.occupied
    t = _feed(lane, EMPTY, t, 1.0)
    assert not lane.occupied
    # the next car that comes and waits holds the lane as long as ever
    t = _feed(lane, _car_at(80, 20), t, 0.4, moving=True, box=(74, 18, 26, 29))
    t = _feed(lane, _car_at(40, 20), t, 0.4, moving=True, box=(38, 18, 34, 29))
    t = _feed(lane, _car_at(40, 20), t, OCCUPIED_MAX_S - 1.0, background=_car_at(40, 20))
    assert lane.occupied


def test_a_car_that_came_and_waits_holds_the_lane() -> None:
    """Motion that began elsewhere (the car entering the lane) and ended where the lane is
    occupied: a waiting car, held until OCCUPIED_MAX_S as before."""
    lane = _lane()
    lane.set_picture(EMPTY)
    t = _feed(lane, _car_at(78, 20), 0.0, 0.4, moving=True, box=(76, 18, 24, 29))
    t = _feed(lane, _car_at(40, 20), t, 0.4, moving=True, box=(38, 18, 62, 29))
    t = _feed(lane, _car_at(40, 20), t, 30.0, background=_car_at(40, 20))
    assert lane.occupied


def test_a_car_creeping_forward_holds_the_lane() -> None:
    """A waiting car that moves up a little and stops again: its motion began where it
    stands now, but the lane was occupied by it when it began; still a waiting car."""
    lane = _lane()
    lane.set_picture(EMPTY)
    t = _feed(lane, _car_at(78, 20), 0.0, 0.4, moving=True, box=(76, 18, 24, 29))
    t = _feed(lane, _car_at(50, 20), t, 10.0, background=_car_at(50, 20))
    assert lane.occupied
    t = _feed(lane, _car_at(45, 20), t, 0.4, moving=True, box=(43, 18, 29, 29))
    t = _feed(lane, _car_at(45, 20), t, 30.0, background=_car_at(45, 20))
    assert lane.occupied


def test_left_behind_needs_the_motion_to_have_begun_where_the_lane_is_occupied() -> None:
    """Below LEFT_BEHIND_SHARE of the occupied pixels in the box the motion began in, the
    stillness is a car's that came: the long hold."""
    assert 0.0 < LEFT_BEHIND_SHARE <= 1.0
    lane = _lane()
    lane.set_picture(EMPTY)
    # the motion's first box covers a third of where the car stops (its last box all of it)
    t = _feed(lane, _car_at(60, 20, w=30), 0.0, 0.4, moving=True, box=(80, 18, 20, 29))
    t = _feed(lane, _car_at(60, 20, w=30), t, 20.0, background=_car_at(60, 20, w=30))
    assert lane.occupied


def test_a_car_that_stops_in_the_box_its_motion_began_in_holds_the_lane() -> None:
    """A short lane: the car is vehicle-wide (motion begins) already over most of where it
    stops. Its motion also ended there, as much: a waiting car, not something that left."""
    lane = _lane()
    lane.set_picture(EMPTY)
    t = _feed(lane, _car_at(65, 20, w=30), 0.0, 0.4, moving=True, box=(55, 18, 45, 29))
    t = _feed(lane, _car_at(60, 20, w=30), t, 0.4, moving=True, box=(58, 18, 37, 29))
    t = _feed(lane, _car_at(60, 20, w=30), t, 20.0, background=_car_at(60, 20, w=30))
    assert lane.occupied
