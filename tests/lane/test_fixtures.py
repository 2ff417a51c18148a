"""Fixtures (daemon/lane/fixtures.py): when a plate read outside the moving vehicle's box is
learnt as another car's, parked in the picture."""

from __future__ import annotations

from daemon.domain import Rect
from daemon.lane.fixtures import CALLS_APART_S, FIXED_S, FIXED_SPAN_S, Fixtures

PARKED = "琼VDB7682"
SPOT = Rect(1335, 278, 90, 25)


def box_at(x: int) -> Rect:
    """A car in from the right: its box's left edge at ``x``."""
    return Rect(x, 240, 1920 - x, 252)


def test_a_still_plate_beside_a_moving_box_is_learnt_in_three_readings() -> None:
    """Seed 273: read 4 times in 0.12 s while the car's box grew towards it by 96 px."""
    fx = Fixtures()
    for i, x in enumerate((1536, 1500, 1440)):
        assert not fx.holds(SPOT, i * 0.04)
        fx.saw_outside(PARKED, SPOT, i * 0.04, box_at(x))
    assert fx.holds(Rect(1336, 275, 90, 28), 0.12)
    assert not fx.holds(Rect(1335, 467, 125, 31), 0.12)  # the car's own plate, lower down


def test_a_still_plate_beside_a_box_that_barely_moves_waits_for_the_span() -> None:
    """A car's own plate with its box lagging, the car nearly stopped: not learnt at once."""
    fx = Fixtures()
    for i, x in enumerate((1536, 1530, 1520, 1510)):
        fx.saw_outside(PARKED, SPOT, i * 0.04, box_at(x))
    assert not fx.holds(SPOT, 0.16)
    fx.saw_outside(PARKED, SPOT, FIXED_SPAN_S, box_at(1510))
    assert fx.holds(SPOT, FIXED_SPAN_S)


def test_a_plate_moving_with_the_box_is_not_learnt_at_once() -> None:
    """The plate moved 12 px (over a tenth of its 90 px width): it may be on what moves."""
    fx = Fixtures()
    for i, x in enumerate((1536, 1500, 1440)):
        fx.saw_outside(PARKED, Rect(SPOT.x - 6 * i, SPOT.y, 90, 25), i * 0.04, box_at(x))
    assert not fx.holds(SPOT, 0.12)


def test_without_the_vehicles_box_only_the_span_learns() -> None:
    fx = Fixtures()
    for i in range(3):
        fx.saw_outside(PARKED, SPOT, i * 0.04)
    assert not fx.holds(SPOT, 0.12)


def test_a_plate_the_cloud_named_at_one_place_in_two_passages_is_a_fixture_of_that_text() -> None:
    f = Fixtures()
    at = Rect(560, 300, 76, 22)
    f.called_outside("鄂E60515F", at, 4.0)
    f.called_outside("鄂E60515F", Rect(562, 301, 76, 22), 4.0 + CALLS_APART_S / 2)  # one passage
    assert not f.known(5.0) and not f.holds(at, 5.0, "鄂E60515F")
    f.called_outside("鄂E60515F", Rect(563, 299, 76, 22), 4.0 + CALLS_APART_S)
    assert f.known(10.0)  # calls are cropped from the first one
    assert f.holds(at, 10.0, "鄂E60515F")
    assert not f.holds(at, 10.0, "京A12345")  # a car stopping there later is its own plate
    assert not f.known(10.0 + CALLS_APART_S + FIXED_S + 1)


def test_a_plate_the_cloud_named_at_two_places_is_no_fixture() -> None:
    f = Fixtures()
    f.called_outside("京A12345", Rect(100, 300, 76, 22), 4.0)  # the car ahead, moving on
    f.called_outside("京A12345", Rect(300, 200, 76, 22), 4.0 + CALLS_APART_S)
    assert not f.known(10.0)
