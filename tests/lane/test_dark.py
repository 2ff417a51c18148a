"""Scenario clips at night-like brightness through the real detector, tracker and local
reader (tests/support/tracker.py ``replay``): a read car driving off is one passage, not a
read one and a plateless one; back-to-back cars are still two.

At 0.5-0.7x brightness the moving mask of a car driving at the camera loses its lower edge
(red on dark red falls under the change threshold) and its box is the roof, high up the
lane: a newcomer's geometry. The decided plate, still seen by the watching reader, says it
is the same car (daemon/lane/outcome.py ``OWN_SEEN_S``). A car with no plate has nothing
to read; it stood at the barrier and its motion started afresh there a moment before, which
says the same."""

from __future__ import annotations

import pytest

from daemon.ocr.local import LocalPlateReader
from tests.support.tracker import replay


@pytest.fixture(scope="module")
def reader() -> LocalPlateReader:
    return LocalPlateReader("hsv")


@pytest.mark.parametrize(("name", "exposure", "plates"), [
    ("stop_and_go", 0.7, ["京AF0236"]),  # waits, drives on: was read + plateless
    ("stop_and_go", 0.6, ["京AF0236"]),
    ("wait_60s", 0.6, ["川A6N2K8"]),  # was read + plateless
    ("back_to_back", 0.6, ["苏E5C8K2", "鲁Q3M7H9"]),  # the follower still splits off
    ("three_cars", 0.6, ["京AF0236", "粤BD12345", "沪C8K562"]),
])
def test_a_read_car_driving_off_in_the_dark_is_one_passage(
    reader: LocalPlateReader, name: str, exposure: float, plates: list[str]
) -> None:
    assert replay(reader, name, exposure=exposure) == plates


@pytest.mark.parametrize("exposure", [0.7, 0.6, 0.5])
def test_a_plateless_car_driving_off_in_the_dark_is_one_plateless_passage(
    reader: LocalPlateReader, exposure: float
) -> None:
    # was two plateless passages: the roof's box rose up the lane 0.24 s after it moved off
    assert replay(reader, "no_plate_car", exposure=exposure) == [None]
