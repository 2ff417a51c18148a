"""Render synthetic gate-lane clips (cars carrying Chinese plates) to H.264 MP4 plus ground truth.

A thin command-line wrapper over the ``scripts/clipgen`` package (scene model,
drawing, scenarios, encoding). Beside ``<clip>.mp4`` goes ``<clip>.json``: fps,
size, duration and, per vehicle, the plate, its colour, enter/exit times and the
frames where the plate is legible; ``segments`` lists walkers, IR switches and shake.

Tests import this file by path: ``make_clip``, ``Scenario``, ``Car``, ``SCENARIOS``.
``python scripts/make_clip.py --scenario three_cars --out /tmp/x.mp4``
``[--size 1280x720] [--fps 25] [--seed 1]``; ``--scenario bench`` renders the whole
labelled set into the folder ``--out``. Output is deterministic for a given
scenario, size, fps and seed.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from clipgen import encode
from clipgen.encode import make_clip, render
from clipgen.motion import place, stop_window
from clipgen.scenarios import BENCH, SCENARIOS
from clipgen.scene import LEGIBLE_PX, Camera, Car, Parked, Scenario, Walker
from clipgen.truth import truth_of

__all__ = [
    "BENCH",
    "LEGIBLE_PX",
    "SCENARIOS",
    "Camera",
    "Car",
    "Parked",
    "Scenario",
    "Walker",
    "encode",
    "make_clip",
    "place",
    "render",
    "stop_window",
    "truth_of",
]


def main(argv: list[str] | None = None) -> int:
    """Command line entry point."""
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--scenario", default="three_cars", choices=[*sorted(SCENARIOS), "bench"])
    ap.add_argument("--out", required=True, type=Path)
    ap.add_argument("--size", default="1280x720", help="WIDTHxHEIGHT, e.g. 1920x1080")
    ap.add_argument("--fps", default=25, type=int)
    ap.add_argument("--seed", default=1, type=int)
    args = ap.parse_args(argv)
    w, h = (int(v) for v in args.size.lower().split("x"))
    names = BENCH if args.scenario == "bench" else (args.scenario,)
    for name in names:
        out = args.out / f"{name}.mp4" if args.scenario == "bench" else args.out
        started = time.monotonic()
        truth = make_clip(name, out, (w, h), args.fps, args.seed)
        print(
            f"{out}: {truth['duration_s']:.1f} s, {len(truth['vehicles'])} vehicles, "
            f"made in {time.monotonic() - started:.1f} s"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
