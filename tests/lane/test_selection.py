"""Frame scoring and the per-passage send policy."""

from __future__ import annotations

import sys
from datetime import UTC, datetime, timedelta

import cv2
import numpy as np
import pytest

from daemon.config.models import PassageConfig
from daemon.domain import Frame, Image, Rect
from daemon.lane.selection import SendPolicy, roi_bounds, score_frame, sharpness

T0 = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)
ROI = Rect(0, 0, 640, 360)


def textured(seed: int = 3) -> Image:
    rng = np.random.default_rng(seed)
    img = np.full((360, 640, 3), 120, np.uint8)
    for _ in range(60):  # hard-edged rectangles: lots of Laplacian energy
        x, y = int(rng.integers(0, 600)), int(rng.integers(0, 330))
        cv2.rectangle(
            img, (x, y), (x + 30, y + 20), tuple(int(v) for v in rng.integers(0, 255, 3)), -1
        )
    return img


def frame(pts: float, seq: int | None = None, image: Image | None = None) -> Frame:
    img = image if image is not None else np.zeros((360, 640, 3), np.uint8)
    return Frame(
        "cam", seq if seq is not None else round(pts * 10), pts, T0 + timedelta(seconds=pts), img
    )


def test_sharper_frame_scores_higher() -> None:
    sharp = textured()
    blurred = cv2.GaussianBlur(sharp, (0, 0), 3)
    box = Rect(100, 100, 400, 200)
    assert sharpness(sharp, box) > 3 * sharpness(blurred, box)
    assert score_frame(sharp, box, ROI).total > score_frame(blurred, box, ROI).total


def test_sharpness_looks_at_the_moving_region_only() -> None:
    img = np.full((1080, 1920, 3), 100, np.uint8)
    img[:, 960:] = cv2.resize(textured(), (960, 1080), interpolation=cv2.INTER_NEAREST)
    flat = Rect(0, 0, 900, 1080)
    assert sharpness(img, flat) == 0.0
    assert sharpness(img, Rect(940, 0, 980, 1080)) > 0.0


def test_bigger_lower_steadier_scores_higher() -> None:
    img = textured()
    small_high = score_frame(img, Rect(200, 20, 100, 60), ROI)
    big_low = score_frame(img, Rect(150, 150, 300, 200), ROI)
    assert big_low.size > small_high.size
    assert big_low.position > small_high.position
    assert big_low.total > small_high.total
    box = Rect(150, 150, 300, 200)
    steady = score_frame(img, box, ROI, prev_bbox=Rect(150, 145, 300, 200))
    jumpy = score_frame(img, box, ROI, prev_bbox=Rect(150, 60, 300, 200))
    assert jumpy.motion > steady.motion
    assert steady.total > jumpy.total


def test_roi_bounds_with_margin() -> None:
    roi = [(0.25, 0.5), (0.75, 0.5), (0.75, 1.0), (0.25, 1.0)]
    assert roi_bounds(roi, 1920, 1080) == Rect(480, 540, 960, 540)
    grown = roi_bounds(roi, 1920, 1080, margin=0.05)
    assert grown == Rect(432, 513, 1056, 567)  # clamped at the bottom edge


def _cfg(**kw: float) -> PassageConfig:
    cfg = {"max_calls": 3, "settle_s": 0.6, "in_view_bottom": 0.7, **kw}
    return PassageConfig.model_validate(cfg)


def test_policy_sends_best_frame_once_in_view_and_not_again_in_flight() -> None:
    pol = SendPolicy(_cfg(), ROI, started_pts=0.0)
    high = Rect(200, 10, 200, 100)  # top of the lane: not yet in view
    assert pol.offer(frame(0.0), 0.2, high, 0.0) is None
    assert pol.offer(frame(0.1), 0.5, high, 0.1) is None
    assert pol.offer(frame(0.2), 0.3, high, 0.2) is None
    low = Rect(200, 150, 200, 150)  # bottom at 300 of 360: in view
    chosen = pol.offer(frame(0.3), 0.4, low, 0.3)
    assert chosen is not None
    assert chosen[0].pts == 0.1  # the best frame so far, not the latest
    assert chosen[1] == 0.5
    assert pol.attempts == 1
    assert pol.in_flight
    for i in range(4, 20):
        assert pol.offer(frame(i / 10), 0.9, low, i / 10) is None  # never while in flight


def test_policy_sends_after_settle_even_if_not_in_view() -> None:
    pol = SendPolicy(_cfg(settle_s=0.5), ROI, started_pts=10.0)
    high = Rect(200, 10, 100, 50)
    assert pol.offer(frame(10.0), 0.2, high, 10.0) is None
    assert pol.offer(frame(10.4), 0.1, high, 10.4) is None
    chosen = pol.offer(frame(10.5), 0.1, high, 10.5)
    assert chosen is not None
    assert chosen[0].pts == 10.0


