"""Held-out scenarios: randomised clips, drawn per seed, to check the selection off its tuning set.

``heldout_scenario(seed, profile)`` builds a :class:`Scenario`. Profile ``v1`` (named
``heldout_<seed>``) is the draw of issue 4, unchanged so its figures stay reproducible:
2-3 cars whose plates, colours, speeds, stops, lateral offsets and spacing come from
ranges wider than the hand-made ``BENCH`` set, plus night / IR / noise / shake /
walkers / a parked car with small probabilities, all seen by the default camera.
Profile ``v2`` (the default, ``heldout_v2_<seed>``, ranges in ``heldout2.py``) also
draws the camera (height, tilt, zoom, lane width, frame size), the plate size,
motion blur, defocus, night IR, rain, compression and the lane behaviours of issue
11 (side entry, turning away after the read, exit lanes, cars without plates).
Deterministic per seed and profile; no I/O.

Invariants (checked by the generator, tested in ``tests/lane/test_scenarios.py``):
plates are valid GA 36 plates (``daemon.plates.is_valid``), unique in the clip and
free of 藏 (RapidOCR misreads it); every plated car's plate is legible (>= the
scenario's ``legible_px`` wide, wholly in its frame, smeared by motion blur by at
most ``BLUR_FRAC`` of a character's height) for a few frames; a following car never
comes within a car length of the one ahead, and, unless the draw is a back-to-back
pair, enters only after the one ahead has left the frame.
"""

from __future__ import annotations

import random
from collections.abc import Callable

from clipgen.motion import clip_duration, distance, exit_time, place, stop_window
from clipgen.scene import (
    BLUR_FRAC,
    CAMERA,
    LEGIBLE_PX,
    Camera,
    Car,
    Parked,
    Scenario,
    Walker,
)
from daemon.plates import PROVINCES, is_valid

FPS = 25
WIDTH, HEIGHT = 1280, 720
"""The frame the invariants are checked in (the bench's default size)."""

_PROVINCES = sorted(PROVINCES - {"藏"})  # RapidOCR misreads 藏
_AUTHORITY = "ABCDEFGHJKLMNPQRSTUVWXYZ"  # O is legal but rare, and reads as 0 -> D
_LETTERS = "ABCDEFGHJKLMNPQRSTUVWXYZ"  # serial letters: no I, no O (GA 36)
_DIGITS = "0123456789"

BODIES: tuple[tuple[int, int, int], ...] = (
    (235, 235, 238),  # white
    (20, 20, 24),  # black
    (175, 178, 182),  # silver
    (95, 98, 102),  # grey
    (170, 25, 30),  # red
    (25, 55, 140),  # blue (near the blue plate)
    (15, 30, 70),  # dark blue
    (30, 90, 50),  # green
    (110, 75, 45),  # brown
    (225, 185, 20),  # yellow (near the yellow plate)
    (200, 200, 190),  # beige
)

CAR_LEN_M = 4.5
"""Minimum gap (front to front) between a car and the one ahead."""
B2B_MIN_S = 3.6
"""Back-to-back: the least enter-to-enter spacing drawn (``back_to_back`` uses 3.6 s)."""
MIN_LEGIBLE_FRAMES = 3


def random_plate(rng: random.Random, style: str) -> str:
    """A valid plate as written (``京A·F0236``) for ``blue`` / ``yellow`` / ``green``."""
    head = rng.choice(_PROVINCES) + rng.choice(_AUTHORITY)
    if style == "green":
        if rng.random() < 0.8:  # small car: D/F, a serial character, four digits
            serial = rng.choice(_LETTERS + _DIGITS)
            body = rng.choice("DF") + serial + "".join(rng.choices(_DIGITS, k=4))
        else:  # large vehicle: five digits, then D/F
            body = "".join(rng.choices(_DIGITS, k=5)) + rng.choice("DF")
    else:
        chars = rng.choices(_DIGITS, k=5)
        for i in rng.sample(range(5), rng.choice((0, 1, 1, 2, 2, 3))):
            chars[i] = rng.choice(_LETTERS)
        body = "".join(chars)
    plate = f"{head}·{body}"
    if not is_valid(plate.replace("·", "")):
        raise AssertionError(f"generated an invalid plate {plate}")
    return plate


def _context(scn: Scenario | None) -> tuple[Camera, int, int, int, float]:
    """Camera, frame width and height, legible width and exposure the invariants are checked in."""
    if scn is None:
        return CAMERA, WIDTH, HEIGHT, LEGIBLE_PX, 0.0
    width, height = scn.size or (WIDTH, HEIGHT)
    return scn.camera, width, height, scn.legible_px, scn.exposure_s


