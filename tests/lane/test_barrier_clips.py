"""The generated boom barrier (``scripts/clipgen/barrier.py``): when it opens, what it hides.

Pure kinematics and in-memory rendering at a small size; the daemon's view of a lane with
a barrier is ``scripts/bench_selection.py --barrier [--below-arm]`` (README).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
import pytest

from scripts.rig.clips import load_make_clip


def _clipgen() -> tuple[Any, Any, Any]:
    """(scene, barrier, motion) modules of the clip generator."""
    load_make_clip()
    import clipgen.barrier
    import clipgen.motion
    import clipgen.scene

    return clipgen.scene, clipgen.barrier, clipgen.motion


def _one_car(stop_s: float = 2.0) -> Any:
    scene, _, _ = _clipgen()
    car = scene.Car("京A·F0236", (200, 30, 40), enter_s=1.0, stop_s=stop_s)
    return scene.Scenario("arm", (car,), barrier=scene.Barrier(move_s=1.0, close_after_s=0.5))


def test_the_arm_stays_down_while_a_car_waits_and_is_up_before_it_crosses() -> None:
    scene, barrier, motion = _clipgen()
    scn = _one_car()
    (car,) = scn.cars
    halt = motion.stop_window(car, scn.camera)
    openings = barrier.schedule(scn, 15.0, 25)
    assert len(openings) == 1
    up, down = openings[0]
    bar = scn.barrier
    assert barrier.lift(bar, openings, halt[0] + 0.1) == 0.0  # waiting at the line
    assert halt[0] < up < halt[1]  # opens during the halt
    assert barrier.lift(bar, openings, halt[1]) == 1.0  # up when it pulls away
    crossed = next(t / 25 for t in range(375)
                   if (d := motion.distance(car, t / 25, scn.camera)) is not None
                   and d + scene.CAR_LEN < scn.camera.d_barrier - barrier.MARGIN_M)
    assert down == pytest.approx(crossed + bar.close_after_s, abs=0.05)
    assert 0.0 < barrier.lift(bar, openings, down + 0.5) < 1.0  # coming down
    assert barrier.lift(bar, openings, down + bar.move_s + 0.01) == 0.0


def test_no_car_through_the_gate_no_opening() -> None:
    scene, barrier, _ = _clipgen()
    scn = _one_car()
    turned = replace(scn, cars=(replace(scn.cars[0], leave="turn"),))  # turns round
    assert barrier.schedule(turned, 15.0, 25) == []
    assert barrier.schedule(replace(scn, cars=()), 10.0, 25) == []
    with pytest.raises(ValueError, match="side"):
        scene.Barrier(side="middle")


def test_two_cars_close_together_keep_the_arm_up_between_them() -> None:
    _, barrier, _ = _clipgen()
    scn = _one_car(stop_s=0.0)
    first = scn.cars[0]
    close = replace(scn, cars=(first, replace(first, plate="沪C·8K562", enter_s=2.0)))
    far = replace(scn, cars=(first, replace(first, plate="沪C·8K562", enter_s=9.0)))
    assert len(barrier.schedule(close, 15.0, 25)) == 1
    assert len(barrier.schedule(far, 20.0, 25)) == 2


def test_the_arm_is_drawn_and_hides_a_plate_behind_it() -> None:
    _, barrier, _ = _clipgen()
    scn = _one_car()
    frame = np.zeros((360, 640, 3), np.uint8)
    barrier.draw(frame, scn, 0.0)
    rows = np.flatnonzero(frame[:, 320].any(axis=1))  # the arm crosses the picture's middle
    assert rows.size > 0
    row = int(rows.mean())
    assert barrier.hides(scn, 0.0, 640, [300, row - 5, 60, 10])
    assert not barrier.hides(scn, 0.0, 640, [300, row + 40, 60, 10])
    assert not barrier.hides(scn, 1.0, 640, [300, row - 5, 60, 10])  # up: out of the way
    raised = np.zeros_like(frame)
    barrier.draw(raised, scn, 1.0)
    assert not raised[:, 320].any()


def test_a_rendered_clip_with_the_arm_loses_only_hidden_plate_frames() -> None:
    mod = load_make_clip()
    scn = _one_car()
    runs = []
    for s in (replace(scn, barrier=None), scn):
        s2, tracks, frames, n = mod.render(s, (640, 360))
        first = next(frames)
        for _ in frames:
            pass
        runs.append((first, mod.truth_of(s2, tracks, (640, 360), 25, 1, n)))
    (plain, plain_truth), (arm, arm_truth) = runs
    assert plain_truth["barrier"] is None and arm_truth["barrier"]["side"] == "right"
    assert not np.array_equal(plain, arm)
    legible = [len(t["vehicles"][0]["plate_rects"]) for t in (plain_truth, arm_truth)]
    assert 0 < legible[1] <= legible[0]


def test_an_exit_lane_car_waits_for_the_arm_at_its_front() -> None:
    scene, barrier, motion = _clipgen()
    scn = _one_car()
    out = replace(scn, cars=(replace(scn.cars[0], direction="out", stop_s=2.0),))
    assert barrier.line_m(out) == pytest.approx(out.camera.d_exit_stop + scene.CAR_LEN)
    halt = motion.stop_window(out.cars[0], out.camera)
    (opening,) = barrier.schedule(out, 15.0, 25)
    assert barrier.lift(out.barrier, [opening], halt[0] + 0.1) == 0.0
    assert barrier.lift(out.barrier, [opening], halt[1]) == 1.0
