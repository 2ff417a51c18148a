"""Drawing of a generated clip: plates, car sprites, the road, walkers and whole frames (BGR).

Frames come out of :func:`frames` one at a time, together with what the ground
truth needs (which cars are on screen, where their plates are). Deterministic for
a given scenario, size, fps and seed.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from clipgen.scene import (
    CAM_H,
    CAR_H,
    CAR_W,
    D_BARRIER,
    LANE_HALF_W,
    LEGIBLE_PX,
    PLATE_STYLES,
    S_CAP,
    Y_HORIZON,
    Car,
    F,
    Parked,
    Placement,
    Scenario,
    ground,
    ir_mode,
    place,
    place_walker,
    shake_offset,
)

FONT = "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc"
OVERLAY_START = datetime(2026, 11, 25, 8, 0, 0, tzinfo=UTC)


def _glyph(ch: str, w: int, h: int, colour: tuple[int, int, int], font: Any) -> Image.Image:
    """One plate character, bold, fitted into a w x h cell (narrow, like the GA 36 typeface)."""
    probe = Image.new("L", (400, 400), 0)
    ImageDraw.Draw(probe).text((50, 50), ch, font=font, fill=255, stroke_width=9, stroke_fill=255)
    box = probe.getbbox()
    if box is None:
        raise ValueError(f"the font has no glyph for {ch!r}")
    glyph = probe.crop(box)
    gw = min(w, round(glyph.width * h / glyph.height))
    glyph = glyph.resize((gw, h), Image.Resampling.LANCZOS)
    cell = Image.new("RGBA", (w, h), (*colour, 0))
    cell.putalpha(Image.new("L", (w, h), 0))
    solid = Image.new("RGBA", (gw, h), (*colour, 255))
    cell.paste(solid, ((w - gw) // 2, 0), glyph)
    return cell


def render_plate(number: str, style: str, px_per_mm: float) -> Image.Image:
    """A front plate (GA 36 layout: 440x140 mm, new-energy 480x140 mm) as an RGB image."""
    _, bg, fg, size = PLATE_STYLES[style]
    mm = px_per_mm
    if size == "ne":
        plate_w, char_w, gap, sep, margin = 480, 43, 9, 49, 16.5
    else:
        plate_w, char_w, gap, sep, margin = 440, 45, 12, 34, 15.5
    w, h = round(plate_w * mm), round(140 * mm)
    img = Image.new("RGB", (w, h), bg)
    draw = ImageDraw.Draw(img)
    if style == "green":  # pale at the top, green at the bottom
        top = np.array([222, 245, 228], float)
        ramp = np.linspace(0, 1, h)[:, None] ** 1.3 * (np.array(bg, float) - top) + top
        img = Image.fromarray(np.repeat(ramp[:, None, :], w, axis=1).astype(np.uint8))
        draw = ImageDraw.Draw(img)
    border = round(2.5 * mm)
    draw.rounded_rectangle(
        (border, border, w - border - 1, h - border - 1),
        radius=round(6 * mm),
        outline=fg,
        width=max(1, round(1.5 * mm)),
    )
    font = ImageFont.truetype(FONT, 260)
    x = margin
    for i, ch in enumerate(number):
        cell = _glyph(ch, round(char_w * mm), round(90 * mm), fg, font)
        img.paste(cell, (round(x * mm), round(25 * mm)), cell)
        if i == 1:
            cx, cy, r = (x + char_w + sep / 2) * mm, 70 * mm, 5 * mm
            draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=fg)
            x += char_w + sep
        else:
            x += char_w + gap
    return img


def render_car(
    number: str, style: str, body: tuple[int, int, int]
) -> tuple[np.ndarray, np.ndarray, tuple[int, int, int, int]]:
    """The car from the front and above at scale ``S_CAP``: BGR, mask, plate rect (x, y, w, h)."""
    s = S_CAP
    w, h = round(CAR_W * s), round(CAR_H * s)
    img = Image.new("RGB", (w, h), (0, 0, 0))
    mask = Image.new("L", (w, h), 0)
    d, dm = ImageDraw.Draw(img), ImageDraw.Draw(mask)

    def px(xm: float, ym: float) -> tuple[int, int]:  # metres from centre / ground -> pixels
        return round(w / 2 + xm * s), round(h - ym * s)

    def shape(
        kind: str, pts: list[tuple[float, float]], fill: tuple[int, ...], r: float = 0
    ) -> None:
        xy = [px(*p) for p in pts]
        if kind == "poly":
            d.polygon(xy, fill=fill)
            dm.polygon(xy, fill=255)
        else:
            (xa, ya), (xb, yb) = xy
            x0, x1, y0, y1 = min(xa, xb), max(xa, xb), min(ya, yb), max(ya, yb)
            d.rounded_rectangle((x0, y0, x1, y1), radius=round(r * s), fill=fill)
            dm.rounded_rectangle((x0, y0, x1, y1), radius=round(r * s), fill=255)

    dark = tuple(int(c * 0.55) for c in body)
    light = tuple(min(255, int(c * 1.15 + 20)) for c in body)
    for sx in (-1, 1):  # wheels and mirrors
        shape("rect", [(sx * 0.62 - 0.13, 0.0), (sx * 0.62 + 0.13, 0.35)], (18, 18, 18), 0.05)
        shape("rect", [(sx * 0.95, 0.98), (sx * 0.78, 1.08)], dark, 0.03)
    shape("poly", [(-0.78, 1.05), (0.78, 1.05), (0.62, 1.38), (-0.62, 1.38)], (35, 45, 60))
    shape("poly", [(-0.55, 1.36), (0.55, 1.36), (0.52, 1.5), (-0.52, 1.5)], body)
    shape("poly", [(-0.86, 0.72), (0.86, 0.72), (0.78, 1.06), (-0.78, 1.06)], light)
    shape("rect", [(-0.9, 0.12), (0.9, 0.78)], body, 0.12)
    shape("rect", [(-0.82, 0.12), (0.82, 0.22)], dark, 0.04)
    shape("rect", [(-0.45, 0.5), (0.45, 0.66)], (25, 25, 28), 0.04)
    for sx in (-1, 1):
        shape("rect", [(sx * 0.85, 0.55), (sx * 0.55, 0.7)], (235, 235, 215), 0.05)
        shape("rect", [(sx * 0.82, 0.24), (sx * 0.7, 0.3)], (230, 150, 40), 0.02)
    # windscreen reflection: a lighter band, for texture
    d.polygon(
        [px(-0.5, 1.08), px(-0.25, 1.08), px(-0.05, 1.36), px(-0.3, 1.36)], fill=(70, 85, 105)
    )
    plate = render_plate(number, style, s / 1000.0)
    x0, y0 = px(-plate.width / s / 2, 0.28 + 0.14)
    img.paste(plate, (x0, y0))
    bgr = cv2.cvtColor(np.asarray(img), cv2.COLOR_RGB2BGR)
    return bgr, np.asarray(mask), (x0, y0, plate.width, plate.height)


def render_background(width: int, height: int, rng: np.random.Generator) -> np.ndarray:
    """The still scene: textured asphalt, lane lines, stop line, kerbs and pavement (BGR)."""
    k = width / 1280.0
    rows = np.arange(height, dtype=np.float64)[:, None]
    cols = np.arange(width, dtype=np.float64)[None, :]
    scale = (rows - k * Y_HORIZON) / CAM_H  # px per metre on the road at each row
    lateral = (cols - width / 2) / scale  # metres from the lane centre
    img = np.empty((height, width, 3), np.uint8)
    img[:] = (92, 94, 96)
    blotch = cv2.resize(rng.normal(0, 6, (height // 16 + 1, width // 16 + 1)), (width, height))
    grain = rng.normal(0, 5, (height, width))
    tex = (blotch + grain)[..., None]
    paving = np.abs(lateral) > LANE_HALF_W + 0.25
    kerb = (np.abs(lateral) > LANE_HALF_W) & ~paving
    base = img.astype(np.float64) + tex
    base[kerb] = (175, 178, 180) + tex[kerb]
    dist = k * F / scale  # metres from the camera foot
    slabs = ((np.floor(lateral * 2) + np.floor(dist * 2)) % 2)[..., None]
    base = np.where(paving[..., None], (150, 140, 128) + slabs * 12 + tex, base)
    img = np.clip(base, 0, 255).astype(np.uint8)
    line = (np.abs(np.abs(lateral) - (LANE_HALF_W - 0.15)) < 0.06).astype(np.uint8)
    img[line > 0] = (225, 225, 225)
    stop = (np.abs(dist - (D_BARRIER - 0.1)) < 0.06) & (np.abs(lateral) < LANE_HALF_W - 0.15)
    img[stop] = (230, 230, 230)
    for _ in range(6):  # cracks and patches: static detail with edges
        x, y = int(rng.integers(0, width)), int(rng.integers(height // 4, height))
        axes = (int(rng.integers(20, 60)), int(rng.integers(6, 20)))
        cv2.ellipse(img, (x, y), axes, 0, 0, 360, (70, 72, 74), -1)
    return img


@dataclass
class Track:
    """A car's sprite and what the ground truth records of it."""

    car: Car | Parked
    bgr: np.ndarray
    mask: np.ndarray
    plate_rect: tuple[int, int, int, int]
    frames: list[int] = field(default_factory=list)
    legible: list[list[int]] = field(default_factory=list)


