"""Render synthetic gate-lane clips (cars carrying Chinese plates) to H.264 MP4 plus ground truth.

A fixed camera looks down a single lane; each car enters at the top, grows as it
approaches (pinhole perspective), may stop at the barrier, then leaves at the
bottom. Plates are drawn with Pillow and a CJK font so a real OCR can read them.
Beside ``<clip>.mp4`` goes ``<clip>.json``: fps, size, duration and, per vehicle,
the plate, its colour, enter/exit times and the frames where the plate is legible.

Self-contained on purpose (tests import it by path):
``python scripts/make_clip.py --scenario three_cars --out /tmp/x.mp4``
``[--size 1280x720] [--fps 25] [--seed 1]``.
Output is deterministic for a given scenario, size, fps and seed.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import av
import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

FONT = "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc"
LEGIBLE_PX = 120
"""A plate at least this wide (px) and wholly inside the frame counts as legible."""

# Geometry for a 1280-wide frame; everything in pixels scales with width / 1280.
_F = 2500.0  # focal length, px
_CAM_H = 1.968  # camera height above the road, m (puts the stopped car's wheels at y=684)
_Y_HORIZON = -300.0  # the horizon lies above the frame: the camera looks down
_D_BARRIER = 5.0  # distance of the barrier from the camera foot, m (plate ~220 px wide there)
_CAR_W, _CAR_H = 1.9, 1.6  # sprite extent, m (mirrors included)
_LANE_HALF_W = 1.9  # m
_S_CAP = 1.25 * _F / _D_BARRIER  # scale stops growing past the barrier (sprite resolution)
_D_ENTER = _F * _CAM_H / -_Y_HORIZON  # the car's wheels reach the top of the frame here, m
_BRAKE_M = 3.0  # braking distance before the barrier, m
_ACCEL = 3.0  # pull-away acceleration, m/s^2

_PLATE_STYLES: dict[str, tuple[str, tuple[int, int, int], tuple[int, int, int], str]] = {
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
class Scenario:
    """A named list of cars plus scene-wide settings (extend here: night, shake, people...)."""

    name: str
    cars: tuple[Car, ...]
    duration_s: float | None = None
    """Clip length; by default the last car's exit plus 1.5 s."""
    noise: float = 3.0
    """Sensor noise amplitude, grey levels."""
    light: float = 1.0
    """Overall brightness factor (a night scene would lower it)."""


SCENARIOS: dict[str, Callable[[], Scenario]] = {
    # Cars take ~5 s from entering to leaving; ~2.5 s of empty lane separates passages.
    "one_car": lambda: Scenario("one_car", (Car("京A·F0236", (200, 30, 40), enter_s=1.0),)),
    "three_cars": lambda: Scenario(
        "three_cars",
        (
            Car("京A·F0236", (200, 30, 40), enter_s=1.0),
            Car("粤B·D12345", (235, 235, 240), enter_s=8.5, speed=5.5, lateral_m=-0.15),
            Car("沪C·8K562", (40, 45, 55), enter_s=16.0, speed=4.5, lateral_m=0.15),
        ),
    ),
    "demo": lambda: Scenario(
        "demo",
        (
            Car("京A·F0236", (200, 30, 40), enter_s=1.0),
            Car("粤B·D12345", (235, 235, 240), enter_s=8.0, speed=5.5, stop_s=0, lateral_m=-0.15),
            Car("苏E·5C8K2", (30, 70, 150), enter_s=12.5, stop_s=1.5, plate_color="yellow"),
        ),
        duration_s=20.0,
    ),
}


# ---------------------------------------------------------------- kinematics (pure)


def stop_window(car: Car) -> tuple[float, float] | None:
    """Start and end (clip time, s) of the halt at the barrier; None if the car drives through."""
    if car.stop_s <= 0:
        return None
    cruise = max(0.0, _D_ENTER - _D_BARRIER - _BRAKE_M)
    start = car.enter_s + cruise / car.speed + 2 * _BRAKE_M / car.speed
    return start, start + car.stop_s


