"""Plate readers for the Tencent emulator: RapidOCR, a plate localiser + recogniser, an oracle.

A reader is any ``Callable[[bytes], list[PlateFound]]`` taking the decoded request
image bytes (JPEG/PNG) and returning the plates found, best first; an empty list
becomes ``FailedOperation.OcrFailed``. :class:`RapidOcrReader` reads pixels with
the PP-OCRv4 models shipped in the ``rapidocr-onnxruntime`` wheel (general text
detection on the whole picture, then recognition of every line);
:class:`LocatingReader` reads them as a plate service does: find the plate, then
read that box (the daemon's local reader with the text detector as a fallback, run on
the uploaded picture: pixels only, no ground truth); :class:`OracleReader` answers from
a ground-truth mapping or callable in microseconds, for benchmarks and tests of
everything but the OCR itself.
"""

from __future__ import annotations

import hashlib
import re
import threading
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from daemon.domain import Rect
from daemon.ocr.color import plate_color

PROVINCES = "京津沪渝冀晋蒙辽吉黑苏浙皖闽赣鲁豫鄂湘粤桂琼川贵云藏陕甘青宁新"
PLATE_RE = re.compile(rf"^[{PROVINCES}][A-Z][A-Z0-9]{{4,5}}[A-Z0-9挂学警领港澳试超]$")


@dataclass(frozen=True, slots=True)
class PlateFound:
    """One plate a reader found, in the image's pixels."""

    number: str
    confidence: int
    rect: Rect
    color: str
    category: str = "实体车牌"



def normalise_plate(text: str) -> str:
    """NFKC, drop separators and spaces, upper-case: ``京A·F0236`` -> ``京AF0236``."""
    text = unicodedata.normalize("NFKC", text)
    return re.sub(r"[\s·•・.\-]", "", text).upper()


def estimate_color(image: np.ndarray[Any, Any], rect: Rect) -> str:
    """Plate colour from the box's pixels: 蓝 / 黄 / 绿 / 白 / 黑 (daemon.ocr.color)."""
    return plate_color(image, rect.x, rect.y, rect.width, rect.height)


class RapidOcrReader:
    """Reads Chinese plates with RapidOCR; the engine loads once and runs under a lock."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._engine: Any = None

    def __call__(self, image: bytes) -> list[PlateFound]:
        """Every text line that looks like a mainland plate, best first."""
        arr = cv2.imdecode(np.frombuffer(image, np.uint8), cv2.IMREAD_COLOR)
        if arr is None:
            return []
        with self._lock:
            if self._engine is None:
                from rapidocr_onnxruntime import RapidOCR  # noqa: PLC0415 - heavy, optional

                self._engine = RapidOCR()
            lines, _ = self._engine(arr)
        found = []
        for box, text, score in lines or []:
            number = normalise_plate(str(text))
            if not PLATE_RE.match(number):
                continue
            xs = [round(p[0]) for p in box]
            ys = [round(p[1]) for p in box]
            rect = Rect(min(xs), min(ys), max(xs) - min(xs), max(ys) - min(ys))
            conf = max(0, min(100, round(float(score) * 100)))
            found.append(PlateFound(number, conf, rect, estimate_color(arr, rect)))
        return sorted(found, key=lambda p: -p.confidence)


class LocatingReader:
    """Finds the plate in the uploaded picture, then reads it (``daemon.ocr.local``, the
    ``hsv+det`` localiser); the models load on the first image, reads run under a lock."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._reader: Any = None

    def __call__(self, image: bytes) -> list[PlateFound]:
        """The valid plates found, best first."""
        arr = cv2.imdecode(np.frombuffer(image, np.uint8), cv2.IMREAD_COLOR)
        if arr is None:
            return []
        with self._lock:
            if self._reader is None:
                from daemon.ocr.local import LocalPlateReader  # noqa: PLC0415 - heavy

                self._reader = LocalPlateReader("hsv+det")
            found = self._reader.read(arr)
        return [
            PlateFound(p.text, p.confidence, Rect(*p.box), p.color)
            for p in found if p.valid
        ]


Truth = Mapping[str, "PlateFound | str"] | Callable[[bytes], "PlateFound | str | None"]


class OracleReader:
    """Answers from ground truth instead of reading pixels.

    ``truth`` is either a mapping from the SHA-256 hex digest of the image bytes to
    the plate (a :class:`PlateFound` or just its number), or a callable taking the
    image bytes and returning one (or None for "no plate"). Images not in a mapping
    get ``default`` (None: no plate). ``calls`` counts the images seen.
    """

    def __init__(self, truth: Truth, default: PlateFound | str | None = None) -> None:
        self.truth = truth
        self.default = default
        self.calls = 0

    def __call__(self, image: bytes) -> list[PlateFound]:
        """The ground-truth plate for ``image`` as a one-element list, or [] for none."""
        self.calls += 1
        if callable(self.truth):
            found = self.truth(image)
        else:
            found = self.truth.get(hashlib.sha256(image).hexdigest(), self.default)
        if found is None:
            return []
        if isinstance(found, str):
            found = PlateFound(normalise_plate(found), 99, Rect(0, 0, 1, 1), "蓝")
        return [found]
