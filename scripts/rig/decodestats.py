"""Figures of the decode benches' runs (``scripts/bench_decode.py``, ``bench_dual.py``).

Pure computation on the runs' JSON (each run one child process of the daemon): wake delays
from the clip's motion onsets, lag windows to ``frames_behind`` figures, and the summary per
camera count and GOP (the benches' last line).
"""

from __future__ import annotations

import os
import statistics
from collections.abc import Callable
from typing import Any

FPS = 25
LAG_WINDOW_S = 0.2  # lag is sampled as the worst of each window this long
EARLY_S = 3.0  # a wake this long before a motion onset may still be the one that covers it


def wake_delays_ms(wakes: list[list[Any]], onsets: list[float]) -> list[float]:
    """Per wake-up: the first motion after the key frame it rewound to -> the first full-rate
    frame delivered (ms; negative: capture woke before the lane could see the motion).

    A paced packet of clip time ``x`` arrives at ``woke - (at_t - x)``."""
    out: list[float] = []
    for per_cam in wakes:
        for key_t, at_t, woke, first in per_cam:
            if at_t is None or key_t is None:
                continue
            onset = min((o for o in onsets if o > key_t), default=None)
            if onset is not None and onset - key_t < 5.0:
                out.append(1000 * (first - woke + at_t - onset))
    return out


def dual_wake_delays_ms(wakes: list[list[Any]], onsets: list[float], epoch: float,
                        period: float) -> list[float]:
    """With a detect stream, per camera's first wake-up that covers a motion onset: the onset
    -> the first main-stream frame decoded (ms; negative: the main decoder woke on the first
    change, before the lane's detector saw motion). Wakes are Unix times (woke, first decoded,
    caught up, decoding stopped); the servers play the clip as if looped since Unix time
    ``epoch``, so the clip was at ``(woke - epoch) % period`` when the main stream woke, and
    the onset came that much earlier. A wake counts for an onset up to ``EARLY_S`` before it
    if the main stream was still decoding at the onset."""
    out: list[float] = []
    for per_cam in wakes:
        seen: set[float] = set()
        for woke, first, _, slept, *_ in per_cam:
            at = (woke - epoch) % period
            before = [o for o in onsets + [o - period for o in onsets]
                      if -EARLY_S <= at - o < 5.0 and (at - o >= -0.5 or slept > woke + o - at)]
            past = [o for o in before if at - o >= -0.5]
            onset = max(past) if past else min(before, default=None)
            if onset is None or onset % period in seen:
                continue  # no motion near, or a second wake-up of the same car
            seen.add(onset % period)
            out.append(1000 * (first - woke + at - onset))
    return out


def lag_stats(runs: list[dict[str, Any]], cams: list[int] | None, catchup_s: float,
              ) -> dict[str, float]:
    """``frames_behind`` over the lag windows of ``cams`` (all: None) in ``runs`` (frames):
    the largest, the 99th percentile, and the largest outside / inside the ``catchup_s``
    after a wake-up of the camera (its rewound GOPs are decoded at once: the price of waking,
    measured by ``wake_delay_ms``), and the run-queue wait per CPU second (the machine)."""
    steady, woken, every = [0.0], [0.0], []
    for r in runs:
        for i, windows in enumerate(r["lag_windows"]):
            if cams is not None and i not in cams:
                continue
            for lag, end in zip(windows, r["window_ends"], strict=True):
                after = any(0 <= end - w <= catchup_s + LAG_WINDOW_S for w in r["woke_at"][i])
                (woken if after else steady).append(lag * FPS)
                every.append(lag * FPS)
    every.sort()
    return {"frames_behind_max": round(every[-1], 1),
            "frames_behind_p99": round(every[int(0.99 * (len(every) - 1))], 1),
            "frames_behind_max_steady": round(max(steady), 1),
            "frames_behind_max_after_wake": round(max(woken), 1),
            "runqueue_wait_per_cpu_s": round(statistics.median(
                r["runqueue_wait_per_cpu_s"] for r in runs), 2)}


def summarise(runs: dict[tuple[int, int, str, str], list[dict[str, Any]]], counts: list[int],
              gops: list[int], delays: Callable[[list[list[Any]], int], list[float]],
              setting: dict[str, Any], *, idle_mode: str = "keyframes") -> dict[str, Any]:
    """Medians per camera count and GOP; ratios within each round, then their median.
    ``delays(run["wakes"], gop)``: the wake delays (ms) of a run in ``idle_mode``."""

    def ratio(n: int, g: int, kind: str) -> float | None:
        if (n, g, kind, "off") not in runs:
            return None
        pairs = zip(runs[(n, g, kind, idle_mode)], runs[(n, g, kind, "off")], strict=True)
        return round(float(statistics.median(a["cpu_pct"] / b["cpu_pct"] for a, b in pairs)), 3)

    out: dict[str, Any] = {"load_avg_1m": round(os.getloadavg()[0], 2), "setting": setting}
    for n in counts:
        for g in gops:
            row: dict[str, Any] = {}
            keyf = [r for (rn, rg, k, m), rs in runs.items()
                    if rn == n and rg == g and m == idle_mode and k != "mixed" for r in rs]
            full = [r for (rn, rg, _, m), rs in runs.items()
                    if rn == n and rg == g and m == "off" for r in rs]
            if keyf and full:
                wake_ms = [d for r in keyf for d in delays(r["wakes"], g)]
                row = {
                    "cpu_ratio_vs_full_decode": {"idle": ratio(n, g, "empty"),
                                                 "busy": ratio(n, g, "traffic")},
                    "cpu_pct_full_per_camera": round(statistics.median(
                        r["cpu_pct"] for r in runs[(n, g, "empty", "off")]) / n, 1),
                    "rss_mb": round(max(r["rss_mb"] for r in keyf + full), 1),
                    **lag_stats(keyf, None, 2.0 * g),
                    "frames_behind_max_full_decode": lag_stats(full, None, 2.0 * g)[
                        "frames_behind_max"],
                    "wake_delay_ms": {"median": round(statistics.median(wake_ms)) if wake_ms
                                      else None, "max": round(max(wake_ms)) if wake_ms else None,
                                      "wakes": len(wake_ms)},
                    "lane_dropped_max": max(max(r["lane_dropped"]) for r in keyf + full),
                }
            mixed = runs.get((n, g, "mixed", idle_mode))
            if mixed:
                row[f"mixed_{n - 1}_idle_1_busy"] = {
                    "cpu_pct": round(statistics.median(r["cpu_pct"] for r in mixed), 1),
                    "rss_mb": round(max(r["rss_mb"] for r in mixed), 1),
                    **lag_stats(mixed, None, 2.0 * g),
                    "frames_behind_max_idle_cameras": lag_stats(
                        mixed, list(range(n - 1)), 2.0 * g)["frames_behind_max"],
                    "thread_cpu_s": mixed[-1]["thread_cpu_s"],
                    "smaps_rollup_mb": mixed[-1]["smaps_rollup_mb"],
                    "threads": mixed[-1]["threads"],
                }
            out[f"cameras_{n}_gop_{g}s"] = row
    return out