def make_track(car: Car | Parked) -> Track:
    """Render the sprite of a car (moving or parked)."""
    if isinstance(car, Parked):
        number = car.plate.replace("·", "")
        style = "green" if len(number) == 8 else "blue"
        return Track(car, *render_car(number, style, car.body))
    return Track(car, *render_car(car.number, car.style, car.body))


def paste(frame: np.ndarray, tr: Track, pl: Placement, n: int, shift: tuple[float, float]) -> None:
    """Composite one car (and its shadow) into the frame; record visibility and plate rect."""
    height, width = frame.shape[:2]
    r = pl.scale / S_CAP
    sw, sh = max(1, round(tr.bgr.shape[1] * r)), max(1, round(tr.bgr.shape[0] * r))
    x0, y0 = round(pl.x_center - sw / 2), round(pl.y_bottom - sh)
    if x0 >= width or y0 >= height or x0 + sw <= 0 or y0 + sh <= 0:
        return
    tr.frames.append(n)
    shadow = (round(pl.x_center), round(pl.y_bottom - 0.02 * pl.scale))
    axes = (round(0.95 * pl.scale), max(1, round(0.08 * pl.scale)))
    cv2.ellipse(frame, shadow, axes, 0, 0, 360, (45, 46, 48), -1)
    interp = cv2.INTER_AREA if r < 1 else cv2.INTER_LINEAR
    sprite = cv2.resize(tr.bgr, (sw, sh), interpolation=interp)
    mask = cv2.resize(tr.mask, (sw, sh), interpolation=cv2.INTER_NEAREST)
    cx0, cy0, cx1, cy1 = max(x0, 0), max(y0, 0), min(x0 + sw, width), min(y0 + sh, height)
    sub = (slice(cy0 - y0, cy1 - y0), slice(cx0 - x0, cx1 - x0))
    cv2.copyTo(sprite[sub], mask[sub], frame[cy0:cy1, cx0:cx1])
    px, py, pw, ph = tr.plate_rect
    rx, ry = round(x0 + px * r + shift[0]), round(y0 + py * r + shift[1])
    rw, rh = round(pw * r), round(ph * r)
    if rw >= LEGIBLE_PX and rx >= 0 and ry >= 0 and rx + rw <= width and ry + rh <= height:
        tr.legible.append([n, rx, ry, rw, rh])


