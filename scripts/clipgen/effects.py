"""Scene effects drawn over a generated frame: walkers, headlight glare, the timestamp overlay,
rain streaks, motion blur and defocus. Pure drawing on BGR arrays; deterministic given the rng.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from clipgen.motion import Placement
from clipgen.sprites import FONT

OVERLAY_START = datetime(2026, 11, 25, 8, 0, 0, tzinfo=UTC)


def draw_walker(frame: np.ndarray, kind: str, pl: Placement) -> None:
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


def glare(frame: np.ndarray, pl: Placement) -> None:
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


class Overlay:
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
        """Burn the overlay of clip time ``t`` into ``frame``."""
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


def rain(frame: np.ndarray, amount: float, rng: np.random.Generator) -> None:
    """Rain, in place: bright slanted streaks (more and longer with ``amount``) and a wet haze."""
    h, w = frame.shape[:2]
    k = w / 1280.0
    n = round(amount * 450 * k * k)
    layer = np.zeros((h, w), np.uint8)
    xs = rng.integers(0, w, n)
    ys = rng.integers(-round(40 * k), h, n)
    lens = rng.uniform(15, 35 + 25 * amount, n) * k
    levels = rng.integers(25, 70, n)
    slant = math.radians(12)
    for x, y, ln, lv in zip(xs, ys, lens, levels, strict=True):
        x1, y1 = round(x + ln * math.sin(slant)), round(y + ln * math.cos(slant))
        cv2.line(layer, (int(x), int(y)), (x1, y1), int(lv), max(1, round(k)), cv2.LINE_AA)
    haze = cv2.convertScaleAbs(frame, alpha=1.0 - 0.12 * amount, beta=14 * amount)
    frame[:] = cv2.add(haze, cv2.cvtColor(layer, cv2.COLOR_GRAY2BGR))


def blur_kernel(dx: float, dy: float) -> np.ndarray | None:
    """A normalised line kernel smearing by (dx, dy) px, or None when under a pixel."""
    length = math.hypot(dx, dy)
    if length < 1.0:
        return None
    size = 2 * math.ceil(length / 2) + 1
    kern = np.zeros((size, size), np.float32)
    c = size // 2
    p0 = (round(c - dx / 2), round(c - dy / 2))
    p1 = (round(c + dx / 2), round(c + dy / 2))
    cv2.line(kern, p0, p1, 1.0, 1, cv2.LINE_AA)
    return kern / kern.sum()


def defocus(frame: np.ndarray, sigma: float) -> np.ndarray:
    """The whole picture softened by a Gaussian of ``sigma`` px (a soft lens, a dirty window)."""
    if sigma <= 0:
        return frame
    return cv2.GaussianBlur(frame, (0, 0), sigma)
