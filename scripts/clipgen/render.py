"""Drawing of a generated clip: the road, car sprites pasted in place, whole frames (BGR).

Frames come out of :func:`frames` one at a time, together with what the ground
truth needs (which cars are on screen, which of their ends shows, where their plates
are). Deterministic for a given scenario, size, fps and seed.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import cv2
import numpy as np

from clipgen import barrier
from clipgen.effects import Overlay, blur_kernel, defocus, draw_walker, glare, rain
from clipgen.motion import Placement, ground, place, place_walker
from clipgen.scene import (
    BLUR_FRAC,
    CAR_LEN,
    LEGIBLE_PX,
    Camera,
    Car,
    Parked,
    Scenario,
    ir_mode,
    shake_offset,
)
from clipgen.sprites import Sprite, render_car, render_rear, render_side


def render_background(
    width: int, height: int, rng: np.random.Generator, cam: Camera | None = None
) -> np.ndarray:
    """The still scene: textured asphalt, lane lines, stop line, kerbs and pavement (BGR)."""
    cam = cam or Camera()
    k = width / 1280.0
    rows = np.arange(height, dtype=np.float64)[:, None]
    cols = np.arange(width, dtype=np.float64)[None, :]
    scale = (rows - k * cam.y_horizon) / cam.height_m  # px per metre on the road at each row
    lateral = (cols - width / 2) / scale  # metres from the lane centre
    img = np.empty((height, width, 3), np.uint8)
    img[:] = (92, 94, 96)
    blotch = cv2.resize(rng.normal(0, 6, (height // 16 + 1, width // 16 + 1)), (width, height))
    grain = rng.normal(0, 5, (height, width))
    tex = (blotch + grain)[..., None]
    half_w = cam.lane_half_w
    paving = np.abs(lateral) > half_w + 0.25
    kerb = (np.abs(lateral) > half_w) & ~paving
    base = img.astype(np.float64) + tex
    base[kerb] = (175, 178, 180) + tex[kerb]
    dist = k * cam.focal / scale  # metres from the camera foot
    slabs = ((np.floor(lateral * 2) + np.floor(dist * 2)) % 2)[..., None]
    base = np.where(paving[..., None], (150, 140, 128) + slabs * 12 + tex, base)
    img = np.clip(base, 0, 255).astype(np.uint8)
    line = (np.abs(np.abs(lateral) - (half_w - 0.15)) < 0.06).astype(np.uint8)
    img[line > 0] = (225, 225, 225)
    stop = (np.abs(dist - (cam.d_barrier - 0.1)) < 0.06) & (np.abs(lateral) < half_w - 0.15)
    img[stop] = (230, 230, 230)
    for _ in range(6):  # cracks and patches: static detail with edges
        x, y = int(rng.integers(0, width)), int(rng.integers(height // 4, height))
        axes = (int(rng.integers(20, 60)), int(rng.integers(6, 20)))
        cv2.ellipse(img, (x, y), axes, 0, 0, 360, (70, 72, 74), -1)
    return img


@dataclass
class Track:
    """A car's sprites (one per view it shows) and what the ground truth records of it."""

    car: Car | Parked
    sprites: dict[str, Sprite]
    scale: float
    """px per metre the sprites are drawn at."""
    frames: list[int] = field(default_factory=list)
    legible: list[list[int]] = field(default_factory=list)
    legible_views: list[str] = field(default_factory=list)
    """Which end (``front`` / ``rear``) each ``legible`` entry shows."""
    plate_frames: list[int] = field(default_factory=list)
    """Frames with any part of a plate in the picture, however small."""
    views: list[list[int | str]] = field(default_factory=list)
    """[first frame, last frame, view] runs: what of the car the camera saw, in order."""

    def saw(self, n: int, view: str) -> None:
        """Record that frame ``n`` shows the car's ``view``."""
        if self.views and self.views[-1][2] == view and self.views[-1][1] == n - 1:
            self.views[-1][1] = n
        else:
            self.views.append([n, n, view])


def _plate(car: Car | Parked, view: str) -> tuple[str, str] | None:
    if isinstance(car, Parked):
        number = car.plate.replace("·", "")
        return number, "green" if len(number) == 8 else "blue"
    return (car.number or "", car.style) if car.shows_plate(view) else None


def make_track(car: Car | Parked, scale: float | None = None) -> Track:
    """Render the sprites of a car (moving or parked) at ``scale`` px/m (default ``S_CAP``)."""
    s = scale if scale is not None else Camera().s_cap
    sprites = {"front": render_car(_plate(car, "front"), car.body, s)}
    if isinstance(car, Car):
        if car.direction == "out" or car.leave == "turn":
            sprites["rear"] = render_rear(_plate(car, "rear"), car.body, s)
        if car.enter_from != "top" or car.leave == "turn":
            side = render_side(car.body, s)
            sprites["side"] = side
            sprites["side-left"] = Sprite(side.bgr[:, ::-1].copy(), side.mask[:, ::-1].copy(), None)
    return Track(car, sprites, s)


