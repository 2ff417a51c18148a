"""The scene model of a generated clip: camera, vehicles, walkers and scene-wide settings.

A fixed camera looks down a single lane (pinhole perspective, :class:`Camera`).
Entry-lane cars come towards it (front view), may stop at the barrier, then drive
on under the camera or turn away showing their rear; they enter at the top or from
a side street (side view first, plate not yet in the picture). Exit-lane cars drive
away from it (rear view). Walkers, parked cars, an IR-cut switch, camera shake, a
timestamp overlay, motion blur, defocus, rain and the encoder's CRF are scene-wide.
Values only: the kinematics live in ``motion.py``; no drawing and no I/O here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

LEGIBLE_PX = 120
"""A plate at least this wide (px) and wholly inside the frame counts as legible (default)."""
BLUR_FRAC = 0.3
"""...and smeared by motion blur over at most this fraction of its character height."""

# Geometry for a 1280-wide frame; everything in pixels scales with width / 1280.
F = 2500.0  # focal length, px
CAM_H = 1.968  # camera height above the road, m (puts the stopped car's wheels at y=684)
Y_HORIZON = -300.0  # the horizon lies above the frame: the camera looks down
D_BARRIER = 5.0  # distance of the barrier from the camera foot, m (plate ~220 px wide there)
CAR_W, CAR_H = 1.9, 1.6  # sprite extent, m (mirrors included)
CAR_LEN = 4.5  # body length, m (the side view)
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

VIEWS = ("front", "rear", "side")
"""What of a car the camera sees: its front (coming), its rear (going), its side (turning)."""


@dataclass(frozen=True)
class Camera:
    """Where the camera stands and how it looks down the lane; pixels are for a 1280-wide frame.

    The default is the camera every named scenario uses (and the v1 held-out draws).
    """

    focal: float = F
    """Focal length, px at 1280 wide: with ``d_barrier`` it sets the plate width at the barrier."""
    height_m: float = CAM_H
    y_horizon: float = Y_HORIZON
    """Row of the horizon (negative: above the frame); with ``height_m``, the tilt."""
    d_barrier: float = D_BARRIER
    lane_half_w: float = LANE_HALF_W
    enter_m: float | None = None
    """Where cars appear (m), when nearer than where the road leaves the top of the frame
    (a long lane seen from high up: the far end is a bend or a gate)."""

    @property
    def s_cap(self) -> float:
        """Scale (px/m at 1280) the sprites are drawn at; cars stop growing past it."""
        return 1.25 * self.focal / self.d_barrier

    @property
    def d_enter(self) -> float:
        """Distance (m) where a car's wheels reach the top of the frame (or ``enter_m``)."""
        top = self.focal * self.height_m / -self.y_horizon
        return top if self.enter_m is None else min(top, self.enter_m)

    @property
    def d_side(self) -> float:
        """Distance (m) of the side street a car turns in from (``enter_from`` left/right)."""
        return min(self.d_enter - 1.0, self.d_barrier + BRAKE_M + 1.5)

    @property
    def d_exit_stop(self) -> float:
        """Where an exit-lane car halts (its rear), m: a little past the barrier line."""
        return self.d_barrier + 1.5

    def plate_px_at_barrier(self, width: int = 1280) -> float:
        """Width (px) of a 440 mm plate at the barrier in a frame ``width`` wide."""
        return 0.44 * self.focal / self.d_barrier * width / 1280.0


CAMERA = Camera()


