"""A boom barrier at the stop line of a generated clip: when its arm moves, and how it looks.

The arm is a red-and-white striped boom on a cabinet at the kerb, ``height_m`` above the
road at the barrier line. It lies across the lane while no car passes and swings up in the
plane of the barrier line (so in the picture it turns about its pivot) before a car
crosses the line, then down again once the car is through. Lanes have one: every car that
goes through the gate opens it, and its movement is motion in the lane that is no vehicle
(a daemon that opens a passage for it, or loses a car behind it, is wrong).

Pure kinematics (:func:`schedule`, :func:`lift`) and drawing on BGR arrays
(:func:`draw`); the arm hides a plate behind it (:func:`hides`), which the truth respects.
"""

from __future__ import annotations

import itertools
import math
import random
from dataclasses import replace

import cv2
import numpy as np

from clipgen.motion import distance
from clipgen.scene import CAR_LEN, Barrier, Scenario

UP_DEG = 85.0
"""The arm's angle when open (degrees above horizontal)."""
STRIPE_M = 0.45
"""Length of one red or white stripe of the arm."""
RED, WHITE, CABINET = (40, 40, 200), (235, 235, 235), (40, 150, 205)
MARGIN_M = 0.3
"""A car's body needs the arm up from when its near end is past the barrier line (a car
waiting at the line does not) until its far end is this far beyond it."""
UP_BEFORE_S = 0.2
"""The arm is fully up this long before a car crosses the line."""


def line_m(scn: Scenario) -> float:
    """Distance (m) of the arm from the camera foot: the barrier line of an entry lane; in an
    exit lane (every car drives away) the front of a car halted there (``d_exit_stop`` is
    its rear), so the cars wait for the arm as entering ones do."""
    cam = scn.camera
    if scn.cars and all(c.direction == "out" for c in scn.cars):
        return cam.d_exit_stop + CAR_LEN
    return cam.d_barrier


def _crossing(scn: Scenario, t: float, line: float) -> bool:
    """Some car's body (its near end and a car length on) is through the arm's line at ``t``:
    an entering car's front past it (towards the camera), a leaving car's front beyond it."""
    for car in scn.cars:
        d = distance(car, t, scn.camera)
        if d is None:
            continue
        if car.direction == "out":
            through = d + CAR_LEN > line + 0.01 and d < line + MARGIN_M
        else:
            through = d < line - 0.01 and d + CAR_LEN > line - MARGIN_M
        if through:
            return True
    return False


def schedule(scn: Scenario, duration_s: float, fps: int) -> list[tuple[float, float]]:
    """(start of the swing up, start of the swing down) of each opening of the arm."""
    bar = scn.barrier
    if bar is None:
        return []
    spans: list[list[float]] = []
    line = line_m(scn)
    for n in range(round(duration_s * fps) + 1):
        t = n / fps
        if _crossing(scn, t, line):
            if spans and spans[-1][1] >= t - 1.5 / fps:
                spans[-1][1] = t
            else:
                spans.append([t, t])
    out: list[tuple[float, float]] = []
    for first, last in spans:
        up, down = first - UP_BEFORE_S - bar.move_s, last + bar.close_after_s
        if out and up < out[-1][1] + bar.move_s:  # the next car comes before it is down
            out[-1] = (out[-1][0], down)
        else:
            out.append((up, down))
    return out


def lift(bar: Barrier, openings: list[tuple[float, float]], t: float) -> float:
    """How far up the arm is at ``t``: 0 across the lane, 1 open (eased swings)."""
    for up, down in openings:
        if t < up or t >= down + bar.move_s:
            continue
        if t < up + bar.move_s:
            x = (t - up) / bar.move_s
        elif t < down:
            return 1.0
        else:
            x = 1.0 - (t - down) / bar.move_s
        return x * x * (3 - 2 * x)
    return 0.0


def _arm(scn: Scenario) -> Barrier:
    if scn.barrier is None:
        raise ValueError(f"{scn.name}: no barrier")
    return scn.barrier


