"""The labelled scenario set: ground truth is consistent, and the motion detector sees it right.

Frames are rendered in memory (no H.264 encoding) at 640x360 for the motion checks,
so the file stays fast; the full set at 1280x720 through the pipeline is
``scripts/bench_selection.py``.
"""

from __future__ import annotations

from typing import Any

import pytest

from daemon.config import MotionConfig
from daemon.domain import MotionResult
from daemon.motion import MotionDetector
from tests.support.clips import load_make_clip

ROI = [(0.0, 0.25), (1.0, 0.25), (1.0, 1.0), (0.0, 1.0)]
SMALL = (640, 360)


def _motion(name: str, size: tuple[int, int] = SMALL, until_s: float | None = None) -> list[Any]:
    """(t, MotionResult) for every frame of a scenario rendered in memory."""
    mod = load_make_clip()
    _, _, frames, _ = mod.render(name, size)
    det = MotionDetector(size, ROI, MotionConfig())
    out: list[tuple[float, MotionResult]] = []
    for n, img in enumerate(frames):
        t = n / 25
        if until_s is not None and t >= until_s:
            break
        out.append((t, det.update(img, t)))
    return out


def test_the_set_has_the_eleven_situations() -> None:
    mod = load_make_clip()
    assert len(mod.BENCH) == 11
    for name in mod.BENCH:
        scn = mod.SCENARIOS[name]()
        assert scn.name == name
        assert all("藏" not in c.plate for c in scn.cars)  # RapidOCR misreads it


@pytest.mark.parametrize("name", ["pedestrian", "shake", "night_ir"])
def test_no_vehicle_segments_never_start_motion(name: str) -> None:
    """Walkers, shake before the car and IR switches on an empty lane are not vehicles."""
    until = {"pedestrian": None, "shake": 6.5, "night_ir": 3.8}[name]
    results = _motion(name, until_s=until)
    assert results
    assert not [t for t, r in results if r.moving], name
    if name == "night_ir":
        assert any(r.suppressed for _, r in results), "the IR switch is suppressed"


def test_overlay_and_parked_car_do_not_move_but_the_car_does() -> None:
    for name in ("overlay", "parked_edge"):
        results = _motion(name)
        first = next(t for t, r in results if r.moving)
        scn = load_make_clip().SCENARIOS[name]()
        assert first >= scn.cars[0].enter_s, name


def test_truth_of_fast_car_and_new_energy_plate() -> None:
    mod = load_make_clip()
    for name in ("fast_car", "new_energy"):
        scn, tracks, frames, n = mod.render(name, (1280, 720))
        for _ in frames:
            pass
        truth = mod.truth_of(scn, tracks, (1280, 720), 25, 1, n)
        (veh,) = truth["vehicles"]
        legible = len(veh["plate_rects"])
        if name == "fast_car":
            assert 3 <= legible <= 15, legible  # legible for a few frames only
        else:
            assert veh["plate"] == "粤BD12345" and veh["color"] == "绿"
            assert len(veh["plate"]) == 8
            assert legible > 40


def test_parked_car_is_in_truth_but_never_legible() -> None:
    mod = load_make_clip()
    scn, tracks, frames, n = mod.render("parked_edge", (1280, 720))
    next(iter(frames))  # the parked car is drawn into the background
    truth = mod.truth_of(scn, tracks, (1280, 720), 25, 1, n)
    parked = [v for v in truth["vehicles"] if v["parked"]]
    assert len(parked) == 1
    assert parked[0]["plate_rects"] == []
