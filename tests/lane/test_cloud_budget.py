"""What a passage pays for after the cloud found no plate: a further call only for a frame
that is clearly better than the one sent (the plate box wider by RESEND_WIDER, or read
surely where the one sent was not), never for a near copy of it."""

from __future__ import annotations

from itertools import pairwise

import pytest

from daemon.lane.plategate import RESEND_WIDER, clearly_better
from tests.lane.test_plategate import PLATE, cloud_says, drive, plate_from

NO_PLATE = cloud_says(None, code="FailedOperation.OcrFailed")


@pytest.mark.parametrize("mode", ["cloud", "local_first"])
def test_no_second_call_for_a_frame_like_the_one_the_cloud_found_no_plate_in(mode: str) -> None:
    # An unsure local reading (weakest character 80) of a plate that stays 140 px wide: the
    # cloud says "no plate"; before, the passage called again 0.2 s later, up to max_calls.
    run = drive(mode, plate_from(2.0, conf=80), NO_PLATE, [(1.0, 6.0)])
    assert len(run.calls) == 1
    [p] = run.passages
    assert p.plate == PLATE and p.provider == "local" and p.local_confidence == 80


def test_a_plate_coming_closer_is_worth_another_call() -> None:
    growing = lambda pts: (PLATE, 80, int(110 + 40 * max(0.0, pts - 2.0)))  # noqa: E731
    run = drive("local_first", lambda pts: growing(pts) if pts >= 2.0 else None, NO_PLATE,
                [(1.0, 6.0)])
    assert len(run.calls) >= 2
    widths = [growing(t)[2] for t in run.calls]
    assert all(b >= RESEND_WIDER * a * 0.95 for a, b in pairwise(widths))


def test_a_sure_reading_after_an_unsure_one_is_worth_another_call() -> None:
    sure_late = lambda pts: (PLATE, 80 if pts < 3.5 else 97, 140) if pts >= 2.0 else None  # noqa: E731
    run = drive("cloud", sure_late, NO_PLATE, [(1.0, 6.0)])
    assert len(run.calls) == 2 and run.calls[1] >= 3.5


def test_clearly_better() -> None:
    assert not clearly_better((False, 140), False, 160)
    assert clearly_better((False, 140), False, 175)
    assert clearly_better((False, 140), True, 140)
    assert not clearly_better((True, 140), True, 150)