def _distance(car: Car, t: float) -> float | None:
    """Distance (m) of the car's front from the camera foot at time t; None before it enters."""
    dt = t - car.enter_s
    if dt < 0:
        return None
    v = car.speed
    halt = stop_window(car)
    if halt is None:
        return _D_ENTER - v * dt
    cruise = max(0.0, _D_ENTER - _D_BARRIER - _BRAKE_M)
    t_cruise = cruise / v
    if dt < t_cruise:
        return _D_ENTER - v * dt
    if t < halt[0]:  # constant deceleration over the braking distance
        tb, decel = dt - t_cruise, v * v / (2 * _BRAKE_M)
        return _D_ENTER - cruise - (v * tb - 0.5 * decel * tb * tb)
    tl = t - halt[1]
    if tl < 0:
        return _D_BARRIER
    t_acc = v / _ACCEL
    gone = 0.5 * _ACCEL * min(tl, t_acc) ** 2 + v * max(0.0, tl - t_acc)
    return _D_BARRIER - gone


@dataclass(frozen=True)
class Placement:
    """Where a car sprite lands in the frame: scale (px per metre) and its ground point."""

    scale: float
    x_center: float
    y_bottom: float


def place(car: Car, t: float, width: int) -> Placement | None:
    """Screen placement of a car at time t in a frame ``width`` wide, or None if not on the road."""
    d = _distance(car, t)
    if d is None or d <= 0.3:
        return None
    k = width / 1280.0
    y_bottom = k * (_Y_HORIZON + _F * _CAM_H / d)
    scale = k * min(_F / d, _S_CAP)
    return Placement(scale, width / 2 + car.lateral_m * scale, y_bottom)


# ---------------------------------------------------------------- drawing


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
    _, bg, fg, size = _PLATE_STYLES[style]
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


def render_car(car: Car) -> tuple[np.ndarray, np.ndarray, tuple[int, int, int, int]]:
    """The car from the front and above at scale ``_S_CAP``: BGR, mask, plate rect (x, y, w, h)."""
    s = _S_CAP
    w, h = round(_CAR_W * s), round(_CAR_H * s)
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

    body = car.body
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
    plate = render_plate(car.number, car.style, s / 1000.0)
    x0, y0 = px(-plate.width / s / 2, 0.28 + 0.14)
    img.paste(plate, (x0, y0))
    bgr = cv2.cvtColor(np.asarray(img), cv2.COLOR_RGB2BGR)
    return bgr, np.asarray(mask), (x0, y0, plate.width, plate.height)


