"""Image preparation for one OCR call: crop to the lane, shrink if too wide, JPEG, size cap.

Pure functions (no I/O besides OpenCV's in-memory encoder). The sent image is
the lane ROI (plus the margin the lane already added) at full resolution unless
it is wider than ``max_width``; the base64 of the JPEG never exceeds Tencent's
7 MB limit (:data:`MAX_BASE64`): quality is lowered first, then the size, until it
fits. :func:`map_rect` takes a rect in sent-image pixels back to the full frame.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from daemon.domain import Image, Rect

MAX_BASE64 = 7 * 1024 * 1024
"""Tencent's limit on ImageBase64 (TENCENT_API.md: use 7 MB even where 10 MB is documented)."""

MIN_QUALITY = 40
MIN_WIDTH = 320


@dataclass(frozen=True, slots=True)
class Prepared:
    """An encoded image and how its pixels map back to the full frame."""

    jpeg: bytes
    x0: int
    y0: int
    scale: float
    """Sent pixels per full-frame pixel (<= 1)."""
    frame_width: int
    frame_height: int
    sent_width: int = 0
    """Width of the encoded image, px."""


def base64_size(n: int) -> int:
    """Length of the base64 text of ``n`` bytes."""
    return 4 * ((n + 2) // 3)


def prepare(
    image: Image, roi: Rect | None, max_width: int, quality: int, max_base64: int = MAX_BASE64
) -> Prepared:
    """Crop to ``roi`` (clamped to the frame), shrink to ``max_width`` keeping aspect, encode.

    If the JPEG's base64 would exceed ``max_base64``, quality drops by 15 (not below
    40), then the width by a quarter (not below 320 px), until it fits.
    """
    fh, fw = int(image.shape[0]), int(image.shape[1])
    if fh == 0 or fw == 0:
        raise ValueError(f"empty image ({fw}x{fh}): nothing to send")
    x0, y0, x1, y1 = 0, 0, fw, fh
    if roi is not None:
        x0, y0 = max(0, roi.x), max(0, roi.y)
        x1, y1 = min(fw, roi.x + roi.width), min(fh, roi.y + roi.height)
        if x1 - x0 < 16 or y1 - y0 < 16:  # a degenerate hint: send the whole frame
            x0, y0, x1, y1 = 0, 0, fw, fh
    crop = image[y0:y1, x0:x1]
    width = min(max_width, crop.shape[1])
    while True:
        scale = width / crop.shape[1]
        sized = crop
        if width < crop.shape[1]:
            size = (width, max(1, round(crop.shape[0] * scale)))
            resized = cv2.resize(crop, size, interpolation=cv2.INTER_AREA)
            sized = resized.astype(np.uint8, copy=False)
        ok, buf = cv2.imencode(".jpg", sized, [cv2.IMWRITE_JPEG_QUALITY, quality])
        if not ok:
            raise ValueError("JPEG encoding failed")
        if base64_size(buf.size) <= max_base64:
            return Prepared(buf.tobytes(), x0, y0, scale, fw, fh, int(sized.shape[1]))
        if quality > MIN_QUALITY:
            quality = max(MIN_QUALITY, quality - 15)
        elif width > MIN_WIDTH:
            width = max(MIN_WIDTH, int(width * 0.75))
        else:
            raise ValueError("image cannot be encoded under the size limit")


def smaller(
    image: Image, roi: Rect | None, prev: Prepared, max_width: int, quality: int
) -> Prepared:
    """The re-encode after ``LimitExceeded.TooLargeFileError``: 60 % of the width, quality - 25."""
    width = max(MIN_WIDTH, int(min(max_width, prev.sent_width or max_width) * 0.6))
    return prepare(image, roi, width, max(MIN_QUALITY, quality - 25))


def map_rect(rect: Rect, prep: Prepared) -> Rect:
    """A rect in sent-image pixels back to full-frame pixels, clamped to the frame."""
    x = min(max(0, prep.x0 + round(rect.x / prep.scale)), prep.frame_width)
    y = min(max(0, prep.y0 + round(rect.y / prep.scale)), prep.frame_height)
    w = min(round(rect.width / prep.scale), prep.frame_width - x)
    h = min(round(rect.height / prep.scale), prep.frame_height - y)
    return Rect(x, y, max(0, w), max(0, h))