def plate_legible(car: Car, t: float, scn: Scenario | None = None) -> bool:
    """True when the car's plate is legible at t, as render.py records it: a plated end in
    view, wide enough, wholly in the frame and not smeared by motion blur."""
    cam, width, height, legible_px, exposure = _context(scn)
    pl = place(car, t, width, cam)
    if pl is None or not car.shows_plate(pl.view):
        return False
    w = (0.48 if car.style == "green" else 0.44) * pl.scale
    x0 = pl.x_center - w / 2
    high, low = (0.42, 0.28) if pl.view == "front" else (0.46, 0.32)  # as sprites.py
    top, bottom = pl.y_bottom - high * pl.scale, pl.y_bottom - low * pl.scale
    if not (w >= legible_px and x0 >= 0 and x0 + w <= width and top >= 0 and bottom <= height):
        return False
    before = place(car, t - exposure, width, cam) if exposure > 0 else None
    if before is None or before.view != pl.view:
        return True
    smear = abs(pl.x_center - before.x_center) + abs(pl.y_bottom - before.y_bottom)
    return smear <= BLUR_FRAC * 0.14 * pl.scale * 90 / 140


def legible_frames(car: Car, until_s: float = 120.0, scn: Scenario | None = None) -> list[int]:
    """Frames (at ``FPS``) where the plate is legible, as render.py records them; by default
    in a ``WIDTH`` x ``HEIGHT`` frame of the default camera, else in ``scn``'s camera."""
    cam, width, _, _, _ = _context(scn)
    out: list[int] = []
    n = round(car.enter_s * FPS)
    while n / FPS < until_s:
        t = n / FPS
        if place(car, t, width, cam) is None:
            if t > car.enter_s + 0.1:
                break
        elif plate_legible(car, t, scn):
            out.append(n)
        n += 1
    return out


def exit_s(car: Car, scn: Scenario | None = None) -> float:
    """Clip time the car has wholly left the frame (as ``clip_duration``)."""
    cam, width, height, _, _ = _context(scn)
    return exit_time(car, cam, width, height, FPS)


def keeps_distance(ahead: Car, behind: Car, scn: Scenario | None = None) -> bool:
    """True when ``behind`` stays at least ``CAR_LEN_M`` behind ``ahead`` while both drive."""
    cam = _context(scn)[0]
    t = behind.enter_s
    while t < exit_s(ahead, scn):
        da, db = distance(ahead, t, cam), distance(behind, t, cam)
        gap = None if da is None or db is None else db - da
        if gap is not None and ahead.direction == "out":  # going away: the follower is nearer
            gap = -gap
        if gap is not None and da is not None and da > 0.3 and gap < CAR_LEN_M:
            return False
        t += 1 / FPS
    return True


def _car(rng: random.Random, plate: str, style: str, enter: float) -> Car:
    stop = 0.0 if rng.random() < 0.3 else round(rng.uniform(0.5, 6.0), 2)
    speed = rng.uniform(3.0, 7.5) if stop else rng.uniform(3.0, 12.0)
    body = tuple(max(0, min(255, c + rng.randint(-12, 12))) for c in rng.choice(BODIES))
    return Car(
        plate,
        (body[0], body[1], body[2]),
        enter_s=round(enter, 2),
        speed=round(speed, 2),
        stop_s=stop,
        lateral_m=round(rng.uniform(-0.35, 0.35), 2),
        plate_color=style,
    )


Vary = Callable[[random.Random, Car], Car]


def _cars(
    rng: random.Random, ctx: Scenario | None = None, vary: Vary | None = None
) -> tuple[tuple[Car, ...], bool]:
    """2-3 valid, unique, legible, spaced cars; and whether a pair is back-to-back.

    ``ctx`` is the camera, frame and legibility the checks use (v2); ``vary`` reshapes each
    drawn car (side entry, turning away, exit lane, no plate). A car that does not leave
    under the camera (turns away, exit lane) is followed only once it has gone.
    """
    cars: list[Car] = []
    b2b = False
    want = rng.choice((2, 2, 3))
    tries = 0
    cam = ctx.camera if ctx is not None else CAMERA
    while len(cars) < want:
        tries += 1
        if tries > 1000:
            raise AssertionError("could not draw the cars of a held-out clip")
        style = rng.choices(("blue", "green", "yellow"), weights=(0.6, 0.25, 0.15))[0]
        plate = random_plate(rng, style)
        if any(c.plate == plate for c in cars):
            continue
        if not cars:
            enter = rng.uniform(1.0, 3.0)
        elif rng.random() < 0.25 and cars[-1].leave == "ahead" and cars[-1].direction == "in":
            halt = stop_window(cars[-1], cam)  # back-to-back: enters before the one ahead left
            pull = halt[1] if halt else cars[-1].enter_s
            enter = max(cars[-1].enter_s + B2B_MIN_S, pull + rng.uniform(-0.5, 1.0))
        else:
            enter = exit_s(cars[-1], ctx) + rng.uniform(0.8, 3.0)
        car = _car(rng, plate, style, enter)
        if vary is not None:
            car = vary(rng, car)
        if car.plate is not None and len(legible_frames(car, scn=ctx)) < MIN_LEGIBLE_FRAMES:
            continue
        if cars and not keeps_distance(cars[-1], car, ctx):
            continue
        b2b = b2b or (bool(cars) and car.enter_s < exit_s(cars[-1], ctx))
        cars.append(car)
    return tuple(cars), b2b


