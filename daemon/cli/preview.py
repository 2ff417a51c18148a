"""``gatecam preview``: one live frame of a camera with the lane drawn on it, for aiming the
camera and drawing the ROI on the first day.

Draws the ROI polygon (green), the read line (yellow: the first OCR call waits until the
vehicle's box reaches it, ``passage.in_view_bottom`` of the ROI's height) and the
plate-size window (blue: the narrowest and widest plate read, ``min/max_plate_width_px``,
as 440x140 mm plate outlines on the read line). ``--roi "x,y;x,y;..."`` tries a polygon
before it is written to the YAML; the ROI drawn is printed ready to paste. The frame comes
through the capture code's own FFmpeg options (transport, timeouts); no password is printed.
Imported only when the command runs (OpenCV, PyAV): daemon/cli/main.py declares its options.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import av
import cv2
import numpy as np
from pydantic import ValidationError

from daemon.capture.source import Scrubber, open_options, open_target, set_decoder_threads
from daemon.config.models import CameraConfig, Config, load_config
from daemon.errors import ConfigError, GatecamError
from daemon.lane.selection import roi_bounds

__all__ = ["cmd_preview", "draw_overlay", "grab_frame", "parse_roi"]

PLATE_ASPECT = 140 / 440
"""Height over width of a Chinese plate (440 x 140 mm), for the size-window outlines."""

GREEN, YELLOW, BLUE = (0, 200, 0), (0, 220, 255), (255, 120, 0)  # BGR


def cmd_preview(args: argparse.Namespace) -> int:
    """Grab, draw, write; print the file, the frame size and the ROI as YAML."""
    cfg = load_config(args.config)
    camera = _camera(cfg, args.camera, args.roi)
    image = grab_frame(camera)
    drawn = draw_overlay(image, camera.roi, cfg.passage.in_view_bottom,
                         camera.min_plate_width_px, camera.max_plate_width_px)
    out = args.out or Path(f"preview-{camera.id}.jpg")
    if not cv2.imwrite(str(out), drawn):
        raise GatecamError(f"cannot write {out}")
    h, w = image.shape[:2]
    roi = ", ".join(f"[{x:g}, {y:g}]" for x, y in camera.roi)
    print(f"{out}: camera {camera.id}, frame {w}x{h}\nroi: [{roi}]")
    return 0


def _camera(cfg: Config, camera_id: str | None, roi: str | None) -> CameraConfig:
    try:
        camera = cfg.camera(camera_id) if camera_id else cfg.cameras[0]
    except KeyError as exc:
        raise ConfigError(str(exc.args[0])) from exc
    if roi is None:
        return camera
    try:
        return CameraConfig.model_validate({**camera.model_dump(), "roi": parse_roi(roi)})
    except (ValueError, ValidationError) as exc:
        msg = exc.errors()[0]["msg"] if isinstance(exc, ValidationError) else str(exc)
        raise ConfigError(f"--roi {roi!r}: {msg}") from exc


def parse_roi(text: str) -> list[tuple[float, float]]:
    """``"x,y;x,y;..."`` -> points; ValueError naming the bad point."""
    points = []
    for part in (p.strip() for p in text.split(";") if p.strip()):
        try:
            x, y = (float(v) for v in part.split(","))
        except ValueError:
            raise ValueError(f"point {part!r} is not x,y") from None
        points.append((x, y))
    return points


def grab_frame(camera: CameraConfig) -> np.ndarray[Any, Any]:
    """The first decodable frame of ``camera`` as BGR; GatecamError (password-free) if none."""
    scrub = Scrubber(camera.url, camera.safe_url)
    try:
        with av.open(open_target(camera), options=open_options(camera),
                     timeout=(camera.open_timeout_s, camera.read_timeout_s)) as container:
            if not container.streams.video:
                raise OSError("no video stream")
            stream = container.streams.video[0]
            set_decoder_threads(stream, camera)
            for frame in container.decode(stream):
                image: np.ndarray[Any, Any] = frame.to_ndarray(format="bgr24")
                return image
    except (OSError, av.error.FFmpegError) as exc:
        raise GatecamError(scrub(f"camera {camera.id} ({camera.safe_url}): cannot grab a "
                                 f"frame: {type(exc).__name__}: {exc}")) from exc
    raise GatecamError(f"camera {camera.id} ({camera.safe_url}): the stream ended before a frame")


def draw_overlay(
    image: np.ndarray[Any, Any], roi: list[tuple[float, float]], in_view_bottom: float,
    min_plate_px: int, max_plate_px: int,
) -> np.ndarray[Any, Any]:
    """A copy of ``image`` with the ROI, the read line and the plate-size window drawn."""
    out = image.copy()
    h, w = out.shape[:2]
    thick = max(2, w // 640)
    poly = np.array([[round(x * w), round(y * h)] for x, y in roi], np.int32)
    cv2.polylines(out, [poly], isClosed=True, color=GREEN, thickness=thick)
    box = roi_bounds(roi, w, h)
    line_y = min(h - 1, box.y + round(in_view_bottom * box.height))
    cv2.line(out, (box.x, line_y), (box.x + box.width - 1, line_y), YELLOW, thick)
    _label(out, f"read line ({in_view_bottom:g} of the lane)", (box.x + 4, line_y - 6), YELLOW)
    cx = box.x + box.width // 2
    drawn = [(n, px) for n, px in (("min", min_plate_px), ("max", max_plate_px)) if px > 0]
    for name, px in drawn:
        ph = max(1, round(px * PLATE_ASPECT))
        cv2.rectangle(out, (cx - px // 2, line_y - ph // 2), (cx + px // 2, line_y + ph // 2),
                      BLUE, thick)
        at = line_y - ph // 2 - 8 if name == "max" else line_y + ph // 2 + 24
        _label(out, f"{name} plate {px} px", (cx - px // 2, at), BLUE)
    if not drawn:
        _label(out, "plate width: no limit (min/max_plate_width_px)", (box.x + 4, line_y + 22),
               BLUE)
    return out


def _label(img: np.ndarray[Any, Any], text: str, at: tuple[int, int],
           color: tuple[int, int, int]) -> None:
    scale = max(0.5, img.shape[1] / 1600)
    weight = max(1, round(scale * 2))
    cv2.putText(img, text, at, cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), weight + 3, cv2.LINE_AA)
    cv2.putText(img, text, at, cv2.FONT_HERSHEY_SIMPLEX, scale, color, weight, cv2.LINE_AA)