def _composite(frame: np.ndarray, x0: int, y0: int, sprite: np.ndarray, mask: np.ndarray) -> None:
    """Copy the masked sprite into the frame at (x0, y0), clipped; mask: uint8 or float alpha."""
    height, width = frame.shape[:2]
    sh, sw = mask.shape[:2]
    cx0, cy0, cx1, cy1 = max(x0, 0), max(y0, 0), min(x0 + sw, width), min(y0 + sh, height)
    if cx0 >= cx1 or cy0 >= cy1:
        return
    sub = (slice(cy0 - y0, cy1 - y0), slice(cx0 - x0, cx1 - x0))
    if mask.dtype == np.uint8:
        cv2.copyTo(sprite[sub], mask[sub], frame[cy0:cy1, cx0:cx1])
        return
    a = mask[sub][..., None]
    roi = frame[cy0:cy1, cx0:cx1].astype(np.float32)
    frame[cy0:cy1, cx0:cx1] = np.clip(roi * (1 - a) + sprite[sub] * a, 0, 255).astype(np.uint8)


def paste(  # noqa: PLR0917 - the truth needs the frame number, shift and legibility
    frame: np.ndarray,
    tr: Track,
    pl: Placement,
    n: int,
    shift: tuple[float, float],
    legible_px: int = LEGIBLE_PX,
    smear: tuple[float, float] = (0.0, 0.0),
) -> None:
    """Composite one car (and its shadow) into the frame; record visibility and plate rect.

    ``smear`` is how far (px) the car moved while the shutter was open (motion blur).
    """
    height, width = frame.shape[:2]
    key = "side-left" if pl.view == "side" and pl.heading < 0 else pl.view
    sp = tr.sprites[key]
    r = pl.scale / tr.scale
    sw, sh = max(1, round(sp.bgr.shape[1] * r)), max(1, round(sp.bgr.shape[0] * r))
    x0, y0 = round(pl.x_center - sw / 2), round(pl.y_bottom - sh)
    if x0 >= width or y0 >= height or x0 + sw <= 0 or y0 + sh <= 0:
        return
    tr.frames.append(n)
    tr.saw(n, pl.view)
    shadow = (round(pl.x_center), round(pl.y_bottom - 0.02 * pl.scale))
    half = CAR_LEN / 2 + 0.1 if pl.view == "side" else 0.95
    axes = (round(half * pl.scale), max(1, round(0.08 * pl.scale)))
    cv2.ellipse(frame, shadow, axes, 0, 0, 360, (45, 46, 48), -1)
    interp = cv2.INTER_AREA if r < 1 else cv2.INTER_LINEAR
    sprite = cv2.resize(sp.bgr, (sw, sh), interpolation=interp)
    mask = cv2.resize(sp.mask, (sw, sh), interpolation=cv2.INTER_NEAREST)
    kern = blur_kernel(*smear)
    if kern is None:
        _composite(frame, x0, y0, sprite, mask)
    else:
        pad = kern.shape[0] // 2
        border = cv2.BORDER_CONSTANT
        sprite = cv2.copyMakeBorder(sprite, pad, pad, pad, pad, border, value=0)
        alpha = cv2.copyMakeBorder(mask, pad, pad, pad, pad, border, value=0).astype(np.float32)
        alpha = cv2.filter2D(alpha / 255.0, -1, kern)
        lit = cv2.filter2D(sprite.astype(np.float32), -1, kern)
        lit /= np.maximum(alpha, 1e-3)[..., None]  # un-premultiply: smeared edges fade, not darken
        _composite(frame, x0 - pad, y0 - pad, lit, alpha)
    _record_plate(tr, sp, r, (x0, y0), n, shift, (width, height), legible_px, smear)


def _record_plate(  # noqa: PLR0917 - one pasted sprite's plate, as the truth sees it
    tr: Track,
    sp: Sprite,
    r: float,
    origin: tuple[int, int],
    n: int,
    shift: tuple[float, float],
    size: tuple[int, int],
    legible_px: int,
    smear: tuple[float, float],
) -> None:
    if sp.plate_rect is None:
        return
    width, height = size
    px, py, pw, ph = sp.plate_rect
    rx, ry = round(origin[0] + px * r + shift[0]), round(origin[1] + py * r + shift[1])
    rw, rh = round(pw * r), round(ph * r)
    if rx < width and ry < height and rx + rw > 0 and ry + rh > 0:
        tr.plate_frames.append(n)
    sharp = abs(smear[0]) + abs(smear[1]) <= BLUR_FRAC * rh * 90 / 140
    inside = rx >= 0 and ry >= 0 and rx + rw <= width and ry + rh <= height
    if rw >= legible_px and inside and sharp:
        tr.legible.append([n, rx, ry, rw, rh])
        tr.legible_views.append(str(tr.views[-1][2]))


def _smear(car: Car, t: float, pl: Placement, scn: Scenario, width: int) -> tuple[float, float]:
    """Pixels the car moved during the exposure ending at t (0, 0 with no exposure set)."""
    if scn.exposure_s <= 0:
        return 0.0, 0.0
    before = place(car, t - scn.exposure_s, width, scn.camera)
    if before is None or before.view != pl.view:
        return 0.0, 0.0
    return pl.x_center - before.x_center, pl.y_bottom - before.y_bottom


