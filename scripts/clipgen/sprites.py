"""Sprites of a generated clip: plates (GA 36) and cars seen from the front, the rear and the side.

Each sprite is drawn once per car at the scale the camera needs (px per metre)
and pasted into every frame by ``render.py``. Pure drawing, no I/O but the font.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from clipgen.scene import CAR_H, CAR_LEN, CAR_W, PLATE_STYLES, S_CAP

FONT = "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc"


@dataclass
class Sprite:
    """One view of a car: BGR picture, mask, and the plate's rect (x, y, w, h) if it shows one."""

    bgr: np.ndarray
    mask: np.ndarray
    plate_rect: tuple[int, int, int, int] | None


class _Canvas:
    """A sprite being drawn: ``width_m`` x ``CAR_H`` metres at ``s`` px/m, ground at the bottom."""

    def __init__(self, width_m: float, s: float) -> None:
        self.s = s
        self.w, self.h = round(width_m * s), round(CAR_H * s)
        self.img = Image.new("RGB", (self.w, self.h), (0, 0, 0))
        self.mask = Image.new("L", (self.w, self.h), 0)
        self.draw, self._dm = ImageDraw.Draw(self.img), ImageDraw.Draw(self.mask)

    def px(self, xm: float, ym: float) -> tuple[int, int]:
        """Metres from the centre / the ground to pixels."""
        return round(self.w / 2 + xm * self.s), round(self.h - ym * self.s)

    def shape(
        self, kind: str, pts: list[tuple[float, float]], fill: tuple[int, ...], r: float = 0
    ) -> None:
        """A polygon (``poly``) or a rounded rectangle (``rect``, two corners) in metres."""
        xy = [self.px(*p) for p in pts]
        if kind == "poly":
            self.draw.polygon(xy, fill=fill)
            self._dm.polygon(xy, fill=255)
        elif kind == "circle":
            (cx, cy), (ex, _) = xy
            rr = abs(ex - cx)
            self.draw.ellipse((cx - rr, cy - rr, cx + rr, cy + rr), fill=fill)
            self._dm.ellipse((cx - rr, cy - rr, cx + rr, cy + rr), fill=255)
        else:
            (xa, ya), (xb, yb) = xy
            x0, x1, y0, y1 = min(xa, xb), max(xa, xb), min(ya, yb), max(ya, yb)
            self.draw.rounded_rectangle((x0, y0, x1, y1), radius=round(r * self.s), fill=fill)
            self._dm.rounded_rectangle((x0, y0, x1, y1), radius=round(r * self.s), fill=255)

    def finish(self, plate: tuple[str, str] | None, plate_top_m: float) -> Sprite:
        """Paste the plate (if any) centred with its top ``plate_top_m`` above the ground."""
        rect = None
        if plate is not None:
            pimg = render_plate(plate[0], plate[1], self.s / 1000.0)
            x0, y0 = self.px(-pimg.width / self.s / 2, plate_top_m)
            self.img.paste(pimg, (x0, y0))
            rect = (x0, y0, pimg.width, pimg.height)
        bgr = cv2.cvtColor(np.asarray(self.img), cv2.COLOR_RGB2BGR)
        return Sprite(bgr, np.asarray(self.mask), rect)


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
    plate: tuple[str, str] | None, body: tuple[int, int, int], s: float = S_CAP
) -> Sprite:
    """The car from the front and above at scale ``s`` px/m; ``plate`` is (number, style)."""
    c = _Canvas(CAR_W, s)
    shape, d, px = c.shape, c.draw, c.px

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
    return c.finish(plate, 0.28 + 0.14)


def render_rear(
    plate: tuple[str, str] | None, body: tuple[int, int, int], s: float = S_CAP
) -> Sprite:
    """The car from behind and above (driving away): rear window, boot, tail lights, plate."""
    c = _Canvas(CAR_W, s)
    shape = c.shape
    dark = tuple(int(v * 0.55) for v in body)
    light = tuple(min(255, int(v * 1.15 + 20)) for v in body)
    for sx in (-1, 1):  # wheels and mirrors
        shape("rect", [(sx * 0.62 - 0.13, 0.0), (sx * 0.62 + 0.13, 0.35)], (18, 18, 18), 0.05)
        shape("rect", [(sx * 0.95, 0.98), (sx * 0.78, 1.08)], dark, 0.03)
    shape("poly", [(-0.6, 1.4), (0.6, 1.4), (0.55, 1.5), (-0.55, 1.5)], body)  # roof
    shape("poly", [(-0.8, 1.0), (0.8, 1.0), (0.6, 1.4), (-0.6, 1.4)], (30, 38, 50))  # rear window
    shape("rect", [(-0.88, 0.78), (0.88, 1.02)], light, 0.06)  # boot lid
    shape("rect", [(-0.9, 0.14), (0.9, 0.82)], body, 0.12)
    shape("rect", [(-0.84, 0.14), (0.84, 0.3)], dark, 0.05)  # bumper
    for sx in (-1, 1):  # tail lights: red, with an amber indicator
        shape("rect", [(sx * 0.88, 0.6), (sx * 0.55, 0.76)], (190, 20, 25), 0.04)
        shape("rect", [(sx * 0.88, 0.6), (sx * 0.78, 0.68)], (230, 140, 30), 0.02)
    shape("rect", [(-0.27, 0.32), (0.27, 0.52)], dark, 0.02)  # plate recess
    return c.finish(plate, 0.32 + 0.14)


def render_side(body: tuple[int, int, int], s: float = S_CAP) -> Sprite:
    """The car side-on (turning), heading right: no plate visible. Flip it to head left."""
    c = _Canvas(CAR_LEN, s)
    shape = c.shape
    dark = tuple(int(v * 0.55) for v in body)
    half = CAR_LEN / 2
    shape("rect", [(-half, 0.25), (half, 0.85)], body, 0.2)  # body
    shape("poly", [(-1.6, 0.85), (0.7, 0.85), (0.1, 1.42), (-1.35, 1.42)], body)  # cabin
    shape("poly", [(-1.45, 0.9), (-0.5, 0.9), (-0.5, 1.36), (-1.25, 1.36)], (35, 45, 60))
    shape("poly", [(-0.4, 0.9), (0.55, 0.9), (0.05, 1.36), (-0.4, 1.36)], (35, 45, 60))
    shape("rect", [(-half, 0.42), (half, 0.48)], dark, 0.02)  # rubbing strip
    shape("rect", [(half - 0.12, 0.6), (half, 0.74)], (235, 235, 215), 0.03)  # headlight
    shape("rect", [(-half, 0.6), (-half + 0.1, 0.74)], (190, 20, 25), 0.03)  # tail light
    for wx in (-1.45, 1.4):
        shape("circle", [(wx, 0.33), (wx + 0.33, 0.33)], (18, 18, 18))
        shape("circle", [(wx, 0.33), (wx + 0.16, 0.33)], (150, 150, 155))
    return c.finish(None, 0.0)
