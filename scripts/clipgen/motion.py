"""Kinematics of a generated clip: where each actor is, and which way it faces, at time t.

Pure functions of a :class:`~clipgen.scene.Camera` and time. An entry-lane car
(``direction="in"``) enters at the far end (or turns in side-on from a side street),
brakes to the barrier, halts ``stop_s``, then drives on under the camera or turns
away and drives off into the distance. An exit-lane car (``out``) comes from under
the camera and drives away, halting at the exit barrier. Distances are of the end of
the car facing the camera (its front coming, its rear going).
"""

from __future__ import annotations

from dataclasses import dataclass

from clipgen.scene import (
    ACCEL,
    BRAKE_M,
    CAMERA,
    CAR_H,
    CAR_LEN,
    CAR_W,
    Camera,
    Car,
    Scenario,
    Walker,
)

SIDE_V = 4.0
"""Speed (m/s) of a car turning in from a side street, side-on."""
TURN_S = 1.2
"""Time (s) a car takes to turn away from the barrier (seen side-on)."""
TURN_SHIFT_M = 1.0
"""How far (m) across the lane a turning car swings."""
TURN_BACK_M = 1.0
"""How far (m) back from the barrier a turning car ends up before driving off."""
OUT_START_M = 1.5
"""Where an exit-lane car starts (its rear, m from the camera foot): under the camera."""


@dataclass(frozen=True)
class Placement:
    """Where a sprite lands in the frame: scale (px per metre), its ground point, its view."""

    scale: float
    x_center: float
    y_bottom: float
    view: str = "front"
    heading: int = 1
    """Side view: +1 drives to the right of the picture, -1 to the left."""


def _side_start(car: Car, cam: Camera) -> float:
    """Lateral offset (m) a side-street car starts from: just out of the picture."""
    sign = -1.0 if car.enter_from == "left" else 1.0
    return sign * (640.0 * cam.d_side / cam.focal + CAR_LEN / 2 + 0.3)


def _approach(car: Car, cam: Camera) -> tuple[float, float]:
    """Start distance of the straight approach and the seconds spent turning in before it."""
    if car.direction == "out":
        return OUT_START_M, 0.0
    if car.enter_from == "top":
        return cam.d_enter, 0.0
    return cam.d_side, abs(_side_start(car, cam) - car.lateral_m) / SIDE_V


def _stop_at(car: Car, cam: Camera) -> float:
    return cam.d_exit_stop if car.direction == "out" else cam.d_barrier


def stop_window(car: Car, cam: Camera = CAMERA) -> tuple[float, float] | None:
    """Start and end (clip time, s) of the halt at the barrier; None if the car drives through."""
    if car.stop_s <= 0:
        return None
    d0, t_side = _approach(car, cam)
    cruise = max(0.0, abs(d0 - _stop_at(car, cam)) - BRAKE_M)
    start = car.enter_s + t_side + cruise / car.speed + 2 * BRAKE_M / car.speed
    return start, start + car.stop_s


def _pull_away(tl: float, v: float) -> float:
    """Metres covered ``tl`` s after pulling away from a halt (accelerating to ``v``)."""
    t_acc = v / ACCEL
    return 0.5 * ACCEL * min(tl, t_acc) ** 2 + v * max(0.0, tl - t_acc)


def _travelled(car: Car, cam: Camera, dt: float, halt: tuple[float, float] | None) -> float:
    """Metres covered along the lane ``dt`` s into the straight approach (before pulling away)."""
    v = car.speed
    if halt is None:
        return v * dt
    d0, _ = _approach(car, cam)
    cruise = max(0.0, abs(d0 - _stop_at(car, cam)) - BRAKE_M)
    t_cruise = cruise / v
    if dt < t_cruise:
        return v * dt
    tb, decel = dt - t_cruise, v * v / (2 * BRAKE_M)
    return cruise + min(BRAKE_M, v * tb - 0.5 * decel * tb * tb)


def distance(car: Car, t: float, cam: Camera = CAMERA) -> float | None:
    """Distance (m) from the camera foot of the car's end facing the camera (None: not entered)."""
    dt = t - car.enter_s
    if dt < 0:
        return None
    if car.direction == "out":
        return _distance_out(car, t, cam, dt)
    d0, t_side = _approach(car, cam)
    if dt < t_side:
        return d0
    halt = stop_window(car, cam)
    if halt is None:
        return d0 - car.speed * (dt - t_side)
    if t < halt[1]:
        return _arrive(car, cam, t, dt - t_side, halt)
    return _leave(car, cam, t - halt[1])


def _leave(car: Car, cam: Camera, tl: float) -> float:
    """Distance ``tl`` s after the halt: on under the camera, or turned round and away."""
    if car.leave == "ahead":
        return cam.d_barrier - _pull_away(tl, car.speed)
    if tl < TURN_S:
        return cam.d_barrier + TURN_BACK_M * tl / TURN_S
    return cam.d_barrier + TURN_BACK_M + _pull_away(tl - TURN_S, car.speed)


