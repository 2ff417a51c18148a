"""Held-out scenarios: randomised clips, drawn per seed, to check the selection off its tuning set.

``heldout_scenario(seed)`` builds a :class:`Scenario` named ``heldout_<seed>`` with 2-3
cars whose plates, colours, speeds, stops, lateral offsets and spacing come from
ranges wider than the hand-made ``BENCH`` set, plus night / IR / noise / shake /
walkers / a parked car with small probabilities. Deterministic per seed; no I/O.

Invariants (checked by the generator, tested in ``tests/test_scenarios.py``):
plates are valid GA 36 plates (``daemon.plates.is_valid``), unique in the clip and
free of 藏 (RapidOCR misreads it); every car's plate is legible (>= ``LEGIBLE_PX``
wide, wholly in a 1280x720 frame) for a few frames; a following car never comes
within a car length of the one ahead, and, unless the draw is a back-to-back pair,
enters only after the one ahead has left the frame.
"""

from __future__ import annotations

import random

from clipgen.motion import clip_duration, distance, place, stop_window
from clipgen.scene import (
    CAR_H,
    LEGIBLE_PX,
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


def legible_frames(car: Car, until_s: float = 120.0) -> list[int]:
    """Frames (at ``FPS``, in ``WIDTH`` x ``HEIGHT``) where the plate is legible, as render.py."""
    plate_m = 0.48 if car.style == "green" else 0.44
    out: list[int] = []
    n = round(car.enter_s * FPS)
    while n / FPS < until_s:
        t = n / FPS
        pl = place(car, t, WIDTH)
        if pl is None:
            if t > car.enter_s + 0.1:
                break
        else:
            w = plate_m * pl.scale
            x0 = pl.x_center - w / 2
            top, bottom = pl.y_bottom - 0.42 * pl.scale, pl.y_bottom - 0.28 * pl.scale
            if w >= LEGIBLE_PX and x0 >= 0 and x0 + w <= WIDTH and top >= 0 and bottom <= HEIGHT:
                out.append(n)
        n += 1
    return out


def exit_s(car: Car) -> float:
    """Clip time the car has wholly left a ``WIDTH`` x ``HEIGHT`` frame (as ``clip_duration``)."""
    t = car.enter_s
    while (pl := place(car, t, WIDTH)) is not None and pl.y_bottom - CAR_H * pl.scale < HEIGHT:
        t += 1 / FPS
    return t


def keeps_distance(ahead: Car, behind: Car) -> bool:
    """True when ``behind`` stays at least ``CAR_LEN_M`` behind ``ahead`` while both drive."""
    t = behind.enter_s
    while t < exit_s(ahead):
        da, db = distance(ahead, t), distance(behind, t)
        if da is not None and db is not None and da > 0.3 and db - da < CAR_LEN_M:
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


def _cars(rng: random.Random) -> tuple[tuple[Car, ...], bool]:
    """2-3 valid, unique, legible, spaced cars; and whether a pair is back-to-back."""
    cars: list[Car] = []
    b2b = False
    want = rng.choice((2, 2, 3))
    tries = 0
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
        elif rng.random() < 0.25:  # back-to-back: enters before the one ahead has left
            halt = stop_window(cars[-1])
            pull = halt[1] if halt else cars[-1].enter_s
            enter = max(cars[-1].enter_s + B2B_MIN_S, pull + rng.uniform(-0.5, 1.0))
        else:
            enter = exit_s(cars[-1]) + rng.uniform(0.8, 3.0)
        car = _car(rng, plate, style, enter)
        if len(legible_frames(car)) < MIN_LEGIBLE_FRAMES:
            continue
        if cars and not keeps_distance(cars[-1], car):
            continue
        b2b = b2b or (bool(cars) and car.enter_s < exit_s(cars[-1]))
        cars.append(car)
    return tuple(cars), b2b


def heldout_scenario(seed: int) -> Scenario:
    """The held-out clip ``heldout_<seed>``: 2-3 cars and a few randomly drawn conditions."""
    rng = random.Random(seed)
    cars, _ = _cars(rng)
    span = clip_duration(Scenario("probe", cars), WIDTH, HEIGHT, FPS)
    night = rng.random() < 0.2
    ir: tuple[float, ...] = ()
    if night and rng.random() < 0.5:
        ir = tuple(sorted(round(rng.uniform(0.5, span - 1.0), 2) for _ in range(rng.randint(1, 2))))
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
    return Scenario(
        f"heldout_{seed}",
        cars,
        noise=round(rng.uniform(4.0, 7.0) if night else rng.uniform(1.5, 5.0), 1),
        light=round(rng.uniform(0.35, 0.6) if night else rng.uniform(0.8, 1.15), 2),
        walkers=tuple(walkers),
        parked=parked,
        ir_switch_s=ir,
        headlights=night,
        shake_px=round(rng.uniform(1.5, 6.0), 1) if rng.random() < 0.15 else 0.0,
        overlay=rng.random() < 0.2,
    )


def describe(scn: Scenario) -> str:
    """One line on a held-out scenario's draw: cars (plate, speed, stop, enter) and conditions."""
    cars = ", ".join(
        f"{c.number}({c.style[0]}) {c.speed:.1f}m/s stop {c.stop_s:.1f}s @{c.enter_s:.1f}s"
        for c in scn.cars
    )
    extra = [f"light {scn.light:.2f}", f"noise {scn.noise:.1f}"]
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
    return f"{scn.name}: {cars}; {', '.join(extra)}"
