"""The local plate reader: finds and reads a plate in one lane ROI crop, on this machine.

Two stages, single-threaded, no network (issue 11; the measurement behind the choice is in
the README, "Local plate reader"):

1. **Localise** the plate in the crop (BGR; ``daemon/ocr/localise.py``):
   * ``hsv``: colour boxes for blue / yellow / green plates, then dense vertical edges
     (white/black plates, IR frames), one pass of 4-7 ms single-threaded on a lane crop
     (1280x567 or 1920x851); a box cut by the crop's edge is recognised last; a box read only
     in part is widened to a whole plate and read again (:meth:`LocalPlateReader._widened`);
   * ``hsv+det`` (this class's default; the daemon's ``ocr.local.localiser`` is ``hsv``):
     ``hsv`` first; the PP-OCR text detector (DB) on the crop scaled to a ``det_side`` px
     long side only when ``hsv`` yields no valid reading.
2. **Recognise** each candidate box with the PP-OCRv4 recognition model on a 48-px-high
   strip cut from the full-resolution crop and trimmed to its text rows
   (:func:`text_rows`); CTC greedy decoding with the dictionary embedded in the model's
   metadata, one probability kept per character; a first character that is no province
   is replaced by, or preceded by, the likeliest province when that makes a valid plate
   (:meth:`LocalPlateReader._first_province`).

Models: ``ch_PP-OCRv4_rec_infer.onnx`` and ``ch_PP-OCRv4_det_infer.onnx`` from the
**rapidocr-onnxruntime 1.4.4** wheel (``rapidocr_onnxruntime/models/``), or from
``model_dir``. The package is only a model carrier: its code is never imported (it requires
the GUI ``opencv-python``, which setup/install replace by the headless build). Models load
eagerly; a missing or broken one raises :class:`daemon.errors.ReaderError` (exit 78, one line).

Threading: sessions use one intra/inter-op thread; ``read`` keeps no state between calls.
Memory (measured in-process after ``malloc_trim``): onnxruntime's import ~29 MB, its runtime
and the rec session ~22 MB, the arena after 300 strips ~12 MB (given back); ``det`` +45 MB.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import cv2
import numpy as np
import numpy.typing as npt
import onnxruntime as ort

from daemon.errors import ReaderError
from daemon.ocr.color import plate_color
from daemon.ocr.localise import (
    BGR,
    Box,
    det_boxes,
    holds_part,
    hsv_boxes,
    overlap,
    whole_plate_boxes,
)
from daemon.ocr.models import (
    DET_MODEL,
    REC_MODEL,
    model_dir,
    model_path,
    open_session,
)
from daemon.ocr.strip import text_rows
from daemon.plates import PROVINCES, fits_color, fix_confusables, is_valid, normalize

Localiser = Literal["hsv", "hsv+det"]


_REC_H = 48
_REC_MAX_W = 320
_MIN_CHARS = 5  # a read with fewer characters is no plate reading
_EDGE_PX = 1
"""A box this close to the crop's edge is cut by it (``LocalPlate.clipped``)."""


@dataclass(frozen=True, slots=True)
class LocalPlate:
    """One plate seen in a lane crop."""

    text: str
    """Normalised reading (``daemon.plates.normalize`` + ``fix_confusables``); may be invalid."""
    valid: bool
    """``text`` fits the mainland plate grammar (``daemon.plates.is_valid``) and the plate's
    colour (``daemon.plates.fits_color``: a green plate's reading has 8 characters)."""
    confidence: int
    """0-100: the recogniser's mean per-character probability (0 if ``text`` is empty)."""
    box: tuple[int, int, int, int]
    """(x, y, w, h) of the plate in crop pixels."""
    color: str
    """蓝 / 黄 / 绿 / 白 / 黑 / 其它."""
    box_found: bool
    """Evidence that a plate-shaped box is there (colour or text detector), read or not."""
    source: str
    """Which localiser found the box: ``hsv`` or ``det``."""
    clipped: bool = False
    """The box touches the crop's edge: part of the plate may be outside the picture, so
    its text is dropped (a cut plate reads wrong: ``2`` as ``Z``); still evidence."""
    chars: tuple[int, ...] = ()
    """0-100 per character of ``text``: the recogniser's probability of each. A misread
    character is a weak one (a small night plate's province read 鲁 for 青 at 40-80 while
    the other characters are at 99): the mean hides it, the weakest shows it."""