def extras(rng: random.Random, span: float) -> tuple[tuple[Walker, ...], tuple[Parked, ...]]:
    """Walkers (a pedestrian, a cyclist) and a parked car, each with a small probability."""
    walkers: list[Walker] = []
    if rng.random() < 0.2:
        walkers.append(
            Walker(
                "pedestrian",
                enter_s=round(rng.uniform(0.3, max(0.3, span - 6.5)), 2),
                speed=round(rng.uniform(1.0, 1.8), 2),
                distance_m=round(rng.uniform(6.0, 11.0), 1),
            )
        )
    if rng.random() < 0.15:
        walkers.append(
            Walker(
                "cyclist",
                enter_s=round(rng.uniform(0.3, max(0.3, span - 4.0)), 2),
                speed=round(rng.uniform(3.0, 5.5), 2),
                lateral_m=round(rng.choice((-1, 1)) * rng.uniform(1.1, 1.4), 2),
            )
        )
    parked: tuple[Parked, ...] = ()
    if rng.random() < 0.15:
        style = rng.choice(("blue", "green"))
        parked = (
            Parked(
                random_plate(rng, style),
                rng.choice(BODIES),
                lateral_m=round(rng.choice((-1, 1)) * rng.uniform(2.3, 2.8), 2),
                distance_m=round(rng.uniform(8.0, 12.0), 1),
            ),
        )
    return tuple(walkers), parked


PROFILES = ("v1", "v2")
DEFAULT_PROFILE = "v2"


def heldout_scenario(seed: int, profile: str = DEFAULT_PROFILE) -> Scenario:
    """The held-out clip of ``seed``: ``v1`` draws exactly as before issue 11 (named
    ``heldout_<seed>``), ``v2`` the wider variation of ``heldout2.py`` (``heldout_v2_<seed>``)."""
    if profile == "v2":
        from clipgen.heldout2 import heldout_v2

        return heldout_v2(seed)
    if profile != "v1":
        raise ValueError(f"unknown held-out profile {profile!r}; known: {', '.join(PROFILES)}")
    rng = random.Random(seed)
    cars, _ = _cars(rng)
    span = clip_duration(Scenario("probe", cars), WIDTH, HEIGHT, FPS)
    night = rng.random() < 0.2
    ir: tuple[float, ...] = ()
    if night and rng.random() < 0.5:
        ir = tuple(sorted(round(rng.uniform(0.5, span - 1.0), 2) for _ in range(rng.randint(1, 2))))
    walkers, parked = extras(rng, span)
    return Scenario(
        f"heldout_{seed}",
        cars,
        noise=round(rng.uniform(4.0, 7.0) if night else rng.uniform(1.5, 5.0), 1),
        light=round(rng.uniform(0.35, 0.6) if night else rng.uniform(0.8, 1.15), 2),
        walkers=walkers,
        parked=parked,
        ir_switch_s=ir,
        headlights=night,
        shake_px=round(rng.uniform(1.5, 6.0), 1) if rng.random() < 0.15 else 0.0,
        overlay=rng.random() < 0.2,
    )


def _describe_car(c: Car) -> str:
    text = f"{c.number}({c.style[0]}) {c.speed:.1f}m/s stop {c.stop_s:.1f}s @{c.enter_s:.1f}s"
    if c.direction == "out":
        text += " exit"
    if c.enter_from != "top":
        text += f" from {c.enter_from}"
    if c.leave == "turn":
        text += " turns away" + ("" if c.rear_plate else " (no rear plate)")
    return text


def describe(scn: Scenario) -> str:
    """One line on a held-out scenario's draw: cars (plate, speed, stop, enter) and conditions."""
    cars = ", ".join(_describe_car(c) for c in scn.cars)
    extra = [f"light {scn.light:.2f}", f"noise {scn.noise:.1f}"]
    if scn.size is not None or scn.camera != CAMERA:
        cam, (w, _) = scn.camera, scn.size or (WIDTH, HEIGHT)
        extra.append(
            f"{w}x{(scn.size or (WIDTH, HEIGHT))[1]} cam {cam.height_m:.1f}m "
            f"plate {cam.plate_px_at_barrier(w):.0f}px legible>={scn.legible_px}px"
        )
    if scn.exposure_s:
        extra.append(f"shutter 1/{1 / scn.exposure_s:.0f}")
    if scn.defocus_px:
        extra.append(f"defocus {scn.defocus_px:.1f}px")
    if scn.rain:
        extra.append(f"rain {scn.rain:.2f}")
    if scn.crf != 23:
        extra.append(f"crf {scn.crf}")
    if scn.headlights:
        extra.append("night")
    if scn.ir_switch_s:
        extra.append("IR " + "/".join(f"{s:.1f}" for s in scn.ir_switch_s))
    if scn.shake_px:
        extra.append(f"shake {scn.shake_px:.1f}px")
    extra += [w.kind for w in scn.walkers]
    if scn.parked:
        extra.append("parked")
    if scn.overlay:
        extra.append("overlay")
    if (bar := scn.barrier) is not None:
        extra.append(f"barrier {bar.side} {bar.height_m:.2f}m {bar.move_s:.1f}s")
    return f"{scn.name}: {cars}; {', '.join(extra)}"
