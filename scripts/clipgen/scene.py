"""The scene model of a generated clip: what is in it and where, as pure functions of time.

A fixed camera looks down a single lane (pinhole perspective). Cars enter at the
top, grow as they approach, may stop at the barrier, then leave at the bottom.
Walkers (a pedestrian crossing, a cyclist riding along the kerb), parked cars,
an IR-cut switch, camera shake and a timestamp overlay are scene-wide extras.
No drawing and no I/O here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

LEGIBLE_PX = 120
"""A plate at least this wide (px) and wholly inside the frame counts as legible."""

# Geometry for a 1280-wide frame; everything in pixels scales with width / 1280.
F = 2500.0  # focal length, px
CAM_H = 1.968  # camera height above the road, m (puts the stopped car's wheels at y=684)
Y_HORIZON = -300.0  # the horizon lies above the frame: the camera looks down
D_BARRIER = 5.0  # distance of the barrier from the camera foot, m (plate ~220 px wide there)
CAR_W, CAR_H = 1.9, 1.6  # sprite extent, m (mirrors included)
LANE_HALF_W = 1.9  # m
S_CAP = 1.25 * F / D_BARRIER  # scale stops growing past the barrier (sprite resolution)
D_ENTER = F * CAM_H / -Y_HORIZON  # the car's wheels reach the top of the frame here, m
BRAKE_M = 3.0  # braking distance before the barrier, m
ACCEL = 3.0  # pull-away acceleration, m/s^2

PLATE_STYLES: dict[str, tuple[str, tuple[int, int, int], tuple[int, int, int], str]] = {
    # name: (Tencent colour, background RGB (green: bottom of the gradient), text RGB, size key)
    "blue": ("蓝", (18, 62, 196), (255, 255, 255), "std"),
    "yellow": ("黄", (246, 196, 0), (10, 10, 10), "std"),
    "green": ("绿", (60, 190, 110), (10, 10, 10), "ne"),
}


@dataclass(frozen=True)
class Car:
    """One vehicle in a scenario; times in seconds from the clip start, speed in m/s."""

    plate: str
    """Plate as written, e.g. ``京A·F0236`` (the dot is optional)."""
    body: tuple[int, int, int] = (200, 200, 205)
    """Body colour, RGB."""
    enter_s: float = 1.0
    speed: float = 5.0
    stop_s: float = 1.0
    """Seconds stopped at the barrier; 0 drives straight through."""
    lateral_m: float = 0.0
    plate_color: str | None = None
    """``blue`` / ``green`` / ``yellow``; by default green for 8 characters, else blue."""

    @property
    def number(self) -> str:
        """The plate without separators, as Tencent returns it."""
        return self.plate.replace("·", "").replace(" ", "")

    @property
    def style(self) -> str:
        """The plate style name."""
        return self.plate_color or ("green" if len(self.number) == 8 else "blue")


@dataclass(frozen=True)
class Walker:
    """A pedestrian crossing the lane, or a cyclist riding along it (not a vehicle)."""

    kind: str = "pedestrian"
    """``pedestrian`` (crosses left to right at ``distance_m``) or ``cyclist`` (rides down)."""
    enter_s: float = 1.0
    speed: float = 1.4
    distance_m: float = 7.0
    """Pedestrian: distance of the crossing from the camera foot."""
    lateral_m: float = 1.3
    """Cyclist: offset from the lane centre (near the kerb)."""


@dataclass(frozen=True)
class Parked:
    """A car standing still for the whole clip (at the edge of the view); never to be reported."""

    plate: str
    body: tuple[int, int, int] = (60, 60, 70)
    lateral_m: float = -2.7
    distance_m: float = 11.0


@dataclass(frozen=True)
class Scenario:
    """A named list of cars plus scene-wide settings (night, IR switch, shake, walkers...)."""

    name: str
    cars: tuple[Car, ...]
    duration_s: float | None = None
    """Clip length; by default the last actor's exit plus 1.5 s."""
    noise: float = 3.0
    """Sensor noise amplitude, grey levels."""
    light: float = 1.0
    """Overall brightness factor (a night scene lowers it)."""
    walkers: tuple[Walker, ...] = ()
    parked: tuple[Parked, ...] = ()
    ir_switch_s: tuple[float, ...] = ()
    """Times the IR-cut filter switches (colour -> IR monochrome -> colour ...)."""
    headlights: bool = False
    """Cars carry lit headlights with glare (night)."""
    shake_px: float = 0.0
    """Camera shake amplitude in px at 1280 wide (wind); 0 is a still camera."""
    overlay: bool = False
    """Burn a timestamp and camera name into the bottom-left corner, as cameras do."""