def _walker(frame: np.ndarray, kind: str, pl: Placement) -> None:
    """A pedestrian (front view, 0.5 m wide) or cyclist (0.6 m wide, on a bike) in plain shapes."""
    s, cx, yb = pl.scale, pl.x_center, pl.y_bottom

    def p(xm: float, ym: float) -> tuple[int, int]:
        return round(cx + xm * s), round(yb - ym * s)

    coat, skin, dark = (60, 40, 150), (140, 170, 205), (30, 30, 35)
    if kind == "cyclist":
        cv2.rectangle(frame, p(-0.04, 0.0), p(0.04, 0.7), dark, -1)  # front wheel, end-on
        cv2.rectangle(frame, p(-0.3, 0.95), p(0.3, 1.0), dark, -1)  # handlebar
        cv2.rectangle(frame, p(-0.22, 0.75), p(0.22, 1.45), coat, -1)
        cv2.circle(frame, p(0.0, 1.58), max(1, round(0.12 * s)), skin, -1)
        return
    cv2.rectangle(frame, p(-0.18, 0.0), p(-0.04, 0.85), dark, -1)
    cv2.rectangle(frame, p(0.04, 0.0), p(0.18, 0.85), dark, -1)
    cv2.rectangle(frame, p(-0.25, 0.85), p(0.25, 1.5), coat, -1)
    cv2.circle(frame, p(0.0, 1.62), max(1, round(0.12 * s)), skin, -1)