def _arm(
    frame: np.ndarray, scn: Scenario, up: float, at: tuple[int, tuple[float, float]],
    behind: list[Track],
) -> None:
    """Draw the barrier arm ``up`` (0-1) raised in frame ``at[0]``; a plate it crosses in a
    car drawn ``behind`` it is not legible in that frame (``at[1]``: the frame's shake)."""
    barrier.draw(frame, scn, up)
    n, (sx, sy) = at
    for tr in behind:
        if tr.legible and tr.legible[-1][0] == n:
            _, rx, ry, rw, rh = tr.legible[-1]
            rect = [round(rx - sx), round(ry - sy), rw, rh]
            if barrier.hides(scn, up, frame.shape[1], rect):
                tr.legible.pop()
                tr.legible_views.pop()


def _light(frame: np.ndarray, scn: Scenario, t: float) -> np.ndarray:
    """Night and the IR-cut filter: a dim colour picture, or a brighter monochrome one."""
    if scn.light == 1.0 and not scn.ir_switch_s:
        return frame
    if ir_mode(scn, t):  # IR: monochrome, and brighter than the dim colour picture
        grey = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
        return cv2.cvtColor(cv2.convertScaleAbs(grey, alpha=0.85), cv2.COLOR_GRAY2BGR)
    return cv2.convertScaleAbs(frame, alpha=scn.light)


def _optics(
    frame: np.ndarray,
    scn: Scenario,
    t: float,
    shown: list[Placement],
    weather: np.random.Generator,
) -> np.ndarray:
    """Light (night, IR), lens softness, headlight glare and rain, in the camera's order."""
    frame = defocus(_light(frame, scn, t), scn.defocus_px)
    if scn.headlights:
        for pl in shown:
            if pl.view == "front":
                glare(frame, pl)
    if scn.rain > 0:
        rain(frame, scn.rain, weather)
    return frame


def frames(
    scn: Scenario,
    *,
    width: int,
    height: int,
    fps: int,
    seed: int,
    tracks: list[Track],
    n_frames: int,
) -> Iterator[np.ndarray]:
    """The clip's BGR frames; ``tracks`` (moving cars, then parked ones) collect the truth."""
    cam = scn.camera
    rng = np.random.default_rng(seed)
    weather = np.random.default_rng([seed, 7])  # its own stream: dry clips stay as they were
    bg = render_background(width, height, rng, cam)
    for tr in tracks:  # parked cars are part of the scene from the first frame
        if isinstance(tr.car, Parked):
            g = ground(tr.car.distance_m, tr.car.lateral_m, width, cam=cam)
            paste(bg, tr, g, 0, (0.0, 0.0), scn.legible_px)
    moving = [tr for tr in tracks if isinstance(tr.car, Car)]
    amp = max(0, round(scn.noise))
    pad = 64
    noise_pos = rng.integers(0, amp + 1, (height + pad, width + pad, 3), dtype=np.uint8)
    noise_neg = rng.integers(0, amp + 1, (height + pad, width + pad, 3), dtype=np.uint8)
    overlay = Overlay(width, height) if scn.overlay else None
    openings = barrier.schedule(scn, n_frames / fps, fps)
    in_front = barrier.line_scale(scn, width) if scn.barrier is not None else 0.0
    for n in range(n_frames):
        t = n / fps
        shift = shake_offset(scn, n, fps, width)
        frame = bg.copy()
        for w in scn.walkers:
            if (wp := place_walker(w, t, width, cam)) is not None:
                draw_walker(frame, w.kind, wp)
        shown = [
            (tr, tr.car, pl)
            for tr in moving
            if isinstance(tr.car, Car) and (pl := place(tr.car, t, width, cam)) is not None
        ]
        shown.sort(key=lambda p: p[2].scale)
        up = barrier.lift(scn.barrier, openings, t) if scn.barrier is not None else 0.0
        behind: list[Track] | None = None if scn.barrier is None else []
        for tr, car, pl in shown:
            if behind is not None and pl.scale > in_front + 1e-6:  # nearer than the arm
                _arm(frame, scn, up, (n, shift), behind)
                behind = None
            paste(frame, tr, pl, n, shift, scn.legible_px, _smear(car, t, pl, scn, width))
            if behind is not None:
                behind.append(tr)
        if behind is not None:
            _arm(frame, scn, up, (n, shift), behind)
        if shift != (0.0, 0.0):
            m = np.array([[1, 0, shift[0]], [0, 1, shift[1]]], np.float32)
            frame = cv2.warpAffine(frame, m, (width, height), borderMode=cv2.BORDER_REFLECT)
        frame = _optics(frame, scn, t, [pl for _, _, pl in shown], weather)
        if overlay is not None:
            overlay.draw(frame, t)
        if amp:
            oy, ox = (int(v) for v in rng.integers(0, pad, 2))
            cv2.add(frame, noise_pos[oy : oy + height, ox : ox + width], dst=frame)
            cv2.subtract(frame, noise_neg[oy : oy + height, ox : ox + width], dst=frame)
        yield frame