def stop_window(car: Car) -> tuple[float, float] | None:
    """Start and end (clip time, s) of the halt at the barrier; None if the car drives through."""
    if car.stop_s <= 0:
        return None
    cruise = max(0.0, D_ENTER - D_BARRIER - BRAKE_M)
    start = car.enter_s + cruise / car.speed + 2 * BRAKE_M / car.speed
    return start, start + car.stop_s


def distance(car: Car, t: float) -> float | None:
    """Distance (m) of the car's front from the camera foot at time t; None before it enters."""
    dt = t - car.enter_s
    if dt < 0:
        return None
    v = car.speed
    halt = stop_window(car)
    if halt is None:
        return D_ENTER - v * dt
    cruise = max(0.0, D_ENTER - D_BARRIER - BRAKE_M)
    t_cruise = cruise / v
    if dt < t_cruise:
        return D_ENTER - v * dt
    if t < halt[0]:  # constant deceleration over the braking distance
        tb, decel = dt - t_cruise, v * v / (2 * BRAKE_M)
        return D_ENTER - cruise - (v * tb - 0.5 * decel * tb * tb)
    tl = t - halt[1]
    if tl < 0:
        return D_BARRIER
    t_acc = v / ACCEL
    gone = 0.5 * ACCEL * min(tl, t_acc) ** 2 + v * max(0.0, tl - t_acc)
    return D_BARRIER - gone


@dataclass(frozen=True)
class Placement:
    """Where a sprite lands in the frame: scale (px per metre) and its ground point."""

    scale: float
    x_center: float
    y_bottom: float


def ground(d: float, lateral_m: float, width: int, cap: bool = True) -> Placement:
    """Placement of a ground point ``d`` m from the camera foot, ``lateral_m`` off centre."""
    k = width / 1280.0
    y_bottom = k * (Y_HORIZON + F * CAM_H / d)
    scale = k * (min(F / d, S_CAP) if cap else F / d)
    return Placement(scale, width / 2 + lateral_m * k * F / d, y_bottom)


def place(car: Car, t: float, width: int) -> Placement | None:
    """Screen placement of a car at time t in a frame ``width`` wide, or None if not on the road."""
    d = distance(car, t)
    if d is None or d <= 0.3:
        return None
    pl = ground(d, 0.0, width)
    return Placement(pl.scale, width / 2 + car.lateral_m * pl.scale, pl.y_bottom)


def place_walker(w: Walker, t: float, width: int) -> Placement | None:
    """Screen placement of a walker at time t, or None when it is off the scene."""
    dt = t - w.enter_s
    if dt < 0:
        return None
    if w.kind == "cyclist":
        d = D_ENTER + 1.0 - w.speed * dt
        if d <= 0.5:
            return None
        return ground(d, w.lateral_m, width)
    lateral = -4.5 + w.speed * dt
    if lateral > 4.5:
        return None
    return ground(w.distance_m, lateral, width)


def shake_offset(scn: Scenario, n: int, fps: int, width: int) -> tuple[float, float]:
    """Camera shake displacement (dx, dy) in px of frame ``n``: gusts of a few Hz, deterministic."""
    if scn.shake_px <= 0:
        return 0.0, 0.0
    t = n / fps
    a = scn.shake_px * width / 1280.0
    gust = 0.6 + 0.4 * math.sin(2 * math.pi * 0.13 * t)
    dx = (
        a
        * gust
        * (0.7 * math.sin(2 * math.pi * 2.3 * t) + 0.3 * math.sin(2 * math.pi * 5.1 * t + 1))
    )
    dy = (
        a
        * gust
        * 0.6
        * (0.6 * math.sin(2 * math.pi * 3.1 * t + 2) + 0.4 * math.sin(2 * math.pi * 6.7 * t))
    )
    return dx, dy


def ir_mode(scn: Scenario, t: float) -> bool:
    """True while the camera is in IR (monochrome) mode: an odd number of switches passed."""
    return sum(1 for s in scn.ir_switch_s if t >= s) % 2 == 1


def clip_duration(scn: Scenario, width: int, height: int, fps: int) -> float:
    """Clip length: ``duration_s`` or the last actor's exit plus 1.5 s."""
    if scn.duration_s is not None:
        return scn.duration_s
    last = 0.0
    for car in scn.cars:  # walk forward until the car has left the frame
        t = car.enter_s
        while (pl := place(car, t, width)) is not None and pl.y_bottom - CAR_H * pl.scale < height:
            t += 1 / fps
        last = max(last, t)
    for w in scn.walkers:
        t = w.enter_s
        while place_walker(w, t, width) is not None and t < w.enter_s + 60:
            t += 1 / fps
        last = max(last, t)
    return last + 1.5