def _arrive(car: Car, cam: Camera, t: float, dt: float, halt: tuple[float, float]) -> float:
    """Distance of an entry-lane car before the end of its halt: cruise, brake, stand."""
    d0, v = _approach(car, cam)[0], car.speed
    cruise = max(0.0, d0 - cam.d_barrier - BRAKE_M)
    t_cruise = cruise / v
    if dt < t_cruise:
        return d0 - v * dt
    if t < halt[0]:  # constant deceleration over the braking distance
        tb, decel = dt - t_cruise, v * v / (2 * BRAKE_M)
        return d0 - cruise - (v * tb - 0.5 * decel * tb * tb)
    return cam.d_barrier


def _distance_out(car: Car, t: float, cam: Camera, dt: float) -> float:
    halt = stop_window(car, cam)
    if halt is None or t < halt[0]:
        return OUT_START_M + _travelled(car, cam, dt, halt)
    if t < halt[1]:
        return cam.d_exit_stop
    return cam.d_exit_stop + _pull_away(t - halt[1], car.speed)


def _turn_sign(car: Car) -> float:
    return -1.0 if car.lateral_m < 0 else 1.0


def pose(car: Car, t: float, cam: Camera = CAMERA) -> tuple[float, float, str, int] | None:
    """(distance m, lateral m, view, heading) of a car at time t; None when off the road."""
    d = distance(car, t, cam)
    halt = stop_window(car, cam)
    turned = car.leave == "turn" and halt is not None and t >= halt[1]
    if d is None or d <= 0.3 or ((car.direction == "out" or turned) and d >= cam.d_enter):
        return None
    lateral, view, heading = car.lateral_m, "front", 1
    dt = t - car.enter_s
    _, t_side = _approach(car, cam)
    if car.direction == "out":
        view = "rear"
    elif dt < t_side:  # turning in from the side street
        start = _side_start(car, cam)
        lateral = start + (car.lateral_m - start) * dt / t_side
        view, heading = "side", 1 if start < 0 else -1
    elif turned and halt is not None:
        sign, tl = _turn_sign(car), t - halt[1]
        lateral += sign * TURN_SHIFT_M * min(1.0, tl / TURN_S)
        view, heading = ("side", int(sign)) if tl < TURN_S else ("rear", 1)
    return d, lateral, view, heading


def ground(
    d: float, lateral_m: float, width: int, cap: bool = True, cam: Camera = CAMERA
) -> Placement:
    """Placement of a ground point ``d`` m from the camera foot, ``lateral_m`` off centre."""
    k = width / 1280.0
    y_bottom = k * (cam.y_horizon + cam.focal * cam.height_m / d)
    scale = k * (min(cam.focal / d, cam.s_cap) if cap else cam.focal / d)
    return Placement(scale, width / 2 + lateral_m * k * cam.focal / d, y_bottom)


def place(car: Car, t: float, width: int, cam: Camera = CAMERA) -> Placement | None:
    """Screen placement of a car at time t in a frame ``width`` wide, or None if not on the road."""
    p = pose(car, t, cam)
    if p is None:
        return None
    d, lateral, view, heading = p
    pl = ground(d, 0.0, width, cam=cam)
    return Placement(pl.scale, width / 2 + lateral * pl.scale, pl.y_bottom, view, heading)


def place_walker(w: Walker, t: float, width: int, cam: Camera = CAMERA) -> Placement | None:
    """Screen placement of a walker at time t, or None when it is off the scene."""
    dt = t - w.enter_s
    if dt < 0:
        return None
    if w.kind == "cyclist":
        d = cam.d_enter + 1.0 - w.speed * dt
        if d <= 0.5:
            return None
        return ground(d, w.lateral_m, width, cam=cam)
    lateral = -4.5 + w.speed * dt
    if lateral > 4.5:
        return None
    return ground(w.distance_m, lateral, width, cam=cam)


def sprite_box(pl: Placement) -> tuple[float, float, float, float]:
    """(x0, y0, x1, y1) of a car's sprite at a placement (the side view is a car length wide)."""
    half = (CAR_LEN if pl.view == "side" else CAR_W) / 2 * pl.scale
    return pl.x_center - half, pl.y_bottom - CAR_H * pl.scale, pl.x_center + half, pl.y_bottom


def exit_time(car: Car, cam: Camera, width: int, height: int, fps: int) -> float:
    """Clip time the car has left the picture for good (under the camera, or into the distance)."""
    t = car.enter_s
    away = car.direction == "out" or car.leave == "turn"
    while (pl := place(car, t, width, cam)) is not None and (
        away or pl.y_bottom - CAR_H * pl.scale < height
    ):
        t += 1 / fps
    return t


def clip_duration(scn: Scenario, width: int, height: int, fps: int) -> float:
    """Clip length: ``duration_s`` or the last actor's exit plus 1.5 s."""
    if scn.duration_s is not None:
        return scn.duration_s
    last = 0.0
    for car in scn.cars:  # walk forward until the car has left the frame
        last = max(last, exit_time(car, scn.camera, width, height, fps))
    for w in scn.walkers:
        t = w.enter_s
        while place_walker(w, t, width, scn.camera) is not None and t < w.enter_s + 60:
            t += 1 / fps
        last = max(last, t)
    return last + 1.5
