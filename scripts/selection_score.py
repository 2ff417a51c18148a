"""Scoring of bench_selection runs against a clip's ground truth: per-run figures, totals, tables.

Pure functions over the ground-truth JSON the clip generator writes beside each clip
(``vehicles`` with ``plate``, ``parked``, ``first_legible_frame``; ``fps``), the plates of
the passages a run published, and the OCR calls it made (:class:`Call`).
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from typing import Any

from daemon.domain import Rect


@dataclass
class Call:
    """One candidate handed to the OCR pool."""

    seq: int
    decided_pts: float
    roi_box: Rect | None
    answer: str | None = None



def score_run(
    truth: dict[str, Any],
    passages: list[tuple[str | None, int]],
    calls: list[Call],
    decided: list[tuple[str | None, float]] | None = None,
    local_ms: float | None = None,
) -> dict[str, Any]:
    """Figures of one run against the ground truth; ``decided``: (plate, stream time the
    passage was decided), ``local_ms``: the local reader's median ms per crop in the run."""
    fps = truth["fps"]
    moving = [v for v in truth["vehicles"] if not v["parked"]]
    legible = [v for v in moving if v["first_legible_frame"] is not None]
    plates = [p for p, _ in passages]
    hits, delays, missed = 0, [], []
    for v in legible:
        if v["plate"] not in plates:
            missed.append(v["plate"])
        else:
            hits += 1
            first = next((c for c in calls if c.answer == v["plate"]), None)
            if first is not None:
                delays.append(1000 * (first.decided_pts - v["first_legible_frame"] / fps))
    expected = {v["plate"] for v in moving if v["plate"] is not None}
    bare = sum(1 for v in moving if v["plate"] is None and v.get("expect_passage", True))
    # plateless passages: one per plateless vehicle is right, any more is false
    false = sum(1 for p in plates if p is not None and p not in expected)
    false += max(0, plates.count(None) - bare)
    decide_ms = []
    for plate, at in decided or []:
        v = next((v for v in legible if v["plate"] == plate), None)
        if v is not None:
            decide_ms.append(1000 * (at - v["first_legible_frame"] / fps))
    dups = sum(
        max(0, plates.count(p) - sum(1 for v in moving if v["plate"] == p))
        for p in set(plates)
        if p in expected
    )
    return {
        "vehicles": len(moving),
        "legible": len(legible),
        "hits": hits,
        "calls": len(calls),
        "passages": len(passages),
        "false": false,
        "duplicates": dups,
        "delays": delays,
        "missed": missed,
        "plates": plates,
        "answers": [c.answer for c in calls],
        "read_plates": sum(1 for p in plates if p),
        "right_plates": sum(1 for p in plates if p and p in expected),
        "decide_ms": decide_ms,
        "local_ms": local_ms,
        "plateless": bare,
        "plateless_hits": min(bare, plates.count(None)),
    }


def totals(rows: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The issue's totals over a set of scenario rows."""
    veh = sum(r["vehicles"] for r in rows.values())
    leg = sum(r["legible"] for r in rows.values())
    delays = [d for r in rows.values() for d in r["delays"]]
    decide = [d for r in rows.values() for d in r.get("decide_ms", [])]
    local = [r["local_ms"] for r in rows.values() if r.get("local_ms") is not None]
    return {
        "calls_per_vehicle": round(sum(r["calls"] for r in rows.values()) / max(1, veh), 3),
        "recall": round(sum(r["hits"] for r in rows.values()) / max(1, leg), 4),
        "false_passages": sum(r["false"] for r in rows.values()),
        "duplicates": sum(r["duplicates"] for r in rows.values()),
        "send_delay_median_ms": round(statistics.median(delays)) if delays else None,
        "calls": sum(r["calls"] for r in rows.values()),
        "vehicles": veh,
        "plate_accuracy": round(
            sum(r.get("right_plates", 0) for r in rows.values())
            / max(1, sum(r.get("read_plates", 0) for r in rows.values())), 4),
        "legible_to_decided_median_ms": round(statistics.median(decide)) if decide else None,
        "local_reader_ms_median": round(statistics.median(local), 1) if local else None,
        "plateless_vehicles": sum(r.get("plateless", 0) for r in rows.values()),
        "plateless_published": sum(r.get("plateless_hits", 0) for r in rows.values()),
    }


def print_table(title: str, rows: dict[str, dict[str, Any]]) -> None:
    """One row per scenario, then the total."""
    print(f"\n{title}")
    print(
        f"{'scenario':<14}{'veh':>4}{'legible':>8}{'calls':>6}{'calls/veh':>10}{'read':>5}"
        f"{'passages':>9}{'false':>6}{'dup':>4}{'delay ms':>10}"
    )
    for name, r in rows.items():
        d = f"{statistics.median(r['delays']):.0f}" if r["delays"] else "-"
        cpv = f"{r['calls'] / r['vehicles']:.2f}" if r["vehicles"] else f"({r['calls']})"
        print(
            f"{name:<14}{r['vehicles']:>4}{r['legible']:>8}{r['calls']:>6}{cpv:>10}"
            f"{r['hits']:>5}{r['passages']:>9}{r['false']:>6}{r['duplicates']:>4}{d:>10}"
        )
    t = totals(rows)
    print(
        f"{'TOTAL':<14}{t['vehicles']:>4}{'':>8}{t['calls']:>6}{t['calls_per_vehicle']:>10.2f}"
        f"{'':>5}{'':>9}{t['false_passages']:>6}{t['duplicates']:>4}"
        f"{t['send_delay_median_ms'] if t['send_delay_median_ms'] is not None else '-':>10}"
        f"   recall {t['recall']:.3f}, plateless {t['plateless_published']}/"
        f"{t['plateless_vehicles']}"
    )


def print_heldout(
    seeds: list[int], rows: dict[str, dict[str, Any]], reader: str, *, arm: bool = False
) -> None:
    """The held-out table, what each clip drew, and the reads behind every miss or false one
    (``arm``: the clips have a boom barrier, ``clipgen/barrier.py``)."""
    from clipgen.barrier import with_arm
    from clipgen.heldout import describe, heldout_scenario

    span = f"seeds {seeds[0]}..{seeds[-1]}"
    print_table(f"gatecam on {len(seeds)} held-out clips ({span}, reader: {reader})", rows)
    for seed in seeds:
        scn = heldout_scenario(seed)
        print(f"  {describe(with_arm(scn, seed) if arm else scn)}")
    for name, r in rows.items():
        if r["missed"] or r["false"] or r["duplicates"]:
            print(
                f"  {name}: missed {r['missed']}, passages {r['plates']}, "
                f"call answers {r['answers']}"
            )