class LocalPlateReader:
    """Reads mainland Chinese plates in a lane ROI crop, locally (see the module docstring)."""

    def __init__(
        self,
        localiser: Localiser = "hsv+det",
        *,
        models: Path | None = None,
        work_width: int = 640,
        det_side: int = 480,
        min_plate_px: int = 60,
    ) -> None:
        """Load the models now; raise :class:`ReaderError` (one line) if any fails.

        ``models``: folder holding the two ONNX files (default: :func:`model_dir`);
        ``min_plate_px``: the narrowest plate (crop pixels) worth a recognition.
        """
        self.localiser: Localiser = localiser
        self.work_width = work_width
        self.det_side = det_side
        self.min_plate_px = min_plate_px
        folder = models if models is not None else model_dir()
        self._rec = open_session(model_path(folder, REC_MODEL))
        meta = self._rec.get_modelmeta().custom_metadata_map
        if "character" not in meta:
            raise ReaderError(f"local reader: {REC_MODEL} carries no character dictionary")
        self._chars: list[str] = ["", *meta["character"].splitlines(), " "]
        self._provinces = [i for i, ch in enumerate(self._chars) if ch in PROVINCES]
        self._det: ort.InferenceSession | None = None
        if localiser != "hsv":
            self._det = open_session(model_path(folder, DET_MODEL), shrink_arena=False)
        # one warm-up read so the first vehicle does not pay for lazy initialisation
        self.read(np.zeros((64, 256, 3), np.uint8))

    # ------------------------------------------------------------------ public

    def read(self, crop_bgr: BGR, focus: Box | None = None) -> list[LocalPlate]:
        """Plates in ``crop_bgr`` (BGR uint8), best first: valid readings, then by confidence.

        Unreadable but plate-shaped boxes are returned too (``text`` possibly empty,
        ``valid`` False, ``box_found`` True): evidence that a plate is there. ``focus``
        (x, y, w, h in crop pixels): the vehicle's box; boxes centred in it are recognised
        first, so a valid plate elsewhere (a parked car's) does not end the read before the
        vehicle's own (held-out seed 277: a parked blue plate boxed before a green one).
        """
        if crop_bgr.ndim != 3 or crop_bgr.shape[0] < 16 or crop_bgr.shape[1] < 16:
            return []
        # colour boxes first, then edge boxes; a box cut by the crop's edge, whose text is
        # dropped, only once the others gave no valid reading (each costs 15-30 ms)
        boxes = hsv_boxes(crop_bgr, self.work_width, self.min_plate_px)
        h, w = crop_bgr.shape[:2]
        tried: list[tuple[int, LocalPlate]] = []
        for i in sorted(range(len(boxes)), key=lambda i: (
                _cut(boxes[i][0], w, h), focus is not None and not _centred(boxes[i][0], focus))):
            tried.append((i, self._recognise(crop_bgr, boxes[i][0], boxes[i][1] or None, "hsv")))
            if tried[-1][1].valid:  # one valid plate per lane crop is enough: stop early
                break
        found = [p for _, p in sorted(tried, key=lambda ip: ip[0])]
        if found and not any(p.valid for p in found):
            found += self._widened(crop_bgr, found)
        if self._det is not None and not any(p.valid for p in found):
            seen = [p.box for p in found if len(p.text) >= _MIN_CHARS]
            for b in det_boxes(self._det, crop_bgr, self.det_side, self.min_plate_px):
                if any(overlap(b, s) > 0.3 for s in seen):
                    continue
                found.append(self._recognise(crop_bgr, b, None, "det"))
        found = [p for p in found if p.box_found]
        return sorted(found, key=lambda p: (not p.valid, -p.confidence))

    def _widened(self, crop: BGR, found: list[LocalPlate]) -> list[LocalPlate]:
        """A box holding part of a plate, read surely (3-6 characters at >= 80; the rest in a
        shadow, or merged with a car body of its colour: held-out seed 59, 琼B77NA4 read 7NA4
        at 99), widened to a whole plate (:func:`whole_plate_boxes`) and read again: kept when
        valid and holding the part (:func:`holds_part`)."""
        parts = [p for p in found if 3 <= len(p.text) < 7 and p.confidence >= 80]
        part = max(parts, key=lambda p: p.confidence, default=None)
        if part is None:
            return []
        for box in whole_plate_boxes(part.box, len(part.text)):
            plate = self._recognise(crop, box, part.color, part.source)
            if plate.valid and holds_part(plate.text, part.text):
                return [plate]
        return []

    # -------------------------------------------------------------- recognise

    def _recognise(
        self, crop: BGR, box: tuple[int, int, int, int], color: str | None, source: str
    ) -> LocalPlate:
        x, y, w, h = box
        full_h, full_w = crop.shape[:2]
        px, py = round(0.03 * w), round(0.08 * h)
        x0, y0 = max(0, x - px), max(0, y - py)
        x1, y1 = min(full_w, x + w + px), min(full_h, y + h + py)
        strip = crop[y0:y1, x0:x1]
        plate, probs = self._first_province(*self._rec_text(text_rows(strip))) \
            if strip.size else ("", [])
        conf = float(np.mean(probs)) if probs else 0.0
        good = len(plate) >= _MIN_CHARS and conf >= 0.5
        found = good or (source == "hsv" and len(plate) >= 3)
        clipped = _cut(box, full_w, full_h)
        if clipped:
            plate, conf, probs = "", 0.0, []
        seen = color or plate_color(crop, *box)
        return LocalPlate(
            text=plate,
            valid=is_valid(plate) and fits_color(plate, seen),
            confidence=max(0, min(100, round(conf * 100))) if plate else 0,
            box=(x0, y0, x1 - x0, y1 - y0),
            color=seen,
            box_found=found,
            source=source,
            clipped=clipped,
            chars=tuple(max(0, min(100, round(p * 100))) for p in probs) if plate else (),
        )

    @staticmethod
    def _first_province(
        read: list[tuple[str, float]],
        replace: tuple[str, float] | None,
        insert: tuple[str, float] | None = None,
    ) -> tuple[str, list[float]]:
        """The plate's text (confusables fixed: swapped in place, so the probabilities still
        line up) and per-character probabilities. A first character that is no province
        takes a province when that makes the reading a valid plate: the grammar says one
        stands there, the model says which. Two ways: ``replace`` the first character (a
        small or smeared 粤 read as ``4``, 琼 as 球; the likeliest province over its time
        steps) or ``insert`` one before it (the province decoded as blank: ``V1U821`` for
        宁V1U821; the likeliest province over the time steps before the first character).
        When both make a plate the likelier province wins. Its probability stays the
        province's own (often low: a reading that is not sure,
        ``ocr.local.char_min_confidence``)."""
        text, probs = plate_chars(read)
        fixed = fix_confusables(text)
        if is_valid(fixed):
            return fixed, probs
        best: tuple[float, str, list[float]] | None = None
        for alt, tail, grows in ((replace, read[1:], 0), (insert, read, 1)):
            if alt is None:
                continue
            alt_text, alt_probs = plate_chars([alt, *tail])
            alt_fixed = fix_confusables(alt_text)
            # a replacement keeps the length, an insertion adds one (replacing a ``·`` that
            # normalisation drops adds one too: no replacement then)
            if len(alt_text) - len(text) != grows or not is_valid(alt_fixed):
                continue
            if best is None or alt[1] > best[0]:
                best = (alt[1], alt_fixed, alt_probs)
        return (best[1], best[2]) if best else (fixed, probs)

    def _rec_text(
        self, strip: BGR
    ) -> tuple[list[tuple[str, float]], tuple[str, float] | None, tuple[str, float] | None]:
        """CTC greedy decoding of ``strip``: each character read with its probability; and
        when the first one is no province, the likeliest province over its time steps and
        over the time steps before it, each with its probability: the alternatives
        :meth:`_first_province` chooses from."""
        h, w = strip.shape[:2]
        rw = min(_REC_MAX_W, max(16, math.ceil(_REC_H * w / h)))
        img = cv2.resize(strip, (rw, _REC_H), interpolation=cv2.INTER_LINEAR)
        x = (img.astype(np.float32) / 255.0 - 0.5) / 0.5
        x = x.transpose(2, 0, 1)[None]
        out: npt.NDArray[Any] = self._rec.run(None, {self._rec.get_inputs()[0].name: x})[0][0]
        idx = out.argmax(axis=1)
        prob = out.max(axis=1)
        read: list[tuple[str, float]] = []
        span = [0, 0]  # the time steps of the first character's run
        prev = -1
        for t, (i, p) in enumerate(zip(idx.tolist(), prob.tolist(), strict=True)):
            if i not in (prev, 0) and i < len(self._chars):
                read.append((self._chars[i], float(p)))
                span = [t, t] if len(read) == 1 else span
            elif len(read) == 1 and i == prev:
                span[1] = t
            prev = i
        if not read or read[0][0] in PROVINCES or not self._provinces:
            return read, None, None
        provinces = out[:, self._provinces]
        return (read, self._likeliest(provinces[max(0, span[0] - 1): span[1] + 2]),
                self._likeliest(provinces[: span[0]]))

    def _likeliest(self, steps: npt.NDArray[Any]) -> tuple[str, float] | None:
        """The province likeliest at any of ``steps`` (time steps x provinces), with its
        probability; None for no steps."""
        if not steps.size:
            return None
        best = np.unravel_index(int(steps.argmax()), steps.shape)[1]
        return self._chars[self._provinces[best]], float(steps.max())


def _centred(box: Box, focus: Box) -> bool:
    """The centre of ``box`` lies in ``focus``."""
    cx, cy = box[0] + box[2] / 2, box[1] + box[3] / 2
    return focus[0] <= cx <= focus[0] + focus[2] and focus[1] <= cy <= focus[1] + focus[3]


def _cut(box: Box, width: int, height: int) -> bool:
    """``box`` touches the edge of a ``width`` x ``height`` crop (:data:`_EDGE_PX`)."""
    x, y, w, h = box
    return x <= _EDGE_PX or y <= _EDGE_PX or x + w >= width - _EDGE_PX \
        or y + h >= height - _EDGE_PX


def plate_chars(read: list[tuple[str, float]]) -> tuple[str, list[float]]:
    """The recogniser's characters normalised as a plate (``daemon.plates.normalize``,
    letters and digits only), each keeping its probability: the plate's text and one
    probability per character of it."""
    text: list[str] = []
    probs: list[float] = []
    for ch, p in read:
        for n in normalize(ch):
            if n.isalnum():
                text.append(n)
                probs.append(p)
    return "".join(text), probs