def _geometry(scn: Scenario, width: int) -> tuple[float, float, float, float]:
    """(pivot x, pivot y, road row at the line, px per metre at the line) in the picture."""
    cam, bar, line = scn.camera, _arm(scn), line_m(scn)
    k = width / 1280.0
    s = k * cam.focal / line
    road = k * (cam.y_horizon + cam.focal * cam.height_m / line)
    sign = 1.0 if bar.side == "right" else -1.0
    return width / 2 + sign * (cam.lane_half_w + 0.35) * s, road - bar.height_m * s, road, s


def line_scale(scn: Scenario, width: int) -> float:
    """px per metre at the arm's line: a car drawn at a larger scale is in front of it."""
    return _geometry(scn, width)[3]


def _points(scn: Scenario, up: float, width: int) -> list[tuple[float, float]]:
    """Stripe ends along the arm, pivot first."""
    px, py, _, s = _geometry(scn, width)
    sign = 1.0 if _arm(scn).side == "right" else -1.0
    theta = math.radians(UP_DEG * up)
    length = 2 * scn.camera.lane_half_w + 0.5
    n = max(1, math.ceil(length / STRIPE_M))
    dx, dy = -sign * math.cos(theta) * s, -math.sin(theta) * s
    return [(px + dx * length * i / n, py + dy * length * i / n) for i in range(n + 1)]


def arm_row(scn: Scenario, size: tuple[int, int]) -> float:
    """The lowest row the arm covers (down, across the lane) as a share of the frame height:
    an installer's lane ROI whose top edge is below it never sees the arm move."""
    _, py, _, s = _geometry(scn, size[0])
    return (py + _arm(scn).thickness_m * s / 2) / size[1]


def roi_below(arm_row: float, top: float, margin: float = 0.02) -> list[tuple[float, float]]:
    """A full-width lane ROI as an installer draws it with an arm in view: its top edge
    ``margin`` (share of the frame height) below ``arm_row`` (:func:`arm_row`), at least
    ``top``, at most 0.9."""
    y = min(0.9, max(top, arm_row + margin))
    return [(0.0, y), (1.0, y), (1.0, 1.0), (0.0, 1.0)]


def draw(frame: np.ndarray, scn: Scenario, up: float) -> None:
    """The cabinet and the arm, ``up`` (0-1) raised, drawn over ``frame``."""
    width = frame.shape[1]
    bar = _arm(scn)
    px, _, road, s = _geometry(scn, width)
    half = 0.18 * s
    top = road - (bar.height_m + 0.1) * s
    cv2.rectangle(frame, (round(px - half), round(top)), (round(px + half), round(road)),
                  CABINET, -1)
    pts = _points(scn, up, width)
    thick = max(2, round(bar.thickness_m * s))
    for i, (a, b) in enumerate(itertools.pairwise(pts)):
        cv2.line(frame, (round(a[0]), round(a[1])), (round(b[0]), round(b[1])),
                 RED if i % 2 == 0 else WHITE, thick, cv2.LINE_AA)


def hides(scn: Scenario, up: float, width: int, rect: list[int]) -> bool:
    """The arm crosses a plate rectangle (x, y, w, h) drawn behind it."""
    x, y, w, h = rect
    pts = _points(scn, up, width)
    pad = _arm(scn).thickness_m * _geometry(scn, width)[3] / 2
    for a, b in itertools.pairwise(pts):
        for f in np.linspace(0.0, 1.0, 12):
            cx, cy = a[0] + (b[0] - a[0]) * f, a[1] + (b[1] - a[1]) * f
            if x - pad <= cx <= x + w + pad and y - pad <= cy <= y + h + pad:
                return True
    return False


def with_arm(scn: Scenario, seed: int) -> Scenario:
    """``scn`` (named ``<name>_arm``) with a barrier drawn for ``seed`` from its own random
    stream: either kerb, arm 0.9-1.1 m high, swinging in 1-2 s, down 0.5-1.5 s after a car."""
    rng = random.Random(f"barrier-{seed}")
    bar = Barrier(
        side=rng.choice(("left", "right")),
        height_m=round(rng.uniform(0.9, 1.1), 2),
        move_s=round(rng.uniform(1.0, 2.0), 1),
        close_after_s=round(rng.uniform(0.5, 1.5), 1),
    )
    return replace(scn, name=f"{scn.name}_arm", barrier=bar)
