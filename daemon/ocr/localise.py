"""Where a plate may be in a lane crop: the boxes the local reader recognises.

Pure image geometry (OpenCV and numpy on the crop; the text detector's onnxruntime session
is passed in), no state between calls; ``daemon/ocr/local.py`` reads what is in the boxes.

* :func:`hsv_boxes`: a colour mask for blue / yellow / green plates on a copy scaled to
  ``work_width`` px (:func:`shrink`), closed with a horizontal kernel so the characters join
  the background; contours kept when their aspect is 2-5.5, their fill of the colour >= 0.35
  (0.25 green) and their width plausible; then dense vertical edges (white/black plates, IR
  frames, a blue plate merged with a blue car body) in the same pass, and
  on the edge map shrunk 3x and 6x for plates that much wider than the narrowest
  (:data:`BIG_GAPS`).
* :func:`det_boxes`: the PP-OCR text detector (DB) on the crop scaled to a ``det_side`` px
  long side, boxes unclipped as DB does.
* :func:`whole_plate_boxes` and :func:`holds_part`: a box that read only part of a plate
  (the rest in a shadow) widened to a whole plate, and whether its reading holds the part.
"""

from __future__ import annotations

import math
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt
import onnxruntime as ort

from daemon.plates import differ

Box = tuple[int, int, int, int]
"""(x, y, w, h) in crop pixels."""
BGR = npt.NDArray[np.uint8]

# OpenCV hue is 0-180. Plate backgrounds (GA 36): blue, yellow, new-energy green.
_HSV_RANGES: tuple[tuple[str, tuple[int, int, int], tuple[int, int, int]], ...] = (
    ("蓝", (100, 90, 50), (128, 255, 255)),
    ("黄", (14, 90, 90), (34, 255, 255)),
    ("绿", (36, 60, 60), (88, 255, 255)),
)
_PLATE_ASPECT = (2.0, 5.5)
_WHOLE_CHARS = 8
"""A whole plate's characters, for the width of a widened box (a green plate's 8: the
widest, so a blue plate's 7 fit too)."""
_WHOLE_ASPECT = 3.4
BIG_GAPS = (3, 6)
"""The edge pass runs again with a kernel these many times as wide, for plates at least as
many times the narrowest (a car close to the camera: held-out seed 141's 420 px night plate,
whose characters and halves the narrow kernel left apart): each adds its densest box after
the others, unless it is about one of them."""