def _glare(frame: np.ndarray, pl: Placement) -> None:
    """Lit headlights with a bloom around them (night), added on top of the picture."""
    h, w = frame.shape[:2]
    r = max(2, round(0.32 * pl.scale))
    for sx in (-1, 1):
        cx, cy = round(pl.x_center + sx * 0.7 * pl.scale), round(pl.y_bottom - 0.62 * pl.scale)
        x0, y0, x1, y1 = (
            max(cx - 3 * r, 0),
            max(cy - 3 * r, 0),
            min(cx + 3 * r, w),
            min(cy + 3 * r, h),
        )
        if x0 >= x1 or y0 >= y1:
            continue
        yy, xx = np.mgrid[y0:y1, x0:x1]
        bloom = 230.0 * np.exp(-(((xx - cx) ** 2 + (yy - cy) ** 2) / (2.0 * r * r)))
        roi = frame[y0:y1, x0:x1].astype(np.float32) + bloom[..., None]
        frame[y0:y1, x0:x1] = np.clip(roi, 0, 255).astype(np.uint8)


class _Overlay:
    """The camera's burned-in timestamp (bottom left), rendered once per second shown."""

    def __init__(self, width: int, height: int) -> None:
        self.k = width / 1280.0
        self.height = height
        self.font = ImageFont.truetype(FONT, max(10, round(26 * self.k)))
        self._cache: dict[int, tuple[np.ndarray, np.ndarray]] = {}

    def text(self, second: int) -> str:
        """What the overlay reads at clip second ``second``."""
        ts = OVERLAY_START + timedelta(seconds=second)
        return ts.strftime("%Y-%m-%d %H:%M:%S") + " 入口1 CAM-01"

    def draw(self, frame: np.ndarray, t: float) -> None:
        second = int(t)
        if second not in self._cache:
            img = Image.new("L", (round(560 * self.k), round(40 * self.k)), 0)
            ImageDraw.Draw(img).text(
                (2, 2), self.text(second), font=self.font, fill=255, stroke_width=2, stroke_fill=128
            )
            a = np.asarray(img)
            self._cache[second] = (a, (a > 0).astype(np.uint8))
        a, m = self._cache[second]
        y0 = self.height - a.shape[0] - round(12 * self.k)
        x0 = round(16 * self.k)
        sub = frame[y0 : y0 + a.shape[0], x0 : x0 + a.shape[1]]
        col = np.repeat(a[..., None], 3, axis=2)
        cv2.copyTo(col, m, sub)


def frames(  # noqa: PLR0912 - one pass over the scene's optional effects
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
    rng = np.random.default_rng(seed)
    bg = render_background(width, height, rng)
    for tr in tracks:  # parked cars are part of the scene from the first frame
        if isinstance(tr.car, Parked):
            g = ground(tr.car.distance_m, tr.car.lateral_m, width)
            paste(bg, tr, g, 0, (0.0, 0.0))
    moving = [tr for tr in tracks if isinstance(tr.car, Car)]
    amp = max(0, round(scn.noise))
    pad = 64
    noise_pos = rng.integers(0, amp + 1, (height + pad, width + pad, 3), dtype=np.uint8)
    noise_neg = rng.integers(0, amp + 1, (height + pad, width + pad, 3), dtype=np.uint8)
    overlay = _Overlay(width, height) if scn.overlay else None
    for n in range(n_frames):
        t = n / fps
        shift = shake_offset(scn, n, fps, width)
        frame = bg.copy()
        for w in scn.walkers:
            if (wp := place_walker(w, t, width)) is not None:
                _walker(frame, w.kind, wp)
        placed = [(tr, place(tr.car, t, width)) for tr in moving if isinstance(tr.car, Car)]
        shown = sorted(((a, b) for a, b in placed if b is not None), key=lambda p: p[1].scale)
        for tr, pl in shown:
            paste(frame, tr, pl, n, shift)
        if shift != (0.0, 0.0):
            m = np.array([[1, 0, shift[0]], [0, 1, shift[1]]], np.float32)
            frame = cv2.warpAffine(frame, m, (width, height), borderMode=cv2.BORDER_REFLECT)
        if scn.light != 1.0 or scn.ir_switch_s:
            if ir_mode(scn, t):  # IR: monochrome, and brighter than the dim colour picture
                grey = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
                frame = cv2.cvtColor(cv2.convertScaleAbs(grey, alpha=0.85), cv2.COLOR_GRAY2BGR)
            else:
                frame = cv2.convertScaleAbs(frame, alpha=scn.light)
        if scn.headlights:
            for _, pl in shown:
                _glare(frame, pl)
        if overlay is not None:
            overlay.draw(frame, t)
        if amp:
            oy, ox = (int(v) for v in rng.integers(0, pad, 2))
            cv2.add(frame, noise_pos[oy : oy + height, ox : ox + width], dst=frame)
            cv2.subtract(frame, noise_neg[oy : oy + height, ox : ox + width], dst=frame)
        yield frame
