"""Tests for daemon.lane.bounds: changed pixels against a reference, with shake tolerance."""

from __future__ import annotations

import numpy as np

from daemon.lane.bounds import DARK_FLOOR, DARK_REF, FIT_EVERY, Bounds, Threshold, scaled_threshold

SH, SW = 20, 30


def _margin(threshold: int = 10) -> np.ndarray:
    """Threshold inside an ROI (rows 5 and below), 255 outside."""
    margin = np.full((SH, SW), 255, np.uint8)
    margin[5:] = threshold
    return margin


def _changed(bounds: Bounds, grey: np.ndarray) -> np.ndarray:
    unchanged = np.empty((SH, SW), np.uint8)
    out = np.empty((SH, SW), np.uint8)
    changed = bounds.changed(grey, unchanged, out)
    assert changed is out
    assert np.array_equal(unchanged, 255 - out)
    return out


def test_bounds_are_the_3x3_min_and_max_widened_by_the_margin() -> None:
    rng = np.random.default_rng(3)
    ref = rng.integers(30, 200, (SH, SW)).astype(np.float32)
    bounds = Bounds(_margin())
    bounds.update(ref)
    padded = np.pad(ref.astype(np.int32), 1, mode="edge")
    windows = np.lib.stride_tricks.sliding_window_view(padded, (3, 3))
    lo = np.clip(windows.min(axis=(2, 3)) - 10, 0, 255)
    hi = np.clip(windows.max(axis=(2, 3)) + 10, 0, 255)
    assert np.array_equal(bounds.lo[5:], lo[5:])
    assert np.array_equal(bounds.hi[5:], hi[5:])
    assert not bounds.lo[:5].any() and (bounds.hi[:5] == 255).all()


def test_a_one_pixel_shake_changes_nothing_a_real_change_does() -> None:
    ref = np.zeros((SH, SW), np.uint8)
    ref[:, ::6] = 200  # stripes: a shift of one pixel moves every edge
    bounds = Bounds(_margin())
    bounds.update(ref.astype(np.float32))
    assert not _changed(bounds, np.roll(ref, 1, axis=1)).any()
    grey = ref.copy()
    grey[10:14, 2:4] = 120  # between the stripes, far above the threshold
    changed = _changed(bounds, grey)
    assert changed[10:14, 2:4].all() and np.count_nonzero(changed) == 8


def test_pixels_outside_the_roi_never_change() -> None:
    bounds = Bounds(_margin())
    bounds.update(np.full((SH, SW), 100, np.float32))
    grey = np.full((SH, SW), 100, np.uint8)
    grey[:5] = 255
    grey[0] = 0
    assert not _changed(bounds, grey).any()


def test_update_follows_a_new_reference_in_place() -> None:
    bounds = Bounds(_margin())
    lo, hi = bounds.lo, bounds.hi
    bounds.update(np.full((SH, SW), 50, np.float32))
    grey = np.full((SH, SW), 150, np.uint8)
    assert _changed(bounds, grey)[5:].all()
    bounds.update(np.full((SH, SW), 150, np.float32))
    assert bounds.lo is lo and bounds.hi is hi
    assert not _changed(bounds, grey).any()


def test_the_threshold_falls_with_the_light_below_the_reference_down_to_the_floor() -> None:
    assert scaled_threshold(25, 200.0) == 25
    assert scaled_threshold(25, DARK_REF) == 25
    assert scaled_threshold(25, 36.0) == 15
    assert scaled_threshold(25, 10.0) == DARK_FLOOR
    assert scaled_threshold(8, 10.0) == 8  # a threshold set below the floor stays as set


def test_a_fitted_threshold_widens_or_narrows_its_users_bounds() -> None:
    mask = np.zeros((SH, SW), np.uint8)
    mask[5:] = 255
    threshold = Threshold(mask, 25)
    bounds = Bounds(threshold.margin)
    threshold.users.append(bounds)
    ref = np.full((SH, SW), 30.0, np.float32)
    grey = np.full((SH, SW), 45, np.uint8)  # 15 levels above a dark reference
    bounds.update(ref)
    assert not _changed(bounds, grey).any()  # threshold 25 as configured, before a fit
    assert threshold.fit(ref) and threshold.value == 12 and threshold.half[0, 0] == 6
    bounds.update(ref)
    assert (_changed(bounds, grey)[5:] == 255).all() and not _changed(bounds, grey)[:5].any()
    assert not threshold.fit(ref)  # the same light: no change
    lit = np.full((SH, SW), 120.0, np.float32)
    for _ in range(FIT_EVERY - 1):
        threshold.follow(lit)
    assert threshold.value == 12  # fitted every FIT_EVERY frames only
    threshold.follow(lit)
    assert threshold.value == 25
    bounds.update(lit)
    assert not _changed(bounds, np.full((SH, SW), 135, np.uint8)).any()
