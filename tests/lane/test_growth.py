"""PlateGrowth: whether a passage's plate box is still growing (pure, stream time)."""

from __future__ import annotations

from daemon.lane.growth import GROWING, KEEP, RECENT_S, PlateGrowth

SETTLE_S = 0.6


def test_an_approaching_plate_grows_a_standing_one_does_not() -> None:
    g = PlateGrowth()
    for i in range(10):  # 80 px growing 25 px a second, a reading every 0.1 s
        g.add(1.0 + i / 10, int(80 + 2.5 * i))
    assert not g.growing(1.2, SETTLE_S)  # nothing read settle_s before yet
    assert g.growing(1.5, SETTLE_S)  # against the first box, read settle_s / 2 before
    assert g.growing(1.9, SETTLE_S)  # 102 px against 87 px
    s = PlateGrowth()
    for i in range(10):
        s.add(1.0 + i / 10, 120 + (i % 3))  # jitter of a few pixels
    assert not s.growing(1.9, SETTLE_S)


def test_no_recent_reading_is_no_growth() -> None:
    g = PlateGrowth()
    g.add(1.0, 80)
    g.add(1.7, 100)
    assert g.growing(1.7, SETTLE_S)
    assert not g.growing(1.7 + RECENT_S + 0.01, SETTLE_S)  # the car left the view


def test_growth_is_measured_against_the_widest_box_before() -> None:
    g = PlateGrowth()
    g.add(1.0, 100)
    g.add(1.1, 80)  # a box cut short for a frame
    g.add(1.8, int(100 * GROWING) - 1)
    assert not g.growing(1.8, SETTLE_S)
    g.add(1.9, int(100 * GROWING) + 1)
    assert g.growing(1.9, SETTLE_S)


def test_a_car_read_for_minutes_keeps_a_bounded_history() -> None:
    g = PlateGrowth()
    for i in range(10_000):
        g.add(i / 25, 120)
    assert len(g._boxes) == KEEP
    assert not g.growing(10_000 / 25, SETTLE_S)
