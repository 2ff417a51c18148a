"""Render synthetic gate-lane clips (cars carrying Chinese plates) to H.264 MP4 plus ground truth.

A thin command-line wrapper over the ``scripts/clipgen`` package (scene model,
drawing, scenarios, encoding). Beside ``<clip>.mp4`` goes ``<clip>.json``: fps,
size, duration and, per vehicle, the plate, its colour, enter/exit times and the
frames where the plate is legible; ``segments`` lists walkers, IR switches and shake.

Tests import this file by path: ``make_clip``, ``Scenario``, ``Car``, ``SCENARIOS``.
``python scripts/make_clip.py --scenario three_cars --out /tmp/x.mp4``
``[--size 1280x720] [--fps 25] [--seed 1]``; ``--scenario bench`` (or ``issue11``)
renders the whole labelled set into the folder ``--out``; ``--heldout N [--profile v2]``
renders the held-out clips ``heldout_1..N`` there. ``--png 2.5,7`` also writes the
frames at those clip times as ``<clip>-<t>s.png`` (to look at). Output is deterministic
for a given scenario, size, fps and seed (a held-out v2 clip fixes its own size).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from clipgen import encode
from clipgen.encode import make_clip, render
from clipgen.motion import distance, exit_time, place, pose, stop_window
from clipgen.scenarios import BENCH, ISSUE11, SCENARIOS
from clipgen.scene import LEGIBLE_PX, Camera, Car, Parked, Scenario, Walker
from clipgen.truth import truth_of

__all__ = [
    "BENCH",
    "ISSUE11",
    "LEGIBLE_PX",
    "SCENARIOS",
    "Camera",
    "Car",
    "Parked",
    "Scenario",
    "Walker",
    "distance",
    "encode",
    "exit_time",
    "make_clip",
    "place",
    "pose",
    "render",
    "snapshots",
    "stop_window",
    "truth_of",
]


def snapshots(
    scenario: str | Scenario, times: list[float], size: tuple[int, int], fps: int, seed: int
) -> dict[float, np.ndarray]:
    """The frames (BGR) at the given clip times, rendered in memory (no encoding)."""
    wanted = {round(t * fps): t for t in times}
    out: dict[float, np.ndarray] = {}
    if not wanted:
        return out
    _, _, frames, _ = render(scenario, size, fps, seed)
    for n, img in enumerate(frames):
        if n in wanted:
            out[wanted[n]] = img
        if n >= max(wanted):
            break
    return out


def _jobs(args: argparse.Namespace) -> list[tuple[str | Scenario, Path, int]]:
    """(scenario, output path, seed) for each clip the command line asks for."""
    if args.heldout:
        from clipgen.heldout import heldout_scenario

        seeds = range(1, args.heldout + 1)
        drawn = [(heldout_scenario(seed, args.profile), seed) for seed in seeds]
        return [(scn, args.out / f"{scn.name}.mp4", seed) for scn, seed in drawn]
    sets = {"bench": BENCH, "issue11": ISSUE11}
    if args.scenario in sets:
        return [(name, args.out / f"{name}.mp4", args.seed) for name in sets[args.scenario]]
    return [(args.scenario, args.out, args.seed)]


def main(argv: list[str] | None = None) -> int:
    """Command line entry point."""
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    choices = [*sorted(SCENARIOS), "bench", "issue11"]
    ap.add_argument("--scenario", default="three_cars", choices=choices)
    ap.add_argument("--out", required=True, type=Path)
    ap.add_argument("--size", default="1280x720", help="WIDTHxHEIGHT, e.g. 1920x1080")
    ap.add_argument("--fps", default=25, type=int)
    ap.add_argument("--seed", default=1, type=int)
    ap.add_argument("--heldout", type=int, default=0, metavar="N", help="held-out clips 1..N")
    ap.add_argument("--profile", default="v2", choices=["v1", "v2"], help="held-out draws")
    ap.add_argument("--png", default="", metavar="T1,T2", help="also write frames at these s")
    args = ap.parse_args(argv)
    w, h = (int(v) for v in args.size.lower().split("x"))
    times = [float(v) for v in args.png.split(",") if v]
    for scenario, out, seed in _jobs(args):
        started = time.monotonic()
        truth = make_clip(scenario, out, (w, h), args.fps, seed)
        print(
            f"{out}: {truth['width']}x{truth['height']}, {truth['duration_s']:.1f} s, "
            f"{len(truth['vehicles'])} vehicles, made in {time.monotonic() - started:.1f} s"
        )
        for t, img in snapshots(scenario, times, (w, h), args.fps, seed).items():
            png = out.with_name(f"{out.stem}-{t:g}s.png")
            cv2.imwrite(str(png), img)
            print(f"  {png}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