def test_policy_resends_newer_frame_after_failed_read_up_to_max_calls() -> None:
    pol = SendPolicy(_cfg(max_calls=2), ROI, started_pts=0.0)
    low = Rect(200, 150, 200, 150)
    first = pol.offer(frame(0.0), 0.9, low, 0.0)
    assert first is not None
    pol.offer(frame(0.1), 0.99, low, 0.1)  # better, but a call is in flight
    pol.on_read(trusted=False)  # no plate / low confidence / invalid
    second = pol.offer(frame(0.2), 0.3, low, 0.2)
    assert second is not None
    assert second[0].pts == 0.1  # the best newer frame
    assert pol.attempts == 2
    pol.on_read(trusted=False)
    assert pol.done
    for i in range(3, 30):
        assert pol.offer(frame(i / 10), 1.0, low, i / 10) is None


def test_policy_never_resends_an_old_frame() -> None:
    pol = SendPolicy(_cfg(), ROI, started_pts=0.0)
    low = Rect(200, 150, 200, 150)
    assert pol.offer(frame(1.0), 0.9, low, 1.0) is not None
    pol.on_read(trusted=False)
    # an older frame arriving late is not a candidate
    assert pol.offer(frame(0.5), 1.0, low, 1.3) is None
    chosen = pol.offer(frame(1.3), 0.2, low, 1.3)
    assert chosen is None  # newer but worse than the failed frame: wait ...
    chosen = pol.offer(frame(1.6), 0.2, low, 1.6)
    assert chosen is not None  # ... until settle_s (0.6) passed since the failed one
    assert chosen[0].pts == 1.3


def test_policy_resends_clearly_better_frame_early() -> None:
    pol = SendPolicy(_cfg(settle_s=0.6), ROI, started_pts=0.0)
    low = Rect(200, 150, 200, 150)
    assert pol.offer(frame(1.0), 0.5, low, 1.0) is not None
    pol.on_read(trusted=False)
    assert pol.offer(frame(1.1), 0.9, low, 1.1) is None  # better, but RESEND_GAP_S not yet
    chosen = pol.offer(frame(1.25), 0.6, low, 1.25)
    assert chosen is not None
    assert chosen[0].pts == 1.1


def test_in_view_once_the_box_stops_growing_in_the_lower_half() -> None:
    pol = SendPolicy(_cfg(settle_s=5.0), ROI, started_pts=0.0)
    top = Rect(200, 0, 200, 100)  # constant, but at the top edge: entering, not stopped
    assert all(pol.offer(frame(i / 10), 0.5, top, i / 10) is None for i in range(10))
    pol2 = SendPolicy(_cfg(settle_s=5.0), ROI, started_pts=0.0)
    mid = Rect(200, 100, 200, 120)  # bottom at 220 of 360: lower half, below IN_VIEW_BOTTOM
    sent = [pol2.offer(frame(i / 10), 0.5, mid, i / 10) for i in range(10)]
    assert sent[:4] == [None] * 4
    assert sent[4] is not None  # 0.4 s without growth


def test_policy_stops_after_trusted_read() -> None:
    pol = SendPolicy(_cfg(), ROI, started_pts=0.0)
    low = Rect(200, 150, 200, 150)
    assert pol.offer(frame(0.0), 0.9, low, 0.0) is not None
    pol.on_read(trusted=True)
    assert pol.done
    assert all(pol.offer(frame(i / 10), 1.0, low, i / 10) is None for i in range(1, 30))
    assert pol.attempts == 1


def test_policy_drops_a_best_frame_that_got_too_old() -> None:
    pol = SendPolicy(_cfg(settle_s=5.0, candidate_max_age_s=1.0), ROI, started_pts=0.0)
    high = Rect(200, 10, 100, 50)
    pol.offer(frame(0.0), 0.9, high, 0.0)
    for i in range(1, 50):
        pol.offer(frame(i / 10), 0.1, high, i / 10)
    chosen = pol.offer(frame(5.0), 0.1, high, 5.0)
    assert chosen is not None
    assert 5.0 - chosen[0].pts <= 1.0


def test_video_range_grey_scores_like_bgr() -> None:
    """Scoring runs on the luma plane (16-235): stretched, its sharpness matches BGR's."""
    img = textured()
    luma = np.round(16 + cv2.cvtColor(img, cv2.COLOR_BGR2GRAY) * (219 / 255)).astype(np.uint8)
    box = Rect(100, 100, 400, 200)
    on_bgr = sharpness(img, box)
    assert sharpness(luma, box, limited_range=True) == pytest.approx(on_bgr, rel=0.05)
    assert sharpness(luma, box) < 0.8 * on_bgr  # unstretched it would look blurrier
    a = score_frame(img, box, ROI)
    b = score_frame(luma, box, ROI, limited_range=True)
    assert b.total == pytest.approx(a.total, abs=0.01)


def test_policy_lets_go_of_its_best_frame_once_a_read_is_trusted() -> None:
    """A remembered frame pins a decoder buffer (~3 MB at 1080p): no longer needed, not held."""
    pol = SendPolicy(_cfg(), ROI, started_pts=0.0)
    low = Rect(200, 150, 200, 150)
    assert pol.offer(frame(0.0), 0.5, low, 0.0) is not None  # in flight now
    later = frame(0.1)
    before = sys.getrefcount(later)
    assert pol.offer(later, 0.9, low, 0.1) is None  # remembered while the call is in flight
    assert sys.getrefcount(later) > before
    pol.on_read(trusted=True)
    assert sys.getrefcount(later) == before
