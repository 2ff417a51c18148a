"""The ground truth of a rendered clip: what was in it, where the plates were, what to publish.

``truth_of`` turns the tracks ``render.frames`` filled into the JSON written beside
each clip. Fields consumed today (``scripts/selection_score.py``, the benches) keep
their meaning; later fields are additions:

per vehicle: ``visible_plate`` (a fitted plate shows at all; ``plate`` is None when it
never does, e.g. a car without plates or an exit-lane car without a rear plate),
``plate_fitted`` ({front, rear}), ``direction`` (in/out), ``enter_from``, ``leave``,
``views`` ([first frame, last frame, front/rear/side] runs), ``first_plate_frame`` (any
plate pixel in the picture, however small), ``legible_views`` (front/rear for each
``plate_rects`` entry), ``expect_passage``.
top level: ``expected_passages`` (the plates, None for a plateless vehicle, of the
passages a correct daemon publishes, in order), ``legible_px``, ``camera``, ``effects``
and ``notes`` (what a correct daemon should make of the clip).
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from clipgen import barrier
from clipgen.motion import stop_window
from clipgen.render import Track
from clipgen.scene import PLATE_STYLES, Car, Scenario, ir_mode


def _best(tr: Track, fps: int, scn: Scenario) -> int | None:
    """Frame to read the plate from: mid-halt if the car stops, else the widest legible plate."""
    legible = {e[0] for e in tr.legible}
    halt = stop_window(tr.car, scn.camera) if isinstance(tr.car, Car) else None
    if halt is not None and (mid := round((halt[0] + halt[1]) / 2 * fps)) in legible:
        return mid
    return max(tr.legible, key=lambda e: (e[3], -e[0]))[0] if tr.legible else None


def _vehicle(tr: Track, fps: int, scn: Scenario) -> dict[str, Any]:
    car = tr.car
    moving = isinstance(car, Car)
    if isinstance(car, Car):
        number, style, fitted = car.number, car.style, (car.front_plate, car.rear_plate)
        if car.plate is None:
            fitted = (False, False)
    else:
        number = car.plate.replace("·", "")
        style, fitted = ("green" if len(number) == 8 else "blue"), (True, True)
    visible = bool(tr.plate_frames) if moving else True  # a parked car's plate: as before
    halt = stop_window(car, scn.camera) if isinstance(car, Car) else None
    return {
        "plate": number if visible else None,
        "plate_text": car.plate,
        "color": PLATE_STYLES[style][0] if number else None,
        "plate_style": style if number else None,
        "body_rgb": list(car.body),
        "parked": not moving,
        "enter_s": tr.frames[0] / fps if tr.frames else None,
        "exit_s": tr.frames[-1] / fps if tr.frames else None,
        "first_legible_frame": tr.legible[0][0] if tr.legible else None,
        "last_legible_frame": tr.legible[-1][0] if tr.legible else None,
        "stop_s": list(halt) if halt else None,
        "best_frame": _best(tr, fps, scn),
        "plate_rects": tr.legible,
        # ---- added for issue 11 (rear views, late plates, plateless cars)
        "visible_plate": visible,
        "plate_fitted": {"front": fitted[0], "rear": fitted[1]},
        "direction": car.direction if isinstance(car, Car) else None,
        "enter_from": car.enter_from if isinstance(car, Car) else None,
        "leave": car.leave if isinstance(car, Car) else None,
        "views": tr.views,
        "first_plate_frame": tr.plate_frames[0] if tr.plate_frames else None,
        "legible_views": tr.legible_views,
        "expect_passage": moving and bool(tr.frames),
    }


def truth_of(  # noqa: PLR0917 - mirrors make_clip's arguments
    scn: Scenario, tracks: list[Track], size: tuple[int, int], fps: int, seed: int, n_frames: int
) -> dict[str, Any]:
    """The ground truth of a rendered clip (call once the frame iterator is exhausted)."""
    vehicles = [_vehicle(tr, fps, scn) for tr in tracks]
    segments: list[dict[str, Any]] = []
    for w in scn.walkers:
        segments.append({"kind": w.kind, "start_s": w.enter_s})
    for s in scn.ir_switch_s:
        segments.append({"kind": "ir_switch", "start_s": s, "to_ir": ir_mode(scn, s)})
    if scn.shake_px > 0:
        segments.append({"kind": "shake", "start_s": 0.0, "amplitude_px": scn.shake_px})
    passing = sorted((v for v in vehicles if v["expect_passage"]), key=lambda v: v["enter_s"])
    return {
        "scenario": scn.name,
        "seed": seed,
        "fps": fps,
        "width": size[0],
        "height": size[1],
        "frames": n_frames,
        "duration_s": n_frames / fps,
        "cars": [asdict(c) for c in scn.cars],
        "vehicles": vehicles,
        "segments": segments,
        "overlay": scn.overlay,
        "expected_passages": [v["plate"] for v in passing],
        "legible_px": scn.legible_px,
        "camera": asdict(scn.camera),
        "effects": {
            "exposure_s": scn.exposure_s,
            "defocus_px": scn.defocus_px,
            "rain": scn.rain,
            "crf": scn.crf,
            "noise": scn.noise,
            "light": scn.light,
        },
        "barrier": None if scn.barrier is None else {
            **asdict(scn.barrier), "arm_row": barrier.arm_row(scn, size)},
        "notes": scn.notes,
    }
