"""daemon.ocr.prepare on its own: crop, shrink, the base64 size cap, re-encode, rect mapping."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from daemon.domain import Rect
from daemon.ocr.prepare import (
    MIN_QUALITY,
    MIN_WIDTH,
    base64_size,
    map_rect,
    prepare,
    smaller,
)


def _decode(jpeg: bytes) -> np.ndarray:
    img = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    assert img is not None
    return img


def _noise(h: int, w: int) -> np.ndarray:
    return np.random.default_rng(7).integers(0, 256, (h, w, 3), np.uint8)


def test_base64_size() -> None:
    assert [base64_size(n) for n in (0, 1, 2, 3, 4, 7 * 3)] == [0, 4, 4, 4, 8, 28]


def test_roi_is_clamped_to_the_frame_and_kept_at_full_resolution() -> None:
    prep = prepare(np.zeros((720, 1280, 3), np.uint8), Rect(1000, 600, 500, 300), 1920, 85)
    assert (prep.x0, prep.y0, prep.scale, prep.sent_width) == (1000, 600, 1.0, 280)
    assert _decode(prep.jpeg).shape[:2] == (120, 280)
    assert (prep.frame_width, prep.frame_height) == (1280, 720)


def test_degenerate_roi_sends_the_whole_frame() -> None:
    prep = prepare(np.zeros((360, 640, 3), np.uint8), Rect(10, 10, 8, 200), 1920, 85)
    assert (prep.x0, prep.y0, prep.sent_width) == (0, 0, 640)


def test_wide_crop_is_shrunk_keeping_aspect() -> None:
    prep = prepare(np.zeros((1080, 1920, 3), np.uint8), None, 960, 85)
    assert prep.scale == pytest.approx(0.5)
    assert _decode(prep.jpeg).shape[:2] == (540, 960)


def test_size_cap_lowers_quality_then_width() -> None:
    img = _noise(720, 1280)  # noise barely compresses: the cap must bite
    low = prepare(img, None, 1280, MIN_QUALITY)
    cap = base64_size(len(low.jpeg)) // 2
    prep = prepare(img, None, 1280, 95, max_base64=cap)
    assert base64_size(len(prep.jpeg)) <= cap
    assert MIN_WIDTH <= prep.sent_width < 1280  # quality alone was not enough
    with pytest.raises(ValueError, match="size limit"):
        prepare(img, None, 1280, 95, max_base64=1000)


def test_quality_drop_alone_when_it_suffices() -> None:
    img = _noise(240, 400)
    full = prepare(img, None, 1920, 95)
    low = prepare(img, None, 1920, MIN_QUALITY)
    cap = (base64_size(len(full.jpeg)) + base64_size(len(low.jpeg))) // 2
    prep = prepare(img, None, 1920, 95, max_base64=cap)
    assert prep.sent_width == 400 and base64_size(len(prep.jpeg)) <= cap


def test_smaller_is_sixty_percent_wide_and_never_below_the_minimum() -> None:
    img = np.zeros((1080, 1920, 3), np.uint8)
    first = prepare(img, None, 1920, 90)
    again = smaller(img, None, first, 1920, 90)
    assert again.sent_width == 1152
    tiny = prepare(np.zeros((300, 400, 3), np.uint8), None, 1920, 90)
    assert smaller(np.zeros((300, 400, 3), np.uint8), None, tiny, 1920, 90).sent_width == MIN_WIDTH


def test_map_rect_back_to_the_frame_and_clamped() -> None:
    prep = prepare(np.zeros((1080, 1920, 3), np.uint8), Rect(960, 540, 960, 540), 480, 85)
    assert prep.scale == pytest.approx(0.5)
    assert map_rect(Rect(10, 20, 30, 40), prep) == Rect(980, 580, 60, 80)
    assert map_rect(Rect(470, 260, 500, 500), prep) == Rect(1900, 1060, 20, 20)
    assert map_rect(Rect(-50, -50, 10, 10), prep).x >= 0


def test_an_empty_image_is_a_clear_value_error() -> None:
    """Was a ZeroDivisionError from deep inside the scaling arithmetic."""
    for shape in ((0, 0, 3), (0, 640, 3), (360, 0, 3)):
        with pytest.raises(ValueError, match="empty image"):
            prepare(np.zeros(shape, np.uint8), None, 1920, 85)
