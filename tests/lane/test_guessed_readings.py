"""A reading the local reader partly guessed (a character below ``outcome.GUESSED``: a
province decoded as blank and inserted by the grammar) names a closing passage only when
more than one frame read it: held-out seed 178, a plateless car passing under the camera's
timestamp ``08:00:02``, read once as 皖SD80002 with the province at 0 %, was published with
that plate. And a green plate read with 7 characters (one dropped) is no reading at all."""

from __future__ import annotations

import pytest

from daemon.lane.outcome import GUESSED
from tests.lane.test_plategate import Local, Seen, cloud_says, drive

OVERLAY = "皖SD80002"
GUESS = (0, 100, 100, 100, 100, 100, 100, 100)


def boxes_with(reading_at: tuple[float, ...]) -> Local:
    """Plate boxes (nothing legible) from 1.5 s to 3 s; the guessed reading at each pts of
    ``reading_at`` (one frame each, at 10 fps)."""
    def see(pts: float) -> Seen | None:
        if any(abs(pts - at) < 0.05 for at in reading_at):
            return (OVERLAY, 87, 140, GUESS)
        return (None, 0, 140) if 1.5 <= pts < 3.0 else None
    return see


@pytest.mark.parametrize("mode", ["local", "cloud"])
def test_a_one_frame_guess_does_not_name_a_plateless_cars_passage(mode: str) -> None:
    assert min(GUESS) < GUESSED
    run = drive(mode, boxes_with((2.0,)), cloud_says(None, code="FailedOperation.OcrFailed"),
                [(1.0, 3.5)])
    assert [p.plate for p in run.passages] == [None]  # the car went by, plateless


def test_a_guess_read_in_two_frames_still_names_the_passage() -> None:
    """The inserted province is often the right one: read twice, the reading stands (at its
    honest confidence, 0, so it never opens a barrier)."""
    run = drive("local", boxes_with((2.0, 2.5)), cloud_says(None), [(1.0, 3.5)])
    assert [(p.plate, p.confidence) for p in run.passages] == [(OVERLAY, 0)]