@dataclass(frozen=True)
class Car:
    """One vehicle in a scenario; times in seconds from the clip start, speed in m/s."""

    plate: str | None
    """Plate as written, e.g. ``京A·F0236`` (the dot is optional); None: no plate fitted."""
    body: tuple[int, int, int] = (200, 200, 205)
    """Body colour, RGB."""
    enter_s: float = 1.0
    speed: float = 5.0
    stop_s: float = 1.0
    """Seconds stopped at the barrier; 0 drives straight through."""
    lateral_m: float = 0.0
    plate_color: str | None = None
    """``blue`` / ``green`` / ``yellow``; by default green for 8 characters, else blue."""
    direction: str = "in"
    """``in``: towards the camera (entry lane, front view); ``out``: away (exit lane, rear)."""
    enter_from: str = "top"
    """``top`` (far end of the lane) or ``left`` / ``right``: turns in from a side street,
    seen side-on for about a second before its front (and plate) shows."""
    leave: str = "ahead"
    """After the halt: ``ahead`` drives on under the camera; ``turn`` turns away and drives
    off into the distance showing its rear (an entry-lane car only, with ``stop_s`` > 0)."""
    front_plate: bool = True
    rear_plate: bool = True
    """Which ends carry the plate (both by default; a car with ``plate`` None has neither)."""

    def __post_init__(self) -> None:
        bad = (
            (self.direction not in ("in", "out"), f"direction {self.direction!r}"),
            (self.enter_from not in ("top", "left", "right"), f"enter_from {self.enter_from!r}"),
            (self.leave not in ("ahead", "turn"), f"leave {self.leave!r}"),
            (self.leave == "turn" and (self.stop_s <= 0 or self.direction == "out"), "turn"),
            (self.direction == "out" and self.enter_from != "top", "out from a side street"),
        )
        for wrong, what in bad:
            if wrong:
                raise ValueError(f"car {self.plate}: unsupported {what}")

    @property
    def number(self) -> str | None:
        """The plate without separators, as Tencent returns it; None without a plate."""
        if self.plate is None:
            return None
        return self.plate.replace("·", "").replace(" ", "")

    @property
    def style(self) -> str:
        """The plate style name."""
        return self.plate_color or ("green" if len(self.number or "") == 8 else "blue")

    def shows_plate(self, view: str) -> bool:
        """True when the end of the car seen in ``view`` carries a plate."""
        if self.plate is None or view == "side":
            return False
        return self.front_plate if view == "front" else self.rear_plate


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
class Barrier:
    """A boom barrier at the camera's barrier line."""

    side: str = "right"
    """The kerb the cabinet stands on (``left`` / ``right``)."""
    height_m: float = 1.0
    """Height of the arm (and its pivot) above the road."""
    move_s: float = 1.4
    """Seconds the arm takes to swing up, or down."""
    close_after_s: float = 0.8
    """Seconds after a car cleared the line before the arm comes down."""
    thickness_m: float = 0.1
    """How tall the arm is (its stripes are this thick in the picture at the line)."""

    def __post_init__(self) -> None:
        if self.side not in ("left", "right"):
            raise ValueError(f"barrier side {self.side!r}")


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
    """Times the IR-cut filter switches (colour -> IR monochrome -> colour ...); 0.0: IR from
    the start."""
    headlights: bool = False
    """Cars carry lit headlights with glare (night)."""
    shake_px: float = 0.0
    """Camera shake amplitude in px at 1280 wide (wind); 0 is a still camera."""
    overlay: bool = False
    """Burn a timestamp and camera name into the bottom-left corner, as cameras do."""
    camera: Camera = field(default_factory=Camera)
    size: tuple[int, int] | None = None
    """The camera's frame (width, height); None: whatever size the caller renders at."""
    legible_px: int = LEGIBLE_PX
    """Plate width (px) from which the ground truth counts a plate as legible."""
    exposure_s: float = 0.0
    """Shutter time: a moving car smears over the distance it travels meanwhile (motion blur)."""
    defocus_px: float = 0.0
    """Gaussian blur sigma (px) of the whole picture: a soft lens or a dirty window."""
    rain: float = 0.0
    """Rain streaks, 0 (dry) to 1 (downpour)."""
    crf: int = 23
    """x264 constant rate factor of the encoding: higher compresses harder."""
    barrier: Barrier | None = None
    """A boom barrier at the barrier line (``clipgen/barrier.py``); None: no arm in view."""
    notes: str = ""
    """What a correct daemon should make of the clip (copied into the ground truth)."""


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