def hsv_boxes(crop: BGR, work_width: int, min_plate_px: int) -> list[tuple[Box, str]]:
    """Plate boxes by colour (at most 2, widest first, with their colour), then by dense
    vertical edges (colour ``""``), at most 3 so far; then one more per wide edge pass
    (:data:`BIG_GAPS`) at most; ``min_plate_px``: the narrowest plate."""
    w0 = crop.shape[1]
    s = min(1.0, work_width / w0)
    small = shrink(crop, round(w0 * s))
    hsv = cv2.cvtColor(small, cv2.COLOR_BGR2HSV)
    min_w = min_plate_px * s
    kx = max(3, round(min_w / 12))
    kernel = cv2.getStructuringElement(cv2.MORPH_RECT, (kx, max(3, kx // 3)))
    out: list[tuple[Box, str]] = []
    for color, lo, hi in _HSV_RANGES:
        mask = cv2.inRange(hsv, np.array(lo, np.uint8), np.array(hi, np.uint8))
        closed = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, kernel)
        contours, _ = cv2.findContours(closed, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        for cnt in contours:
            x, y, w, h = cv2.boundingRect(cnt)
            if w < min_w or h < 4:
                continue
            if color == "绿":  # new-energy: pale top, green bottom: grow upwards
                want = round(w / 3.43)
                if h < want:
                    y, h = max(0, y - (want - h)), want
            aspect = w / h
            if not _PLATE_ASPECT[0] <= aspect <= _PLATE_ASPECT[1]:
                continue
            fill = float(np.count_nonzero(mask[y : y + h, x : x + w])) / (w * h)
            if fill < (0.25 if color == "绿" else 0.35):
                continue
            box = (round(x / s), round(y / s), round(w / s), round(h / s))
            out.append((box, color))
    out.sort(key=lambda bc: -bc[0][2])
    out = out[:2]
    grey = cv2.cvtColor(small, cv2.COLOR_BGR2GRAY)
    gx = cv2.convertScaleAbs(cv2.Sobel(grey, cv2.CV_16S, 1, 0, ksize=3))
    _, edges = cv2.threshold(gx, 0, 255, cv2.THRESH_BINARY | cv2.THRESH_OTSU)
    kx, colour = max(5, round(min_w / 8)), list(out)
    cand = sorted(_edge_boxes(edges, 1, kx, min_w, s=s, colour=colour), key=lambda db: -db[0])
    out += [(b, "") for _, b in cand[: 3 - len(out)]]
    for k in BIG_GAPS:  # a plate k times the narrowest: its gaps are wider than the kernel
        big = sorted(_edge_boxes(edges, k, kx, min_w, s=s, colour=colour), key=lambda db: -db[0])
        out += [(b, "") for _, b in big[:1] if not any(_same(b, o) for o, _ in out)]
    return out


def shrink(image: BGR, width: int) -> BGR:
    """``image`` scaled down to about ``width`` px wide, averaging as ``INTER_AREA`` does:
    halved by area (its last odd row and column dropped) while at least twice as wide, the
    rest (under 2x) by linear interpolation. OpenCV's area resize is fast only for an exact
    integer factor; a lane crop's is rarely one (1280x567 -> 640x284, 1920x810 -> 640x270):
    its generic path took 4-5 ms single-threaded on each, this 0.3-1.3 ms."""
    while image.shape[1] >= 2 * width:
        h, w = image.shape[:2]
        even = image[: h - h % 2, : w - w % 2]
        image = cv2.resize(even, (w // 2, h // 2), interpolation=cv2.INTER_AREA)  # type: ignore[assignment]
    h, w = image.shape[:2]
    if w == width:
        return image
    size = (width, max(1, round(h * width / w)))
    return cv2.resize(image, size, interpolation=cv2.INTER_LINEAR)  # type: ignore[return-value]


def _edge_boxes(edges: npt.NDArray[Any], k: int, kx: int, min_w: float, *, s: float,
                colour: list[tuple[Box, str]]) -> list[tuple[float, Box]]:
    """(edge density, box) of the blobs of vertical ``edges`` closed with a ``kx`` px wide
    kernel on the edge map shrunk ``k`` times (a block with any edge is one: as a kernel ``k``
    times as wide, at a ninth of the cost for 3), plate-shaped and at least 0.8 ``k *
    min_w`` wide (work pixels; boxes in crop pixels, ``s`` the work scale), not inside one of
    the ``colour`` boxes."""
    shrunk = edges
    if k > 1:
        h0, w0 = edges.shape[:2]
        shrunk = cv2.resize(edges, (w0 // k, h0 // k), interpolation=cv2.INTER_AREA)
        _, shrunk = cv2.threshold(shrunk, 0, 255, cv2.THRESH_BINARY)
    ek = cv2.getStructuringElement(cv2.MORPH_RECT, (kx, 3))
    blobs = cv2.morphologyEx(shrunk, cv2.MORPH_CLOSE, ek)
    blobs = cv2.morphologyEx(blobs, cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
    contours, _ = cv2.findContours(blobs, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    cand: list[tuple[float, Box]] = []
    for cnt in contours:
        x, y, w, h = (v * k for v in cv2.boundingRect(cnt))
        if w < min_w * k * 0.8 or h < 4 or not 2.0 <= w / h <= 6.5:
            continue
        dens = float(np.count_nonzero(edges[y : y + h, x : x + w])) / (w * h)
        if dens < 0.2:
            continue
        box = (round(x / s), round(y / s), round(w / s), round(h / s))
        if any(overlap(box, b) > 0.3 and b[2] < 1.5 * box[2] for b, _ in colour):
            continue
        cand.append((dens, box))
    return cand


def det_boxes(
    det: ort.InferenceSession, crop: BGR, det_side: int, min_plate_px: int
) -> list[Box]:
    """Text boxes of the PP-OCR detector that may be a plate (at most 4, widest first)."""
    h0, w0 = crop.shape[:2]
    s = min(1.0, det_side / max(h0, w0))
    rw, rh = max(32, round(w0 * s / 32) * 32), max(32, round(h0 * s / 32) * 32)
    img = cv2.resize(crop, (rw, rh), interpolation=cv2.INTER_AREA)
    x = (img.astype(np.float32) / 255.0 - 0.5) / 0.5
    x = x.transpose(2, 0, 1)[None]
    prob: npt.NDArray[np.float32] = det.run(None, {det.get_inputs()[0].name: x})[0][0, 0]
    bitmap: npt.NDArray[Any] = cv2.dilate(
        (prob > 0.3).astype(np.uint8), np.ones((2, 2), np.uint8)
    )
    contours, _ = cv2.findContours(bitmap, cv2.RETR_LIST, cv2.CHAIN_APPROX_SIMPLE)
    fx, fy = w0 / rw, h0 / rh
    boxes: list[Box] = []
    for cnt in contours:
        x0, y0, w, h = cv2.boundingRect(cnt)
        if h < 3 or w < 2 * h:
            continue
        inside = bitmap[y0 : y0 + h, x0 : x0 + w] > 0
        score = float(prob[y0 : y0 + h, x0 : x0 + w][inside].mean())
        if score < 0.5:
            continue
        d = (w * h) * 1.6 / (2 * (w + h))  # DB unclip distance
        bx, by = (x0 - d) * fx, (y0 - d) * fy
        bw, bh = (w + 2 * d) * fx, (h + 2 * d) * fy
        if bw < min_plate_px * 0.8 or not 2.0 <= bw / bh <= 9.0:
            continue
        boxes.append((max(0, round(bx)), max(0, round(by)), round(bw), round(bh)))
    boxes.sort(key=lambda b: -b[2])
    return boxes[:4]


def whole_plate_boxes(part: Box, chars: int) -> list[Box]:
    """A whole plate's box around a ``part`` box that read ``chars`` characters: 8
    characters wide at 3.4:1, centred on the part's height; first reaching to the left of it
    (the province and letter lost), then to the right."""
    x, y, w, h = part
    wide = math.ceil(w * _WHOLE_CHARS / chars)
    high = max(h, round(wide / _WHOLE_ASPECT))
    return [(max(0, x0), max(0, y + h // 2 - high // 2), wide, high) for x0 in (x + w - wide, x)]


def holds_part(text: str, part: str) -> bool:
    """``text`` holds ``part`` (read alone in a smaller box): exactly for a part of 3-4
    characters, with one character differing for a part of 5-6 (``AFO236`` in ``京AF0236``)."""
    n = len(part)
    return any(differ(text[i:i + n], part) <= (n >= 5) for i in range(len(text) - n + 1))


def _intersection(a: Box, b: Box) -> int:
    """The area ``a`` and ``b`` share."""
    ix = max(0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    iy = max(0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    return ix * iy


def _same(a: Box, b: Box) -> bool:
    """``a`` and ``b`` are about the same box: their intersection is most of the larger."""
    return _intersection(a, b) > 0.6 * max(a[2] * a[3], b[2] * b[3])


def overlap(a: Box, b: Box) -> float:
    """Intersection over the smaller box."""
    small = min(a[2] * a[3], b[2] * b[3])
    return _intersection(a, b) / small if small else 0.0
