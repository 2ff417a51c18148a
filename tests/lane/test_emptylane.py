"""Tests for daemon.lane.emptylane: occupancy against the empty-lane picture, learning."""

from __future__ import annotations

import numpy as np

from daemon.config.models import MotionConfig
from daemon.lane.emptylane import (
    IDLE_LEARN_S,
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


def _feed(
    lane: EmptyLane, grey: np.ndarray, t0: float, seconds: float, *, moving: bool = False,
    background: np.ndarray | None = None,
) -> float:
    bg = (grey if background is None else background).astype(np.float32)
    n = round(seconds * FPS)
    for i in range(n):
        lane.update(grey, t0 + i / FPS, moving=moving, background=bg, frames=i + 1)
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
