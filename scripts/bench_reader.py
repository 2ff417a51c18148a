"""Bench of the local reader's decisions: per-frame readings of the held-out clips against
their ground truth, and the final reading each vehicle gets from the plate gate.

For every vehicle of ``--heldout N`` clips (``scripts/clipgen/heldout.py``, the same clips
as ``bench_selection.py --heldout``), every ``--step``-th frame from its plate's first
appearance to its last legible frame is read by ``LocalPlateReader`` on the lane crop
(the lower 3/4 of the frame, as the bench's ROI) and fed to a ``PlateGate`` in ``local``
mode, as the lane does (no motion, no tracker: the reader and the decision rule alone). A
valid reading of another vehicle's plate in the same clip (a parked car) is left out, as
the lane's vehicle-box rule does. A vehicle whose plate is legible only above the crop
(the ROI) is not counted, nor are its legible frames there. Each vehicle ends *final
right*, *final wrong*, *undecided* or *unread* (no valid reading); an undecided one is
scored by the reading it closes with (``local`` mode, offline). Run three times in one go:
as configured; without the fused-characters check (``fused_share`` 0, the rule before
it); and with ``char_min_confidence`` 0 too (every valid reading counts, the rule before
both: the baseline).

Prints per-frame counts (valid readings, wrong ones among sure and unsure readings) and a
row per rule; the last line is one JSON object.

    .venv/bin/python scripts/bench_reader.py [--heldout 12] [--heldout-from 13] [--step 2]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import Any

import av

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench_selection import HELDOUT, ensure_clips

from daemon import plates
from daemon.config.models import LocalReaderConfig, PassageConfig
from daemon.domain import PlateRead
from daemon.lane.plategate import GateSettings, PlateGate
from daemon.lane.sureness import weakest
from daemon.ocr.local import LocalPlateReader

ROI_TOP = 0.25
"""The lane crop: the frame below this share of its height (bench_selection's ROI)."""

Reading = tuple[int, str, PlateRead]
"""(clip seed, the vehicle's true plate, the reader's best plate as a PlateRead)."""


def read_clip(
    reader: LocalPlateReader, mp4: Path, step: int
) -> tuple[list[Reading], list[tuple[int, str]]]:
    """The reader's best valid plate in every ``step``-th frame where a vehicle's plate is
    in view, up to its last legible frame; and every (seed, plate) legible in the clip."""
    truth = json.loads(mp4.with_suffix(".json").read_text())
    want: dict[int, str] = {}
    top = ROI_TOP * truth["height"]
    for v in truth["vehicles"]:
        if v.get("plate") and v.get("first_legible_frame") is not None:
            outside = {f for f, _x, y, _w, _h in v["plate_rects"] if y < top}  # above the crop
            first = v.get("first_plate_frame") or v["first_legible_frame"]
            frames = range(first, v["last_legible_frame"] + 1, step)
            if len(outside) < len(v["plate_rects"]):  # legible inside the crop at some time
                want.update({f: v["plate"] for f in frames if f not in outside})
    others = {v["plate"] for v in truth["vehicles"] if v.get("plate")}
    out: list[Reading] = []
    with av.open(str(mp4)) as container:
        for i, frame in enumerate(container.decode(video=0)):
            if i not in want:
                continue
            img = frame.to_ndarray(format="bgr24")
            found = reader.read(img[int(ROI_TOP * img.shape[0]):])
            best = found[0] if found else None
            plate = plates.clean(best.text) if best and best.valid else None
            if best is None or plate is None or (plate != want[i] and plate in others):
                continue
            read = PlateRead(camera_id="bench", passage_id=str(truth["seed"]), frame_seq=i,
                             ok=True, plate=plate, confidence=best.confidence, called=False,
                             provider="local", box_found=True, chars=best.chars)
            out.append((truth["seed"], want[i], read))
    return out, [(truth["seed"], p) for p in sorted(set(want.values()))]


def decide(
    readings: list[Reading], vehicles: list[tuple[int, str]], settings: GateSettings
) -> dict[str, Any]:
    """Each vehicle's outcome under ``settings`` (the gate in ``local`` mode); a vehicle
    with no valid reading at all is ``unread``."""
    by_vehicle: dict[tuple[int, str], list[PlateRead]] = {v: [] for v in vehicles}
    for seed, true, read in readings:
        by_vehicle.setdefault((seed, true), []).append(read)
    counts: Counter[str] = Counter()
    wrong: list[str] = []
    for (seed, true), reads in sorted(by_vehicle.items()):
        if not reads:
            counts["unread"] += 1
            wrong.append(f"{seed}:{true}->-(unread)")
            continue
        gate = PlateGate(settings, PassageConfig())
        final = next((s.final for r in reads if (s := gate.on_local(r, r.frame_seq / 25))
                      .final is not None), None)
        plate = final.plate if final else (gate.local_readings() or [("", None)])[0][0]
        kind = "final" if final else "undecided"
        counts[f"{kind}_{'right' if plate == true else 'wrong'}"] += 1
        if plate != true:
            wrong.append(f"{seed}:{true}->{plate or '-'}({kind})")
    n = len(by_vehicle)
    right = counts["final_right"] + counts["undecided_right"]
    return {**counts, "vehicles": n, "accuracy": round(right / n, 3) if n else None,
            "wrong": wrong}


def frame_counts(readings: list[Reading], sure_at: int) -> dict[str, Any]:
    """How often a valid reading is wrong, among sure and among unsure readings."""
    sure = [(t, r) for _, t, r in readings if weakest(r) >= sure_at]
    unsure = [(t, r) for _, t, r in readings if weakest(r) < sure_at]
    def rate(rs: list[tuple[str, PlateRead]]) -> float | None:
        return round(sum(r.plate != t for t, r in rs) / len(rs), 4) if rs else None
    return {"valid": len(readings), "sure": len(sure), "wrong_sure": rate(sure),
            "wrong_unsure": rate(unsure)}


def main(argv: list[str] | None = None) -> int:
    """Command line entry point."""
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--heldout", type=int, default=12, metavar="N")
    ap.add_argument("--heldout-from", type=int, default=13, metavar="S")
    ap.add_argument("--step", type=int, default=2, help="read every Kth frame (reader pace)")
    ap.add_argument("--size", default="1280x720")
    ap.add_argument("--clips", type=Path, default=Path(tempfile.gettempdir()) / "gatecam-bench")
    args = ap.parse_args(argv)
    w, h = (int(v) for v in args.size.lower().split("x"))
    names = [f"{HELDOUT}{s}" for s in range(args.heldout_from, args.heldout_from + args.heldout)]
    paths = ensure_clips(names, (w, h), args.clips)
    reader = LocalPlateReader(LocalReaderConfig().localiser)
    readings: list[Reading] = []
    vehicles: list[tuple[int, str]] = []
    for n in names:
        got, seen = read_clip(reader, paths[n], args.step)
        readings += got
        vehicles += seen
    configured = GateSettings(mode="local", char_min_confidence=LocalReaderConfig()
                              .char_min_confidence)
    out: dict[str, Any] = {
        "seeds": [args.heldout_from, args.heldout_from + args.heldout - 1], "step": args.step,
        "frames": frame_counts(readings, configured.char_min_confidence),
        "configured": decide(readings, vehicles, configured),
        "no_fused_check": decide(readings, vehicles, replace(configured, fused_share=0.0)),
        "baseline_any_reading": decide(readings, vehicles, GateSettings(
            mode="local", char_min_confidence=0, fused_share=0.0)),
    }
    print(f"valid readings {out['frames']['valid']}, sure {out['frames']['sure']}: wrong "
          f"{out['frames']['wrong_sure']} of the sure, {out['frames']['wrong_unsure']} of the rest")
    for key in ("configured", "no_fused_check", "baseline_any_reading"):
        r = out[key]
        print(f"{key:22s} vehicles {r['vehicles']}: final right {r.get('final_right', 0)}, "
              f"final wrong {r.get('final_wrong', 0)}, undecided right "
              f"{r.get('undecided_right', 0)} / wrong {r.get('undecided_wrong', 0)}, unread "
              f"{r.get('unread', 0)}; "
              f"accuracy {r['accuracy']}; {' '.join(r['wrong'])}")
    print(json.dumps(out, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
