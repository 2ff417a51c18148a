"""The lane's memory of recent plates (daemon/lane/dedup.py), on a fake clock."""

from __future__ import annotations

from daemon.lane.dedup import RecentPlates


def test_the_same_plate_within_the_window_is_a_duplicate() -> None:
    recent = RecentPlates(30.0)
    recent.note("京A12345", 10.0)
    assert recent.duplicate("京A12345", 40.0)
    assert not recent.duplicate("京A12345", 40.5), "the window ran out"
    assert not recent.duplicate("粤B67890", 20.0)


def test_the_window_runs_from_the_departure() -> None:
    recent = RecentPlates(30.0)
    recent.note("京A12345", 10.0)
    recent.departed("京A12345", 100.0)
    assert recent.duplicate("京A12345", 125.0)
    recent.departed("京A12345", 50.0)  # an earlier time never shortens it
    assert recent.duplicate("京A12345", 125.0)


def test_a_standing_car_is_the_last_one_decided_however_long_ago() -> None:
    recent = RecentPlates(30.0)
    recent.note("京A12345", 10.0)
    assert recent.duplicate("京A12345", 600.0, standing=True)
    assert not recent.duplicate("京A12345", 600.0), "a moving car after the window: new"
    recent.note("粤B67890", 700.0)
    assert not recent.duplicate("京A12345", 800.0, standing=True), "another car came since"


def test_an_event_that_could_open_the_barrier_upgrades_one_that_could_not_once() -> None:
    recent = RecentPlates(30.0)
    recent.note("京A12345", 10.0, short=True)
    assert not recent.settled("京A12345", 12.0), "a short event settles nothing"
    assert recent.duplicate("京A12345", 12.0), "short again is no news"
    assert not recent.duplicate("京A12345", 12.0, upgrade=True)
    assert not recent.duplicate("京A12345", 600.0, standing=True, upgrade=True), (
        "the car still waiting, read surely at last, is let in")
    recent.note("京A12345", 12.0)
    assert recent.settled("京A12345", 13.0)
    assert recent.duplicate("京A12345", 13.0, upgrade=True), "upgraded once"


def test_seen_again_keeps_the_window_and_what_the_event_was() -> None:
    recent = RecentPlates(30.0)
    recent.note("京A12345", 10.0, short=True)
    recent.again("京A12345", 35.0)
    assert recent.duplicate("京A12345", 60.0)
    assert not recent.duplicate("京A12345", 60.0, upgrade=True)
    recent.note("粤B67890", 10.0)
    recent.departed("粤B67890", 20.0)
    assert recent.settled("粤B67890", 45.0) and not recent.settled("粤B67890", 51.0)