def render_background(width: int, height: int, rng: np.random.Generator) -> np.ndarray:
    """The still scene: textured asphalt, lane lines, stop line, kerbs and pavement (BGR)."""
    k = width / 1280.0
    rows = np.arange(height, dtype=np.float64)[:, None]
    cols = np.arange(width, dtype=np.float64)[None, :]
    scale = (rows - k * _Y_HORIZON) / _CAM_H  # px per metre on the road at each row
    lateral = (cols - width / 2) / scale  # metres from the lane centre
    img = np.empty((height, width, 3), np.uint8)
    img[:] = (92, 94, 96)
    blotch = cv2.resize(rng.normal(0, 6, (height // 16 + 1, width // 16 + 1)), (width, height))
    grain = rng.normal(0, 5, (height, width))
    tex = (blotch + grain)[..., None]
    paving = np.abs(lateral) > _LANE_HALF_W + 0.25
    kerb = (np.abs(lateral) > _LANE_HALF_W) & ~paving
    base = img.astype(np.float64) + tex
    base[kerb] = (175, 178, 180) + tex[kerb]
    dist = k * _F / scale  # metres from the camera foot
    slabs = ((np.floor(lateral * 2) + np.floor(dist * 2)) % 2)[..., None]
    base = np.where(paving[..., None], (150, 140, 128) + slabs * 12 + tex, base)
    img = np.clip(base, 0, 255).astype(np.uint8)
    line = (np.abs(np.abs(lateral) - (_LANE_HALF_W - 0.15)) < 0.06).astype(np.uint8)
    img[line > 0] = (225, 225, 225)
    stop = (np.abs(dist - (_D_BARRIER - 0.1)) < 0.06) & (np.abs(lateral) < _LANE_HALF_W - 0.15)
    img[stop] = (230, 230, 230)
    for _ in range(6):  # cracks and patches: static detail with edges
        x, y = int(rng.integers(0, width)), int(rng.integers(height // 4, height))
        axes = (int(rng.integers(20, 60)), int(rng.integers(6, 20)))
        cv2.ellipse(img, (x, y), axes, 0, 0, 360, (70, 72, 74), -1)
    return img


# ---------------------------------------------------------------- clip


@dataclass
class _Track:
    car: Car
    bgr: np.ndarray
    mask: np.ndarray
    plate_rect: tuple[int, int, int, int]
    frames: list[int] = field(default_factory=list)
    legible: list[list[int]] = field(default_factory=list)


def _frames(
    scn: Scenario,
    *,
    width: int,
    height: int,
    fps: int,
    seed: int,
    tracks: list[_Track],
    n_frames: int,
) -> Iterator[np.ndarray]:
    rng = np.random.default_rng(seed)
    bg = render_background(width, height, rng)
    if scn.light != 1.0:
        bg = cv2.convertScaleAbs(bg, alpha=scn.light)
    amp = max(0, round(scn.noise))
    pad = 64
    noise_pos = rng.integers(0, amp + 1, (height + pad, width + pad, 3), dtype=np.uint8)
    noise_neg = rng.integers(0, amp + 1, (height + pad, width + pad, 3), dtype=np.uint8)
    for n in range(n_frames):
        t = n / fps
        frame = bg.copy()
        placed = [(tr, place(tr.car, t, width)) for tr in tracks]
        for tr, pl in sorted(
            ((a, b) for a, b in placed if b is not None), key=lambda p: p[1].scale
        ):
            _paste(frame, tr, pl, n)
        if amp:
            oy, ox = (int(v) for v in rng.integers(0, pad, 2))
            cv2.add(frame, noise_pos[oy : oy + height, ox : ox + width], dst=frame)
            cv2.subtract(frame, noise_neg[oy : oy + height, ox : ox + width], dst=frame)
        yield frame


def _paste(frame: np.ndarray, tr: _Track, pl: Placement, n: int) -> None:
    """Composite one car (and its shadow) into the frame; record visibility and plate rect."""
    height, width = frame.shape[:2]
    r = pl.scale / _S_CAP
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
    rx, ry = round(x0 + px * r), round(y0 + py * r)
    rw, rh = round(pw * r), round(ph * r)
    if rw >= LEGIBLE_PX and rx >= 0 and ry >= 0 and rx + rw <= width and ry + rh <= height:
        tr.legible.append([n, rx, ry, rw, rh])


def _encode_pyav(
    frames: Iterator[np.ndarray], out: Path, width: int, height: int, fps: int
) -> None:
    with av.open(str(out), "w", options={"movflags": "+faststart"}) as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.codec_context.gop_size = 2 * fps
        stream.codec_context.max_b_frames = 0
        # One slice per picture, as cameras send: with slice threads every IDR is split
        # in two and RTP payloaders that repeat SPS/PPS per IDR NAL break FFmpeg clients.
        stream.codec_context.thread_type = "FRAME"
        stream.options = {
            "preset": "veryfast",
            "tune": "grain",  # keep some sensor noise instead of skipping it all in P-frames
            "crf": "23",
            "threads": "2",
            "x264-params": f"keyint={2 * fps}:min-keyint={2 * fps}:scenecut=0:slices=1",
        }
        for img in frames:
            frame = av.VideoFrame.from_ndarray(img, format="bgr24")
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))


def _encode_ffmpeg(
    frames: Iterator[np.ndarray], out: Path, width: int, height: int, fps: int
) -> None:
    gop = 2 * fps
    args = (
        f"-v error -y -f rawvideo -pix_fmt bgr24 -s {width}x{height} -r {fps} -i - "
        f"-c:v libx264 -preset veryfast -tune grain -crf 23 -threads 2 -g {gop} -bf 0 "
        "-x264-params scenecut=0:slices=1:sliced-threads=0 -pix_fmt yuv420p -movflags +faststart"
    )
    cmd = ["/usr/bin/ffmpeg", *args.split(), str(out)]
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE)
    if proc.stdin is None:
        raise RuntimeError("ffmpeg has no stdin")
    try:
        for img in frames:
            proc.stdin.write(img.tobytes())
    finally:
        proc.stdin.close()
        if proc.wait() != 0:
            raise RuntimeError(f"ffmpeg exited with {proc.returncode}")


def _best(tr: _Track, fps: int) -> int | None:
    """Frame to read the plate from: mid-halt if the car stops, else the widest legible plate."""
    legible = {e[0] for e in tr.legible}
    halt = stop_window(tr.car)
    if halt is not None and (mid := round((halt[0] + halt[1]) / 2 * fps)) in legible:
        return mid
    return max(tr.legible, key=lambda e: (e[3], -e[0]))[0] if tr.legible else None


def make_clip(
    scenario: str | Scenario,
    out: Path | str,
    size: tuple[int, int] = (1280, 720),
    fps: int = 25,
    seed: int = 1,
) -> dict[str, Any]:
    """Render a scenario to ``out`` (H.264 MP4) and ``<out>.json``; return the ground truth."""
    scn = SCENARIOS[scenario]() if isinstance(scenario, str) else scenario
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    width, height = size
    tracks = [_Track(car, *render_car(car)) for car in scn.cars]
    if scn.duration_s is not None:
        duration = scn.duration_s
    else:
        last = 0.0
        for car in scn.cars:  # walk forward until the car has left the frame
            t = car.enter_s
            while (
                pl := place(car, t, width)
            ) is not None and pl.y_bottom - _CAR_H * pl.scale < height:
                t += 1 / fps
            last = max(last, t)
        duration = last + 1.5
    n_frames = round(duration * fps)
    frames = _frames(
        scn, width=width, height=height, fps=fps, seed=seed, tracks=tracks, n_frames=n_frames
    )
    if "libx264" in av.codecs_available:
        _encode_pyav(frames, out, width, height, fps)
    else:
        _encode_ffmpeg(frames, out, width, height, fps)
    vehicles = []
    for tr in tracks:
        style = tr.car.style
        vehicles.append(
            {
                "plate": tr.car.number,
                "plate_text": tr.car.plate,
                "color": _PLATE_STYLES[style][0],
                "plate_style": style,
                "body_rgb": list(tr.car.body),
                "enter_s": tr.frames[0] / fps if tr.frames else None,
                "exit_s": tr.frames[-1] / fps if tr.frames else None,
                "first_legible_frame": tr.legible[0][0] if tr.legible else None,
                "last_legible_frame": tr.legible[-1][0] if tr.legible else None,
                "stop_s": list(halt) if (halt := stop_window(tr.car)) else None,
                "best_frame": _best(tr, fps),
                "plate_rects": tr.legible,
            }
        )
    truth = {
        "scenario": scn.name,
        "seed": seed,
        "fps": fps,
        "width": width,
        "height": height,
        "frames": n_frames,
        "duration_s": n_frames / fps,
        "cars": [asdict(c) for c in scn.cars],
        "vehicles": vehicles,
    }
    out.with_suffix(".json").write_text(json.dumps(truth, ensure_ascii=False, indent=1), "utf-8")
    return truth


def main(argv: list[str] | None = None) -> int:
    """Command line entry point."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scenario", default="three_cars", choices=sorted(SCENARIOS))
    ap.add_argument("--out", required=True, type=Path)
    ap.add_argument("--size", default="1280x720", help="WIDTHxHEIGHT, e.g. 1920x1080")
    ap.add_argument("--fps", default=25, type=int)
    ap.add_argument("--seed", default=1, type=int)
    args = ap.parse_args(argv)
    w, h = (int(v) for v in args.size.lower().split("x"))
    started = time.monotonic()
    truth = make_clip(args.scenario, args.out, (w, h), args.fps, args.seed)
    print(
        f"{args.out}: {truth['duration_s']:.1f} s, {len(truth['vehicles'])} vehicles, "
        f"made in {time.monotonic() - started:.1f} s"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
